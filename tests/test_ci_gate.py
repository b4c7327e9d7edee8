"""``alphaflow ci gate`` end to end with the scripted model: pass, threshold, regression, repeat, resume.

The scripted model answers over real HTTP; code is judged by the local sandbox backend (the docker
backend is exercised by the fix-mode and bench tests). Every output a CI system reads is parsed: the
JUnit file, the Markdown table, the annotations, ``$GITHUB_OUTPUT`` and the JSON result.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

from alphaflow.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "ci"
GOOD_SUM = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
BAD_SUM = "```python\na, b = map(int, input().split())\nprint(a - b)\n```"
REVERSE = "```python\nprint(' '.join(reversed(input().split())))\n```"
ECHO = "```python\nprint(input())\n```"


def script(path: Path, sums: list[str]) -> str:
    """A scripted model: the sum problem gets ``sums`` in turn, the others a right answer."""
    import yaml

    rules = [
        {"step": "code", "contains": "print A + B", "responses": sums},
        {"step": "code", "contains": "reverse order", "response": REVERSE},
        {"step": "code", "contains": "Print the line", "response": ECHO},
    ]
    path.write_text(yaml.safe_dump({"rules": rules}), encoding="utf-8")
    return f"scripted:{path}"


def bench_config(tmp_path: Path, require: list, *, samples: int = 1, extra: str = "") -> Path:
    shutil.copy(EXAMPLES / "problems.jsonl", tmp_path / "problems.jsonl")
    config = tmp_path / "alphaflow-ci.yaml"
    config.write_text(
        "sandbox: local\n"
        "checks:\n"
        "  - name: slice\n"
        "    kind: bench\n"
        "    data: problems.jsonl\n"
        "    flow: direct\n"
        f"    samples: {samples}\n"
        f"    require: {json.dumps(require)}\n" + extra,
        encoding="utf-8",
    )
    return config


def summary_rows(text: str) -> list[dict[str, str]]:
    """The rows of the summary's Markdown table as dicts keyed by the header."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]
    ]


@pytest.fixture
def github_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {"summary": tmp_path / "step_summary.md", "output": tmp_path / "github_output"}
    for path in files.values():
        path.write_text("", encoding="utf-8")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    return files


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)


