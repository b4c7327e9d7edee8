#!/usr/bin/env python3
"""The in-container judge: one invocation judges one solution against all of its tests.

Standard library only (Python >= 3.11); the same file runs inside the sandbox image and, for the
local backend, on the host. Protocol: one JSON request on stdin, one JSON result on stdout (see
``docs/sandbox-image.md``). Each test runs as its own process with a real stdin pipe, under rlimits,
in its own session, with a wall-clock backstop; output is capped while it is read.

``--serve`` keeps one runner alive for many requests (the docker pool starts one per container, so
interpreter start-up and imports are paid once): length-prefixed request frames on stdin, one result
frame each on stdout. Every request is judged in a freshly forked child that does exactly what the
one-shot mode does; after it, the server kills whatever is left and empties the work directory.

The module is importable without side effects: the host imports ``compare_tokens`` from it.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

RUNNER_VERSION = 1

VERDICTS = ("AC", "WA", "TLE", "MLE", "RE", "CE", "OLE", "SE", "unsupported", "skipped")
LANGUAGES = ("python", "cpp")

DEFAULT_LIMITS = {
    "time_s": 2.0,
    "memory_bytes": 256 << 20,
    "output_bytes": 32 << 20,
    "compile_time_s": 30.0,
    "wall_factor": 3.0,
    # Not in the minimal protocol; documented extras with safe defaults.
    "compile_memory_bytes": 2 << 30,
    "processes": 256,
    "checker_time_s": 10.0,
    "checker_memory_bytes": 1 << 30,
}

# Address space granted above the memory limit. RLIMIT_AS counts every mapping, not only the data a
# program uses: shared libraries, the interpreter, thread stacks, malloc arenas. `python3 -S` maps
# ~25 MiB before running a line and libstdc++ programs ~10 MiB; glibc reserves 64 MiB per extra
# malloc arena when a program starts threads. 64 MiB leaves room for all of that while still
# failing an allocation of the order of the limit. A program whose peak resident memory exceeds the
# limit is judged MLE from its measured peak (ru_maxrss), so the margin never lets it pass.
ADDRESS_SPACE_MARGIN = 64 << 20
# A crash whose peak memory reached this fraction of the limit is reported as MLE, not RE:
# a failed allocation often surfaces as a segfault or abort rather than a clean error.
MLE_NEAR_FRACTION = 0.9
# Seconds the wall-clock backstop grants beyond wall_factor x time limit (process start-up).
WALL_GRACE_S = 0.5
# A program still runnable at the backstop but starved of CPU by a loaded machine gets more wall
# time, up to this many times the backstop: TLE is judged on CPU time, not on the machine's load.
STARVED_WALL_FACTOR = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# How long to drain pipes after the program exited (a leftover child may still hold them).
DRAIN_S = 0.2

UNPRIVILEGED_ID = 65534  # nobody/nogroup: who runs solutions when the runner itself is root
CHILD_PATH = "/usr/local/bin:/usr/bin:/bin"

# Runs a marshalled, already-compiled Python solution as __main__ under `python3 -S` (7 ms instead
# of ~20 ms with `site`); provides exit()/quit(), which `site` would otherwise add.
# argv: CODE_FILE SOURCE_PATH SITE_DIRS(':'-joined) [ARGS...]; the program sees [SOURCE_PATH, ARGS...].
PYTHON_LAUNCHER = (
    "import sys,marshal,builtins\n"
    "def _quit(code=None):\n"
    "    raise SystemExit(code)\n"
    "builtins.exit=builtins.quit=_quit\n"
    "with open(sys.argv[1],'rb') as f: _code=marshal.load(f)\n"
    "sys.path[1:1]=[d for d in sys.argv[3].split(':') if d]\n"
    "sys.argv=sys.argv[2:3]+sys.argv[4:]\n"
    "g=globals();g['__file__']=sys.argv[0]\n"
    "del f,marshal,builtins,_quit,g\n"
    "exec(_code)\n"
)
# Compiles a Python solution in a limited child, so a hostile source cannot hurt the runner; prints
# the interpreter's site-packages directories, which the launcher adds back without running `site`.
PYTHON_COMPILER = (
    "import sys,marshal,site\n"
    "src=open(sys.argv[1],'rb').read()\n"
    "code=compile(src,sys.argv[3],'exec',dont_inherit=True)\n"
    "open(sys.argv[2],'wb').write(marshal.dumps(code))\n"
    "print('\\n'.join(site.getsitepackages()))\n"
)
# The same without `site` (~5 ms less), for a runner that already knows the site directories (serve
# mode asks once, see ``learn_site_dirs``).
PYTHON_COMPILER_KNOWING_SITE = (
    "import sys,marshal\n"
    "src=open(sys.argv[1],'rb').read()\n"
    "code=compile(src,sys.argv[3],'exec',dont_inherit=True)\n"
    "open(sys.argv[2],'wb').write(marshal.dumps(code))\n"
)
# ':'-joined site directories of the solutions' interpreter, once known (serve mode).
_known_site_dirs: str | None = None

# A fork server for Python tests: one `python3 -S` per solution loads the compiled solution once;
# for each test it forks a pristine child (it never ran the solution itself) that takes the test's
# pipes as stdin/stdout/stderr, sets its rlimits and runs the solution as __main__. That saves the
# interpreter start-up per test. The server's own stdio are pipes too, so sys.stdin & co. behave as
# they do for a program started on a pipe.
# argv: CODE_FILE SOURCE_PATH SITE_DIRS CONTROL_FD CPU_SOFT CPU_HARD FSIZE STACK NPROC(-1: none) AS
PYTHON_FORK_SERVER = """
import _socket, builtins, marshal, os, resource, sys
def _quit(code=None):
    raise SystemExit(code)
