"""The local backend: the same runner as a subprocess on this machine, without a container.

The runner applies the same rlimits as in the image, but nothing isolates the file system, the
network or other processes, so this backend says once that its isolation is weaker.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from alphaflow.sandbox.base import Sandbox, relative_work_path
from alphaflow.sandbox.runner import RUNNER_DIR
from alphaflow.sandbox.types import RunResult, SandboxFault

WEAK_ISOLATION_WARNING = (
    "alphaflow: warning: local sandbox backend: solutions run on this host under rlimits only; "
    "its isolation is weaker than the docker pool's (file system and network are reachable)"
)
_warned = False


def warn_weak_isolation() -> None:
    global _warned
    if not _warned:
        _warned = True
        print(WEAK_ISOLATION_WARNING, file=sys.stderr)


CHILD_PATH = "/usr/local/bin:/usr/bin:/bin"


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


class LocalSandbox(Sandbox):
    backend = "local"

    def __init__(self, pool_size: int | None = None, warn: bool = True) -> None:
        self.concurrency = asyncio.Semaphore(pool_size or os.cpu_count() or 1)
        self.runner_path = Path(RUNNER_DIR)
        self.work_dir = Path(tempfile.mkdtemp(prefix="alphaflow-sandbox-"))
        self.work_dir.chmod(0o711)  # a root runner drops solutions to nobody, who must traverse it
        if warn:
            warn_weak_isolation()

    async def close(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        if not self.runner_path.exists():
            raise SandboxFault(f"the sandbox runner is missing: {self.runner_path}")
        async with self.concurrency:
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

    async def run(self, cmd: Sequence[str], stdin: bytes = b"", timeout_s: float = 10.0) -> RunResult:
        async with self.concurrency:
            return await self._spawn(list(cmd), stdin, timeout_s, cwd=self.work_dir)

    async def write_file(self, path: str, data: bytes | str) -> None:
        target = self.work_dir / relative_work_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)

    async def read_file(self, path: str) -> bytes:
        return (self.work_dir / relative_work_path(path)).read_bytes()

    async def _spawn(self, cmd: list[str], stdin: bytes, timeout_s: float, cwd: Path) -> RunResult:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=clean_env(cwd),
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
