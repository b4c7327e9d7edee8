"""The runner's side of the Python fork server (``forkserver.py serve``): start it, run tests through it."""

from __future__ import annotations

import select
import socket
import time

from .compilers import Program
from .processes import Sandbox, child_limits
from .supervise import Outcome, Pipes, RunLimits, reap_quietly, send_signal, supervise

# How long the server may take to answer (its next child is usually forked already; a server a
# solution stopped with SIGSTOP never answers, and the test is rerun the classic way instead).
ANSWER_TIMEOUT_S = 10.0


class ForkServerLost(Exception):
    """The fork server died, answered nonsense or stopped answering: the test is rerun the classic way."""


def _wait_for_answer(control: socket.socket) -> None:
    readable, _, _ = select.select([control], [], [], ANSWER_TIMEOUT_S)
    if not readable:
        raise ForkServerLost(f"no answer from the fork server within {ANSWER_TIMEOUT_S:g} s")


class ForkServer:
    """One fork server per (solution, concurrent test slot), started on the first test."""

    def __init__(self, sandbox: Sandbox, program: Program, limits: RunLimits) -> None:
        self.sandbox = sandbox
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = program.fork_server_argv(theirs.fileno(), child_limits(limits, sandbox.nproc(limits)))
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
                _wait_for_answer(self.control)
                answer = self.control.recv(64)  # the child forked ahead for this test (usually waiting)
                if not answer.startswith(b"P"):
                    raise ForkServerLost(f"unexpected answer {answer[:20]!r}")
                pid = int(answer[1:])
                started = time.monotonic()
                socket.send_fds(self.control, [b"R%d" % pid], list(pipes.child_ends()))
                pipes.close_child_ends()
            except OSError as error:
                raise ForkServerLost(str(error)) from None
            outcome = supervise(pid, pipes, stdin, limits, started, ServerWaiter(self.control))
        finally:
            if pid is not None and outcome is None:  # supervise did it when it returned
                send_signal(pid, 9, group=True)  # SIGKILL: whatever it left in its group
            self.sandbox.registry.kill_strays()
            pipes.close_all()
        return outcome

    def close(self) -> None:
        self.control.close()  # a running server reads EOF and exits; a stopped one only dies
        send_signal(self.process.pid, 9, group=True)  # SIGKILL: it and its forked-ahead child
        reap_quietly(self.process.pid)
        self.sandbox.registry.done(self.process.pid)
        self.stdio.close_all()


class ServerWaiter:
    """Learns from the fork server that a test's process ended, with its rusage."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.fd: int | None = control.fileno()

    def reap(self, blocking: bool) -> tuple[int, float, int] | None:
        try:
            if blocking:
                _wait_for_answer(self.control)
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
