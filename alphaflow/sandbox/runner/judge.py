"""Judging one request: compile once, run each test as its own process, give each its verdict."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

from . import compilers
from .checker import compare_tokens
from .compilers import Program, compile_program, python_for_solutions, sandbox_processes
from .processes import Sandbox
from .protocol import (
    DEFAULT_FLOAT_TOL,
    DEFAULT_LIMITS,
    LANGUAGES,
    RUNNER_VERSION,
    VERSIONS_FILE,
    fault,
    validate_request,
)
from .pyfork import ForkServer, ForkServerLost
from .supervise import WALL_GRACE_S, Outcome, RunLimits
from .sweep import CleanSlate

# A crash whose peak memory reached this fraction of the limit is reported as MLE, not RE: a
# failed allocation often surfaces as a segfault or abort rather than a clean error.
MLE_NEAR_FRACTION = 0.9


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _ran_out_of_memory(outcome: Outcome) -> bool:
    text = bytes(outcome.stderr[:4096]) + outcome.stderr_tail
    return b"MemoryError" in text or b"std::bad_alloc" in text or b"out of memory" in text


def classify(outcome: Outcome, time_limit_s: float, memory_bytes: int) -> tuple[str, str] | None:
    """The verdict of a run that did not end cleanly, with a message; None when it ran cleanly."""
    cpu = f"CPU {outcome.cpu_s:.2f}s of {time_limit_s:g}s"
    limit_kb = memory_bytes // 1024
    peak = f"peak memory {outcome.memory_kb // 1024} MiB of {limit_kb // 1024} MiB"
    if outcome.memory_killed:
        return "MLE", f"memory limit exceeded; the program was stopped ({peak})"
    if outcome.wall_killed:
        return "TLE", f"killed by the wall-clock backstop after {outcome.wall_s:.2f}s ({cpu})"
    if outcome.output_exceeded:
        return "OLE", "output exceeded the limit; the program was stopped"
    if outcome.signal == signal.SIGXFSZ:
        return "OLE", "file size limit exceeded (SIGXFSZ)"
    if outcome.cpu_s > time_limit_s or outcome.signal == signal.SIGXCPU:
        return "TLE", f"time limit exceeded ({cpu})"
    failed = outcome.signal is not None or outcome.exit_code != 0
    if failed and _ran_out_of_memory(outcome):
        return "MLE", f"memory allocation failed ({peak})"
    if failed and outcome.memory_kb >= MLE_NEAR_FRACTION * limit_kb:
        how = signal_name(outcome.signal) if outcome.signal is not None else f"exit code {outcome.exit_code}"
        return "MLE", f"crashed ({how}) with {peak}"
    if outcome.memory_kb > limit_kb:
        return "MLE", f"memory limit exceeded ({peak})"
    if outcome.signal is not None:
        return "RE", f"killed by {signal_name(outcome.signal)}"
    if outcome.exit_code != 0:
        last = _last_line(outcome.stderr_tail)
        return "RE", f"exit code {outcome.exit_code}" + (f": {last}" if last else "")
    return None


def _last_line(data: bytes) -> str:
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:200] if lines else ""


def _text(data: bytes | bytearray, keep: int) -> tuple[str, bool]:
    return bytes(data[:keep]).decode("utf-8", "replace"), len(data) > keep


# Judging


def _run_limits(limits: dict, keep_stdout: int, keep_stderr: int) -> RunLimits:
    time_s = float(limits["time_s"])
    return RunLimits(
        cpu_s=time_s,
        wall_s=time_s * float(limits["wall_factor"]) + WALL_GRACE_S,
        memory_bytes=int(limits["memory_bytes"]),
        output_bytes=int(limits["output_bytes"]),
        keep_stdout=keep_stdout,
        keep_stderr=keep_stderr,
        processes=sandbox_processes(limits),
        file_bytes=int(limits["output_bytes"]),
    )


class Judge:
    """Judges one request: compile once, then each test as its own process."""

    def __init__(self, request: dict, sandbox: Sandbox) -> None:
        self.request = request
        self.sandbox = sandbox
        self.limits = dict(DEFAULT_LIMITS)
        self.limits.update({k: v for k, v in (request.get("limits") or {}).items() if v is not None})
        self.checker = request.get("checker") or {"kind": "tokens"}
        self.keep = int(request.get("keep_bytes", 4096))
        self.checker_program: Program | None = None
        self.slate: CleanSlate | None = None  # taken after compiling (sequential tests only)
        self.stop = threading.Event()
        # Python tests go through fork servers (one per concurrent test) unless the request says not to.
        self.use_fork_server = bool(request.get("python_fork_server", True))
        self.servers_lock = threading.Lock()
        self.idle_servers: list[ForkServer] = []
        self.all_servers: list[ForkServer] = []

    def run_test(self, index: int, test: dict, program: Program) -> dict:
        if self.stop.is_set():
            return {"verdict": "skipped"}
        expected = test.get("output")
        raw_output = self.checker.get("kind") == "none" or expected is None
        output_bytes = int(self.limits["output_bytes"])
        limits = _run_limits(self.limits, keep_stdout=output_bytes, keep_stderr=self.keep)
        stdin = str(test.get("input") or "").encode("utf-8")
        outcome = self.run_program(program, stdin, limits)
        stdout, truncated = _text(outcome.stdout, output_bytes if raw_output else self.keep)
        stderr, stderr_truncated = _text(outcome.stderr, self.keep)
        result = {
            "verdict": "AC",
            "cpu_s": round(outcome.cpu_s, 4),
            "wall_s": round(outcome.wall_s, 4),
            "memory_kb": outcome.memory_kb,
            "exit_code": outcome.exit_code,
            "signal": signal_name(outcome.signal) if outcome.signal is not None else None,
            "stdout": stdout,
            "stderr": stderr,
            "stdout_truncated": truncated or outcome.stdout_total > len(outcome.stdout),
            "stderr_truncated": stderr_truncated or outcome.stderr_total > len(outcome.stderr),
            "message": "",
        }
        failure = classify(outcome, float(self.limits["time_s"]), int(self.limits["memory_bytes"]))
        if failure is None and not raw_output:
            failure = self.check(test, bytes(outcome.stdout).decode("utf-8", "replace"), index)
        if failure is not None:
            result["verdict"], result["message"] = failure
            if request_stops(self.request):
                self.stop.set()
        return result

    def run_program(self, program: Program, stdin: bytes, limits: RunLimits) -> Outcome:
        """One test's process: through a Python fork server when possible, else started afresh."""
        if program.language == "python" and self.use_fork_server:
            server = self.take_server(program, limits)
            if server is not None:
                try:
                    outcome = server.run(stdin, limits)
                except ForkServerLost:
                    server.close()
                    self.use_fork_server = False  # this and the next tests run the classic way
                else:
                    with self.servers_lock:
                        self.idle_servers.append(server)
                    return outcome
        return self.sandbox.run(program.argv, stdin, limits)

    def take_server(self, program: Program, limits: RunLimits) -> ForkServer | None:
        with self.servers_lock:
            if self.idle_servers:
                return self.idle_servers.pop()
        try:
            server = ForkServer(self.sandbox, program, limits)
        except OSError:
            self.use_fork_server = False
            return None
        with self.servers_lock:
            self.all_servers.append(server)
        return server

    def close_servers(self) -> None:
        for server in self.all_servers:
            server.close()

    def check(self, test: dict, actual: str, index: int) -> tuple[str, str] | None:
        kind = self.checker.get("kind", "tokens")
        if kind == "tokens":
            ok, message = compare_tokens(
                str(test["output"]),
                actual,
                float_tol=float(self.checker.get("float_tol", DEFAULT_FLOAT_TOL)),
                case_sensitive=bool(self.checker.get("case_sensitive", True)),
            )
            return None if ok else ("WA", message)
        return self.run_checker_program(test, actual, index)

    def run_checker_program(self, test: dict, actual: str, index: int) -> tuple[str, str] | None:
        assert self.checker_program is not None
        directory = os.path.join(self.sandbox.workdir, f"check-{index}")
        os.mkdir(directory)
        paths = []
        for name, text in (
            ("input", test.get("input") or ""),
            ("expected", test["output"]),
            ("actual", actual),
        ):
            path = os.path.join(directory, name)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(str(text))
            paths.append(path)
        seconds = float(self.limits["checker_time_s"])
        limits = RunLimits(
            cpu_s=seconds,
            wall_s=seconds * float(self.limits["wall_factor"]) + WALL_GRACE_S,
            memory_bytes=int(self.limits["checker_memory_bytes"]),
            output_bytes=1 << 20,
            keep_stdout=self.keep,
            keep_stderr=self.keep,
            processes=sandbox_processes(self.limits),
            file_bytes=1 << 20,
        )
        if self.slate is not None:  # the test may have rewritten the checker: run the one compiled
            self.slate.restore_files()
        outcome = self.sandbox.run(self.checker_program.argv + paths, b"", limits)
        shutil.rmtree(directory, ignore_errors=True)
        said = _last_line(bytes(outcome.stdout) + b"\n" + bytes(outcome.stderr))
        failure = classify(outcome, seconds, limits.memory_bytes)
        if outcome.exit_code == 0 and failure is None:
            return None
        if outcome.exit_code not in (None, 0) and (failure is None or failure[0] == "RE"):
            return "WA", f"checker rejected the output (exit code {outcome.exit_code})" + (
                f": {said}" if said else ""
            )
        reason = failure[1] if failure else "unknown failure"
        return "SE", f"checker program failed: {reason}"

    def judge(self) -> dict:
        tests = self.request.get("tests") or []
        language = self.request.get("language")
        skipped = [{"verdict": "skipped"} for _ in tests]
        if language not in LANGUAGES:
            message = f"language {language!r} is not supported (supported: {', '.join(LANGUAGES)})"
            return {
                "compile": {"ok": False, "output": message, "seconds": 0.0},
                "verdict": "unsupported",
                "tests": skipped,
            }
        if self.checker.get("kind") == "program":
            checker_language = self.checker.get("language", "python")
            if checker_language not in LANGUAGES:
                return {
                    "compile": {"ok": False, "output": "", "seconds": 0.0},
                    "verdict": "SE",
                    "tests": skipped,
                    "message": f"checker language {checker_language!r} is not supported",
                }
            self.checker_program = compile_program(
                self.sandbox,
                checker_language,
                str(self.checker.get("source", "")),
                "checker",
                self.limits,
                self.keep,
            )
        program = compile_program(
            self.sandbox, language, str(self.request.get("source", "")), "solution", self.limits, self.keep
        )
        report = {"compile": {"ok": program.ok, "output": program.output, "seconds": program.seconds}}
        if self.checker_program is not None:
            report["checker_compile"] = {
                "ok": self.checker_program.ok,
                "output": self.checker_program.output,
                "seconds": self.checker_program.seconds,
            }
            if not self.checker_program.ok:
                return report | {
                    "verdict": "SE",
                    "tests": skipped,
                    "message": "the checker program did not compile",
                }
        if not program.ok:
            return report | {"verdict": "CE", "tests": skipped}
        parallel = max(1, int(self.request.get("parallel") or 1))
        if parallel == 1:
            # Each test starts from what compiling left, as if it were judged alone (see CleanSlate).
            self.slate = CleanSlate(
                self.sandbox.workdir,
                scratch=tuple(SCRATCH_DIRS),
                keep=(RUNNER_HOME,),
                ipc_uid=self.sandbox.child_uid if SCRATCH_DIRS else None,  # IPC is private then
            )
            results = []
            for i, test in enumerate(tests):
                if i:
                    self.slate.restore()
                results.append(self.run_test(i, test, program))
        else:
            from concurrent.futures import ThreadPoolExecutor  # only here: ~10 ms of imports

            with ThreadPoolExecutor(max_workers=parallel) as pool:
                results = list(
                    pool.map(lambda pair: self.run_test(pair[0], pair[1], program), enumerate(tests))
                )
        verdict = next((r["verdict"] for r in results if r["verdict"] not in ("AC", "skipped")), "AC")
        return report | {"verdict": verdict, "tests": results}


