"""Runs a compiled Python solution as ``__main__``: once (``run``), or once per test (``serve``).

Started by the runner as ``python3 -S forkserver.py MODE CODE_FILE SOURCE_PATH SITE_DIRS ...``
(``-S`` saves ~10 ms of ``site`` per start; the site directories come as an argument). It imports
nothing from the runner package and as little as it can, because everything imported here is paid
by every solution.

``serve CONTROL_FD CPU_SOFT CPU_HARD FSIZE STACK NPROC``: the solution's code is loaded once; the
server forks a pristine child (it never ran the solution itself) and says ``P<pid>``; the child waits
for the runner to send a test's three pipe ends over the control socket (``R<its pid>``), takes them as
stdin/stdout/stderr, sets its rlimits and runs the solution; the server says
``X<status> <cpu s> <peak KiB>`` when it has ended, and forks the next. Forking a pre-loaded
interpreter saves its start-up per test.

``run [ARGS...]``: run the solution once in this process (the classic path; checkers too).

Either way the program ends as under ``python3 prog.py``: an uncaught exception prints its traceback
and exits 1, ``SystemExit`` gives its code (a message goes to stderr, exit 1), non-daemon threads
are joined, ``atexit`` handlers run, ``sys.stdout``/``sys.stderr`` are flushed (exit 120 when
stdout cannot be), objects the program leaves are collected (fast-output classes flush in
``__del__``), and ``sys.__stdout__``/``sys.__stderr__`` are flushed last, as their deallocation does.
It then leaves with ``os._exit``: a full finalization of the copied interpreter costs more CPU than a
trivial test.
"""

import _socket
import atexit
import builtins
import gc
import marshal
import os
import resource
import sys


def _quit(code=None):
    raise SystemExit(code)


def load(code_file: str, source_path: str, site_dirs: str):
    """The solution's code object; sets up ``sys.path`` and ``sys.argv`` as ``python3 SOURCE`` would."""
    builtins.exit = builtins.quit = _quit  # what `site` would add
    with open(code_file, "rb") as handle:
        code = marshal.load(handle)
    sys.path[0] = os.path.dirname(source_path)
    sys.path[1:1] = [directory for directory in site_dirs.split(":") if directory]
    return code


def serve(code, control_fd: int, limits: list) -> None:
    """Fork a child per test, ahead of time; returns only in a child, which then runs the solution.

    The next child is forked while the runner is still busy with the last test's result, and waits
    for its test's pipe ends itself: the fork is off each test's critical path.
    """
    control = _socket.socket(fileno=control_fd)
    gc.freeze()  # children collect only what the solution made, not the server's objects
    while True:
        pid = os.fork()
        if pid == 0:
            _take_test(control, limits)
            return
        try:
            control.send(b"P%d" % pid)
            _, status, usage = os.wait4(pid, 0)
            control.send(b"X%d %r %d" % (status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss))
        except OSError:  # the runner is gone
            os._exit(0)


def _take_test(control, limits: list) -> None:
    """In a fresh child: wait for the test's stdin/stdout/stderr, take them, set the limits."""
    mine = b"R%d" % os.getpid()
    while True:
        try:
            message, fds = _receive(control)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)  # the runner closed the control socket: no more tests
        if message == mine and len(fds) == 3:
            break
        for fd in fds:  # a test meant for a child that died before taking it
            os.close(fd)
    os.setsid()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        os.close(fd)
    control.close()
    cpu_soft, cpu_hard, fsize, stack, nproc = limits
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_soft, cpu_hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
    if nproc >= 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _receive(control):
    # socket.recv_fds without the socket module (its import, enum included, costs ~10 ms a start).
    message, ancillary, _, _ = control.recvmsg(16, _socket.CMSG_LEN(3 * 4))
    fds = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds += [int.from_bytes(data[i : i + 4], sys.byteorder, signed=True) for i in range(0, usable, 4)]
    return message, fds


def run(code) -> None:
    """Run ``code`` as ``__main__`` and end the process as the interpreter would (never returns)."""
    promotions = gc.get_count()[2]  # gen-1 collections so far (the server's objects are frozen)
    main = type(sys)("__main__")
    main.__file__ = sys.argv[0]
    main.__builtins__ = builtins
    main.__cached__ = None
    sys.modules["__main__"] = main
    status = 0
    interrupted = False
    try:
        exec(code, main.__dict__)
    except SystemExit as stop:
        status = _exit_status(stop)
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        sys.excepthook(type(error), error, error.__traceback__)
        status = 1
    del main
    threading = sys.modules.get("threading")
    if threading is not None and hasattr(threading, "_shutdown"):
        threading._shutdown()
    atexit._run_exitfuncs()
    if not _flush(sys.stdout, sys.stderr):
        status = 120  # what CPython returns when flushing stdout fails at exit
    # As CPython's finalization does: the standard streams go back to the originals (a replaced
    # sys.stdout is released), __main__ goes and everything unreachable is collected, so finalizers
    # run while the globals they use still exist; the original streams are flushed last.
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    sys.modules.pop("__main__", None)
    # Generations 0-1 hold everything the solution made unless a gen-1 collection promoted some of
    # it; a full collection would also empty the free lists, touching (copying) pages for nothing.
    gc.collect(1 if gc.get_count()[2] == promotions else 2)
    _flush(sys.__stdout__, sys.__stderr__)  # finalizers may have written to them
    if interrupted:  # CPython ends an unhandled KeyboardInterrupt by dying of SIGINT
        import signal

        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(status)


def _exit_status(stop: SystemExit) -> int:
    code = stop.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def _flush(*streams) -> bool:
    """Flush each stream; False when the first one (stdout) could not be flushed."""
    ok = True
    for index, stream in enumerate(streams):
        try:
            if stream is not None and not getattr(stream, "closed", False):
                stream.flush()
        except Exception:
            ok = ok and index > 0
    return ok


def main() -> None:
    mode, code_file, source_path, site_dirs, *rest = sys.argv[1:]
    code = load(code_file, source_path, site_dirs)
    if mode == "serve":
        control_fd, *limits = (int(value) for value in rest)
        sys.argv = [source_path]
        serve(code, control_fd, limits)
    else:
        sys.argv = [source_path, *rest]
    run(code)


if __name__ == "__main__":
    main()
