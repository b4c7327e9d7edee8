"""Execution parity: a program judged by the sandbox behaves exactly as the same file run plainly.

Each program in ``tests/fixtures/parity/`` (Python and C++) covers one way real solutions read input,
write output or end. It runs both ways on each backend: judged by the sandbox, and plainly
(``python3 main.py < input`` or the compiled binary) in the same place — in the same image with
``docker run`` for the docker backend, on this host for the local one — by
``tests/fixtures/parity_reference.py``. The stdout, the exit status and the verdict must agree, and
must be what CPython or the C++ runtime really does (the ``EXPECTED`` table).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_programs import require_docker

from alphaflow.sandbox import Limits, open_sandbox
from alphaflow.sandbox.runner.checker import compare_tokens
from alphaflow.sandbox.runner.compilers import CXX_FLAGS

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROGRAMS = FIXTURES / "parity"
LIMITS = Limits(time_s=5.0, memory_bytes=256 << 20)
NUMBERS = "3\n1 2 3\n"
LARGE = "\n".join(str(i) for i in range(200000)) + "\n"

# program -> (stdin, what a plain run prints on stdout, exit status: 0, another code, or a signal)
EXPECTED: dict[str, tuple[str, str, int | str]] = {
    "input_builtin.py": (NUMBERS, "3 6\n", 0),
    "stdin_readline.py": (NUMBERS, "18\n", 0),
    "stdin_buffer.py": (NUMBERS, "6\n", 0),
    "open_fd0.py": (NUMBERS, "4 3\n", 0),
    "read_at_eof.py": (NUMBERS, "8 '' ''\n", 0),
    "fileinput_lines.py": (NUMBERS, "2 3\n", 0),
    "input_at_eof_raises.py": ("a\nb\n", "", 1),
    "write_no_newline.py": ("", "42", 0),
    "print_flush_then_more.py": ("", "1\n2\n3", 0),
    "dunder_stdout_from_atexit.py": ("3\n", "0\n1\n2\n", 0),
    "dunder_stdout_direct.py": ("", "shown\n", 0),
    "os_write_fd1.py": ("", "raw\nafter\n", 0),
    "print_then_os_write.py": ("", "direct\nbuffered\n", 0),
    "replaced_stdout_fd_writer.py": ("", "\n".join(str(i) for i in range(1000)) + "\n", 0),
    "fast_output_del.py": ("", "0\n1\n2\n3\n4\n", 0),
    "stdout_buffer_write.py": ("", "bytes without flush\n", 0),
    "large_buffered_output.py": ("", LARGE, 0),
    "unicode_output.py": ("", "h\u00e9llo \u2713\n", 0),
    "stderr_and_stdout.py": ("", "to stdout\n", 0),
    "atexit_print.py": ("", "hi\nbye\n", 0),
    "atexit_raises.py": ("", "done\n", 0),
    "thread_outlives_main.py": ("", "main ends\nfrom the thread\n", 0),
    "daemon_thread.py": ("", "main ends\n", 0),
    "sys_exit_0.py": ("", "ok\n", 0),
    "sys_exit_3.py": ("", "partial\n", 3),
    "sys_exit_message.py": ("", "partial\n", 1),
    "builtin_exit.py": ("", "before\n", 0),
    "os_exit_loses_buffer.py": ("", "", 0),
    "uncaught_exception.py": ("", "partial\n", 1),
    "keyboard_interrupt.py": ("", "partial\n", "SIGINT"),
    "main_guard.py": ("", "main ran\n", 0),
    "dunder_file_and_argv.py": ("", "main.py 1 main.py __main__\n", 0),
    "recursion_limit.py": ("", "default limit hit\n100000\n", 0),
    "thread_big_stack.py": ("", "200000\n", 0),
    "signal_self_term.py": ("", "partial\n", "SIGTERM"),
    "signal_handler.py": ("", "handled\nafter\n", 0),
    "del_at_exit_prints.py": ("", "main\nfinalized\n", 0),
    "cpp_scanf_printf.cpp": (NUMBERS, "6\n", 0),
    "cpp_fast_iostream.cpp": (NUMBERS, "9", 0),
    "cpp_printf_no_newline_exit.cpp": ("", "no newline", 0),
    "cpp_underscore_exit.cpp": ("", "", 0),
    "cpp_return_3.cpp": ("", "partial\n", 3),
    "cpp_abort.cpp": ("", "partial\n", "SIGABRT"),
    "cpp_deep_recursion.cpp": ("", "1000000\n", 0),
    "cpp_atexit.cpp": ("", "hi\nbye\n", 0),
}
# What the judge is told to expect: the right answer, which some programs fail to print.
ANSWERS = {
    **{name: stdout for name, (_, stdout, _) in EXPECTED.items()},
    "os_exit_loses_buffer.py": "lost in the buffer\n",
    "cpp_underscore_exit.cpp": "lost",
}
BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "local"]


def test_every_program_has_an_expectation() -> None:
    assert sorted(p.name for p in PROGRAMS.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) >= 30


def plain_verdict(name: str, run: dict[str, Any]) -> str:
    """The verdict a judge should give a plain run: RE for a crash, else the token comparison."""
    if run["signal"] is not None or run["exit_code"] != 0:
        return "RE"
    return "AC" if compare_tokens(ANSWERS[name], run["stdout"])[0] else "WA"


@pytest.fixture(scope="module", params=BACKENDS)
def both_ways(request: pytest.FixtureRequest) -> Iterator[tuple[dict, dict]]:
    """(plain runs, judged runs) of every program on one backend."""
    backend = request.param
    if backend == "docker":
        require_docker()
    folder = Path(tempfile.mkdtemp(prefix="alphaflow-parity-"))
    try:
        for program in PROGRAMS.iterdir():
            shutil.copyfile(program, folder / program.name)
        shutil.copyfile(FIXTURES / "parity_reference.py", folder / "parity_reference.py")
        (folder / "inputs.json").write_text(json.dumps({name: spec[0] for name, spec in EXPECTED.items()}))
        for path in [folder, *folder.iterdir()]:  # readable by the image's user
            path.chmod(0o755 if path.is_dir() else 0o644)
        plain = run_plainly(backend, folder)
        judged = asyncio.run(judge_all(backend))
        yield plain, judged
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_plainly(backend: str, folder: Path) -> dict[str, Any]:
    args = [str(LIMITS.memory_bytes), *CXX_FLAGS]
    if backend == "docker":
        from alphaflow.sandbox.backends import image_tag

        command = ["docker", "run", "--rm", "--network", "none", "--user", "10001:10001"]
        command += ["-v", f"{folder}:/p:ro", image_tag(), "python3", "/p/parity_reference.py", "/p", *args]
    else:
        command = ["python3", str(folder / "parity_reference.py"), str(folder), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def judge_all(backend: str) -> dict[str, Any]:
    async with open_sandbox(backend, pool_size=2, warn=False) as sandbox:

        async def judge(name: str) -> Any:
            code = (PROGRAMS / name).read_text()
            language = "cpp" if name.endswith(".cpp") else "python"
            tests = [{"input": EXPECTED[name][0], "output": ANSWERS[name]}]
            return await sandbox.judge(code, language, tests, limits=LIMITS, keep_bytes=4 << 20)

        names = sorted(EXPECTED)
        return dict(zip(names, await asyncio.gather(*(judge(name) for name in names)), strict=True))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_judged_as_run(both_ways: tuple[dict, dict], name: str) -> None:
    plain, judged = both_ways
    stdin, stdout, status = EXPECTED[name]
    run = plain[name]
    # The plain run is what CPython / the C++ runtime does.
    assert run["stdout"] == stdout
    assert (run["signal"] if isinstance(status, str) else run["exit_code"]) == status
    # The judged run agrees with it: stdout, exit status, verdict.
    result = judged[name]
    assert len(result.tests) == 1, (result.verdict, result.compile_output, result.message)
    test = result.tests[0]
    assert test.stdout == run["stdout"]
    assert (test.exit_code, test.signal) == (run["exit_code"], run["signal"]), test.stderr
    assert test.verdict == result.verdict == plain_verdict(name, run), test.message


def test_the_parity_folder_has_both_languages() -> None:
    suffixes = {os.path.splitext(name)[1] for name in EXPECTED}
    assert suffixes == {".py", ".cpp"}
