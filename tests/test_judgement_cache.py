"""The judgement cache: one sandbox exec per distinct (code, language, tests, limits, checker) in a
run, shared by concurrent callers, visible in the trace; faults and host checkers are not cached."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Sequence

import pytest

from alphaflow.engine import RunContext, run_flow
from alphaflow.sandbox import Limits, RunResult, Sandbox, SandboxFault, TokenChecker
from alphaflow.sandbox.judgement_cache import JudgementCache
from alphaflow.sandbox.local import LocalSandbox
from alphaflow.trace import Trace, read_trace

ECHO_SUM = "a, b = map(int, input().split())\nprint(a + b)\n"
TESTS = [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"}]


class CountingSandbox(LocalSandbox):
    """The real local backend, counting the runner execs it makes."""

    def __init__(self) -> None:
        super().__init__(warn=False)
        self.execs = 0

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        self.execs += 1
        return await super()._exec_runner(request, timeout_s)


async def test_the_same_judgement_runs_once_and_later_callers_get_a_marked_copy():
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        first = await sandbox.judge(ECHO_SUM, "python", TESTS, Limits(time_s=2))
        again = await sandbox.judge(ECHO_SUM, "py3", [dict(t) for t in TESTS], Limits(time_s=2))
        assert first.verdict == again.verdict == "AC" and again.passed == 2
        assert inner.execs == 1 and (sandbox.hits, sandbox.misses) == (1, 1)
        assert again.cached and not first.cached and again.seconds == 0.0
        again.tests[0].stdout = "changed"  # a copy: the cached result stays as judged
        third = await sandbox.judge(ECHO_SUM, "python", TESTS, Limits(time_s=2))
        assert third.tests[0].stdout.strip() == "3"


async def test_any_difference_in_code_tests_limits_or_checker_is_a_new_judgement():
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        await sandbox.judge(ECHO_SUM, "python", TESTS)
        await sandbox.judge(ECHO_SUM + "\n", "python", TESTS)
        await sandbox.judge(ECHO_SUM, "python", TESTS[:1])
        await sandbox.judge(ECHO_SUM, "python", TESTS, Limits(time_s=1))
        await sandbox.judge(ECHO_SUM, "python", TESTS, checker=TokenChecker(case_sensitive=False))
        await sandbox.judge(ECHO_SUM, "python", TESTS, stop_on_first_failure=True)
        assert inner.execs == 6 and sandbox.hits == 0


async def test_concurrent_identical_judgements_share_one_exec():
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        results = await asyncio.gather(*(sandbox.judge(ECHO_SUM, "python", TESTS) for _ in range(5)))
    assert inner.execs == 1 and [r.verdict for r in results] == ["AC"] * 5
    assert sum(r.cached for r in results) == 4


async def test_a_host_side_checker_is_never_cached():
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        for _ in range(2):
            result = await sandbox.judge(ECHO_SUM, "python", TESTS, checker=lambda i, e, a: True)
            assert result.verdict == "AC" and not result.cached
    assert inner.execs == 2


class FaultyOnce(Sandbox):
    """A backend whose first exec fails as a dead container would (SandboxFault), then judges."""

    backend = "faulty"

    def __init__(self) -> None:
        self.inner = LocalSandbox(warn=False)
        self.execs = 0

    async def close(self) -> None:
        await self.inner.close()

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        self.execs += 1
        if self.execs <= 2:  # both attempts of the first judgement
            raise SandboxFault("container vanished")
        return await self.inner._exec_runner(request, timeout_s)

    async def run(self, cmd: Sequence[str], stdin: bytes = b"", timeout_s: float = 10.0) -> RunResult:
        return await self.inner.run(cmd, stdin, timeout_s)

    async def write_file(self, path: str, data: bytes | str) -> None:
        await self.inner.write_file(path, data)

    async def read_file(self, path: str) -> bytes:
        return await self.inner.read_file(path)


async def test_a_sandbox_fault_is_not_remembered():
    async with JudgementCache(FaultyOnce()) as sandbox:
        faulted = await sandbox.judge(ECHO_SUM, "python", TESTS)
        assert faulted.verdict == "SE"
        retried = await sandbox.judge(ECHO_SUM, "python", TESTS)
        assert retried.verdict == "AC" and not retried.cached


@pytest.mark.parametrize("hostile", ["import os\nos._exit(3)\n", "while True:\n    pass\n"])
async def test_failing_programs_are_cached_with_their_verdict(hostile):
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        limits = Limits(time_s=0.5)
        first = await sandbox.judge(hostile, "python", TESTS[:1], limits)
        second = await sandbox.judge(hostile, "python", TESTS[:1], limits)
    assert first.verdict == second.verdict and first.verdict in ("RE", "TLE")
    assert inner.execs == 1 and second.cached


async def test_a_flow_judging_the_same_code_twice_says_cached_in_the_trace(tmp_path):
    flow = tmp_path / "twice.yaml"
    flow.write_text(
        textwrap.dedent(
            f"""
            name: twice
            inputs:
              code: {{type: string}}
            steps:
              - id: first
                kind: sandbox
                code: "{{{{ inputs.code }}}}"
                language: python
                tests: {json.dumps(TESTS)}
              - id: second
                kind: sandbox
                code: "{{{{ inputs.code }}}}"
                language: python
                tests: {json.dumps(TESTS)}
            outputs:
              verdicts: ["{{{{ first.verdict }}}}", "{{{{ second.verdict }}}}"]
            """
        ).lstrip(),
        encoding="utf-8",
    )
    inner = CountingSandbox()
    with Trace(tmp_path / "trace.jsonl") as trace:
        async with JudgementCache(inner) as sandbox:
            result = await run_flow(flow, {"code": ECHO_SUM}, RunContext(sandbox=sandbox, trace=trace))
    assert result.outputs["verdicts"] == ["AC", "AC"] and inner.execs == 1
    ends = {e["path"]: e for e in read_trace(tmp_path / "trace.jsonl") if e["event"] == "step_end"}
    assert ends["second"].get("cached") is True and "cached" not in ends["first"]


async def test_the_cache_keeps_to_its_size_bound_dropping_the_least_recently_used():
    inner = CountingSandbox()
    async with JudgementCache(inner, max_entries=2) as sandbox:
        programs = [f"print({n})\n" for n in range(3)]
        for program in programs:
            await sandbox.judge(program, "python", TESTS[:1])
        await sandbox.judge(programs[2], "python", TESTS[:1])  # kept
        await sandbox.judge(programs[0], "python", TESTS[:1])  # dropped: judged again
    assert inner.execs == 4 and sandbox.hits == 1
