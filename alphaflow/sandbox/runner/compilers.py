"""Compiling a solution once per judging: g++ for C++, a syntax check to bytecode for Python.

C++ is compiled as Codeforces compiles it: ``g++ -std=gnu++20 -O2 -DONLINE_JUDGE`` (the image's
g++ 12; ``gnu++20`` rather than ``c++20`` so GNU extensions such as ``__int128`` traits work as on
the judges' "GNU G++20"). Both compilers run as limited children of the runner, so a hostile source
cannot hurt it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys

from .processes import CHILD_PATH, Sandbox
from .supervise import RunLimits

HERE = os.path.dirname(os.path.abspath(__file__))
FORK_SERVER = os.path.join(HERE, "forkserver.py")
PYTHON_COMPILER = os.path.join(HERE, "pycompile.py")

CXX = "g++"
CXX_FLAGS = ("-std=gnu++20", "-O2", "-DONLINE_JUDGE", "-pipe")
COMPILER_OUTPUT_BYTES = 1 << 20

# ':'-joined site directories of the solutions' interpreter, once known (serve mode asks once, see
# ``learn_site_dirs``; otherwise each Python compile step reports them).
_known_site_dirs: str | None = None


class Program:
    """A compiled program: the compile step's report and the command that runs it.

    For Python, ``argv`` runs the solution once; ``fork_server_argv(...)`` starts a fork server.
    """

    def __init__(self, *, ok: bool, output: str, seconds: float, argv: list[str], language: str) -> None:
        self.ok = ok
        self.output = output
        self.seconds = seconds
        self.argv = argv
        self.language = language

    def fork_server_argv(self, control_fd: int, limits: list[int]) -> list[str]:
        """The command that serves this Python program's tests (see ``forkserver.py``)."""
        python, flag, script, _mode, code_file, source_path, site_dirs = self.argv[:7]
        return [python, flag, script, "serve", code_file, source_path, site_dirs, str(control_fd)] + [
            str(value) for value in limits
        ]


def python_for_solutions() -> str:
    """The interpreter that runs Python solutions: the ``python3`` a solution would find on its PATH.

    In the image that is the runner's own interpreter. On a host it may differ from the runner's
    (a virtual environment under a home directory that the unprivileged user cannot enter).
    """
    return shutil.which("python3", path=CHILD_PATH) or sys.executable


def sandbox_processes(limits: dict) -> int | None:
    value = limits.get("processes")
    return None if value is None else int(value)


def compile_program(
    sandbox: Sandbox, language: str, source: str, name: str, limits: dict, keep: int
) -> Program:
    """Compile ``source`` in ``<workdir>/<name>/``; the program (``ok`` False: the compile error)."""
    directory = os.path.join(sandbox.workdir, name)
    os.mkdir(directory)
    sandbox.give(directory)
    if language == "cpp":
        source_path, binary = os.path.join(directory, "main.cpp"), os.path.join(directory, "main")
        argv = [CXX, *CXX_FLAGS, "-o", binary, source_path]
        run_argv = [binary]
    else:
        source_path, binary = os.path.join(directory, "main.py"), os.path.join(directory, "main.code")
        python = python_for_solutions()
        argv = [python, "-S", _readable_copy(sandbox, PYTHON_COMPILER), source_path, binary]
        if _known_site_dirs is None:
            argv.append("--site")
        run_argv = [python, "-S", _readable_copy(sandbox, FORK_SERVER), "run", binary, source_path]
    with open(source_path, "w", encoding="utf-8") as handle:
        handle.write(source)
    sandbox.give(source_path)
    seconds = float(limits["compile_time_s"])
    run_limits = RunLimits(
        cpu_s=seconds,
        # CPU time decides, as for tests; wall time only backstops (a loaded machine slows g++).
        wall_s=seconds * float(limits["wall_factor"]),
        memory_bytes=int(limits["compile_memory_bytes"]),
        output_bytes=COMPILER_OUTPUT_BYTES,
        keep_stdout=keep,
        keep_stderr=keep,
        processes=sandbox_processes(limits),
        file_bytes=1 << 30,
    )
    outcome = sandbox.run(argv, b"", run_limits)
    if language == "python":  # stdout carries the site directories; drop the helper's own frames
        message = bytes(outcome.stderr).decode("utf-8", "replace")
        marker = message.find(f'File "{source_path}"')
        message = message[marker:] if marker >= 0 else message
    else:
        message = (bytes(outcome.stdout) + bytes(outcome.stderr)).decode("utf-8", "replace")
    message = message.replace(directory + "/", "")
    if outcome.wall_killed or outcome.cpu_s > seconds or outcome.signal == signal.SIGXCPU:
        message = f"compilation exceeded the {seconds:g}s compile time limit\n" + message
    elif outcome.memory_killed:
        message = f"compilation used more than {run_limits.memory_bytes >> 20} MiB of memory\n" + message
    elif outcome.output_exceeded:
        message = "compilation stopped: the compiler printed more than 1 MiB\n" + message
    elif outcome.signal is not None:
        message = f"compiler killed by signal {outcome.signal}\n" + message
    stopped = outcome.wall_killed or outcome.output_exceeded or outcome.memory_killed
    ok = outcome.exit_code == 0 and not stopped
    if ok and language == "python":
        if _known_site_dirs is not None:
            run_argv.append(_known_site_dirs)
        else:
            site_dirs = bytes(outcome.stdout).decode("utf-8", "replace").split("\n")
            run_argv.append(":".join(path for path in site_dirs if path and os.path.isdir(path)))
        message = ""
    return Program(
        ok=ok, output=message[:keep], seconds=round(outcome.wall_s, 4), argv=run_argv, language=language
    )


def _readable_copy(sandbox: Sandbox, script: str) -> str:
    """``script``, or a copy in the work dir when solutions run as another user (a root runner drops
    them to nobody, who may not be able to read the runner's own folder)."""
    if sandbox.drop_to is None:
        return script
    copy = os.path.join(sandbox.workdir, os.path.basename(script))
    if not os.path.exists(copy):
        shutil.copyfile(script, copy)  # stays the runner's: the solution may read, not change it
    return copy


def learn_site_dirs() -> None:
    """Ask the solutions' interpreter for its site directories once, so no judging has to."""
    global _known_site_dirs
    import subprocess

    code = "import site; print('\\n'.join(site.getsitepackages()))"
    try:
        done = subprocess.run(
            [python_for_solutions(), "-S", "-c", code], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return  # each compile step finds them out instead
    if done.returncode == 0:
        _known_site_dirs = ":".join(path for path in done.stdout.split("\n") if path and os.path.isdir(path))
