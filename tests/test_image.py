"""The sandbox image and `alphaflow sandbox build`.

The docker-marked tests build the image if it is missing (offline, as CI does) and then use it the
way the host does: `docker run -i --network none IMAGE python3 /opt/alphaflow/runner`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from alphaflow.errors import UserError
from alphaflow.resources import sandbox_dir
from alphaflow.sandbox import image
from alphaflow.sandbox.runner import RUNNER_DIR
from alphaflow.sandbox.runner.protocol import RUNNER_DIR_IN_IMAGE, RUNNER_VERSION

ALPHAFLOW = [sys.executable, "-m", "alphaflow"]


# --- without an engine --------------------------------------------------------------------------------


def test_the_tag_follows_the_dockerfile_and_the_runner_package(tmp_path: Path) -> None:
    context, runner = tmp_path / "sandbox", tmp_path / "runner"
    shutil.copytree(sandbox_dir(), context, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(RUNNER_DIR, runner, ignore=shutil.ignore_patterns("__pycache__"))
    before = image.context_hash(context, runner)
    assert "runner/forkserver.py" in image.context_files(context, runner)
    (runner / "__pycache__").mkdir(exist_ok=True)
    (runner / "__pycache__" / "judge.cpython-311.pyc").write_bytes(b"cache")
    (runner / "versions.json").write_text("{}")  # written by the build itself
    assert image.context_hash(context, runner) == before  # caches do not count
    (runner / "checker.py").write_text((runner / "checker.py").read_text() + "\n# changed\n")
    changed = image.context_hash(context, runner)
    assert changed != before
    (context / "Dockerfile").write_text((context / "Dockerfile").read_text() + "\n# changed\n")
    assert image.context_hash(context, runner) not in (before, changed)
    assert image.image_tag() == f"alphaflow-sandbox:{image.context_hash()[:12]}"


def test_no_engine_is_a_one_line_error() -> None:
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/alphaflow-test.sock")
    done = subprocess.run(
        [*ALPHAFLOW, "sandbox", "build", "--quiet"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alphaflow: error: no Docker engine answers")
    assert "dockerd" in lines[0]


def test_unreachable_registry_is_detected_quickly() -> None:
    assert image.registry_reachable("http://127.0.0.1:9/v2/", timeout_s=1.0) is False


# --- with the engine ---------------------------------------------------------------------------------


def _engine() -> Any:
    import docker

    if shutil.which("docker") is None and shutil.which("dockerd") is None and "DOCKER_HOST" not in os.environ:
        pytest.skip("no Docker engine can run on this machine (neither docker nor dockerd installed)")
    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # installed but not started: CI starts it, so this is a real failure
        pytest.fail(f"the Docker engine is installed but does not answer: {error}")
    return client


@pytest.fixture(scope="module")
def built_image() -> str:
    _engine()
    return image.build_image(quiet=True)  # a no-op when present; offline build otherwise


def docker_run(tag: str, argv: list[str], stdin: str = "", *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "run", "--rm", "-i", "--network", "none", *extra, tag, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def judge_in_image(tag: str, request: dict[str, Any], *extra: str) -> dict[str, Any]:
    done = docker_run(tag, ["python3", RUNNER_DIR_IN_IMAGE], json.dumps(request), *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.docker
def test_the_image_is_present_labelled_and_runs_as_a_non_root_user(built_image: str) -> None:
    client = _engine()
    assert image.image_present(client, built_image)
    config = client.api.inspect_image(built_image)["Config"]
    labels = config["Labels"]
    assert labels["org.alphaflow.sandbox.runner-version"] == str(RUNNER_VERSION)
    assert labels["org.alphaflow.sandbox.python"].startswith("3.")
    assert labels["org.alphaflow.sandbox.gxx"][:2].isdigit()
    assert labels["org.alphaflow.sandbox.context-hash"].startswith(built_image.split(":")[1])
    assert config["User"] == "10001:10001"
    done = docker_run(built_image, ["sh", "-c", "id -u; python3 --version; g++ -dumpfullversion"])
    assert done.returncode == 0, done.stderr
    uid, python, gxx = done.stdout.split("\n")[:3]
    assert uid == "10001"
    assert python == f"Python {labels['org.alphaflow.sandbox.python']}"
    assert gxx == labels["org.alphaflow.sandbox.gxx"]
    assert client.images.get(f"{image.IMAGE_REPOSITORY}:latest").id == client.images.get(built_image).id


@pytest.mark.docker
def test_build_is_a_quiet_no_op_when_the_image_is_present(built_image: str) -> None:
    done = subprocess.run(
        [*ALPHAFLOW, "sandbox", "build", "--quiet"], capture_output=True, text=True, timeout=120
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    done = subprocess.run([*ALPHAFLOW, "sandbox", "build"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "up to date" in done.stderr
    assert done.stdout.strip() == built_image
    # The same command without the whole CLI (what scripts/bootstrap.sh can run before every command).
    done = subprocess.run(
        [sys.executable, "-m", "alphaflow.sandbox.image", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.docker
def test_the_image_judges_cpp_and_python(built_image: str) -> None:
    tests = [{"input": "2 3\n", "output": "5"}, {"input": "10 -4\n", "output": "6"}]
    cpp = "#include <iostream>\nint main(){long long a,b; std::cin>>a>>b; std::cout<<a+b<<std::endl;}"
    result = judge_in_image(built_image, {"language": "cpp", "source": cpp, "tests": tests})
    assert result["verdict"] == "AC", result
    python = "import sys\na, b = map(int, sys.stdin.buffer.read().split())\nprint(a + b)"
    result = judge_in_image(built_image, {"language": "python", "source": python, "tests": tests})
    assert result["verdict"] == "AC", result
    assert [t["verdict"] for t in result["tests"]] == ["AC", "AC"]


@pytest.mark.docker
def test_no_network_and_a_fork_bomb_is_contained_in_the_image(built_image: str) -> None:
    network = "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=3)\nprint('connected')"
    result = judge_in_image(
        built_image, {"language": "python", "source": network, "tests": [{"input": "", "output": ""}]}
    )
    assert result["verdict"] == "RE" and "connected" not in result["tests"][0]["stdout"]
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    request = {
        "language": "python",
        "source": bomb,
        "tests": [{"input": "", "output": ""}],
        "limits": {"time_s": 0.5},
    }
    result = judge_in_image(built_image, request, "--pids-limit", "64", "--memory", "512m")
    assert result["verdict"] in ("TLE", "RE")


@pytest.mark.docker
def test_offline_build_without_debootstrap_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _engine()
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without debootstrap
    with pytest.raises(UserError, match="apt-get install debootstrap"):
        image.build_image(offline=True, quiet=True, rebuild_base=True)
