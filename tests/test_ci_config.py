"""The gate config: requirements parsed strictly, every mistake named with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from alphaflow.ci.config import ConfigError, load_config
from alphaflow.ci.requirements import parse_requirement
from alphaflow.cli import main
from alphaflow.errors import UserError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alphaflow-ci.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("raw", "kind", "metric", "op", "bound"),
    [
        ("pass@1 >= 0.3", "bench", "pass@1", ">=", 0.3),
        ("pass@10>0.5", "solve", "pass@10", ">", 0.5),
        ({"solved": "all"}, "solve", "solved", ">=", None),
        ("solved: all", "bench", "solved", ">=", None),
        ("mean_score >= 3.5", "eval", "mean_score", ">=", 3.5),
        ({"win_rate": ">= 0.5"}, "eval", "win_rate", ">=", 0.5),
        ("cost_usd <= 2", "run", "cost_usd", "<=", 2.0),
        ("accuracy >= 80%", "eval", "accuracy", ">=", 0.8),
        ({"solved": 2}, "solve", "solved", ">=", 2.0),
    ],
)
def test_requirements_parse(raw, kind, metric, op, bound) -> None:
    requirement = parse_requirement(raw, kind)
    assert (requirement.metric, requirement.op, requirement.bound) == (metric, op, bound)


@pytest.mark.parametrize(
    ("raw", "kind", "message"),
    [
        ("pass@1 >= lots", "bench", "not a number"),
        ("pass@1 => 0.3", "bench", "cannot read requirement"),
        ("mean_score >= 3", "bench", "unknown metric 'mean_score' for a bench check"),
        ("pass@0 >= 0.1", "solve", "unknown metric"),
        ("cost_usd: all", "run", "'all' is a bound for"),
        ("solved < all", "solve", "goes with >="),
        ({"a": 1, "b": 2}, "solve", "exactly one key"),
        (3, "solve", "a requirement is a string"),
        ("pass@1 >= nan", "solve", "finite"),
    ],
)
def test_bad_requirements_are_rejected(raw, kind, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_requirement(raw, kind)


def test_holds_and_unknown_values() -> None:
    requirement = parse_requirement("cost_usd <= 2", "solve")
    assert requirement.holds(1.5) and not requirement.holds(2.5)
    assert not requirement.holds(None)  # an unknown cost never meets a bound
    every = parse_requirement({"solved": "all"}, "solve")
    assert every.holds(3, total=3) and not every.holds(2, total=3)


def test_a_good_config_loads_and_resolves_paths(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text("{}\n")
    path = write(
        tmp_path,
        "model: scripted:model.yaml\n"
        "checks:\n"
        "  - name: one\n"
        "    kind: bench\n"
        "    data: data.jsonl\n"
        "    require: ['pass@1 >= 0.3']\n"
        "    repeat: 3\n"
        "    min_pass: 2\n",
    )
    loaded = load_config(path)
    check = loaded.config.checks[0]
    assert check.needed_passes == 2
    assert loaded.resolve(check.data) == str(tmp_path / "data.jsonl")
    assert loaded.resolve_model(loaded.config.model) == f"scripted:{tmp_path / 'model.yaml'}"
    assert loaded.check_line(0) == 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # a bad requirement: the line of the list item itself
        (
            "  - name: a\n    kind: solve\n    problems: [p.md]\n    require:\n      - 'pass@1 >= x'\n",
            ":7:9 checks[0].require[0]: requirement 'pass@1 >= x': bound 'x' is not a number",
        ),
        (
            "  - name: a\n    kind: solve\n    problems: [p.md]\n"
            "    require: ['pass@1 >= 0.3']\n    sampels: 2\n",
            ":7:5 checks[0].sampels: unknown key 'sampels' (did you mean 'samples'?)",
        ),
        (
            "  - name: a\n    kind: benchmark\n    require: ['pass@1 >= 0.3']\n",
            "checks[0].kind: unknown check kind 'benchmark'",
        ),
        (
            "  - name: a\n    kind: bench\n    require: ['pass@1 >= 0.3']\n",
            ":3:5 checks[0].data: missing required field 'data'",
        ),
        (
            "  - name: a\n    kind: run\n    flow: direct\n    expect: 'true'\n    require: ['passed: all']\n"
            "    repeat: 2\n    min_pass: 3\n",
            "checks[0]: min_pass 3 is more than repeat 2",
        ),
        (
            "  - name: a\n    kind: run\n    flow: direct\n    expect: 'true'\n    require: ['passed: all']\n"
            "  - name: a\n    kind: run\n    flow: direct\n    expect: 'true'\n"
            "    require: ['passed: all']\n",
            "two checks are named 'a'",
        ),
        (
            "  - name: a\n    kind: run\n    flow: direct\n    expect: 'outputs.x =='\n"
            "    require: ['passed: all']\n",
            ":6:13 checks[0].expect: expression syntax error",
        ),
        (
            "  - name: a\n    kind: eval\n    eval: rubric\n    data: d.jsonl\n"
            "    require: ['win_rate >= 0.5']\n",
            "rubric reports mean_score, not win_rate",
        ),
    ],
)
def test_config_mistakes_name_file_line_col(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, "model: m\nchecks:\n" + body)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value), str(caught.value)


def test_yaml_syntax_error_and_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alphaflow-ci.yaml:3:1 YAML syntax error"):
        load_config(write(tmp_path, "checks:\n  - name: [a\n"))
    with pytest.raises(ConfigError, match=r":1:1 the config must be a mapping"):
        load_config(write(tmp_path, "- 1\n"))
    with pytest.raises(UserError, match="no such file"):
        load_config(tmp_path / "missing.yaml")


def test_gate_cli_exits_2_on_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "checks:\n  - name: a\n    kind: solve\n    problems: [p.md]\n    require: ['pass@1 >> 1']\n",
    )
    assert main(["ci", "gate", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5:15 checks[0].require[0]" in err
    assert "Traceback" not in err


def test_files_a_check_names_are_checked_before_any_check_runs(tmp_path: Path) -> None:
    config = tmp_path / "gate.yaml"
    config.write_text(
        "checks:\n"
        "  - name: e\n    kind: eval\n    eval: rubrik\n    data: nope.jsonl\n"
        "    require: ['mean_score >= 3']\n"
        "  - name: b\n    kind: bench\n    data: missing.jsonl\n    require: ['pass@1 >= 0.1']\n"
        "  - name: s\n    kind: solve\n    problems: ['none/*.md']\n    require: ['solved: all']\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    text = str(caught.value)
    assert f"{config}:4:11 checks[0].eval: 'rubrik' is neither a built-in eval" in text
    assert f"{config}:5:11 checks[0].data: no such file" in text
    assert "checks[1].data: no such file or folder" in text
    assert "checks[2].problems: 'none/*.md' matches no file" in text


def test_a_missing_require_on_an_eval_check_is_named_as_require(tmp_path: Path) -> None:
    config = tmp_path / "gate.yaml"
    (tmp_path / "items.jsonl").write_text('{"id": "a", "prompt": "x", "response": "y"}\n')
    config.write_text("checks:\n  - name: e\n    kind: eval\n    eval: rubric\n    data: items.jsonl\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "missing required field 'require'" in str(caught.value)
    assert "missing required field 'eval'" not in str(caught.value)
