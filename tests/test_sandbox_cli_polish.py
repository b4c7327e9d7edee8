"""`sandbox run --problem` takes every problem format `solve` takes; `sandbox cleanup` keeps the pools of
runs still going and removes those of runs that are gone (`--all`: every one)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alphaflow.cli import main

REPO = Path(__file__).resolve().parent.parent
STATEMENT = REPO / "examples" / "problems" / "tile_painting.md"
DATASET = Path("/work/shared/data/codecontests/train_sample.jsonl")
if not DATASET.exists():
    DATASET = REPO.parent / "shared" / "data" / "codecontests" / "train_sample.jsonl"
TILE = (
    "n = int(input())\np = next((d for d in range(2, int(n ** 0.5) + 1) if n % d == 0), n)\n"
    "while n % p == 0 and n > 1:\n    n //= p\nprint(p if n == 1 else 1)\n"
)


@pytest.fixture
def solution(tmp_path: Path) -> Path:
    path = tmp_path / "tile.py"
    path.write_text(TILE)
    return path


@pytest.mark.parametrize(
    "problem",
    [
        [str(STATEMENT)],
        [f"{DATASET}#1242_A. Tile Painting"],
        [str(DATASET), "--name", "1242_A. Tile Painting"],
    ],
    ids=["markdown", "jsonl#name", "jsonl --name"],
)
def test_sandbox_run_takes_the_problem_formats_of_solve(
    problem: list[str], solution: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sandbox", "run", str(solution), "--problem", *problem, "--sandbox", "local", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["verdict"] == "AC" and result["total"] >= 2


def test_a_dataset_without_a_name_is_one_line(solution: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "run", str(solution), "--problem", str(DATASET), "--sandbox", "local"]) == 2
    assert "#NAME" in capsys.readouterr().err


@pytest.mark.docker
def test_cleanup_keeps_live_runs_pools_and_removes_dead_ones(tmp_path: Path) -> None:
    import docker

    from alphaflow.sandbox.docker_pool import LABEL, OWNER_PID_LABEL

    client = docker.from_env()

    def owners() -> set[str]:
        found = client.api.containers(all=True, filters={"label": f"{LABEL}=1"})
        return {info["Labels"].get(OWNER_PID_LABEL) for info in found}

    script = (
        "import asyncio, sys\n"
        "from alphaflow.sandbox import open_sandbox\n"
        "async def main():\n"
        "    async with open_sandbox('docker', pool_size=1) as sandbox:\n"
        "        await sandbox.run(['true'])\n"
        "        print('up', flush=True)\n"
        "        await asyncio.sleep(120)\n"
        "asyncio.run(main())\n"
    )
    live = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    dead = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert live.stdout.readline().strip() == "up" and dead.stdout.readline().strip() == "up"
        dead.kill()  # SIGKILL: its pool is left behind
        dead.wait()
        assert {str(live.pid), str(dead.pid)} <= owners()
        done = subprocess.run(
            [sys.executable, "-m", "alphaflow", "sandbox", "cleanup"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
        assert done.returncode == 0
        assert "kept" in done.stderr
        remaining = owners()
        assert str(dead.pid) not in remaining and str(live.pid) in remaining
    finally:
        live.kill()
        live.wait()
        time.sleep(0.5)
        subprocess.run(
            [sys.executable, "-m", "alphaflow", "sandbox", "cleanup", "--all"],
            capture_output=True,
            cwd=REPO,
            check=False,
        )
    assert str(live.pid) not in owners()
