"""Live progress for `judge` and `eval`: shown on a terminal (units done/total, rate, ETA, failures,
spend), silent under --json and when standard error is not a terminal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from terminal import run_in_terminal

from alphaflow.judge.progress import JudgeProgress
from alphaflow.trace import read_trace

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "judge"


def test_eval_shows_items_done_of_total_with_spend_on_a_terminal(tmp_path: Path) -> None:
    code, text = run_in_terminal(
        [
            "eval",
            "rubric",
            "--data",
            str(EXAMPLES / "rubric.jsonl"),
            "--model",
            "stub",
            "--out",
            str(tmp_path / "ev"),
        ],
        REPO,
    )
    assert code == 0
    assert "eval rubric" in text and "4/4" in text
    assert re.search(r"calls \d+ · failures 0 · spend \$0\.0000", text)
    assert "ETA" in text


def test_self_reward_counts_prompts(tmp_path: Path) -> None:
    code, text = run_in_terminal(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(EXAMPLES / "prompts.jsonl"),
            "--model",
            "stub",
            "--out",
            str(tmp_path / "sr"),
        ],
        REPO,
    )
    prompts = len((EXAMPLES / "prompts.jsonl").read_text().splitlines())
    assert code == 0
    assert "self-reward prompts" in text and f"{prompts}/{prompts}" in text


def test_no_progress_under_json_or_without_a_terminal(tmp_path: Path) -> None:
    code, text = run_in_terminal(
        ["eval", "rubric", "--data", str(EXAMPLES / "rubric.jsonl"), "--model", "stub", "--json"], REPO
    )
    assert code == 0 and "ETA" not in text
    json.loads(text.strip().splitlines()[-1])
    piped = subprocess.run(
        [
            sys.executable,
            "-m",
            "alphaflow",
            "eval",
            "rubric",
            "--data",
            str(EXAMPLES / "rubric.jsonl"),
            "--model",
            "stub",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert piped.returncode == 0 and "ETA" not in piped.stderr


def test_failures_and_units_are_counted_from_a_real_trace(tmp_path: Path) -> None:
    """Replay a real self-rewarding run's trace: one judge that always fails leaves prompts unscored."""
    script = tmp_path / "script.yaml"
    script.write_text(
        "rules:\n"
        "  - step: '*grades'\n    response: x\n    fault: {status: 400}\n"
        "  - step: '*'\n    response: An answer.\n"
    )
    out = tmp_path / "sr"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "alphaflow",
            "judge",
            "self-reward",
            "--prompts",
            str(EXAMPLES / "prompts.jsonl"),
            "--model",
            f"scripted:{script}",
            "--out",
            str(out),
            "--limit",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    progress = JudgeProgress("x", unit_maps=("per_prompt",), quiet=True)
    for event in read_trace(out / "trace.jsonl"):
        fields = {k: v for k, v in event.items() if k not in ("ts", "event")}
        progress.handle(event["event"], fields)
    assert (progress.done, progress.total) == (2, 2)
    assert progress.failed_calls > 0 and progress.failed_steps > 0
    assert "failures 0" not in progress.status_text()


def test_run_shows_live_progress_on_a_terminal_and_none_under_json(tmp_path: Path) -> None:
    from alphaflow.solve.problem_source import load_problem

    problem = load_problem(str(REPO / "examples" / "problems" / "tile_painting.md")).problem
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"problem": problem.for_flow()}))
    args = ["run", "direct", "--input-file", str(inputs), "--model", "stub", "--sandbox", "local"]
    code, text = run_in_terminal(args, REPO)
    assert code == 0
    assert "stage" in text and "model calls 1" in text and "judged by" in text
    code, text = run_in_terminal([*args, "--json"], REPO)
    assert code == 0 and "judged by" not in text
