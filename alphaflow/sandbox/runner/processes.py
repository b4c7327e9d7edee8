"""Process identity and hygiene: who runs solutions, their rlimits, and sweeping up strays.

The runner is a child subreaper, so whatever a solution leaves behind (even a process that escaped
its group with setsid) is re-parented to it and killed. Solutions run as nobody when the runner is
root, with a clean environment, in their own session, below the runner's priority.
"""

from __future__ import annotations

import math
import os
import resource
import signal
import subprocess
import threading
import time

from .supervise import ChildWaiter, Outcome, Pipes, RunLimits, reap_quietly, send_signal, supervise

UNPRIVILEGED_ID = 65534  # nobody/nogroup: who runs solutions when the runner itself is root
CHILD_PATH = "/usr/local/bin:/usr/bin:/bin"
CHILD_NICENESS = 10


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
                    send_signal(pid, signal.SIGSTOP)
                frozen |= fresh
            for pid in frozen:
                send_signal(pid, signal.SIGKILL)
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
        # One thread (tests run one at a time): only its file, without listing the tasks.
        tasks = [str(os.getpid())] if threading.active_count() == 1 else os.listdir("/proc/self/task")
        for task in tasks:
            with open(f"/proc/self/task/{task}/children") as handle:
                children.update(int(pid) for pid in handle.read().split())
    except OSError:
        me = os.getpid()
        return {pid for pid, parent in _process_table().items() if parent == me}
    return children


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
            outcome = supervise(process.pid, pipes, stdin, limits, started, ChildWaiter(process.pid))
        finally:
            send_signal(process.pid, signal.SIGKILL, group=True)  # whatever it left in its group
            if outcome is None:  # _supervise failed before reaping it
                reap_quietly(process.pid)
            self.registry.done(process.pid)
            self.registry.kill_strays()
            pipes.close_all()
        return outcome


def child_limits(limits: RunLimits, nproc: int | None) -> list[int]:
    """[cpu soft, cpu hard, file size, stack, processes (-1: none)]: what a test's process gets.

    The stack may grow as large as the memory limit (as on Codeforces), for the main thread of a
    C++ program and of the interpreter alike; memory is judged on use, so reserving it costs
    nothing. No RLIMIT_AS: a thread's stack or malloc's arenas reserve address space they never use.
    """
    cpu = max(1, math.ceil(limits.cpu_s))
    stack = min(limits.memory_bytes, hard_limit(resource.RLIMIT_STACK))
    return [cpu, cpu + 1, limits.file_bytes, stack, -1 if nproc is None else nproc]


def apply_rlimits(limits: RunLimits, nproc: int | None) -> None:
    """Set the rlimits of the calling process (a child about to exec)."""
    cpu_soft, cpu_hard, file_bytes, stack, processes = child_limits(limits, nproc)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
    if processes >= 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    # Below the runner's priority: a fork bomb sharing the container's CPU must not starve the
    # runner that has to stop it (CFS weights apply inside the container's cgroup).
    os.nice(CHILD_NICENESS)


def hard_limit(kind: int) -> int:
    hard = resource.getrlimit(kind)[1]
    return hard if hard != resource.RLIM_INFINITY else 1 << 62
