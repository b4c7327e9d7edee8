"""``alphaflow sandbox ...`` as a user runs it: a real subprocess, real files, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_programs import require_docker

from alphaflow.sandbox.local import not_enforced

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "codecontests" / "train_sample.jsonl"
if not SAMPLE.exists():
    SAMPLE = Path("/work/shared/data/codecontests/train_sample.jsonl")

NO_ENGINE = "unix:///nonexistent/docker.sock"

SUM_PROBLEM = {
    "name": "sum",
    "description": "Print a + b.",
    "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
    "private_tests": {"input": ["10 20\n", "-1 1\n"], "output": ["30\n", "0\n"]},
    "solutions": {
        "language": [3, 2, 4],
        "solution": [
            "a, b = map(int, input().split())\nprint(a + b)\n",
            '#include <cstdio>\nint main(){long long a,b;scanf("%lld %lld",&a,&b);printf("%lld\\n",a+b);}\n',
            "class Main {}",
        ],
    },
    "incorrect_solutions": {"language": [3], "solution": ["print(3)\n"]},
    "time_limit": {"seconds": 2, "nanos": 0},
    "memory_limit_bytes": 268435456,
}


def alphaflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alphaflow", "sandbox", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "problems.jsonl"
    path.write_text(json.dumps(SUM_PROBLEM) + "\n")
    return path


@pytest.fixture
def solution(tmp_path: Path) -> Path:
    path = tmp_path / "sum.py"
    path.write_text(SUM_PROBLEM["solutions"]["solution"][0])
    return path


def test_run_json_on_local_backend(dataset: Path, solution: Path) -> None:
    done = alphaflow(
        "run", str(solution), "--problem", str(dataset), "--name", "sum", "--backend", "local", "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"verdict", "passed", "total", "tests"} <= result.keys()
    assert (result["verdict"], result["passed"], result["total"]) == ("AC", 3, 3)
    assert [t["kind"] for t in result["tests"]] == ["public", "private", "private"]
    assert {"verdict", "cpu_s", "wall_s", "memory_kb", "kind"} <= result["tests"][0].keys()
    assert "not enforced" in done.stderr and result["isolation"]["file_system"] == "host"


def test_run_public_tests_with_limit_overrides(dataset: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text("print(3)\n")
    done = alphaflow(
        "run",
        str(wrong),
        "--problem",
        str(dataset),
        "--name",
        "sum",
        "--backend",
        "local",
        "--tests",
        "public",
        "--time-limit",
        "1",
        "--memory-limit",
        "128",
        "--json",
    )
    result = json.loads(done.stdout)
    assert (done.returncode, result["verdict"], result["total"]) == (0, "AC", 1)
    assert result["limits"]["time_s"] == 1.0 and result["limits"]["memory_bytes"] == 128 << 20


def test_run_table_for_people(dataset: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.py"
    wrong.write_text("print(3)\n")
    done = alphaflow("run", str(wrong), "--problem", str(dataset), "--name", "sum", "--backend", "local")
    assert done.returncode == 1
    assert "WA" in done.stdout and "1/3 passed" in done.stdout


def test_unsupported_language_is_a_verdict(dataset: Path, tmp_path: Path) -> None:
    java = tmp_path / "Main.java"
    java.write_text("class Main {}")
    done = alphaflow(
        "run",
        str(java),
        "--problem",
        str(dataset),
        "--name",
        "sum",
        "--language",
        "java",
        "--backend",
        "local",
        "--json",
    )
    assert json.loads(done.stdout)["verdict"] == "unsupported"


def test_unknown_extension_asks_for_language(dataset: Path, tmp_path: Path) -> None:
    text = tmp_path / "solution.txt"
    text.write_text("print(1)")
    done = alphaflow("run", str(text), "--problem", str(dataset), "--name", "sum", "--backend", "local")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(f"alphaflow: error: {text}:")
    assert "--language" in done.stderr


def test_malformed_line_names_file_and_line(tmp_path: Path, solution: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(SUM_PROBLEM) + "\n{not json\n")
    for args in (
        ("run", str(solution), "--problem", str(bad), "--name", "other", "--backend", "local"),
        ("verify", str(bad), "--backend", "local"),
    ):
        done = alphaflow(*args)
        assert done.returncode == 2
        assert f"alphaflow: error: {bad}:2: malformed problem" in done.stderr
        assert "Traceback" not in done.stderr


def test_unknown_problem_names_the_file(dataset: Path, solution: Path) -> None:
    done = alphaflow("run", str(solution), "--problem", str(dataset), "--name", "summ", "--backend", "local")
    assert done.returncode == 2
    assert f"alphaflow: error: {dataset}: no problem named 'summ'" in done.stderr


def test_backend_docker_without_engine_is_one_line(dataset: Path, solution: Path) -> None:
    done = alphaflow(
        "run",
        str(solution),
        "--problem",
        str(dataset),
        "--name",
        "sum",
        "--backend",
        "docker",
        env={"DOCKER_HOST": NO_ENGINE},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alphaflow: error: --sandbox docker: no Docker engine")
    assert NO_ENGINE in lines[0]


def test_auto_never_falls_back_to_local(dataset: Path, solution: Path) -> None:
    # Untrusted code is not judged on the weaker backend unless someone asked for it.
    run = ("run", str(solution), "--problem", str(dataset), "--name", "sum", "--json")
    done = alphaflow(*run, env={"DOCKER_HOST": NO_ENGINE, "ALPHAFLOW_NO_DOCKER": "0"})
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alphaflow: error: --sandbox auto needs Docker")
    assert "--sandbox local" in lines[0] and "sandbox doctor" in lines[0]
    # ALPHAFLOW_NO_DOCKER=1 is the explicit way to make auto mean local.
    chosen = alphaflow(*run, env={"DOCKER_HOST": NO_ENGINE, "ALPHAFLOW_NO_DOCKER": "1"})
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["backend"] == "local"


def test_local_result_says_what_was_enforced(dataset: Path, solution: Path) -> None:
    done = alphaflow("run", str(solution), "--problem", str(dataset), "--name", "sum", "--sandbox", "local")
    assert done.returncode == 0, done.stderr
    isolation = alphaflow(
        "run", str(solution), "--problem", str(dataset), "--name", "sum", "--sandbox", "local", "--json"
    )
    report = json.loads(isolation.stdout)["isolation"]
    assert report["backend"] == "local" and report["environment"] == "clean"
    weak = not_enforced(report)
    # Whatever this host could not enforce is named after the table (and once on stderr).
    assert bool(weak) == ("not enforced" in done.stdout) == ("not enforced" in done.stderr)
    assert all(phrase in done.stdout.replace("\n", " ") for phrase in weak[:1])


def test_doctor_without_engine_says_how_to_fix(dataset: Path) -> None:
    done = alphaflow("doctor", env={"DOCKER_HOST": NO_ENGINE})
    assert done.returncode == 1
    assert "[FAIL] docker engine" in done.stdout and "fix: " in done.stdout and "dockerd" in done.stdout


def test_cleanup_without_engine_is_one_line() -> None:
    done = alphaflow("cleanup", env={"DOCKER_HOST": NO_ENGINE})
    assert done.returncode == 2 and done.stderr.startswith(
        "alphaflow: error: sandbox cleanup: no Docker engine"
    )


def test_verify_json_on_local_backend(dataset: Path) -> None:
    done = alphaflow("verify", str(dataset), "--backend", "local", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["problems"] == 1
    assert report["correct"] == {"total": 2, "accepted": 2}
    assert report["incorrect"] == {"total": 1, "rejected": 1}
    assert report["unsupported"] == 1 and report["unsupported_languages"] == {"java": 1}
    assert report["verdicts"] == {"AC": 2, "WA": 1}
    assert report["failures"] == [] and report["seconds"] > 0


@pytest.mark.docker
def test_verify_json_on_sample_through_docker() -> None:
    require_docker()
    if not SAMPLE.exists():
        pytest.skip(f"the CodeContests sample is not at {SAMPLE}")
    done = alphaflow("verify", str(SAMPLE), "--limit", "4", "--backend", "docker", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["problems"] == 4 and report["correct"] == {"total": 4, "accepted": 4}
    assert report["verdicts"] == {"AC": 4}


@pytest.mark.docker
def test_run_json_on_sample_through_docker(tmp_path: Path) -> None:
    require_docker()
    if not SAMPLE.exists():
        pytest.skip(f"the CodeContests sample is not at {SAMPLE}")
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    solution = tmp_path / "solution.py"
    solution.write_text(first["solutions"]["solution"][0])
    done = alphaflow(
        "run",
        str(solution),
        "--problem",
        str(SAMPLE),
        "--name",
        first["name"],
        "--backend",
        "docker",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["verdict"] == "AC" and result["backend"] == "docker" and result["passed"] == result["total"]


@pytest.mark.docker
def test_unknown_runtime_is_one_line(dataset: Path, solution: Path) -> None:
    require_docker()
    done = alphaflow(
        "run",
        str(solution),
        "--problem",
        str(dataset),
        "--name",
        "sum",
        "--backend",
        "docker",
        "--runtime",
        "no-such-runtime",
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        "alphaflow: error: --runtime no-such-runtime: the Docker engine has no such runtime"
    )
    assert len(done.stderr.strip().splitlines()) == 1


JUDGE_FLOW = """name: judge-only
description: judges the code it is given
inputs:
  code: {type: string}
