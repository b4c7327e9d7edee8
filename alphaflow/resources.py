"""Where the files shipped beside the package live: built-in flows and the sandbox image context."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def flows_dir() -> Path:
    """The built-in flows (``flows/`` in the repository)."""
    return REPO_ROOT / "flows"


def sandbox_dir() -> Path:
    """The sandbox image's build context (``sandbox/``: Dockerfile and runner.py)."""
    return REPO_ROOT / "sandbox"
