"""The entry points: one request (``python3 RUNNER_DIR < request.json``) or a stream (``--serve``).

``--serve`` keeps one runner alive for many requests (the docker pool starts one per container, so
interpreter start-up and imports are paid once): length-prefixed request frames on stdin, one result
frame each on stdout (``protocol.FRAME_HEADER``/``RESULT_HEADER``). Every request is judged in a
freshly forked child that does exactly what the one-shot mode does; after it, the server kills
whatever is left and empties every place a solution could write to (``--sweep DIR``, repeatable:
the pool passes ``/tmp``, ``/dev/shm`` and ``/dev/mqueue``) and removes System V IPC objects, so
nothing one solution leaves can reach the next.
"""

from __future__ import annotations

import json
import os
import sys

from . import judge
from .judge import answer, runner_info, signal_name
from .processes import ChildRegistry, become_subreaper, hide_from_solutions
from .protocol import (
    FLAG_DIRTY,
    FRAME_HEADER,
    MAX_REQUEST_BYTES,
    RESULT_HEADER,
    fault,
    read_exactly,
    write_all,
)
from .sweep import remove_sysv_ipc, sweep_directory


def judge_in_child(data: bytes) -> bytes:
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
            write_all(write_end, line)
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
        error = f"runner fault: the judging child ended ({_status_text(status)}) without a result"
        line = (json.dumps(fault(error, runner_info())) + "\n").encode()
    return line


def _status_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return signal_name(os.WTERMSIG(status))
    return f"exit {os.waitstatus_to_exitcode(status)}"


def serve(sweep: list[str]) -> int:
    """Answer request frames on stdin until it ends; each in a fresh child, then a clean slate."""
    from .compilers import learn_site_dirs

    judge.SCRATCH_DIRS[:] = sweep  # emptied between the tests of a request too
    become_subreaper()
    hide_from_solutions()
    runner_info()  # read once here; every child inherits it
    learn_site_dirs()
    leftovers = ChildRegistry()  # registers nothing: every descendant left after a request is a stray
    uid = os.getuid()
    while True:
        header = read_exactly(0, FRAME_HEADER.size)
        if header is None:
            return 0
        (size,) = FRAME_HEADER.unpack(header)
        if size > MAX_REQUEST_BYTES:
            return 2  # a broken stream: the host sees it end and starts another runner
        data = read_exactly(0, size)
        if data is None:
            return 0
        line = judge_in_child(data)
        leftovers.kill_strays()
        clean = all([sweep_directory(path) for path in sweep])
        if sweep and uid != 0:  # in a container, where every IPC object is a solution's
            clean = remove_sysv_ipc(uid) and clean
        write_all(1, RESULT_HEADER.pack(len(line), 0 if clean else FLAG_DIRTY) + line)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--info" in args:
        print(json.dumps(runner_info()))
        return 0
    sweep = [args[index + 1] for index, arg in enumerate(args[:-1]) if arg == "--sweep"]
    if "--serve" in args:
        return serve(sweep)
    judge.SCRATCH_DIRS[:] = sweep  # one request: emptied between its tests (private dirs only!)
    become_subreaper()
    hide_from_solutions()
    line, status = answer(sys.stdin.buffer.read())
    sys.stdout.buffer.write(line)
    sys.stdout.flush()
    return status