builtins.exit = builtins.quit = _quit
with open(sys.argv[1], 'rb') as _file:
    _code = marshal.load(_file)
sys.path[1:1] = [d for d in sys.argv[3].split(':') if d]
_control = _socket.socket(fileno=int(sys.argv[4]))
_limits = [int(value) for value in sys.argv[5:11]]
sys.argv = sys.argv[2:3]
def _serve():
    while True:
        try:
            message, fds = _receive()
        except OSError:
            os._exit(0)
        if not message or len(fds) != 3:
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            os.setsid()
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            for fd in fds:
                os.close(fd)
            _control.close()
            cpu_soft, cpu_hard, fsize, stack, nproc, space = _limits
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_hard))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
            if nproc >= 0:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            resource.setrlimit(resource.RLIMIT_AS, (space, space))
            return
        for fd in fds:
            os.close(fd)
        _control.send(b'P%d' % pid)
        _, status, usage = os.wait4(pid, 0)
        _control.send(b'X%d %r %d' % (status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss))
def _receive():
    # socket.recv_fds without the socket module (its import, enum included, costs ~10 ms a start).
    message, ancillary, _, _ = _control.recvmsg(16, _socket.CMSG_LEN(3 * 4))
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds += [int.from_bytes(data[i:i + 4], sys.byteorder, signed=True) for i in range(0, usable, 4)]
    return message, fds
def _run():
    # Only a forked child gets here. The solution runs in a fresh __main__ module. At the end it
    # does what a program can observe of an interpreter's exit (join threads, atexit, flush
    # stdout/stderr) and leaves with os._exit: a full finalization of the copied interpreter costs
    # ~7 ms of CPU per test, more than the rest of the test.
    main = type(sys)('__main__')
    main.__file__ = sys.argv[0]
    main.__builtins__ = builtins
    sys.modules['__main__'] = main
    code = 0
    try:
        exec(_code, main.__dict__)
    except SystemExit as stop:
        if stop.code is None:
            code = 0
        elif isinstance(stop.code, int):
            code = stop.code & 0xFF
        else:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    threading = sys.modules.get('threading')
    if threading is not None and hasattr(threading, '_shutdown'):
        threading._shutdown()
    import atexit
    atexit._run_exitfuncs()
    if not _flush_std():
        code = 120  # what CPython returns when flushing stdout fails at exit
    # As CPython's finalization does: drop __main__ and collect, so finalizers run while the
    # globals they use still exist (fast-I/O templates flush their own buffers in __del__).
    del main
    sys.modules.pop('__main__', None)
    import gc
    gc.collect()
    _flush_std()
    os._exit(code)
def _flush_std():
    ok = True
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not getattr(stream, 'closed', False):
                stream.flush()
        except Exception:
            ok = ok and stream is not sys.stdout
    return ok
