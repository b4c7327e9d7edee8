"""``alphaflow sandbox doctor``: what the sandbox needs, what is missing, and the command that fixes it."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from typing import Any

from alphaflow.errors import UserError

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
    from alphaflow.sandbox.local import runner_path

    reinstall = "reinstall alphaflow (pip install --force-reinstall alphaflow, or git checkout in a clone)"
    try:
        runner = runner_path()
    except UserError as error:  # the shipped sandbox/ folder itself is missing
        return Check("runner", False, str(error), reinstall)
    return Check("runner", runner.exists(), str(runner), reinstall)


def _local_checks() -> list[Check]:
    from alphaflow.sandbox.local import CHILD_PATH

    python3 = shutil.which("python3", path=CHILD_PATH)  # what the local backend runs the runner with
    gpp = shutil.which("g++", path=CHILD_PATH)
    return [
        _local_isolation_check(),
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


def _local_isolation_check() -> Check:
    """What ``--sandbox local`` could not enforce here (namespaces need root or user namespaces)."""
    from alphaflow.sandbox.local import isolation_report, namespaces_work, not_enforced

    report = isolation_report(namespaces_work(), non_dumpable=True)
    report.pop("file_system")  # never isolated by the local backend: not a fault of this host
    weak = not_enforced(report)
    return Check(
        "local backend isolation (optional)",
        not weak,
        "network, processes and temp dirs isolated" if not weak else "not enforced: " + "; ".join(weak),
        ""
        if os.geteuid() == 0
        else "allow unprivileged user namespaces (sysctl user.max_user_namespaces=15000 "
        "kernel.unprivileged_userns_clone=1) or use the docker backend",
        optional=True,
    )


def _image_check(client: Any) -> Check:
    """The image the docker backend would use: ALPHAFLOW_SANDBOX_IMAGE when set, else the one built
    from this install's sandbox/ folder."""
    from alphaflow.sandbox.backends import IMAGE_ENV, image_present, image_tag

    tag = image_tag()
    present = image_present(client)
    if os.environ.get(IMAGE_ENV):
        detail = f"{tag} (from {IMAGE_ENV}) " + ("present" if present else "missing")
        return Check("sandbox image", present, detail, f"docker pull {tag}, or unset {IMAGE_ENV}")
    detail = f"{tag} present and up to date" if present else f"{tag} missing or built from an older sandbox/"
    return Check("sandbox image", present, detail, "alphaflow sandbox build   (no registry: --offline)")


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
