"""Choosing a backend: ``open_sandbox(backend="auto" | "docker" | "local")``."""

from __future__ import annotations

import os
from typing import Any

from alphaflow.errors import UserError
from alphaflow.sandbox.base import Sandbox

BACKENDS = ("auto", "docker", "local")
ENGINE_TIMEOUT_S = 5  # a Docker engine that does not answer within this is treated as absent
# Set to 1 to make ``auto`` mean ``local`` (a host without Docker, chosen on purpose; ./af honours it
# too and then neither installs nor starts an engine). Without it, ``auto`` needs Docker.
NO_DOCKER_ENV = "ALPHAFLOW_NO_DOCKER"


def docker_client() -> tuple[Any | None, str]:
    """A client for a Docker engine that answers a ping, or (None, why not)."""
    try:
        import docker
    except ImportError:
        return None, "the docker Python package is not installed"
    try:
        client = docker.from_env(timeout=ENGINE_TIMEOUT_S)
        client.ping()
    except Exception as error:  # DockerException, requests errors, bad DOCKER_HOST ...
        where = os.environ.get("DOCKER_HOST") or "the default socket"
        return None, f"no Docker engine answers at {where} ({type(error).__name__})"
    client.api.timeout = 120  # pings are quick; container starts on a loaded host are not
    return client, ""


IMAGE_ENV = "ALPHAFLOW_SANDBOX_IMAGE"  # use another image (same runner path and user), e.g. a custom build


def image_tag() -> str:
    if os.environ.get(IMAGE_ENV):
        return os.environ[IMAGE_ENV]
    from alphaflow.sandbox import image

    return image.image_tag()


def image_present(client: Any) -> bool:
    if os.environ.get(IMAGE_ENV):
        try:
            client.api.inspect_image(os.environ[IMAGE_ENV])
        except Exception:
            return False
        return True
    from alphaflow.sandbox import image

    return bool(image.image_present(client))


def open_sandbox(
    backend: str = "auto",
    pool_size: int | None = None,
    runtime: str | None = None,
    *,
    max_uses: int = 200,
    memory_bytes: int | None = None,
    cpus: float = 1.0,
    image: str | None = None,
    warn: bool = True,
) -> Sandbox:
    """A sandbox, usable as ``async with open_sandbox() as sandbox:``.

    ``auto`` is the docker pool; it never falls back to the weaker local backend on its own: without
    an engine or image it raises ``UserError`` naming both ways out (start Docker, or pass
    ``--sandbox local``). ``ALPHAFLOW_NO_DOCKER=1`` makes ``auto`` an explicit ``local``. ``local``
    prints once on stderr what it cannot enforce on this host (``warn=False`` keeps quiet; every
    result records it in ``isolation`` either way).
    """
    if backend not in BACKENDS:
        raise UserError(f"--sandbox {backend}: choose one of {', '.join(BACKENDS)}")
    if backend == "auto" and os.environ.get(NO_DOCKER_ENV) == "1":
        backend = "local"
    if pool_size is not None and pool_size < 1:
        raise UserError(f"--pool-size {pool_size}: must be at least 1")
    if backend in ("auto", "docker"):
        client, why = docker_client()
        if client is not None:
            tag = image or image_tag()
            if image is None and not image_present(client):
                why = f"the sandbox image {tag} is not built or out of date (run `alphaflow sandbox build`)"
                client = None
        if client is not None:
            from alphaflow.sandbox.docker_pool import DockerSandbox, PoolSettings, check_runtime

            check_runtime(client, runtime)
            settings = PoolSettings(
                size=pool_size or os.cpu_count() or 1,
                image=tag,
                runtime=runtime,
                max_uses=max_uses,
                cpus=cpus,
            )
            if memory_bytes:
                settings.memory_bytes = memory_bytes
            return DockerSandbox(client, settings)
        if backend == "docker":
            raise UserError(f"--sandbox docker: {why}; see `alphaflow sandbox doctor`")
        raise UserError(
            f"--sandbox auto needs Docker: {why}; start it (`alphaflow sandbox doctor` says how) "
            "or pass --sandbox local to judge on this host with weaker isolation"
        )
    if runtime is not None:
        raise UserError(f"--runtime {runtime}: only the docker backend has runtimes")
    from alphaflow.sandbox.local import LocalSandbox

    return LocalSandbox(pool_size=pool_size, warn=warn)