_serve()
_run()
"""

_INT_TOKEN = re.compile(r"[+-]?\d+\Z")
_NUMBER_TOKEN = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


# --------------------------------------------------------------------------------------------------
# The token checker (also imported by the host)


def _tokens_equal(expected: str, actual: str, float_tol: float, case_sensitive: bool) -> bool:
    if expected == actual:
        return True
    if _INT_TOKEN.match(expected) and _INT_TOKEN.match(actual):
        return False  # integers compare exactly, as written
    if _NUMBER_TOKEN.match(expected) and _NUMBER_TOKEN.match(actual):
        want, got = float(expected), float(actual)
        if math.isinf(want) or math.isinf(got):
            return want == got
        diff = abs(want - got)
        return diff <= float_tol or diff <= float_tol * abs(want)
    if not case_sensitive:
        return expected.casefold() == actual.casefold()
    return False


def _line_of_token(text: str, index: int) -> int:
    for number, match in enumerate(re.finditer(r"\S+", text)):
        if number == index:
            return text.count("\n", 0, match.start()) + 1
    return text.count("\n") + 1


def _clip(token: str, limit: int = 40) -> str:
    return token if len(token) <= limit else token[:limit] + "..."


def compare_tokens(
    expected: str, actual: str, float_tol: float = 1e-6, case_sensitive: bool = True
) -> tuple[bool, str]:
    """Compare outputs token by token; returns (accepted, message explaining a mismatch).

    Tokens are separated by any whitespace, so trailing spaces, line breaks and blank lines do not
    matter. Two integers must be equal as written; numbers of which at least one is not an integer
    match within the absolute OR relative tolerance ``float_tol``; other tokens compare as strings
    (case-insensitively when ``case_sensitive`` is false).
    """
    want, got = expected.split(), actual.split()
    if want == got:
        return True, ""
    for index, (a, b) in enumerate(zip(want, got, strict=False)):
        if not _tokens_equal(a, b, float_tol, case_sensitive):
            line = _line_of_token(actual, index)
            return False, f"token {index + 1} (line {line}): expected {_clip(a)!r}, got {_clip(b)!r}"
    if len(want) != len(got):
        if len(got) < len(want):
            missing = _clip(want[len(got)])
            return False, f"output ended after {len(got)} tokens, expected {len(want)} (next: {missing!r})"
        return False, f"expected {len(want)} tokens, got {len(got)} (extra: {_clip(got[len(want)])!r})"
    return True, ""


# --------------------------------------------------------------------------------------------------
# Running one process under limits


# Plain classes, not dataclasses: the host loads this file with importlib without registering it in
# sys.modules, which dataclasses require.
class RunLimits:
    """Limits for one process. ``memory_bytes`` is the judged limit (RLIMIT_AS adds the margin)."""

    def __init__(
        self,
        *,
        cpu_s: float,
        wall_s: float,
        memory_bytes: int,
        output_bytes: int,
        keep_stdout: int,
        keep_stderr: int,
        processes: int | None,
        file_bytes: int,
    ) -> None:
        self.cpu_s = cpu_s
        self.wall_s = wall_s
        self.memory_bytes = memory_bytes
        self.output_bytes = output_bytes
        self.keep_stdout = keep_stdout
        self.keep_stderr = keep_stderr
        self.processes = processes
        self.file_bytes = file_bytes


class Outcome:
    """What happened to one process: exit, usage, and the (capped) output it wrote."""

    def __init__(self) -> None:
        self.exit_code: int | None = None
        self.signal: int | None = None
        self.cpu_s = 0.0
        self.wall_s = 0.0
        self.memory_kb = 0
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.stdout_total = 0
        self.stderr_total = 0
        self.stderr_tail = b""  # the end of stderr, where a MemoryError or bad_alloc shows up
        self.output_exceeded = False
        self.wall_killed = False


class ChildRegistry:
    """Pids this runner started on purpose; any other child of ours is a stray to kill.

    The runner is a child subreaper (see ``become_subreaper``), so a process that a solution leaves
    behind — even one that escaped the process group with setsid — is re-parented to the runner,
    which finds it among its children and kills it.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pids: set[int] = set()

    def spawn(self, argv: list[str], **popen_args: object) -> subprocess.Popen[bytes]:
        with self.lock:
            process = subprocess.Popen(argv, **popen_args)  # type: ignore[call-overload]
            self.pids.add(process.pid)
            return process

    def done(self, pid: int) -> None:
        with self.lock:
            self.pids.discard(pid)

    def kill_strays(self, deadline_s: float = 5.0) -> int:
        """Kill every descendant that is not (under) a process we are running; returns how many.

        Cheap when there is nothing to do: a finished program's surviving children are re-parented
        to us, so no stray child means no stray descendant. Otherwise the whole stray tree is frozen
        with SIGSTOP first (a stopped process cannot fork, so a fork bomb that escaped its process
        group with setsid cannot outrun the sweep), then killed and reaped.
        """
        with self.lock:
            if not _own_children() - self.pids:
                return 0
            end = time.monotonic() + deadline_s
            frozen: set[int] = set()
            while time.monotonic() < end:
                table = _process_table()
                legit = set().union(*(_descendants(pid, table) | {pid} for pid in self.pids))
                fresh = _descendants(os.getpid(), table) - legit - frozen
                if not fresh:
                    break
                for pid in fresh:
                    _signal(pid, signal.SIGSTOP)
                frozen |= fresh
            for pid in frozen:
                _signal(pid, signal.SIGKILL)
            while time.monotonic() < end:  # reap: killed processes end up as our children
                strays = _own_children() - self.pids
                if not strays and not any(os.path.exists(f"/proc/{pid}") for pid in frozen):
                    break
                for pid in strays:
                    try:
                        os.waitpid(pid, 0)
                    except ChildProcessError:
                        pass
                if not strays:
                    time.sleep(0.001)
            return len(frozen)


def _process_table() -> dict[int, int]:
    """pid -> parent pid for every process visible in /proc."""
    table: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields resume after the last ')'.
        table[int(name)] = int(data[data.rindex(b")") + 2 :].split()[1])
    return table


