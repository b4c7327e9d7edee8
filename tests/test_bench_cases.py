"""Benchmark figures a user reads: pass@k only over problems with n >= k (case 10), faults that are not
the solution's doing left out of pass@k, and a run where every unit failed never exiting 0."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from alphaflow.bench.metrics import summarize
from alphaflow.bench.store import UnitResult
from alphaflow.cli import main

CASE = Path(__file__).parent / "fixtures" / "cases" / "10-passk-n-lt-k"


def bench(run_dir: Path, *extra: str) -> list[str]:
    return [
        "bench",
        "codecontests",
        "--data",
        str(CASE / "problems.jsonl"),
        "--model",
        f"scripted:{CASE / 'model.yaml'}",
        "--sandbox",
        "local",
        "--out",
        str(run_dir),
        *extra,
    ]


def test_case_10_pass_at_k_says_over_how_many_problems_on_every_surface(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # one table row per line
    run = tmp_path / "run"
    assert main(bench(run, "--samples", "1")) == 0
    capsys.readouterr()
    assert main(bench(run, "--samples", "3", "--names", "plus", "--resume")) == 0
    capsys.readouterr()

    assert main(["bench", "report", str(run)]) == 0
    terminal = " ".join(capsys.readouterr().out.split())
    assert "50.0% [0.0, 100.0] over 2 of 2 problems (n>=1)" in terminal
    assert "100.0% [100.0, 100.0] over 1 of 2 problems (n>=2)" in terminal
    assert "100.0% [100.0, 100.0] over 1 of 2 problems (n>=3)" in terminal

    markdown = (run / "report" / "report.md").read_text()
    assert "| pass@3 [95% CI] | 100.0% [100.0, 100.0] over 1 of 2 problems (n>=3) |" in markdown
    html = (run / "report" / "report.html").read_text()
    assert "over 1 of 2 problems (n&gt;=3)" in html
    summary = json.loads((run / "report" / "summary.json").read_text())["runs"][0]["summary"]
    assert summary["pass_at_k"]["1"] | {"ci_low": 0, "ci_high": 0} == {
        "value": 0.5,
        "ci_low": 0,
        "ci_high": 0,
        "problems": 2,
        "of": 2,
    }
    assert summary["pass_at_k"]["3"]["value"] == 1.0
    assert (summary["pass_at_k"]["3"]["problems"], summary["pass_at_k"]["3"]["of"]) == (1, 2)

    assert main(bench(run, "--samples", "3", "--names", "plus", "--resume", "--json")) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["pass_at_k"]["2"]["problems"] == 1 and line["pass_at_k"]["2"]["of"] == 1  # plus only


def unit(
    problem: str, index: int, *, solved: bool = False, verdict: str = "WA", **fields: object
) -> UnitResult:
    given: dict[str, object] = {"evaluation": {"verdict": "AC" if solved else verdict}, **fields}
    return UnitResult(key=f"{problem}#{index}", problem=problem, sample_index=index, solved=solved, **given)  # type: ignore[arg-type]


def test_a_sandbox_fault_is_not_a_failed_sample() -> None:
    results = [
        unit("a", 0, solved=True),
        unit("a", 1, verdict="SE", error="sandbox fault: container died", fault="sandbox"),
        unit("b", 0, verdict="SE", error="sandbox fault: container died", fault="sandbox"),
        unit("c", 0, error="model call failed: connection refused", fault="model", evaluation=None),
        unit("c", 1),
    ]
    summary = summarize(results)
    # a: 1 of 1 judged (not 1 of 2); b: nothing judged; c: 0 of 1 -> pass@1 = mean(1, 0)
    assert summary["problems"] == 2
    assert summary["pass_at_k"]["1"]["value"] == 0.5
    assert summary["pass_at_k"]["1"]["problems"] == 2
    assert summary["excluded"]["units"] == 3 and summary["excluded"]["problems"] == 1
    assert summary["excluded"]["by_fault"] == {"sandbox": 2, "model": 1}
    assert summary["errors"] == 3
    a = next(p for p in summary["per_problem"] if p["name"] == "a")
    assert (a["samples"], a["correct"], a["excluded"]) == (1, 1, 1)


def test_results_written_before_faults_were_recorded_still_leave_se_out() -> None:
    old = {"key": "a#0", "problem": "a", "sample_index": 0, "evaluation": {"verdict": "SE"}, "error": "x"}
    assert UnitResult.from_dict(old).fault == "sandbox"
    assert UnitResult.from_dict({**old, "evaluation": {"verdict": "WA"}}).judged


def refused_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_run_where_every_unit_failed_exits_non_zero_and_prints_the_first_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{refused_port()}/v1"
    args = bench(tmp_path / "run", "--json", "--no-cache")
    args[args.index("--model") + 1] = "openai/x"
    code = main([*args, "--api-base", url])
    captured = capsys.readouterr()
    assert code == 1
    assert "alphaflow: error: every unit failed (2 of 2); first: " in captured.err
    assert url in captured.err
    summary = json.loads(captured.out)
    assert summary["excluded"]["by_fault"] == {"model": 2}
    assert summary["pass_at_k"] == {} and summary["problems"] == 0


def test_wrong_answers_are_results_not_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(bench(tmp_path / "run", "--names", "minus")) == 0  # WA is a figure, the run worked
    out = capsys.readouterr().out
    assert "solved 0 of 1 problems" in out and "first error" not in out
