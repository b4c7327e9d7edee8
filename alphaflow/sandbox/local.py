"""The local backend: the same runner as a subprocess on this machine, without a container.

The runner applies the same rlimits as in the image. Around it this backend adds what the host
allows, and records in every result what it could not enforce (``JudgeResult.isolation``):

- the alphaflow process is made non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``), so a solution running
  as the same user cannot read its ``/proc/PID/environ`` (API keys) or memory;
- the runner gets a clean environment and a private, empty ``HOME``/``TMPDIR`` per judgement;
- where the OS allows (root, or unprivileged user namespaces), each judgement runs in new network,
  PID and mount namespaces (``unshare``): no network, only its own processes in ``/proc``, and fresh
  private ``/tmp``, ``/var/tmp`` and ``/dev/shm``. Run as root, the runner also drops solutions to
  ``nobody``; otherwise they run as the user who runs alphaflow and can read and write that user's
  files, which the result says.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from alphaflow.sandbox.base import Sandbox, relative_work_path
from alphaflow.sandbox.runner import RUNNER_DIR
from alphaflow.sandbox.types import JudgeResult, RunResult, SandboxFault

CHILD_PATH = "/usr/local/bin:/usr/bin:/bin"
# Where unshare(1) may live; /usr/sbin and /sbin only matter on old layouts.
TOOL_PATH = CHILD_PATH + ":/usr/sbin:/sbin"
# Writable places every process may use; each judgement gets fresh, empty ones (tmpfs, this size).
PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
PRIVATE_DIR_SIZE = "512m"
PR_SET_DUMPABLE = 4

# Runs as root inside the new mount namespace (python3 -I -S -c): cover the shared writable dirs with
# empty tmpfs, put KEEP back when it lives under one of them (the runner in a venv under /tmp, the
# work dir of ``run``), then exec the command. Through mount(2) itself: mount(8) would resolve the
# /proc/self/fd link to a path, which by then names the empty tmpfs. Arguments: KEEP|- SIZE COMMAND...
_PREPARE = r"""
import ctypes, os, sys
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC = 2, 4, 4096, 16384
libc = ctypes.CDLL(None, use_errno=True)
def mount(source, target, fstype, flags, data):
    if libc.mount(source.encode(), target.encode(), fstype, flags, data) != 0:
        sys.exit(f"alphaflow sandbox: mount {target}: {os.strerror(ctypes.get_errno())}")
keep, size, command = sys.argv[1], sys.argv[2], sys.argv[3:]
fd = os.open(keep, os.O_PATH) if keep != "-" else None  # this namespace's view, before covering
for path in ("/tmp", "/var/tmp", "/dev/shm"):
    if os.path.isdir(path):
        mount("alphaflow", path, b"tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}".encode())
if fd is not None:
    source = f"/proc/self/fd/{fd}"
    if os.path.isdir(source):
        os.makedirs(keep, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(keep), exist_ok=True)
        open(keep, "w").close()
    mount(source, keep, None, MS_BIND | MS_REC, None)
    os.close(fd)
os.execvp(command[0], command)
"""


def clean_env(work_dir: Path) -> dict[str, str]:
    """A minimal environment for untrusted code: none of the host's variables (API keys) pass."""
    return {
        "PATH": CHILD_PATH,
        "LANG": "C.UTF-8",
        "HOME": str(work_dir),
        "TMPDIR": str(work_dir),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


def python3() -> str:
    return shutil.which("python3", path=CHILD_PATH) or sys.executable


def runner_path() -> Path:
    """The runner the local backend starts (``python3 RUNNER``): the runner package's folder."""
    return Path(RUNNER_DIR)


def make_non_dumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)`` on this process: its ``/proc/PID/{environ,mem,fd}`` then belong
    to root, so processes of the same user (solutions) cannot read the API keys it holds. Side
    effect: no core dumps, and debuggers of the same user cannot attach. False when not on Linux."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _unshare_prefix(unshare: str, as_root: bool) -> list[str]:
    """The outer ``unshare``: new network, PID (own /proc), IPC and mount namespaces; a user
    namespace where we are root when the host process is not."""
    spaces = [
        "--net",
        "--ipc",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount",
        "--mount-proc",
        "--propagation",
        "private",
    ]
    return [unshare, *spaces] if as_root else [unshare, "--user", "--map-root-user", *spaces]


