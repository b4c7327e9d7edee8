"""``alphaflow sandbox doctor``: what the sandbox needs, what is missing, and the command that fixes it."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from typing import Any

from alphaflow.sandbox.runner import RUNNER_DIR

START_ENGINE = "setsid nohup dockerd --bridge=none --iptables=false >/var/log/alphaflow-dockerd.log 2>&1 &"
INSTALL_ENGINE = "apt-get install -y docker.io && " + START_ENGINE
INSTALL_RUNSC = (
    "apt-get install -y runsc && add to /etc/docker/daemon.json "
    '\'{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}}\' '
    "then reload the engine: kill -HUP $(pidof dockerd)"
)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False  # a missing optional piece is a warning, not a failure

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks() -> list[Check]:
    from alphaflow.sandbox.backends import docker_client

    checks = [_runner_check(), *_local_checks()]
    client, why = docker_client()
    if client is None:
        fix = START_ENGINE if shutil.which("dockerd") else INSTALL_ENGINE
        checks.append(Check("docker engine", False, why, fix))
        return checks
    info = client.info()
    checks.append(Check("docker engine", True, f"Docker {info.get('ServerVersion', '?')} answers"))
    checks.append(_image_check(client))
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    checks.append(
        Check(
            "runtime runc", "runc" in runtimes, f"runtimes: {', '.join(runtimes)}", "apt-get install -y runc"
        )
    )
    checks.append(
        Check(
            "runtime runsc (gVisor, optional)",
            "runsc" in runtimes,
            "installed: use --runtime runsc" if "runsc" in runtimes else "not configured",
            INSTALL_RUNSC,
            optional=True,
        )
    )
    checks.append(_leftover_check(client))
    return checks


def _runner_check() -> Check:
    runner = f"{RUNNER_DIR}/__main__.py"
    return Check("runner", os.path.exists(runner), runner, "git checkout -- alphaflow/sandbox/runner")


def _local_checks() -> list[Check]:
    from alphaflow.sandbox.local import CHILD_PATH

    python3 = shutil.which("python3", path=CHILD_PATH)  # what the local backend runs the runner with
    gpp = shutil.which("g++", path=CHILD_PATH)
    return [
        Check(
            "python3 (local backend)",
            python3 is not None,
            python3 or f"not on {CHILD_PATH}",
            "apt-get install -y python3",
        ),
        Check(
            "g++ (C++ on the local backend, optional)",
            gpp is not None,
            gpp or f"not on {CHILD_PATH}",
            "apt-get install -y g++",
            optional=True,
        ),
    ]


def _image_check(client: Any) -> Check:
    try:
        from alphaflow.sandbox import image
    except ImportError:
        return Check("sandbox image", False, "alphaflow.sandbox.image is missing from this build", "")
    tag = image.image_tag()
    present = image.image_present(client)
    detail = f"{tag} present and up to date" if present else f"{tag} missing or built from an older sandbox/"
    return Check("sandbox image", bool(present), detail, "alphaflow sandbox build   (no registry: --offline)")


def _leftover_check(client: Any) -> Check:
    from alphaflow.sandbox.docker_pool import labelled_containers

    count = len(labelled_containers(client))
    return Check(
        "leftover containers",
        True,
        f"{count} alphaflow sandbox containers exist (running pools included)",
        "alphaflow sandbox cleanup" if count else "",
        optional=True,
    )
