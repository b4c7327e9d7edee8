"""Running one process under limits: pipes, the supervision loop, the memory poller.

A test's process gets a real stdin pipe fed from the request, stdout/stderr pipes read with caps,
CPU time limited by RLIMIT_CPU (TLE is judged on CPU time), a wall-clock backstop, and its memory
watched while it runs: the judged figure is memory actually used (peak resident set, VmHWM /
ru_maxrss), as Codeforces counts it, never address space reserved. A process whose peak passes the
limit is killed at once and judged MLE.
"""

from __future__ import annotations

import os
import select
import signal
import time

# Seconds the wall-clock backstop grants beyond wall_factor x time limit (process start-up).
WALL_GRACE_S = 0.5
# A program still runnable at the backstop but starved of CPU by a loaded machine gets more wall
# time, up to this many times the backstop: TLE is judged on CPU time, not on the machine's load.
STARVED_WALL_FACTOR = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# How long to drain pipes after the program exited (a leftover child may still hold them).
DRAIN_S = 0.2
PIPE_CHUNK = 1 << 16  # a pipe's buffer: the most one read or write moves
# How often a running process's peak memory is read. A trivial test ends before the first reading;
# at memset speed (~10 GB/s) a process overshoots the limit by at most ~50 MB before it is killed.
MEMORY_POLL_S = 0.005


class RunLimits:
    """Limits for one process. ``memory_bytes`` caps the peak resident memory (watched, not an rlimit)."""

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
        self.memory_killed = False  # its peak resident memory passed the limit while it ran


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


def supervise(pid: int, pipes: Pipes, data: bytes, limits: RunLimits, started: float, waiter) -> Outcome:
    """Feed stdin, read stdout/stderr with caps, enforce the wall clock and the memory limit,
    collect rusage. ``waiter`` tells when ``pid`` has ended (``ChildWaiter`` or the fork server's)."""
    outcome = Outcome()
    deadline = started + limits.wall_s
    last_deadline = started + limits.wall_s * STARVED_WALL_FACTOR
    poller = select.poll()
    stdin_fd, out_fd, err_fd = pipes.stdin_write, pipes.stdout_read, pipes.stderr_read
    os.set_blocking(out_fd, False)
    os.set_blocking(err_fd, False)
    view, written = memoryview(data), 0
    stdin_open = False
    if data:  # most inputs fit in the pipe at once: no poll round for them
        os.set_blocking(stdin_fd, False)
        written = _feed(stdin_fd, view, 0)
        stdin_open = written < len(view)
    if stdin_open:
        poller.register(stdin_fd, select.POLLOUT)
    else:
        pipes.close(stdin_fd)
    reading = {out_fd, err_fd}
    poller.register(out_fd, select.POLLIN)
    poller.register(err_fd, select.POLLIN)
    waiter_fd = waiter.fd
    if waiter_fd is not None:
        poller.register(waiter_fd, select.POLLIN)
    ended = False

    def read(fd: int, drain: bool = False) -> None:
        if not _read_into(fd, out_fd, outcome, limits, drain):
            poller.unregister(fd)
            reading.discard(fd)

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

    def kill_now() -> None:
        send_signal(pid, signal.SIGKILL, group=True)
        reap(blocking=True)

    next_poll = started + MEMORY_POLL_S
    limit_kb = limits.memory_bytes // 1024
    try:
        while not ended:
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0 and now < last_deadline and _starved(pid, limits.cpu_s):
                deadline += max(limits.cpu_s, 0.5)  # busy but starved by a loaded machine: not a sleeper
                continue
            if remaining <= 0:
                outcome.wall_killed = True
                kill_now()
                break
            if now >= next_poll:
                next_poll = now + MEMORY_POLL_S
                peak = peak_memory_kb(pid)
                if peak > limit_kb:
                    outcome.memory_killed = True
                    kill_now()
                    outcome.memory_kb = max(outcome.memory_kb, peak)
                    break
                if waiter_fd is None:
                    reap(blocking=False)
                    continue
            timeout_ms = max(0.0, min(remaining, next_poll - now)) * 1000
            for fd, _ in poller.poll(timeout_ms):
                if fd == waiter_fd:
                    reap(blocking=True)
                elif stdin_open and fd == stdin_fd:
                    written = _feed(stdin_fd, view, written)
                    if written >= len(view):
                        poller.unregister(stdin_fd)
                        stdin_open = False
                        pipes.close(stdin_fd)
                elif fd in reading:
                    read(fd)
            if outcome.output_exceeded and not ended:
                kill_now()
                break
        # The program is gone: kill what it left in its group and drain what is still buffered.
        send_signal(pid, signal.SIGKILL, group=True)
        pipes.close(stdin_fd)
        for fd in list(reading):  # usually all there is: read it without another poll round
            read(fd, drain=True)
        if reading and waiter_fd is not None:
            poller.unregister(waiter_fd)
        drain_end = time.monotonic() + DRAIN_S
        while reading and not outcome.output_exceeded:
            remaining = drain_end - time.monotonic()
            if remaining <= 0:
                break
            for fd, _ in poller.poll(remaining * 1000):
                if fd in reading:
                    read(fd)
    finally:
        waiter.close()
    return outcome


def _feed(fd: int, view: memoryview, written: int) -> int:
    """Write the next chunk of stdin; how much is written now (all of it once the program closed
    its stdin: that is fine)."""
    try:
        return written + os.write(fd, view[written : written + PIPE_CHUNK])
    except BlockingIOError:
        return written
    except BrokenPipeError:
        return len(view)


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


def _read_into(fd: int, out_fd: int, outcome: Outcome, limits: RunLimits, drain: bool = False) -> bool:
    """Read what stdout or stderr holds (``drain``: until it is empty or ends); keeps at most the
    caps, flags output past the limit. False at end of file."""
    while True:
        try:
            chunk = os.read(fd, PIPE_CHUNK)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        if fd == out_fd:
            outcome.stdout_total += len(chunk)
            room = limits.keep_stdout - len(outcome.stdout)
            if room > 0:
                outcome.stdout += chunk[:room]
            if outcome.stdout_total > limits.output_bytes:
                outcome.output_exceeded = True
                return True
        else:
            outcome.stderr_total += len(chunk)
            outcome.stderr_tail = (outcome.stderr_tail + chunk)[-512:]
            room = limits.keep_stderr - len(outcome.stderr)
            if room > 0:
                outcome.stderr += chunk[:room]
            if outcome.stderr_total > limits.output_bytes:
                outcome.output_exceeded = True
                return True
        if len(chunk) < PIPE_CHUNK and not drain:
            return True  # the pipe is empty for now: back to waiting


def peak_memory_kb(pid: int) -> int:
    """The peak resident memory (VmHWM, KiB) of a running process; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            data = handle.read()
    except OSError:
        return 0
    start = data.find(b"VmHWM:")
    if start < 0:
        return 0
    try:
        return int(data[start + 6 : data.index(b"kB", start)])
    except ValueError:
        return 0


def send_signal(pid: int, sig: int, group: bool = False) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap_quietly(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