def test_the_example_gate_passes(tmp_path: Path, github_env, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "ci",
            "gate",
            "--config",
            str(EXAMPLES / "alphaflow-ci.yaml"),
            "--out",
            str(out),
            "--sandbox",
            "local",
            "--junit",
            str(tmp_path / "junit.xml"),
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    assert result["passed"] is True
    assert [c["status"] for c in result["checks"]] == ["passed"] * 4

    xml = JUnitXml.fromfile(str(tmp_path / "junit.xml"))
    suites = {suite.name: suite for suite in xml}
    assert list(suites) == ["solve-examples", "codecontests-slice", "answer-quality", "direct-flow-smoke"]
    units = [case for case in suites["codecontests-slice"] if not case.classname.endswith(".requirements")]
    assert len(units) == 2 * 2 * 2  # problems x samples x repeats, each a test case
    assert all(case.is_passed for case in units)
    # the rubric item the judge scores 2 is a failing test case carrying its score
    boil = next(case for case in suites["answer-quality"] if case.name == "boil")
    assert isinstance(boil.result[0], Failure) and "score" in boil.result[0].message

    rows = summary_rows(github_env["summary"].read_text(encoding="utf-8"))
    assert {(r["check"], r["metric"]) for r in rows} >= {
        ("solve-examples", "pass@1"),
        ("answer-quality", "mean_score"),
    }
    assert all(r["status"].endswith("pass") for r in rows)
    solved = next(r for r in rows if r["metric"] == "solved")
    assert solved["requirement"] == "all" and solved["value"] == "1 of 1"
    assert outputs(github_env["output"])["passed"] == "true"
    assert (out / "checks" / "codecontests-slice" / "bench" / "report" / "report.html").is_file()


def test_a_missed_threshold_fails_with_junit_annotations_and_summary(
    tmp_path: Path, github_env, capsys: pytest.CaptureFixture[str]
) -> None:
    config = bench_config(tmp_path, ["pass@1 >= 0.75", {"solved": "all"}])
    model = script(tmp_path / "model.yaml", [BAD_SUM])
    junit = tmp_path / "junit.xml"
    code = main(
        [
            "ci",
            "gate",
            "--config",
            str(config),
            "--model",
            model,
            "--out",
            str(tmp_path / "out"),
            "--junit",
            str(junit),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 1
    # an annotation on the config line of the failing check
    assert (
        f"::error file={config},line=3,title=alphaflow ci%3A slice failed::pass@1 >= 0.75 not met: 0.5"
        in printed
    )

    suite = next(iter(JUnitXml.fromfile(str(junit))))
    failing = {case.name: case.result[0] for case in suite if case.result}
    unit = failing["ci_sum_two [sample 0]"]
    assert unit.message.startswith("verdict WA: 0/3 tests passed")
    assert "first failing test: #1 WA" in unit.text
    assert failing["pass@1 >= 0.75"].type == "requirement"
    assert "ci_reverse_words [sample 0]" not in failing

    rows = summary_rows(github_env["summary"].read_text(encoding="utf-8"))
    assert [(r["metric"], r["value"], r["status"]) for r in rows] == [
        ("pass@1", "0.5", "❌ fail"),
        ("solved", "1 of 2", "❌ fail"),
    ]
    values = outputs(github_env["output"])
    assert values["passed"] == "false" and values["failed-checks"] == "slice"


def test_a_regression_from_the_baseline_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = "    max_drop: 0.2\n"
    config = bench_config(tmp_path, ["pass@1 >= 0.3"], samples=2, extra=extra)
    good = script(tmp_path / "good.yaml", [GOOD_SUM])
    assert (
        main(["ci", "gate", "--config", str(config), "--model", good, "--out", str(tmp_path / "base")]) == 0
    )
    bad = script(tmp_path / "bad.yaml", [BAD_SUM])
    summary = tmp_path / "summary.md"
    code = main(
        [
            "ci",
            "gate",
            "--config",
            str(config),
            "--model",
            bad,
            "--out",
            str(tmp_path / "now"),
            "--baseline",
            str(tmp_path / "base"),
            "--summary",
            str(summary),
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 1
    check = result["checks"][0]
    assert check["status"] == "regressed"  # the threshold (0.3) holds; the drop (1.0 -> 0.5) does not
    assert check["requirements"][0]["baseline"] == 1.0 and check["requirements"][0]["value"] == 0.5
    assert "pass@1 fell from 1 to 0.5 (max_drop 0.2)" in check["reasons"]
    row = summary_rows(summary.read_text(encoding="utf-8"))[0]
    assert (row["baseline"], row["value"], row["status"]) == ("1", "0.5", "📉 regression")
    # the baseline may also be the JSON file itself
    assert (
        main(
            [
                "ci",
                "gate",
                "--config",
                str(config),
                "--model",
                good,
                "--out",
                str(tmp_path / "again"),
                "--baseline",
                str(tmp_path / "base" / "gate.json"),
            ]
        )
        == 0
    )


def run_config(tmp_path: Path, repeat: int, min_pass: int) -> Path:
    config = tmp_path / f"run-{min_pass}.yaml"
    config.write_text(
        "sandbox: local\n"
        "checks:\n"
        "  - name: flaky\n"
        "    kind: run\n"
        "    flow: direct\n"
        "    inputs: {problem: {name: sum, description: 'print A + B',"
        " public_tests: [{input: '1 2', output: '3'}]}}\n"
        "    expect: \"outputs.verdict == 'AC'\"\n"
        "    require: ['passed: all']\n"
        f"    repeat: {repeat}\n"
        f"    min_pass: {min_pass}\n",
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize(("min_pass", "expected"), [(2, 0), (3, 1)])
def test_repeat_with_min_pass_absorbs_flaky_output(
    tmp_path: Path, min_pass: int, expected: int, capsys: pytest.CaptureFixture[str]
) -> None:
    model = script(tmp_path / "flaky.yaml", [GOOD_SUM, BAD_SUM, GOOD_SUM])  # runs 1 and 3 pass
    junit = tmp_path / "junit.xml"
    code = main(
        [
            "ci",
            "gate",
            "--config",
            str(run_config(tmp_path, 3, min_pass)),
            "--model",
            model,
            "--out",
            str(tmp_path / "out"),
            "--junit",
            str(junit),
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == expected
    assert result["checks"][0]["held_repeats"] == 2
    cases = [case for case in next(iter(JUnitXml.fromfile(str(junit)))) if case.classname == "flaky"]
    assert [case.is_passed for case in cases] == [True, False, True]


def test_a_cancelled_gate_resumes_keeping_finished_units(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = bench_config(tmp_path, ["pass@1 >= 0.5"], samples=2)
    model = script(tmp_path / "model.yaml", [GOOD_SUM])
    out = tmp_path / "out"
    assert main(["ci", "gate", "--config", str(config), "--model", model, "--out", str(out)]) == 0
    results = out / "checks" / "slice" / "bench" / "results.jsonl"
    lines = results.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    # as if the job was cancelled after three units (the last line torn in half)
    results.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40], encoding="utf-8")
    (out / "gate.json").unlink()
    capsys.readouterr()
    assert main(["ci", "gate", "--config", str(config), "--model", model, "--out", str(out)]) == 2
    assert "already holds a gate run; add --resume" in capsys.readouterr().err
    assert main(["ci", "gate", "--config", str(config), "--model", model, "--out", str(out), "--resume"]) == 0
    kept = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()[:3]]
    assert kept == [json.loads(line) for line in lines[:3]]  # finished units were not run again
    assert json.loads((out / "gate.json").read_text(encoding="utf-8"))["checks"][0]["units"]["total"] == 4


def test_bad_baseline_and_missing_problem_files_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = bench_config(tmp_path, ["pass@1 >= 0.5"])
    (tmp_path / "junk.json").write_text("{not json", encoding="utf-8")
    assert (
        main(
            [
                "ci",
                "gate",
                "--config",
                str(config),
                "--model",
                "scripted:x.yaml",
                "--out",
                str(tmp_path / "o"),
                "--baseline",
                str(tmp_path / "junk.json"),
            ]
        )
        == 2
    )
    assert "--baseline" in capsys.readouterr().err
    solve = tmp_path / "solve.yaml"
    solve.write_text(
        "checks:\n  - {name: s, kind: solve, problems: ['nothing/*.md'], require: ['pass@1 >= 1']}\n",
        encoding="utf-8",
    )
    assert (
        main(
            ["ci", "gate", "--config", str(solve), "--model", "scripted:x.yaml", "--out", str(tmp_path / "p")]
        )
        == 2
    )
    assert "'nothing/*.md' matches no file" in capsys.readouterr().err


def test_an_expect_that_cannot_be_evaluated_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = run_config(tmp_path, 1, 1)
    config.write_text(config.read_text().replace("outputs.verdict == 'AC'", "outputs.nothing.deeper > 1"))
    model = script(tmp_path / "model.yaml", [GOOD_SUM])
    junit = tmp_path / "junit.xml"
    code = main(
        [
            "ci",
            "gate",
            "--config",
            str(config),
            "--model",
            model,
            "--out",
            str(tmp_path / "out"),
            "--junit",
            str(junit),
        ]
    )
    assert code == 1
    case = next(c for c in next(iter(JUnitXml.fromfile(str(junit)))) if c.classname == "flaky")
    assert case.result[0].message.startswith("error: expect: undefined name")


def test_pairwise_and_reference_evals_report_win_rate_and_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    judge = ROOT / "examples" / "judge"
    config = tmp_path / "evals.yaml"
    config.write_text(
        f"model: scripted:{judge / 'dry_eval.yaml'}\n"
        "checks:\n"
        f"  - {{name: pw, kind: eval, eval: pairwise, data: {judge / 'pairwise.jsonl'}, repeat: 2,\n"
        "      require: ['win_rate >= 0.5', 'failed_items <= 0']}\n"
        f"  - {{name: ref, kind: eval, eval: reference, data: {judge / 'reference.jsonl'},\n"
        "      require: ['accuracy >= 0.6']}\n",
        encoding="utf-8",
    )
    junit = tmp_path / "junit.xml"
    code = main(
        [
            "ci",
            "gate",
            "--config",
            str(config),
            "--out",
            str(tmp_path / "out"),
            "--junit",
            str(junit),
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 1
    pairwise, reference = result["checks"]
    assert pairwise["status"] == "failed" and pairwise["held_repeats"] == 0
    assert 0 <= pairwise["metrics"]["win_rate"] < 0.5 and pairwise["metrics"]["failed_items"] == 0
    assert reference["status"] == "passed" and reference["metrics"]["accuracy"] == 0.75
    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(junit))}
    q2 = next(case for case in suites["ref"] if case.name == "q2")
    assert q2.result[0].message == "incorrect"
    assert len([case for case in suites["pw"] if case.classname == "pw"]) == 2 * 3  # items x repeats


@pytest.mark.slow
def test_a_killed_gate_keeps_finished_units_and_resumes(tmp_path: Path) -> None:
    """A cancelled CI job: SIGTERM (SIGINT takes the same path through KeyboardInterrupt)."""
    import signal
    import subprocess
    import sys
    import time

    import yaml

    config = bench_config(tmp_path, ["pass@1 >= 0.5"], samples=3)
    config.write_text(config.read_text().replace("sandbox: local\n", "sandbox: local\nconcurrency: 1\n"))
    slow = tmp_path / "slow.yaml"
    rules = [
        {"step": "code", "contains": "print A + B", "response": GOOD_SUM, "latency_s": 0.7},
        {"step": "code", "response": REVERSE, "latency_s": 0.7},
    ]
    slow.write_text(yaml.safe_dump({"rules": rules}))
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "alphaflow",
        "ci",
        "gate",
        "--config",
        str(config),
        "--model",
        f"scripted:{slow}",
        "--out",
        str(out),
    ]
    results = out / "checks" / "slice" / "bench" / "results.jsonl"
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (results.exists() and results.read_text().count("\n") >= 2):
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "--resume" in err
    finished = results.read_text().splitlines()
    assert 2 <= len(finished) < 6
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = results.read_text().splitlines()
    assert len(lines) == 6 and lines[: len(finished)] == finished
