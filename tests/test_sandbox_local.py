"""The local backend: the real runner as a subprocess, the core hostile cases, a scrubbed environment."""

from __future__ import annotations

import asyncio
import time

import pytest
from sandbox_programs import HOSTILE, SUM, SUM_CPP, SUM_TESTS, Case

from alphaflow.sandbox import Limits, open_sandbox
from alphaflow.sandbox.local import LocalSandbox

# Cases that are safe without a container: no fork bomb or file-system probes on the developer's host.
LOCAL_CASES = [
    "allocate_10_gb",
    "print_1_gb",
    "infinite_loop",
    "sleep_forever",
    "env_secrets",
    "outliving_child",
    "close_stdin_early",
    "never_ending_compile",
    "huge_single_output_line",
    "huge_single_input_line",
]


@pytest.fixture
async def local() -> LocalSandbox:
    sandbox = open_sandbox("local", pool_size=2, warn=False)
    async with sandbox:
        yield sandbox


async def test_correct_solutions_are_accepted(local: LocalSandbox) -> None:
    python, cpp = await asyncio.gather(
        local.judge(SUM, "python", SUM_TESTS, limits=Limits(time_s=2)),
        local.judge(SUM_CPP, "c++", SUM_TESTS, limits=Limits(time_s=2)),
    )
    assert (python.verdict, python.passed, python.backend) == ("AC", 2, "local")
    assert (cpp.verdict, cpp.language) == ("AC", "cpp")


async def test_verdicts_and_unsupported_language(local: LocalSandbox) -> None:
    wrong = await local.judge("print(3)", "python", SUM_TESTS, stop_on_first_failure=True)
    assert (wrong.verdict, len(wrong.tests)) == ("WA", 2)
    syntax = await local.judge("def f(:", "python", SUM_TESTS)
    assert syntax.verdict == "CE"
    java = await local.judge("class Main {}", "java", SUM_TESTS)
    assert java.verdict == "unsupported"


@pytest.mark.parametrize("name", LOCAL_CASES)
async def test_hostile_program_is_contained(
    name: str, local: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    case: Case = HOSTILE[name]
    started = time.monotonic()
    result = await local.judge(case.source, case.language, case.tests, limits=case.make_limits())
    detail = [(t.verdict, t.message, t.stdout[:80]) for t in result.tests]
    assert result.verdict in case.expected, (result.verdict, result.message, detail)
    assert time.monotonic() - started < 30


async def test_host_checker_sees_the_whole_output(local: LocalSandbox) -> None:
    seen: list[str] = []

    def checker(test_input: str, expected: str, actual: str) -> bool:
        seen.append(actual)
        return actual.strip() == "x" * 100_000

    result = await local.judge(
        "print('x' * 100000)", "python", [{"input": "", "output": "?"}], checker=checker
    )
    assert result.verdict == "AC" and len(seen[0].strip()) == 100_000


async def test_files_and_commands_stay_in_the_work_dir(local: LocalSandbox) -> None:
    await local.write_file("sub/a.txt", "hi")
    assert await local.read_file("sub/a.txt") == b"hi"
    result = await local.run(["cat", "sub/a.txt"])
    assert (result.exit_code, result.stdout) == (0, b"hi")
    slow = await local.run(["sleep", "30"], timeout_s=0.5)
    assert slow.timed_out and slow.wall_s < 5
    for escape in ("../x", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            await local.write_file(escape, b"")


async def test_command_env_carries_no_host_secret(
    local: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    result = await local.run(["env"])
    assert b"sk-test" not in result.stdout and b"OPENAI" not in result.stdout


async def test_a_broken_runner_is_SE_after_one_retry(tmp_path) -> None:
    # A runner that answers garbage stands for a sandbox fault: the solution must not be blamed.
    broken = tmp_path / "runner.py"
    broken.write_text("import sys\nsys.stdin.read()\nprint('Segmentation fault')\n")
    sandbox = LocalSandbox(pool_size=1, warn=False)
    sandbox.runner_path = broken
    async with sandbox:
        result = await sandbox.judge(SUM, "python", SUM_TESTS)
    assert (result.verdict, result.passed, result.attempts) == ("SE", 0, 2)
    assert "not JSON" in result.message
