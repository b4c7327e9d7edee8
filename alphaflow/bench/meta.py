"""What a run records about itself (host, limits, versions, flow hash, model, arguments, start time),
and the check that a ``--resume`` continues the same experiment rather than mixing two."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError

# Fields that must match for a resumed run's results to be comparable with the earlier ones.
RESUME_INVARIANTS = ("flow", "flow_sha256", "model", "data", "language")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def run_metadata(
    *,
    flow: str,
    flow_path: str | None,
    model: str | None,
    data: dict[str, Any],
    language: str,
    samples: int,
    concurrency: int,
    limits: dict[str, Any],
    sandbox: str,
    args: dict[str, Any],
) -> dict[str, Any]:
    return {
        "flow": flow,
        "flow_path": flow_path,
        "flow_sha256": file_sha256(flow_path) if flow_path else None,
        "model": model,
        "data": data,
        "language": language,
        "samples": samples,
        "concurrency": concurrency,
        "sandbox": sandbox,
        "limits": limits,
        "host": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
        },
        "versions": {
            "alphaflow": package_version("alphaflow"),
            "python": sys.version.split()[0],
            "litellm": package_version("litellm"),
            "datasets": package_version("datasets"),
        },
        "args": args,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "started_ts": time.time(),
        "resumes": [],
    }


def check_resumable(previous: dict[str, Any], current: dict[str, Any], meta_path: Path) -> None:
    """A resume must run the same flow file (same hash), model, data and language."""
    for name in RESUME_INVARIANTS:
        if previous.get(name) != current.get(name):
            raise UserError(
                f"{meta_path}: cannot --resume: {name} was {previous.get(name)!r}, now {current.get(name)!r} "
                "(start a new run with another --out)"
            )
