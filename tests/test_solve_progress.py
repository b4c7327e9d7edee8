"""Live progress of `solve`: each stage shows its own model calls, never those of the stages before it,
as lines when standard error is not a terminal and in the live view on a terminal."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from terminal import run_in_terminal

from alphaflow.cli import main
from alphaflow.trace import read_trace

REPO = Path(__file__).resolve().parent.parent
SOLVE = [
    "solve",
    str(REPO / "examples" / "problems" / "tile_painting.md"),
    "--model",
    f"scripted:{REPO / 'examples' / 'scripted' / 'tile_painting.yaml'}",
    "--sandbox",
    "local",
]


def calls_by_stage(trace: Path) -> Counter[str]:
    """Model calls per top-level stage (``fix_public[1].analyse_public`` -> ``fix_public``)."""
    return Counter(
        re.sub(r"\[\d+\]", "", str(event["step"]).split(".")[0])
        for event in read_trace(trace)
        if event["event"] == "model_call" and not event.get("error")
    )


def test_each_stage_line_counts_its_own_model_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t.jsonl"
    assert main([*SOLVE, "--trace", str(trace)]) == 0
    err = capsys.readouterr().err
    lines = re.findall(r"^alphaflow: stage (.+?) · model calls (\d+) · tokens", err, re.MULTILINE)
    expected = calls_by_stage(trace)
    shown = {stage: int(calls) for stage, calls in lines}
    assert len(shown) == len(lines)  # one line per stage
    assert {stage: calls for stage, calls in shown.items() if calls} == dict(expected)
    # stages later in the flow made fewer calls than all the stages before them together: the old
    # (cumulative) figure would not match here
    assert shown["fix_public"] == expected["fix_public"] < sum(shown.values()) - shown["fix_public"]
    assert sum(shown.values()) == sum(expected.values()) == 15


def test_the_live_view_shows_the_current_stages_own_calls(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    code, text = run_in_terminal([*SOLVE, "--trace", str(trace)], REPO)
    assert code == 0, text
    expected = calls_by_stage(trace)
    frames = re.findall(r"stage (.+?) · (\d+) model calls in this stage", text)
    assert frames, text
    for name, calls in frames:
        stage = re.sub(r" #\d+", "", name.split(" › ")[0])
        assert int(calls) <= expected[stage], (name, calls, dict(expected))
    assert "so far: model calls" in text
    assert "model calls 15 · tokens" in text  # the whole run's line stays when the live view goes
