"""What a new user sees at the end of a solve, and after Ctrl-C; flow descriptions in `flows list`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alphaflow.cli import main
from alphaflow.engine.cli import first_sentence

REPO = Path(__file__).resolve().parent.parent
PROBLEM = REPO / "examples" / "problems" / "tile_painting.md"


def test_a_wrong_answer_row_shows_expected_beside_got(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["solve", str(PROBLEM), "--flow", "direct", "--model", "stub", "--sandbox", "local"])
    out = capsys.readouterr().out
    assert code == 1
    assert "expected" in out and "got" in out
    row = next(line for line in out.splitlines() if "│ WA" in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[-2:] == ["2", "4"]  # tile painting, n = 4: the answer is 2, the echo program printed 4
    assert "MiB" in row and " ms" in row


def test_ctrl_c_says_where_the_trace_is_kept(tmp_path: Path) -> None:
    script = tmp_path / "slow.yaml"
    script.write_text("rules:\n  - step: '*'\n    latency_s: 30\n    response: 'Task: wait'\n")
    trace = tmp_path / "trace.jsonl"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alphaflow",
            "solve",
            str(PROBLEM),
            "--model",
            f"scripted:{script}",
            "--sandbox",
            "local",
            "--trace",
            str(trace),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (trace.exists() and trace.stat().st_size):
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert f"trace so far is kept: {trace}" in err
    assert "Traceback" not in err
    assert trace.read_text().strip()


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        (
            "AlphaCodium (Ridnik et al. 2024, arXiv 2401.08500): reflect first. Then code.",
            "AlphaCodium (Ridnik et al. 2024, arXiv 2401.08500): reflect first",
        ),
        ("Compare answers, e.g. two models. The judge says which.", "Compare answers, e.g. two models"),
        ("One sentence only.", "One sentence only"),
    ],
)
def test_flow_descriptions_are_not_cut_at_abbreviations(description: str, expected: str) -> None:
    assert first_sentence(description) == expected


def test_flows_list_shows_whole_first_sentences(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "list", "--json"]) == 0
    capsys.readouterr()
    assert main(["flows", "list"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Ridnik et" in out and "2401.08500" in out
