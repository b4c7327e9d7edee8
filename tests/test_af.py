"""``./af``, the checkout's launcher: works from any folder, and leaves Docker alone unless a command
judges code (issue 10)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STAMP = REPO / ".venv" / ".alphaflow-install-stamp"


@pytest.fixture(autouse=True)
def _bootstrapped() -> None:
    # ./af reinstalls when pyproject.toml changed since the last bootstrap: not inside a test.
    want = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    if not STAMP.exists() or STAMP.read_text().split()[:1] != [want]:
        pytest.skip("the venv is not bootstrapped for this pyproject.toml: run ./af test")


@pytest.fixture
def spy(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose docker, dockerd, debootstrap and apt-get only log their calls (and fail)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    for tool in ("docker", "dockerd", "debootstrap", "apt-get"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\nexit 1\n')
        script.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    }
    env.pop("ALPHAFLOW_NO_DOCKER", None)
    return env, calls


def test_works_from_the_clones_parent_folder(tmp_path: Path) -> None:
    # The user's layout: a clone named alphaflow, run as alphaflow/af from its parent folder, where
    # the clone's folder would shadow the package if the current folder were on Python's path.
    (tmp_path / "alphaflow").symlink_to(REPO)
    for args in (["--help"], ["flows", "list"]):
        done = subprocess.run(
            ["alphaflow/af", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            env={**os.environ, "ALPHAFLOW_NO_DOCKER": "1"},
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # quiet when everything is in place
    assert "alphacodium" in done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["solve", "--help"],
        ["flows", "list"],
        ["flows", "validate", str(REPO / "flows" / "direct.yaml")],
        ["cache", "stats"],
        ["trace", "show", "/nonexistent/trace.jsonl"],
        ["scripted-server"],
        ["bench", "report", "/nonexistent/run"],
        ["sandbox", "doctor"],
        ["sandbox", "run", "x.py", "--problem", "p.jsonl", "--name", "x", "--sandbox", "local"],
        ["solve", "problem.md", "--sandbox=local"],
    ],
    ids=lambda args: " ".join(args)[:40],
)
def test_commands_that_judge_nothing_leave_docker_alone(
    args: list[str], spy: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    env, calls = spy
    subprocess.run(
        [str(REPO / "af"), *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert not calls.exists(), calls.read_text()


def test_a_judging_command_announces_the_image_build(tmp_path: Path) -> None:
    # An engine answers (a fake docker whose `info` succeeds) but the image is missing: before the
    # long build starts, ./af says what it is doing. The fake engine then fails the build itself.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "dockerd", "debootstrap"):
        (bin_dir / tool).write_text('#!/bin/sh\n[ "$1" = info ] && exit 0\nexit 1\n')
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DOCKER_HOST": "unix:///nonexistent.sock"}
    env.pop("ALPHAFLOW_NO_DOCKER", None)
    done = subprocess.run(
        [str(REPO / "af"), "sandbox", "build"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    lines = done.stderr.splitlines()
    assert lines[0].startswith("bootstrap: building the sandbox image alphaflow-sandbox:"), done.stderr
    assert "progress follows" in lines[0]
    assert done.returncode != 0 and any("no Docker engine answers" in line for line in lines[1:])


@pytest.mark.docker
def test_a_judging_command_works_from_the_clones_parent_folder(tmp_path: Path) -> None:
    # Here ./af does run Python for the image check: the clone's folder must not shadow the package.
    from sandbox_programs import require_docker

    from alphaflow.sandbox.image import image_tag

    require_docker()
    (tmp_path / "alphaflow").symlink_to(REPO)
    done = subprocess.run(
        ["alphaflow/af", "sandbox", "build"], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == image_tag()