def _descendants(root: int, table: dict[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in table.items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _own_children() -> set[int]:
    """Our children: from /proc/self/task/*/children, or by scanning /proc where the kernel (or
    gVisor) does not offer that file."""
    children: set[int] = set()
    try:
        tasks = os.listdir("/proc/self/task")
        for task in tasks:
            with open(f"/proc/self/task/{task}/children") as handle:
                children.update(int(pid) for pid in handle.read().split())
    except OSError:
        me = os.getpid()
        return {pid for pid, parent in _process_table().items() if parent == me}
    return children


def _signal(pid: int, sig: int, group: bool = False) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process (Linux prctl PR_SET_CHILD_SUBREAPER)."""
    return _prctl(36, 1)


def hide_from_solutions() -> bool:
    """Mark the runner non-dumpable (PR_SET_DUMPABLE 0): its /proc entries then belong to root, so a
    solution running as the same user cannot open the runner's descriptors (the result pipe, the
    host's stream) through /proc/PID/fd. Forked children keep it; exec'd solutions do not."""
    return _prctl(4, 0)


def _prctl(option: int, value: int) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def count_processes_of(uid: int) -> int:
    """Processes of ``uid`` visible here, so RLIMIT_NPROC (a per-user count) can sit above them."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


class Sandbox:
    """What every child process of one judging shares: work dir, identity, environment, limits."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.registry = ChildRegistry()
        self.drop_to: int | None = UNPRIVILEGED_ID if os.geteuid() == 0 else None
        self.child_uid = self.drop_to if self.drop_to is not None else os.getuid()
        self.base_processes = count_processes_of(self.child_uid)
        if self.drop_to is not None:
            os.chown(workdir, self.drop_to, self.drop_to)
        self.env = {
            "PATH": CHILD_PATH,
            "LANG": "C.UTF-8",
            "HOME": workdir,
            "TMPDIR": workdir,
            "OPENBLAS_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def give(self, path: str) -> None:
        """Hand a file the runner wrote to the unprivileged identity (when the runner is root)."""
        if self.drop_to is not None:
            os.chown(path, self.drop_to, self.drop_to)

    def nproc(self, limits: RunLimits) -> int | None:
        return None if limits.processes is None else self.base_processes + limits.processes

    def spawn(self, argv: list[str], limits: RunLimits, stdio: tuple[int, int, int], **extra: object):
        """Start ``argv`` in a new session under ``limits``, as the unprivileged user if we are root."""
        nproc = self.nproc(limits)

        def set_limits() -> None:  # runs in the child between fork and exec
            apply_rlimits(limits, nproc)

        identity = {}
        if self.drop_to is not None:
            identity = {"user": self.drop_to, "group": self.drop_to, "extra_groups": []}
        return self.registry.spawn(
            argv,
            stdin=stdio[0],
            stdout=stdio[1],
            stderr=stdio[2],
            cwd=self.workdir,
            env=self.env,
            start_new_session=True,
            preexec_fn=set_limits,
            close_fds=True,
            **identity,
            **extra,
        )

    def run(self, argv: list[str], stdin: bytes, limits: RunLimits) -> Outcome:
        """Run one process to its end under ``limits``, feeding ``stdin``; its outcome."""
        pipes = Pipes()
        started = time.monotonic()
        try:
            process = self.spawn(argv, limits, pipes.child_ends())
        except BaseException:
            pipes.close_all()
            raise
        pipes.close_child_ends()
        process.returncode = 0  # the runner reaps it with wait4 itself; Popen must never wait
        outcome = None
        try:
            outcome = _supervise(process.pid, pipes, stdin, limits, started, ChildWaiter(process.pid))
        finally:
            _signal(process.pid, signal.SIGKILL, group=True)  # whatever it left in its group
            if outcome is None:  # _supervise failed before reaping it
                _reap_quietly(process.pid)
            self.registry.done(process.pid)
            self.registry.kill_strays()
            pipes.close_all()
        return outcome


CHILD_NICENESS = 10


def apply_rlimits(limits: RunLimits, nproc: int | None) -> None:
    """Set the rlimits of the calling process (a child about to exec or to run a test)."""
    cpu = max(1, math.ceil(limits.cpu_s))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    # Below the runner's priority: a fork bomb sharing the container's CPU must not starve the
    # runner that has to stop it (CFS weights apply inside the container's cgroup).
    os.nice(CHILD_NICENESS)
    stack = min(limits.memory_bytes, _hard_limit(resource.RLIMIT_STACK))
    resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
    if nproc is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    # Last: a forked child is still a copy of its parent, which may be bigger than the limit;
    # nothing may allocate between this and exec (which replaces the image).
    space = limits.memory_bytes + ADDRESS_SPACE_MARGIN
    resource.setrlimit(resource.RLIMIT_AS, (space, space))


def _reap_quietly(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _hard_limit(kind: int) -> int:
    hard = resource.getrlimit(kind)[1]
    return hard if hard != resource.RLIM_INFINITY else 1 << 62


class Pipes:
    """stdin/stdout/stderr pipes for one test: the child's ends go to the program, ours stay here."""

    def __init__(self) -> None:
        self.stdin_read, self.stdin_write = os.pipe()
        self.stdout_read, self.stdout_write = os.pipe()
        self.stderr_read, self.stderr_write = os.pipe()
        self.open = {self.stdin_read, self.stdin_write, self.stdout_read, self.stdout_write}
        self.open |= {self.stderr_read, self.stderr_write}

    def child_ends(self) -> tuple[int, int, int]:
        return self.stdin_read, self.stdout_write, self.stderr_write

    def close(self, fd: int) -> None:
        if fd in self.open:
            self.open.discard(fd)
            try:
                os.close(fd)
            except OSError:
                pass

    def close_child_ends(self) -> None:
        for fd in self.child_ends():
            self.close(fd)

    def close_all(self) -> None:
        for fd in list(self.open):
            self.close(fd)


class ChildWaiter:
    """Learns that our own child ended (pidfd where the kernel has it) and collects its rusage."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            self.fd: int | None = os.pidfd_open(pid)
        except (OSError, AttributeError):
            self.fd = None  # old kernel or gVisor: poll waitpid instead

    def reap(self, blocking: bool) -> tuple[int, float, int] | None:
        """(wait status, CPU seconds, peak RSS in KiB), or None while it is still running."""
        pid, status, usage = os.wait4(self.pid, 0 if blocking else os.WNOHANG)
        if pid == 0:
            return None
        return status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _supervise(pid: int, pipes: Pipes, data: bytes, limits: RunLimits, started: float, waiter) -> Outcome:
    """Feed stdin, read stdout/stderr with caps, enforce the wall clock, collect rusage."""
    outcome = Outcome()
    deadline = started + limits.wall_s
    last_deadline = started + limits.wall_s * STARVED_WALL_FACTOR
    selector = selectors.DefaultSelector()
    stdin_fd, out_fd, err_fd = pipes.stdin_write, pipes.stdout_read, pipes.stderr_read
    for fd in (stdin_fd, out_fd, err_fd):
        os.set_blocking(fd, False)
    view, written = memoryview(data), 0
    # Registered by flag, not by fd number: once stdin is closed its number may be reused.
    stdin_registered = bool(data)
    if data:
        selector.register(stdin_fd, selectors.EVENT_WRITE)
    else:
        pipes.close(stdin_fd)
    selector.register(out_fd, selectors.EVENT_READ)
    selector.register(err_fd, selectors.EVENT_READ)
    waiter_fd = waiter.fd
    if waiter_fd is not None:
        selector.register(waiter_fd, selectors.EVENT_READ)
    ended = False

    def close_stdin() -> None:
        nonlocal stdin_registered
        if stdin_registered:
            selector.unregister(stdin_fd)
            stdin_registered = False
        pipes.close(stdin_fd)

    def reap(blocking: bool) -> None:
        nonlocal ended
        done = waiter.reap(blocking)
        if done is None:
            return
        ended = True
        status, outcome.cpu_s, outcome.memory_kb = done
        outcome.wall_s = time.monotonic() - started
        if os.WIFSIGNALED(status):
            outcome.signal = os.WTERMSIG(status)
        else:
            outcome.exit_code = os.WEXITSTATUS(status)

    try:
        while not ended:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and time.monotonic() < last_deadline and _starved(pid, limits.cpu_s):
                deadline += max(limits.cpu_s, 0.5)  # busy but starved by a loaded machine: not a sleeper
                continue
            if remaining <= 0:
                outcome.wall_killed = True
                _signal(pid, signal.SIGKILL, group=True)
                reap(blocking=True)
                break
            timeout = remaining if waiter_fd is not None else min(remaining, 0.005)
            for key, _ in selector.select(timeout):
                fd = key.fd
                if fd == waiter_fd:
                    reap(blocking=True)
                elif stdin_registered and fd == stdin_fd:
                    try:
                        written += os.write(stdin_fd, view[written : written + 65536])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # the program closed its stdin early: that is fine
                        written = len(view)
                    if written >= len(view):
                        close_stdin()
                elif fd in (out_fd, err_fd):
                    _read_into(fd, out_fd, outcome, limits, selector)
            if outcome.output_exceeded and not ended:
                _signal(pid, signal.SIGKILL, group=True)
                reap(blocking=True)
                break
            if waiter_fd is None and not ended:
                reap(blocking=False)
        # The program is gone: kill what it left in its group and drain what is still buffered.
        _signal(pid, signal.SIGKILL, group=True)
        close_stdin()
        if waiter_fd is not None:
            selector.unregister(waiter_fd)
        drain_end = time.monotonic() + DRAIN_S
        while len(selector.get_map()) and not outcome.output_exceeded:
            remaining = drain_end - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in selector.select(remaining):
                _read_into(key.fd, out_fd, outcome, limits, selector)
    finally:
        selector.close()
        waiter.close()
    return outcome


class ForkServerLost(Exception):
    """The fork server died or answered nonsense: the test is rerun the classic way."""


class ForkServer:
    """The runner's side of PYTHON_FORK_SERVER: start it once, run tests through it."""

    def __init__(self, sandbox: Sandbox, program: Program, limits: RunLimits) -> None:
        self.sandbox = sandbox
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        nproc = sandbox.nproc(limits)
        cpu = max(1, math.ceil(limits.cpu_s))
        child_limits = [
            cpu,
            cpu + 1,
            limits.file_bytes,
            min(limits.memory_bytes, _hard_limit(resource.RLIMIT_STACK)),
            -1 if nproc is None else nproc,
            limits.memory_bytes + ADDRESS_SPACE_MARGIN,
        ]
        code_file, source_path, site_dirs = program.argv[4:7]
        argv = [
            *program.argv[:3],
            PYTHON_FORK_SERVER,
            code_file,
            source_path,
            site_dirs,
            str(theirs.fileno()),
        ]
        argv += [str(value) for value in child_limits]
        # The server itself: the tests' limits (its stack limit sizes the children's stack room)
        # except CPU, which it spends only on forking.
        own = RunLimits(
            cpu_s=3600.0,
            wall_s=0.0,
            memory_bytes=limits.memory_bytes,
            output_bytes=0,
            keep_stdout=0,
            keep_stderr=0,
            processes=limits.processes,
            file_bytes=limits.file_bytes,
        )
        self.stdio = Pipes()
        try:
            self.process = sandbox.spawn(argv, own, self.stdio.child_ends(), pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
            self.stdio.close_child_ends()
        self.process.returncode = 0  # reaped in close(), never by Popen
        self.stdio.close(self.stdio.stdin_write)  # its own stdin: a pipe at EOF

    def run(self, stdin: bytes, limits: RunLimits) -> Outcome:
        pipes = Pipes()
        started = time.monotonic()
        pid = None
        outcome = None
        try:
            try:
                socket.send_fds(self.control, [b"R"], list(pipes.child_ends()))
                pipes.close_child_ends()
                answer = self.control.recv(64)
            except OSError as error:
                raise ForkServerLost(str(error)) from None
            if not answer.startswith(b"P"):
                raise ForkServerLost(f"unexpected answer {answer[:20]!r}")
            pid = int(answer[1:])
            outcome = _supervise(pid, pipes, stdin, limits, started, ServerWaiter(self.control))
        finally:
            if pid is not None:
                _signal(pid, signal.SIGKILL, group=True)
            self.sandbox.registry.kill_strays()
            pipes.close_all()
        return outcome

    def close(self) -> None:
        self.control.close()  # the server reads EOF and exits
        _reap_quietly(self.process.pid)
        _signal(self.process.pid, signal.SIGKILL, group=True)
        self.sandbox.registry.done(self.process.pid)
        self.stdio.close_all()


class ServerWaiter:
    """Learns from the fork server that a test's process ended, with its rusage."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.fd: int | None = control.fileno()

    def reap(self, blocking: bool) -> tuple[int, float, int] | None:
        try:
            message = self.control.recv(128, 0 if blocking else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except OSError as error:
            raise ForkServerLost(str(error)) from None
        if not message.startswith(b"X"):
            raise ForkServerLost(f"unexpected answer {message[:20]!r}")
        status, cpu, peak = message[1:].split()
        return int(status), float(cpu), int(peak)

    def close(self) -> None:
        self.fd = None  # the control socket belongs to the ForkServer


def _starved(pid: int, cpu_limit_s: float) -> bool:
    """Whether ``pid`` is runnable (state R) yet has used less CPU than the limit: on a loaded
    machine it waits for a core, unlike a program that sleeps or blocks (state S or D)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return False
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return fields[0] == b"R" and cpu_s < cpu_limit_s and not _has_company(pid, fields[3])


def _has_company(pid: int, session: bytes) -> bool:
    """Whether other processes share ``pid``'s session: then the CPU it lacks may go to its own
    children (a fork bomb), which is no reason for more wall time."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == pid:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[1].split()[3] == session:
                    return True
        except (OSError, IndexError):
            continue
    return False


def _read_into(
    fd: int, out_fd: int, outcome: Outcome, limits: RunLimits, selector: selectors.BaseSelector
) -> None:
    """Read one chunk from stdout or stderr; keeps at most the caps, flags output past the limit."""
    try:
        chunk = os.read(fd, 1 << 16)
    except BlockingIOError:
        return
    if not chunk:
        selector.unregister(fd)
        return
    if fd == out_fd:
        outcome.stdout_total += len(chunk)
        room = limits.keep_stdout - len(outcome.stdout)
        if room > 0:
            outcome.stdout += chunk[:room]
        if outcome.stdout_total > limits.output_bytes:
            outcome.output_exceeded = True
    else:
        outcome.stderr_total += len(chunk)
        outcome.stderr_tail = (outcome.stderr_tail + chunk)[-512:]
        room = limits.keep_stderr - len(outcome.stderr)
        if room > 0:
            outcome.stderr += chunk[:room]
        if outcome.stderr_total > limits.output_bytes:
            outcome.output_exceeded = True


# --------------------------------------------------------------------------------------------------
# Verdicts


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
    if outcome.wall_killed:
        return "TLE", f"killed by the wall-clock backstop after {outcome.wall_s:.2f}s ({cpu})"
    if outcome.output_exceeded:
        return "OLE", "output exceeded the limit; the program was stopped"
    if outcome.signal == signal.SIGXFSZ:
        return "OLE", "file size limit exceeded (SIGXFSZ)"
    if outcome.cpu_s > time_limit_s or outcome.signal == signal.SIGXCPU:
        return "TLE", f"time limit exceeded ({cpu})"
    failed = outcome.signal is not None or outcome.exit_code != 0
    limit_kb = memory_bytes // 1024
    peak = f"peak memory {outcome.memory_kb // 1024} MiB of {limit_kb // 1024} MiB"
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


# --------------------------------------------------------------------------------------------------
# Compiling


class Program:
    """A compiled program: the compile step's report and the command that runs it."""

    def __init__(self, *, ok: bool, output: str, seconds: float, argv: list[str], language: str) -> None:
        self.ok = ok
        self.output = output
        self.seconds = seconds
        self.argv = argv
        self.language = language


def python_for_solutions() -> str:
    """The interpreter that runs Python solutions: the ``python3`` a solution would find on its PATH.

    In the image that is the runner's own interpreter. On a host it may differ from the runner's
    (a virtual environment under a home directory that the unprivileged user cannot enter).
    """
    return shutil.which("python3", path=CHILD_PATH) or sys.executable


def compile_program(
    sandbox: Sandbox, language: str, source: str, name: str, limits: dict, keep: int
) -> Program:
    """Compile once: g++ for C++, a syntax check to bytecode for Python (both in limited children)."""
    directory = os.path.join(sandbox.workdir, name)
    os.mkdir(directory)
    sandbox.give(directory)
    if language == "cpp":
        source_path, binary = os.path.join(directory, "main.cpp"), os.path.join(directory, "main")
        argv = ["g++", "-O2", "-std=c++17", "-o", binary, source_path]
        run_argv = [binary]
    else:
        source_path, binary = os.path.join(directory, "main.py"), os.path.join(directory, "main.code")
        python = python_for_solutions()
        compiler = PYTHON_COMPILER if _known_site_dirs is None else PYTHON_COMPILER_KNOWING_SITE
        argv = [python, "-S", "-c", compiler, source_path, binary, source_path]
        run_argv = [python, "-S", "-c", PYTHON_LAUNCHER, binary, source_path]
    with open(source_path, "w", encoding="utf-8") as handle:
        handle.write(source)
    sandbox.give(source_path)
    seconds = float(limits["compile_time_s"])
    run_limits = RunLimits(
        cpu_s=seconds,
        wall_s=seconds,
        memory_bytes=int(limits["compile_memory_bytes"]),
        output_bytes=1 << 20,
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
        message = message.replace(directory + "/", "")
    else:
        message = (bytes(outcome.stdout) + bytes(outcome.stderr)).decode("utf-8", "replace")
        message = message.replace(directory + "/", "")
    if outcome.wall_killed or outcome.cpu_s > seconds or outcome.signal == signal.SIGXCPU:
        message = f"compilation exceeded the {seconds:g}s compile time limit\n" + message
    elif outcome.output_exceeded:
        message = "compilation stopped: the compiler printed more than 1 MiB\n" + message
    elif outcome.signal is not None:
        message = f"compiler killed by {signal_name(outcome.signal)}\n" + message
    ok = outcome.exit_code == 0 and not outcome.wall_killed and not outcome.output_exceeded
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


def sandbox_processes(limits: dict) -> int | None:
    value = limits.get("processes")
    return None if value is None else int(value)


# --------------------------------------------------------------------------------------------------
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
                float_tol=float(self.checker.get("float_tol", 1e-6)),
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
            results = [self.run_test(i, test, program) for i, test in enumerate(tests)]
        else:
            from concurrent.futures import ThreadPoolExecutor  # only here: ~10 ms of imports

            with ThreadPoolExecutor(max_workers=parallel) as pool:
                results = list(
                    pool.map(lambda pair: self.run_test(pair[0], pair[1], program), enumerate(tests))
                )
        verdict = next((r["verdict"] for r in results if r["verdict"] not in ("AC", "skipped")), "AC")
        return report | {"verdict": verdict, "tests": results}


def request_stops(request: dict) -> bool:
    return bool(request.get("stop_on_first_failure", False))


def validate_request(request: object) -> str | None:
    """A description of what is wrong with the request, or None when it can be judged."""
    if not isinstance(request, dict):
        return "the request must be a JSON object"
    if not isinstance(request.get("source"), str):
        return "field 'source' must be a string"
    tests = request.get("tests")
    if not isinstance(tests, list):
        return "field 'tests' must be a list"
    for index, test in enumerate(tests):
        if not isinstance(test, dict) or not isinstance(test.get("input", ""), str):
            return f"tests[{index}] must be an object with a string 'input'"
        if test.get("output") is not None and not isinstance(test["output"], str):
            return f"tests[{index}].output must be a string or null"
    for name in ("limits", "checker"):
        if request.get(name) is not None and not isinstance(request[name], dict):
            return f"field '{name}' must be an object"
    for key, value in (request.get("limits") or {}).items():
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or value <= 0
        ):
            return f"limits.{key} must be a positive number"
    for name, most in (("parallel", 64), ("keep_bytes", 1 << 30)):
        value = request.get(name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= most
        ):
            return f"field '{name}' must be an integer from 1 to {most}"
    kind = (request.get("checker") or {}).get("kind", "tokens")
    if kind not in ("tokens", "program", "none"):
        return f"checker.kind must be tokens, program or none, not {kind!r}"
    return None


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
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "versions.json")) as handle:
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
    """Judge one request (see the module docstring); always returns a result object."""
    problem = validate_request(request)
    if problem is not None:
        return {
            "verdict": "SE",
            "error": f"bad request: {problem}",
            "compile": None,
            "tests": [],
            "runner": runner_info(),
        }
    workdir = tempfile.mkdtemp(prefix="alphaflow-judge-")
    try:
        judging = Judge(request, Sandbox(workdir))
        try:
            result = judging.judge()
        finally:
            judging.close_servers()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["runner"] = runner_info()
    return result


def answer(data: bytes) -> tuple[bytes, int]:
    """The one-shot protocol on bytes: the result line for a request, and the exit status."""
    try:
        request = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        result = {
            "verdict": "SE",
            "error": f"bad request: not JSON ({error})",
            "compile": None,
            "tests": [],
            "runner": runner_info(),
        }
        return (json.dumps(result) + "\n").encode(), 2
    try:
        result = judge(request)
    except Exception as error:  # a runner fault must still answer in the protocol (host: SE)
        result = {
            "verdict": "SE",
            "error": f"runner fault: {type(error).__name__}: {error}",
            "compile": None,
            "tests": [],
            "runner": runner_info(),
        }
    return (json.dumps(result) + "\n").encode(), 2 if "error" in result else 0


# --------------------------------------------------------------------------------------------------
# Serve mode: one long-lived runner, one forked child per request

# Request frame: 4-byte big-endian length, then the JSON request. Result frame: 4-byte length,
# 1 flags byte, then the JSON result line.
FRAME_HEADER = struct.Struct(">I")
RESULT_HEADER = struct.Struct(">IB")
FLAG_DIRTY = 1  # the work directory could not be emptied: the host should retire this runner
MAX_REQUEST_BYTES = 1 << 30


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``, or None at end of file."""
    parts = bytearray()
    while len(parts) < size:
        chunk = os.read(fd, min(size - len(parts), 1 << 20))
        if not chunk:
            return None
        parts += chunk
    return bytes(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _judge_in_child(data: bytes) -> bytes:
    """Fork a child that judges ``data`` as the one-shot runner would; its result line."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: nothing of the protocol stream is left to the solution's reach
        status = 70
        try:
            os.close(read_end)
            devnull = os.open(os.devnull, os.O_RDWR)
            for target in (0, 1, 2):
                os.dup2(devnull, target)
            become_subreaper()  # not inherited across fork: the child sweeps its own strays
            line, status = answer(data)
            _write_all(write_end, line)
        finally:
            os._exit(status)
    os.close(write_end)
    parts = []
    with open(read_end, "rb") as result:
        while chunk := result.read(1 << 20):
            parts.append(chunk)
    _, status = os.waitpid(pid, 0)
    line = b"".join(parts)
    if not line.endswith(b"\n"):
        fault = {
            "verdict": "SE",
            "error": f"runner fault: the judging child ended ({_status_text(status)}) without a result",
            "compile": None,
            "tests": [],
            "runner": runner_info(),
        }
        line = (json.dumps(fault) + "\n").encode()
    return line


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return signal_name(os.WTERMSIG(status))
    return f"exit {os.waitstatus_to_exitcode(status)}"


def sweep_directory(path: str) -> bool:
    """Delete everything under ``path`` (making locked directories accessible first); empty after?"""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return False
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)
                sweep_directory(entry.path)
                os.rmdir(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    try:
        return not os.listdir(path)
    except OSError:
        return False


def learn_site_dirs() -> None:
    """Ask the solutions' interpreter for its site directories once, so no judging has to."""
    global _known_site_dirs
    code = "import site; print('\\n'.join(site.getsitepackages()))"
    try:
        done = subprocess.run(
            [python_for_solutions(), "-S", "-c", code], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return  # each compile step finds them out instead
    if done.returncode == 0:
        _known_site_dirs = ":".join(path for path in done.stdout.split("\n") if path and os.path.isdir(path))


def serve(sweep: str | None) -> int:
    """Answer request frames on stdin until it ends; each in a fresh child, then a clean slate."""
    become_subreaper()
    hide_from_solutions()
    runner_info()  # read once here; every child inherits it
    learn_site_dirs()
    leftovers = ChildRegistry()  # registers nothing: every descendant left after a request is a stray
    while True:
        header = _read_exactly(0, FRAME_HEADER.size)
        if header is None:
            return 0
        (size,) = FRAME_HEADER.unpack(header)
        if size > MAX_REQUEST_BYTES:
            return 2  # a broken stream: the host sees it end and starts another runner
        data = _read_exactly(0, size)
        if data is None:
            return 0
        line = _judge_in_child(data)
        leftovers.kill_strays()
        clean = sweep_directory(sweep) if sweep else True
        _write_all(1, RESULT_HEADER.pack(len(line), 0 if clean else FLAG_DIRTY) + line)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--info" in args:
        print(json.dumps(runner_info()))
        return 0
    if "--serve" in args:
        sweep = args[args.index("--sweep") + 1] if "--sweep" in args[:-1] else None
        return serve(sweep)
    become_subreaper()
    hide_from_solutions()
    line, status = answer(sys.stdin.buffer.read())
    sys.stdout.buffer.write(line)
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
