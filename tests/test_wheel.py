"""alphaflow installed from its wheel, as a user without the checkout has it (issue 10).

Builds the wheel (``pip wheel . --no-deps``), installs it into a fresh venv without system site
packages, and runs the commands a new user runs first, from a folder outside the clone. To stay fast
and offline, the dependencies come from this venv's site-packages through a ``.pth`` line (``.pth``
files inside that folder, such as the editable install's finder, are not processed), so alphaflow
itself can only come from the wheel, which the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SUM_PROBLEM = {
    "name": "sum",
    "description": "Print a + b.",
    "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
    "private_tests": {"input": ["10 20\n"], "output": ["30\n"]},
    "time_limit": {"seconds": 2, "nanos": 0},
    "memory_limit_bytes": 268435456,
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with alphaflow from the wheel; returns the venv's folder."""
    work = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(work / "dist")],
        capture_output=True,
        text=True,
        cwd=work,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((work / "dist").glob("alphaflow-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "alphaflow/_shipped/flows/alphacodium.yaml" in names
    assert "alphaflow/_shipped/sandbox/Dockerfile" in names
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "repo_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def run(venv: Path, *args: str, cwd: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``alphaflow ARGS`` of the wheel's venv, from ``cwd``, with no checkout on any path."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(
        [str(venv / "bin" / "alphaflow"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**env, **extra_env},
    )


def test_the_package_comes_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import alphaflow, alphaflow.resources as r; print(alphaflow.__file__); print(r.flows_dir());"
            "print(r.sandbox_dir())",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    package, flows, sandbox = (Path(line) for line in done.stdout.split())
    for path in (package, flows, sandbox):
        assert path.is_relative_to(installed), path
    assert (sandbox / "Dockerfile").is_file() and (flows / "direct.yaml").is_file()


def test_flows_list(installed: Path, tmp_path: Path) -> None:
    done = run(installed, "flows", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "alphacodium" in done.stdout and "direct" in done.stdout


def test_dry_run_solve(installed: Path, tmp_path: Path) -> None:
    problem = shutil.copy(REPO / "examples" / "problems" / "tile_painting.md", tmp_path)
    script = shutil.copy(REPO / "examples" / "scripted" / "tile_painting.yaml", tmp_path)
    done = run(
        installed,
        "solve",
        Path(problem).name,
        "--model",
        f"scripted:{Path(script).name}",
        "--sandbox",
        "local",
        "--trace",
        "trace.jsonl",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "passed" in done.stdout and (tmp_path / "trace.jsonl").stat().st_size > 0


def test_sandbox_run_local(installed: Path, tmp_path: Path) -> None:
    (tmp_path / "problems.jsonl").write_text(json.dumps(SUM_PROBLEM) + "\n")
    (tmp_path / "sum.py").write_text("a, b = map(int, input().split())\nprint(a + b)\n")
    done = run(
        installed,
        "sandbox",
        "run",
        "sum.py",
        "--problem",
        "problems.jsonl",
        "--name",
        "sum",
        "--sandbox",
        "local",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["verdict"], result["backend"]) == ("AC", "local")


def test_sandbox_build_finds_its_context(installed: Path, tmp_path: Path) -> None:
    # The image tag is the hash of the build context: the wheel's copy must hash like the checkout's.
    from alphaflow.sandbox.image import image_tag

    done = subprocess.run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "from alphaflow.sandbox.image import image_tag; print(image_tag())",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == image_tag()
    from alphaflow.sandbox.backends import docker_client, image_present

    client, _why = docker_client()
    if client is None or not image_present(client):
        pytest.skip("no engine with the sandbox image here: building it is the docker tests' job")
    build = run(installed, "sandbox", "build", cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    assert build.stdout.strip() == image_tag() and "up to date" in build.stderr