steps:
  - id: judge
    kind: sandbox
    code: "{{ inputs.code }}"
    language: python
    tests: [{input: "1 2", output: "3"}]
outputs:
  verdict: "{{ judge.verdict }}"
"""
SCRIPT = """rules:
  - step: "*candidates"
    response: "```python\\nprint(3)\\n```"
  - step: "*ai_tests_answer"
    response: "```yaml\\ntests:\\n  - input: '1 2'\\n    output: '3'\\n```"
  - step: "*"
    response: "Score: 4"
"""


def test_every_judging_command_refuses_auto_without_docker(
    dataset: Path, solution: Path, tmp_path: Path
) -> None:
    # solve, bench, judge, run and sandbox run all judge untrusted code: none falls back to local.
    (tmp_path / "flow.yaml").write_text(JUDGE_FLOW)
    (tmp_path / "script.yaml").write_text(SCRIPT)
    model = f"scripted:{tmp_path / 'script.yaml'}"
    commands = {
        "sandbox run": ["sandbox", "run", str(solution), "--problem", str(dataset), "--name", "sum"],
        "solve": ["solve", f"{dataset}#sum", "--flow", "direct", "--model", model],
        "bench": [
            "bench",
            "codecontests",
            "--data",
            str(dataset),
            "--flow",
            "gold",
            "--out",
            str(tmp_path / "b"),
        ],
        "judge": [
            "judge",
            "self-reward",
            "--task",
            "codecontests",
            "--data",
            str(dataset),
            "--model",
            model,
            "--out",
            str(tmp_path / "j"),
            "--no-cache",
        ],
        "run": ["run", str(tmp_path / "flow.yaml"), "--input", "code=print(3)"],
    }
    env = {**os.environ, "DOCKER_HOST": NO_ENGINE, "ALPHAFLOW_NO_DOCKER": "0"}
    for name, args in commands.items():
        done = subprocess.run(
            [sys.executable, "-m", "alphaflow", *args], capture_output=True, text=True, timeout=300, env=env
        )
        errors = [line for line in done.stderr.splitlines() if line.startswith("alphaflow: error:")]
        assert done.returncode == 2, (name, done.returncode, done.stderr[-1500:])
        assert len(errors) == 1 and "--sandbox auto needs Docker" in errors[0], (name, done.stderr[-1500:])
        assert "--sandbox local" in errors[0]


@pytest.mark.docker
def test_doctor_checks_the_image_the_pool_would_use() -> None:
    # With ALPHAFLOW_SANDBOX_IMAGE set the pool runs that image: doctor must not pass on the default.
    require_docker()
    done = alphaflow("doctor", env={"ALPHAFLOW_SANDBOX_IMAGE": "alphaflow-sandbox:no-such-tag"})
    assert done.returncode == 1
    assert (
        "[FAIL] sandbox image: alphaflow-sandbox:no-such-tag (from ALPHAFLOW_SANDBOX_IMAGE) missing"
        in done.stdout
    )