# Directories any solution may write to besides its work dir (the docker pool's /tmp, /dev/shm, ...,
# or the local backend's private ones), emptied between tests; ``--sweep DIR`` names them. Never
# emptied: the judgement's work dir and the runner's own folder (the local backend may bind it there).
# Given, they also mean System V IPC is private to the judgement (a container, or an IPC namespace).
SCRATCH_DIRS: list[str] = []
RUNNER_HOME = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))


def request_stops(request: dict) -> bool:
    return bool(request.get("stop_on_first_failure", False))


_VERSIONS: dict[str, str | None] = {}


def _version_of(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def _baked_versions() -> dict:
    """Versions written beside the runner when the image was built (saves a g++ run per judging)."""
    try:
        with open(os.path.join(compilers.HERE, VERSIONS_FILE)) as handle:
            baked = json.load(handle)
    except (OSError, ValueError):
        return {}
    if baked.get("version") != RUNNER_VERSION:
        return {}
    return {key: baked[key] for key in ("python", "gxx") if key in baked}


def runner_info() -> dict:
    """Versions recorded with every result (and as image labels): runner, solutions' Python, g++."""
    if not _VERSIONS:
        _VERSIONS.update(_baked_versions())
    if not _VERSIONS:
        python = python_for_solutions()
        if os.path.realpath(python) == os.path.realpath(sys.executable):
            _VERSIONS["python"] = "{}.{}.{}".format(*sys.version_info[:3])
        else:
            code = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
            _VERSIONS["python"] = _version_of([python, "-S", "-c", code])
        _VERSIONS["gxx"] = _version_of(["g++", "-dumpfullversion"])
    return {"version": RUNNER_VERSION, **_VERSIONS}


def judge(request: dict) -> dict:
    """Judge one request (see ``docs/sandbox-image.md``); always returns a result object."""
    problem = validate_request(request)
    if problem is not None:
        return fault(f"bad request: {problem}", runner_info())
    workdir = tempfile.mkdtemp(prefix="alphaflow-judge-")
    try:
        judging = Judge(request, Sandbox(workdir))
        try:
            result = judging.judge()
        finally:
            judging.close_servers()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["checker"] = checker_settings(judging.checker)
    result["runner"] = runner_info()
    return result


def checker_settings(checker: dict) -> dict:
    """How outputs were compared, recorded with every result (a checker program's source left out)."""
    if checker.get("kind", "tokens") != "tokens":
        return {key: value for key, value in checker.items() if key != "source"}
    return {
        "kind": "tokens",
        "float_tol": float(checker.get("float_tol", DEFAULT_FLOAT_TOL)),
        "case_sensitive": bool(checker.get("case_sensitive", True)),
    }


def answer(data: bytes) -> tuple[bytes, int]:
    """The one-shot protocol on bytes: the result line for a request, and the exit status."""
    try:
        request = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        result = fault(f"bad request: not JSON ({error})", runner_info())
        return (json.dumps(result) + "\n").encode(), 2
    try:
        result = judge(request)
    except Exception as error:  # a runner fault must still answer in the protocol (host: SE)
        result = fault(f"runner fault: {type(error).__name__}: {error}", runner_info())
    return (json.dumps(result) + "\n").encode(), 2 if "error" in result else 0
