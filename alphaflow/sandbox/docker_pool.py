"""The docker backend: a warm pool of locked-down containers, each with one persistent runner.

Containers start once (no network, read-only root, tmpfs work dir, non-root, no capabilities, pids,
memory and CPU limits) and serve many solutions. Each runs one long-lived ``runner --serve`` exec,
started with the container: requests go in on its stdin as length-prefixed frames and results come
back the same way, so neither an exec nor the runner's start-up is paid per solution. The runner
judges each request in a freshly forked child and then kills every leftover process and empties
every place a solution can write to (the work dir ``/tmp``, ``/dev/shm``, ``/dev/mqueue``; the root
file system is read-only) and its System V IPC objects, so nothing of one solution reaches the next.
Time limits are enforced inside by the runner; the host's timeout is only a last resort,
after which the container is killed. A runner stream that breaks is a ``SandboxFault``: the container
goes and the judgement is retried on another.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import platform
import select
import shlex
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from alphaflow.errors import UserError
from alphaflow.sandbox.base import Sandbox, relative_work_path
from alphaflow.sandbox.runner.protocol import FLAG_DIRTY, FRAME_HEADER, RESULT_HEADER, RUNNER_DIR_IN_IMAGE
from alphaflow.sandbox.types import JudgeResult, RunResult, SandboxFault

T = TypeVar("T")
LABEL = "alphaflow.sandbox"
OWNER_PID_LABEL = "alphaflow.sandbox.owner_pid"
OWNER_HOST_LABEL = "alphaflow.sandbox.owner_host"
WORK_DIR = "/tmp"
FALLBACK_USER = "65534:65534"  # nobody, when the image does not name a non-root user
CONTAINER_ENV = {
    "HOME": WORK_DIR,
    "TMPDIR": WORK_DIR,
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
# Every place a solution can write to in a pool container (the root file system is read-only).
WRITABLE_PLACES = (WORK_DIR, "/dev/shm", "/dev/mqueue")
# The persistent runner; after each request it sweeps the writable places (whatever a solution left
# there, files filling a tmpfs or unreadable directories, must not reach the next solution) and flags
# the result when the sweep failed, so the container goes.
SERVE_COMMAND = ["python3", RUNNER_DIR_IN_IMAGE, "--serve"] + [
    argument for place in WRITABLE_PLACES for argument in ("--sweep", place)
]
REQUEST_HEADER = FRAME_HEADER
# A hostile program's output is capped by the runner; this caps what the host reads in any case.
MAX_EXEC_OUTPUT_BYTES = 256 << 20
MAX_STDERR_KEPT = 4096


@dataclass
class PoolSettings:
    size: int
    image: str
    runtime: str | None = None
    max_uses: int = 200  # recycle a container after this many solutions
    memory_bytes: int = 2 << 30  # whole container (memory + swap): a backstop over the per-test rlimit
    cpus: float = 1.0
    # Threads count too. Few processes leave the runner CPU to stop a fork bomb quickly; gVisor's own
    # threads count against the limit inside its sandbox, so it needs more (it hangs at 64).
    pids_limit: int | None = None  # None: 64 with runc, 256 with runsc
    tmpfs_bytes: int = 512 << 20


@dataclass
class RunnerStream:
    """The attached stdin/stdout of a container's persistent runner exec."""

    exec_id: str
    stream: Any  # what the SDK returned; closing it ends the exec's stdin
    raw: socket.socket
    pending: bytearray = field(default_factory=bytearray)  # docker frames not yet parsed
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)

    def close(self) -> None:
        try:
            self.stream.close()
        except Exception:
            pass

    def broken(self) -> bool:
        """True when the runner's stream ended or holds data nobody asked for (it is idle)."""
        try:
            readable, _, _ = select.select([self.raw], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


@dataclass
class PooledContainer:
    id: str
    uses: int = 0
    last_used: float = 0.0
    runner: RunnerStream | None = None


# Every open pool (held strongly: a pool dropped without close() still owns running containers), so
# its containers are removed at interpreter exit.
_live_pools: set[DockerSandbox] = set()


@atexit.register
def _remove_containers_at_exit() -> None:
    for pool in list(_live_pools):
        pool.remove_all_now(side_by_side=False)  # the interpreter is exiting: no new threads


class DockerSandbox(Sandbox):
    backend = "docker"

    def __init__(self, client: Any, settings: PoolSettings) -> None:
        self.client = client
        self.api = client.api
        self.settings = settings
        self.user = _sandbox_user(client, settings.image)
        self._slots = asyncio.Semaphore(settings.size)
        self._idle: list[PooledContainer] = []
        self._all: dict[str, PooledContainer] = {}
        self._lock = threading.Lock()
        self._workspace: PooledContainer | None = None
        self._workspace_lock = asyncio.Lock()
        self.closed = False
        # Its own threads (the SDK blocks): the default executor's few threads would cap a big pool.
        self._threads = ThreadPoolExecutor(settings.size + 2, thread_name_prefix="alphaflow-sandbox")
        _live_pools.add(self)

    def _in_thread(self, function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        return asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(function, *args))

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._in_thread(reap_orphans, self.client)
        await self.warm(1)

    async def judge(self, *args: Any, **kwargs: Any) -> JudgeResult:
        """``Sandbox.judge``, with ``result.isolation`` saying what the pool's containers enforce
        (the same keys as the local backend's report)."""
        result = await super().judge(*args, **kwargs)
        result.isolation = self.isolation()
        return result

    def isolation(self) -> dict[str, str]:
        settings = self.settings
        pids = settings.pids_limit or (256 if settings.runtime == "runsc" else 64)
        return {
            "backend": "docker",
            "runtime": settings.runtime or "runc",
            "environment": "clean",
            "host_process": "outside the container",
            "network": "none",
            "processes": f"private (container, at most {pids})",
            "temp_dirs": "private (emptied between solutions and between tests)",
            "ipc": "private (container)",
            "user": self.user,
            "file_system": "container: read-only image, private work dir",
            "memory": f"{settings.memory_bytes >> 20} MiB per container, per-test limits inside",
            "capabilities": "none (all dropped, no-new-privileges)",
        }

    async def warm(self, count: int | None = None) -> None:
        """Start containers ahead of use (all ``size`` by default) so the first judgements are fast."""
        missing = min(count or self.settings.size, self.settings.size) - len(self._all)
        if missing > 0:
            started = await asyncio.gather(*(self._in_thread(self._create) for _ in range(missing)))
            self._idle.extend(started)

    async def close(self) -> None:
        self.closed = True
        await self._in_thread(self.remove_all_now)
        _live_pools.discard(self)
        self._threads.shutdown(wait=False)

    def remove_all_now(self, side_by_side: bool = True) -> None:
        """Remove every container of the pool; ``side_by_side``: in threads (one engine round trip,
        ~70 ms, each), so a run's end does not wait for them in turn."""
        with self._lock:
            containers = list(self._all.values())
            self._all.clear()
        self._idle.clear()
        self._workspace = None
        for container in containers:
            if container.runner is not None:
                container.runner.close()
        ids = [container.id for container in containers]
        if not side_by_side or len(ids) < 2:
            for container_id in ids:
                self._remove(container_id)
            return
        with ThreadPoolExecutor(min(len(ids), 8), thread_name_prefix="alphaflow-sandbox-rm") as removing:
            list(removing.map(self._remove, ids))

    def _create(self, serve: bool = True) -> PooledContainer:
        """Start a container and, for the pool (``serve``), its persistent runner."""
        settings = self.settings
        host_config = self.api.create_host_config(
            network_mode="none",
            read_only=True,
            # exec: compiled C++ runs from the work dir. It counts against the container's memory.
            tmpfs={WORK_DIR: f"rw,exec,nosuid,nodev,size={settings.tmpfs_bytes},mode=1777"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=settings.pids_limit or (256 if settings.runtime == "runsc" else 64),
            mem_limit=settings.memory_bytes,
            memswap_limit=settings.memory_bytes,
            nano_cpus=int(settings.cpus * 1e9),
            runtime=settings.runtime,
            ulimits=[_core_ulimit()],
        )
        created = self.api.create_container(
            settings.image,
            command=["sleep", "infinity"],
            user=self.user,
            working_dir=WORK_DIR,
            environment=CONTAINER_ENV,
            labels={
                LABEL: "1",
                OWNER_PID_LABEL: str(os.getpid()),
                OWNER_HOST_LABEL: platform.node(),
            },
            network_disabled=True,
            host_config=host_config,
        )
        container = PooledContainer(created["Id"])
        with self._lock:
            self._all[container.id] = container
        try:
            self.api.start(container.id)
            if serve:
                container.runner = self._start_runner(container.id)
        except Exception:
            self._discard(container)
            raise
        return container

    def _start_runner(self, container_id: str) -> RunnerStream:
        exec_id = self.api.exec_create(
            container_id, SERVE_COMMAND, stdin=True, stdout=True, stderr=True, workdir=WORK_DIR
        )["Id"]
        stream = self.api.exec_start(exec_id, socket=True)
        return RunnerStream(exec_id, stream, getattr(stream, "_sock", stream))

    def _remove(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True)
        except Exception:  # already gone (killed from outside, or removed by cleanup)
            pass

    def _discard(self, container: PooledContainer) -> None:
        with self._lock:
            self._all.pop(container.id, None)
        if container.runner is not None:
            container.runner.close()
        self._remove(container.id)

    # --- checkout and return -------------------------------------------------------------------

    def _healthy(self, container: PooledContainer) -> bool:
        """Running, and so is its runner (whose exec ends with the container or when it dies)."""
        if container.runner is not None and container.runner.broken():
            return False
        try:
            if container.runner is not None:
                return bool(self.api.exec_inspect(container.runner.exec_id)["Running"])
            return bool(self.api.inspect_container(container.id)["State"]["Running"])
        except Exception:
            return False

    def _checkout(self) -> PooledContainer:
        """A running container: an idle one that passes the health check, or a fresh one."""
        while True:
            with self._lock:
                container = self._idle.pop() if self._idle else None
            if container is None:
                return self._create()
            if self._healthy(container):
                return container
            self._discard(container)

    def _checkin(self, container: PooledContainer, faulted: bool) -> None:
        container.uses += 1
        container.last_used = time.monotonic()
        if faulted or self.closed or container.uses >= self.settings.max_uses:
            self._discard(container)
            return
        with self._lock:
            self._idle.append(container)

    # --- the runner exec ----------------------------------------------------------------------------

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        if self.closed:
            raise RuntimeError("the sandbox is closed")
        async with self._slots:
            return await self._in_thread(self._exec_runner_blocking, request, timeout_s)

    def _exec_runner_blocking(self, request: bytes, timeout_s: float) -> bytes:
        try:
            container = self._checkout()
        except Exception as error:
            raise SandboxFault(f"could not start a sandbox container: {error}") from error
        faulted = True
        try:
            flags, result = self._ask_runner(container, request, timeout_s)
            if flags & FLAG_DIRTY:
                container.uses = self.settings.max_uses  # not clean any more: retire it after this
            faulted = False
            return result
        finally:
            self._checkin(container, faulted)

    def _ask_runner(self, container: PooledContainer, request: bytes, timeout_s: float) -> tuple[int, bytes]:
        """One request frame to the container's persistent runner; (flags, result) or ``SandboxFault``."""
        runner = container.runner
        if runner is None:
            raise SandboxFault("the container has no runner")
        deadline = time.monotonic() + timeout_s
        try:
            runner.raw.settimeout(timeout_s)
            runner.raw.sendall(REQUEST_HEADER.pack(len(request)) + request)
            header = _read_stdout(runner, RESULT_HEADER.size, deadline)
            size, flags = RESULT_HEADER.unpack(header)
            if size > MAX_EXEC_OUTPUT_BYTES:
                raise OSError(f"the runner announced a {size}-byte result")
            result = _read_stdout(runner, size, deadline)
        except TimeoutError:
            self._remove(container.id)  # the runner's own limits failed: nothing in there is trusted
            raise SandboxFault(f"no answer from the container within {timeout_s:.0f} s; killed it") from None
        except EOFError:
            tail = bytes(runner.stderr[-500:]).decode("utf-8", errors="replace")
            raise SandboxFault(f"the runner in the container ended mid-request: {tail}") from None
        except OSError as error:
            raise SandboxFault(f"lost the connection to the container's runner: {error}") from error
        return flags, result

    def _exec(
        self, container_id: str, cmd: list[str], stdin: bytes, timeout_s: float
    ) -> tuple[int | None, bytes, bytes]:
        """One exec with ``stdin`` fed and closed; (exit code, stdout, stderr) or ``SandboxFault``."""
        try:
            exec_id = self.api.exec_create(
                container_id, cmd, stdin=True, stdout=True, stderr=True, workdir=WORK_DIR
            )["Id"]
            stream = self.api.exec_start(exec_id, socket=True)
        except Exception as error:
            raise SandboxFault(f"docker exec failed: {error}") from error
        raw = getattr(stream, "_sock", stream)
        try:
            raw.settimeout(timeout_s)
            deadline = time.monotonic() + timeout_s
            raw.sendall(stdin)
            raw.shutdown(socket.SHUT_WR)
            stdout, stderr = _read_demultiplexed(raw, deadline)
        except TimeoutError:
            self._remove(container_id)  # the runner's own limits failed: nothing in there is trusted
            raise SandboxFault(f"no answer from the container within {timeout_s:.0f} s; killed it") from None
        except OSError as error:
            raise SandboxFault(f"lost the connection to the container: {error}") from error
        finally:
            stream.close()
        try:
            exit_code = self.api.exec_inspect(exec_id)["ExitCode"]
        except Exception as error:
            raise SandboxFault(f"docker exec inspect failed: {error}") from error
        return exit_code, stdout, stderr

    # --- commands and files (one long-lived workspace container, separate from the pool) ----------

    async def _workspace_container(self) -> PooledContainer:
        async with self._workspace_lock:
            if self._workspace is None or not await self._in_thread(self._healthy, self._workspace):
                self._workspace = await self._in_thread(self._create, False)
            return self._workspace

    async def run(self, cmd: Sequence[str], stdin: bytes = b"", timeout_s: float = 10.0) -> RunResult:
        container = await self._workspace_container()
        # `timeout` inside the container kills the command: docker exec does not forward signals.
        wrapped = ["timeout", "-s", "KILL", f"{timeout_s:g}", *cmd]
        started = time.perf_counter()
        try:
            exit_code, stdout, stderr = await self._in_thread(
                self._exec, container.id, wrapped, stdin, timeout_s + HOST_GRACE_S
            )
        except SandboxFault:
            self._workspace = None
            raise
        return RunResult(
            exit_code=exit_code,
            stdout=stdout,
            stderr=stderr,
            timed_out=exit_code in (124, 137),
            wall_s=time.perf_counter() - started,
        )

    async def write_file(self, path: str, data: bytes | str) -> None:
        target = relative_work_path(path)
        script = f'mkdir -p -- "$(dirname -- {shlex.quote(target)})" && cat > {shlex.quote(target)}'
        result = await self.run(["sh", "-c", script], data.encode() if isinstance(data, str) else data)
        if result.exit_code != 0:
            why = result.stderr.decode(errors="replace").strip()
            raise OSError(f"could not write {path!r} in the sandbox: {why}")

    async def read_file(self, path: str) -> bytes:
        result = await self.run(["cat", "--", relative_work_path(path)])
        if result.exit_code != 0:
            why = result.stderr.decode(errors="replace").strip()
            raise FileNotFoundError(f"{path!r} in the sandbox: {why}")
        return result.stdout


HOST_GRACE_S = 5.0


def _read_demultiplexed(raw: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    """Read docker's multiplexed exec stream (8-byte frame headers) until EOF or the deadline."""
    buffers: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    pending = bytearray()
    total = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        raw.settimeout(remaining)
        chunk = raw.recv(1 << 16)
        if not chunk:
            break
        pending += chunk
        total += len(chunk)
        if total > MAX_EXEC_OUTPUT_BYTES:
            raise OSError(f"the container wrote more than {MAX_EXEC_OUTPUT_BYTES} bytes")
        while len(pending) >= 8:
            stream_type, size = struct.unpack(">BxxxL", pending[:8])
            if len(pending) < 8 + size:
                break
            buffers.setdefault(stream_type, bytearray()).extend(pending[8 : 8 + size])
            del pending[: 8 + size]
    return bytes(buffers[1]), bytes(buffers[2])


def _read_stdout(runner: RunnerStream, size: int, deadline: float) -> bytes:
    """The next ``size`` bytes of the runner's stdout (stderr is kept aside, its tail only)."""
    while len(runner.stdout) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        runner.raw.settimeout(remaining)
        chunk = runner.raw.recv(1 << 16)
        if not chunk:
            raise EOFError
        runner.pending += chunk
        while len(runner.pending) >= 8:
            stream_type, length = struct.unpack(">BxxxL", runner.pending[:8])
            if len(runner.pending) < 8 + length:
                break
            payload = runner.pending[8 : 8 + length]
            if stream_type == 1:
                runner.stdout += payload
            else:
                runner.stderr += payload
                del runner.stderr[:-MAX_STDERR_KEPT]
            del runner.pending[: 8 + length]
        if len(runner.stdout) > MAX_EXEC_OUTPUT_BYTES + RESULT_HEADER.size:
            raise OSError(f"the container wrote more than {MAX_EXEC_OUTPUT_BYTES} bytes")
    data = bytes(runner.stdout[:size])
    del runner.stdout[:size]
    return data


def _core_ulimit() -> Any:
    from docker.types import Ulimit

    return Ulimit(name="core", soft=0, hard=0)


def _sandbox_user(client: Any, image: str) -> str:
    """The image's own non-root user, or nobody when it names none or names root."""
    try:
        user = client.api.inspect_image(image)["Config"].get("User") or ""
    except Exception:
        return FALLBACK_USER
    if user in ("", "root", "0", "0:0"):
        return FALLBACK_USER
    return user


def labelled_containers(client: Any) -> list[dict[str, Any]]:
    return client.api.containers(all=True, filters={"label": f"{LABEL}=1"})


def reap_orphans(client: Any) -> int:
    """Remove containers left by alphaflow processes on this host that no longer run (killed runs)."""
    return remove_labelled(client, where=_owner_is_gone)


def _owner_is_gone(info: dict[str, Any]) -> bool:
    labels = info.get("Labels") or {}
    if labels.get(OWNER_HOST_LABEL) != platform.node():
        return False
    try:
        owner = int(labels.get(OWNER_PID_LABEL, "0"))
    except ValueError:
        return False
    return bool(owner) and not _pid_alive(owner)


def remove_labelled(client: Any, where: Callable[[dict[str, Any]], bool] = lambda info: True) -> int:
    """Remove the alphaflow sandbox containers ``where`` selects (all: ``alphaflow sandbox cleanup``)."""
    removed = 0
    for info in labelled_containers(client):
        if not where(info):
            continue
        try:
            client.api.remove_container(info["Id"], force=True)
            removed += 1
        except Exception:  # already gone, or the engine refused: the next sweep tries again
            pass
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_runtime(client: Any, runtime: str | None) -> None:
    if runtime is None:
        return
    runtimes = sorted((client.info().get("Runtimes") or {}).keys())
    if runtime not in runtimes:
        raise UserError(
            f"--runtime {runtime}: the Docker engine has no such runtime (it has: {', '.join(runtimes)}); "
            "see `alphaflow sandbox doctor`"
        )
