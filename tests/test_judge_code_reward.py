"""Execution-grounded self-reward for code, end to end: scripted actor and judge over HTTP, real
sandbox verdicts (local backend; the same through Docker when marked). Private tests never reach a
prompt or the sandbox."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from alphaflow.cli import main
from alphaflow.testing import Rule, ScriptedRequest

CORRECT_PLAIN = "a, b = map(int, input().split())\nprint(a + b)"
WRONG = "a, b = map(int, input().split())\nprint(a - b)"
BROKEN = "print(("
CORRECT_NEAT = "import sys\n\nx, y = map(int, sys.stdin.read().split())\nprint(x + y)"
PROGRAMS = [CORRECT_PLAIN, WRONG, BROKEN, CORRECT_NEAT]
# the judge's 3 samples per program: it likes the wrong program and cannot read the broken one
GRADES = {
    CORRECT_PLAIN: ["Score: 2", "Score: 2", "Score: 2"],
    WRONG: ["Score: 5", "Score: 5", "Score: 5"],
    BROKEN: ["unclear", "unclear", "unclear"],
    CORRECT_NEAT: ["Score: 4", "Score: 4", "Score: 4"],
}
PRIVATE_INPUT = "123456 654321"

AI_TESTS = """```yaml
tests:
  - input: |
      2 2
    output: |
      4
  - input: |
      10 -3
    output: |
      7
```"""


def actor(request: ScriptedRequest) -> str:
    return f"Here it is.\n```python\n{PROGRAMS[request.choice_index]}\n```"


def judge(request: ScriptedRequest) -> str:
    match = re.search(r'<program language="python">\n(.*)\n</program>', request.last_user, re.DOTALL)
    assert match, request.last_user
    return f"Reviewed.\n{GRADES[match[1].strip()][request.choice_index]}"


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    row = {
        "name": "A. Sum",
        "description": "Read two integers a and b and print a + b.",
        "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
        "private_tests": {"input": [PRIVATE_INPUT + "\n"], "output": ["777777\n"]},
        "time_limit": {"seconds": 2, "nanos": 0},
        "memory_limit_bytes": 256 << 20,
    }
    path = tmp_path / "problems.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return path


def run_code_iteration(server, problems_file: Path, out: Path, backend: str) -> int:
    return main(
        [
            "judge",
            "self-reward",
            "--task",
            "codecontests",
            "--data",
            str(problems_file),
            "--model",
            "openai/actor",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(out),
            "--sandbox",
            backend,
        ]
    )


RULES = [
    Rule(step="per_problem*.candidates", response=actor),
    Rule(step="per_problem*.ai_tests_answer", response=AI_TESTS),
    Rule(step="per_problem*.grades", response=judge),
]


def check_iteration(server, out: Path) -> None:
    (record,) = [
        json.loads(line) for line in (out / "iteration_1" / "candidates.jsonl").read_text().splitlines()
    ]
    candidates = record["candidates"]
    assert [c["public_verdict"] for c in candidates] == ["AC", "WA", "CE", "AC"]
    assert [c["generated_verdict"] for c in candidates] == ["AC", "WA", "CE", "AC"]
    assert [c["public_pass_rate"] for c in candidates] == [1.0, 0.0, 0.0, 1.0]
    assert [c["generated_pass_rate"] for c in candidates] == [1.0, 0.0, 0.0, 1.0]
    assert [c["mean"] for c in candidates] == [2.0, 5.0, None, 4.0]
    # reward = 0.5 public + 0.3 generated + 0.2 judge/5; a missing judge score drops its weight
    assert [c["reward"] for c in candidates] == pytest.approx([0.88, 0.2, 0.0, 0.96])

    # the judge loves the wrong program, yet execution decides: it is never chosen over a passing one
    (pair,) = [json.loads(line) for line in (out / "iteration_1" / "dpo.jsonl").read_text().splitlines()]
    pair["chosen"], pair["rejected"] = pair["chosen"].rstrip("\n"), pair["rejected"].rstrip("\n")
    assert pair == {
        "prompt": "Read two integers a and b and print a + b.",
        "chosen": CORRECT_NEAT,
        "rejected": BROKEN,
        "score_chosen": pytest.approx(0.96),
        "score_rejected": 0.0,
        "name": "A. Sum",
    }
    # private tests are evaluation data: never in a prompt, never run
    assert all(PRIVATE_INPUT not in call.last_user for call in server.calls())
    assert PRIVATE_INPUT not in (out / "iteration_1" / "candidates.jsonl").read_text()
    assert PRIVATE_INPUT not in (out / "trace.jsonl").read_text()


def test_code_self_reward_with_local_sandbox_verdicts(scripted_server, problems_file, tmp_path, capsys):
    server = scripted_server(RULES)
    out = tmp_path / "out"
    assert run_code_iteration(server, problems_file, out, "local") == 0, capsys.readouterr().err
    check_iteration(server, out)
    stats = json.loads((out / "iteration_1" / "stats.json").read_text())
    assert (stats["pairs"], stats["parse_failures"], stats["unscored_candidates"]) == (1, 3, 1)


@pytest.mark.docker
def test_code_self_reward_with_docker_sandbox_verdicts(scripted_server, problems_file, tmp_path, capsys):
    from alphaflow.sandbox.backends import docker_client, image_present, image_tag

    client, why = docker_client()
    if client is None:
        if shutil.which("dockerd") is None and not os.environ.get("DOCKER_HOST"):
            pytest.skip("no Docker engine can exist on this machine (dockerd is not installed)")
        pytest.fail(f"{why}: start it (see `alphaflow sandbox doctor`)")
    if not image_present(client):
        pytest.fail(f"the sandbox image {image_tag()} is missing: run `alphaflow sandbox build`")
    server = scripted_server(RULES)
    out = tmp_path / "out"
    assert run_code_iteration(server, problems_file, out, "docker") == 0, capsys.readouterr().err
    check_iteration(server, out)


def test_code_task_flag_errors(problems_file, tmp_path, capsys):
    base = ["judge", "self-reward", "--model", "openai/a", "--out", str(tmp_path / "o")]
    assert main([*base, "--task", "codecontests"]) == 2
    assert "--task codecontests needs --data FILE.jsonl" in capsys.readouterr().err
    assert main([*base, "--task", "codecontests", "--data", str(problems_file), "--new-prompts", "2"]) == 2
    assert "--new-prompts is for the text task" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"description": "no name"}\n', encoding="utf-8")
    assert main([*base, "--task", "codecontests", "--data", str(broken)]) == 2
    assert f"{broken}:1: malformed problem" in capsys.readouterr().err