def _inner_user(unshare: str) -> list[str]:
    """Back to the host user's own uid/gid (in a nested user namespace) before the runner starts,
    so the runner does not believe it is root and solutions hold no capabilities."""
    return [unshare, "--user", f"--map-user={os.getuid()}", f"--map-group={os.getgid()}"]


def wrap_in_namespaces(command: list[str], keep: Path | None = None) -> list[str]:
    """``command`` inside new namespaces (see the module docstring); ``keep``: a path that must stay
    visible at its place even when it lies under one of the covered ``PRIVATE_DIRS``."""
    unshare = shutil.which("unshare", path=TOOL_PATH)
    if unshare is None:
        raise SandboxFault("unshare(1) disappeared")
    as_root = os.geteuid() == 0
    inner = [] if as_root else _inner_user(unshare)
    kept = str(keep) if keep is not None else "-"
    prepare = [python3(), "-I", "-S", "-c", _PREPARE, kept, PRIVATE_DIR_SIZE]
    return [*_unshare_prefix(unshare, as_root), *prepare, *inner, *command]


@functools.cache
def namespaces_work() -> bool:
    """Whether this host lets us run a judgement in new namespaces (probed once, ~10 ms)."""
    if sys.platform != "linux" or shutil.which("unshare", path=TOOL_PATH) is None:
        return False
    try:
        done = subprocess.run(
            wrap_in_namespaces(["true"]),
            env=_namespace_env(),
            capture_output=True,
            timeout=20,
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _namespace_env() -> dict[str, str]:
    return clean_env(Path("/tmp"))


def isolation_report(namespaces: bool, non_dumpable: bool) -> dict[str, str]:
    """What the local backend enforces for each judgement: a value per property, weak ones first
    named in ``WEAK_VALUES``."""
    root = os.geteuid() == 0
    return {
        "backend": "local",
        "environment": "clean",
        "host_process": "non-dumpable" if non_dumpable else "readable by the same user",
        "network": "none" if namespaces else "open",
        "processes": "private" if namespaces else "visible",
        "temp_dirs": "private" if namespaces else "shared",
        "ipc": "private" if namespaces else "shared",
        "user": "nobody" if root else "same user as alphaflow",
        "file_system": "host",  # never isolated here: world-readable files, or all of the user's
    }


WEAK_VALUES = {
    "file_system": "host",
    "ipc": "shared",
    "host_process": "readable by the same user",
    "network": "open",
    "processes": "visible",
    "temp_dirs": "shared",
    "user": "same user as alphaflow",
}


def not_enforced(isolation: dict[str, str]) -> list[str]:
    """One phrase per weak property of ``isolation``, e.g. ``["network open", ...]``."""
    phrases = {
        "file_system": "the host's files are readable (world-readable ones at least)",
        "ipc": "System V and POSIX IPC objects shared with the host",
        "host_process": "alphaflow's /proc readable by solutions",
        "network": "network open",
        "processes": "other processes visible in /proc",
        "temp_dirs": "/tmp, /var/tmp and /dev/shm shared with the host",
        "user": "solutions run as your user (your files are readable and writable)",
    }
    return [phrases[key] for key, weak in WEAK_VALUES.items() if isolation.get(key) == weak]


_warned = False


def warn_weak_isolation(weak: Iterable[str]) -> None:
    """Say once per process what the local backend does not enforce on this host."""
    global _warned
    weak = list(weak)
    if weak and not _warned:
        _warned = True
        print(
            "alphaflow: warning: local sandbox backend: not enforced on this host: "
            + "; ".join(weak)
            + " (the docker backend isolates fully)",
            file=sys.stderr,
        )


class LocalSandbox(Sandbox):
    """Judge with the runner as a local subprocess; see the module docstring for what is isolated.

    ``namespaces=False`` skips the namespaces even where the host allows them (the weaker path;
    every result then says so). Raises nothing at construction; a missing runner is a
    ``SandboxFault`` (verdict SE) at judging time.
    """

    backend = "local"

    def __init__(self, pool_size: int | None = None, warn: bool = True, namespaces: bool = True) -> None:
        self.concurrency = asyncio.Semaphore(pool_size or os.cpu_count() or 1)
        self.runner_path = runner_path()
        self.work_dir = Path(tempfile.mkdtemp(prefix="alphaflow-sandbox-"))
        self.work_dir.chmod(0o711)  # a root runner drops solutions to nobody, who must traverse it
        self.namespaces = namespaces and namespaces_work()
        self.isolation = isolation_report(self.namespaces, make_non_dumpable())
        if warn:
            warn_weak_isolation(not_enforced(self.isolation))

    async def close(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)

    async def judge(self, *args: Any, **kwargs: Any) -> JudgeResult:
        """``Sandbox.judge``, with ``result.isolation`` saying what this host enforced."""
        result = await super().judge(*args, **kwargs)
        result.isolation = dict(self.isolation)
        return result

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        if not self.runner_path.exists():
            raise SandboxFault(f"the sandbox runner is missing: {self.runner_path}")
        async with self.concurrency:
            if self.namespaces:
                # the private dirs are this judgement's own: emptied between its tests too
                sweep = [arg for directory in PRIVATE_DIRS for arg in ("--sweep", directory)]
                result = await self._spawn_isolated(
                    # by its real path: that is where the private /tmp binds it back when it lives there
                    [python3(), str(self.runner_path.resolve()), *sweep],
                    request,
                    timeout_s,
                    keep=self.runner_path,
                )
            else:
                run_dir = Path(tempfile.mkdtemp(prefix="judge-", dir=self.work_dir))
                run_dir.chmod(0o711)
                try:
                    result = await self._spawn(
                        [python3(), str(self.runner_path)], request, timeout_s, cwd=run_dir
                    )
                finally:
                    shutil.rmtree(run_dir, ignore_errors=True)
        if result.timed_out:
            raise SandboxFault(f"the runner did not finish within the host timeout of {timeout_s:.0f} s")
        if result.exit_code != 0:
            tail = result.stderr[-500:].decode("utf-8", errors="replace")
            raise SandboxFault(f"the runner exited with {result.exit_code}: {tail}")
        return result.stdout

    async def _spawn_isolated(
        self,
        command: list[str],
        stdin: bytes,
        timeout_s: float,
        cwd: Path = Path("/"),
        keep: Path | None = None,
    ) -> RunResult:
        """``command`` in fresh namespaces with private, empty /tmp, /var/tmp and /dev/shm; ``keep``
        (the runner, or the work dir of ``run``) stays visible at its own path when they cover it."""
        keep = keep.resolve() if keep is not None else None
        if keep is not None and not any(keep.is_relative_to(d) for d in PRIVATE_DIRS):
            keep = None
        # The runner starts in / with HOME and TMPDIR on the fresh /tmp; a command in the work dir.
        env = clean_env(Path("/tmp") if cwd == Path("/") else cwd)
        return await self._spawn(wrap_in_namespaces(command, keep=keep), stdin, timeout_s, cwd=cwd, env=env)

    async def run(self, cmd: Sequence[str], stdin: bytes = b"", timeout_s: float = 10.0) -> RunResult:
        """A command in the work dir, in the same namespaces as a judgement where the host allows."""
        async with self.concurrency:
            if self.namespaces:
                return await self._spawn_isolated(
                    list(cmd), stdin, timeout_s, cwd=self.work_dir, keep=self.work_dir
                )
            return await self._spawn(list(cmd), stdin, timeout_s, cwd=self.work_dir)

    async def write_file(self, path: str, data: bytes | str) -> None:
        target = self.work_dir / relative_work_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)

    async def read_file(self, path: str) -> bytes:
        return (self.work_dir / relative_work_path(path)).read_bytes()

    async def _spawn(
        self,
        cmd: list[str],
        stdin: bytes,
        timeout_s: float,
        cwd: Path,
        env: dict[str, str] | None = None,
    ) -> RunResult:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env or clean_env(cwd),
            start_new_session=True,  # its own process group, so a timeout kills every descendant
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout_s)
            timed_out = False
        except TimeoutError:
            _kill_group(process.pid)
            try:  # a descendant that left the group may still hold the pipes open
                stdout, stderr = await asyncio.wait_for(process.communicate(), 5.0)
            except TimeoutError:
                stdout, stderr = b"", b""
            timed_out = True
        return RunResult(
            exit_code=process.returncode,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            wall_s=time.perf_counter() - started,
        )


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
