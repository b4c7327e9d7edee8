"""Where units of work run: ``local`` (asyncio tasks in this process) or ``ray`` (a Ray cluster).

The local executor is the asyncio worker queue of each command (``alphaflow.bench.runner``,
``alphaflow.judge.runs``). The Ray executor (``alphaflow.executors.ray_*``) ships the same units to a
Ray cluster: an actor per node runs units (each unit one Ray actor task) and owns that node's sandbox
pool; one actor holds the budget; the driver keeps the results store. Ray is the optional extra
``alphaflow[ray]`` and is imported only when ``--executor ray`` is asked for.
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

from alphaflow.errors import UserError

EXECUTORS = ("local", "ray")
RAY_ADDRESS_ENV = "RAY_ADDRESS"


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """``--executor local|ray`` and ``--ray-address`` (the flags every distributable command shares)."""
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: asyncio in this process (default); ray: units as Ray actor tasks on a cluster",
    )
    parser.add_argument(
        "--ray-address",
        metavar="ADDR",
        help=f"Ray cluster to join (default: ${RAY_ADDRESS_ENV}, else a local cluster started for the run)",
    )


def check_executor(executor: str, ray_address: str | None) -> None:
    """Refuse bad executor settings before any work (``UserError`` naming the flag or extra)."""
    if executor not in EXECUTORS:
        raise UserError(f"--executor {executor}: choose one of {', '.join(EXECUTORS)}")
    if executor == "ray":
        require_ray()
        probe_address(ray_address or os.environ.get(RAY_ADDRESS_ENV) or None)
    elif ray_address:
        raise UserError("--ray-address is for --executor ray")


def probe_address(address: str | None, timeout_s: float = 5.0) -> None:
    """A ``HOST:PORT`` (or ``ray://HOST:PORT``) that nothing answers on is a one-line ``UserError``
    now, not minutes of Ray retrying to reach it. ``auto``, ``local`` and no address pass."""
    if not address or address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1].rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray-address {address}: expected HOST:PORT, ray://HOST:PORT, auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise UserError(
            f"--ray-address {address}: no Ray cluster answers there ({type(error).__name__}); "
            f"start one with `ray start --head` or unset {RAY_ADDRESS_ENV}"
        ) from None


def require_ray() -> Any:
    """The ``ray`` module, or a ``UserError`` naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'alphaflow[ray]'") from None
    return ray


def connect(address: str | None) -> Any:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``), or start a local one; returns ``ray``.

    A process already connected (a test fixture, a ``ray job submit`` entry point) stays connected.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get(RAY_ADDRESS_ENV) or None
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=True,
            logging_level="WARNING",
            configure_logging=True,
        )
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = address or "a local cluster"
        raise UserError(f"--ray-address {where}: cannot connect to Ray ({error})".splitlines()[0]) from None
    return ray
