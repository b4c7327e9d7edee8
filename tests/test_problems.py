"""The CodeContests loader: field mapping, limits, and errors that name file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alphaflow.errors import UserError
from alphaflow.problems import Problem, find_problem, load_jsonl

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "codecontests" / "train_sample.jsonl"


def row(**overrides: object) -> dict:
    base = {
        "name": "1_A. Sum",
        "description": "Add two numbers.",
        "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
        "private_tests": {"input": ["5 5\n"], "output": ["10\n"]},
        "generated_tests": {"input": [], "output": []},
        "solutions": {
            "language": [3, 2],
            "solution": ["print(sum(map(int, input().split())))", "int main(){}"],
        },
        "time_limit": {"seconds": 2, "nanos": 500_000_000},
        "memory_limit_bytes": 256 << 20,
        "cf_tags": ["math"],
        "difficulty": 7,
    }
    base.update(overrides)
    return base


def test_fields_map_to_problem() -> None:
    problem = Problem.from_codecontests(row())
    assert problem.time_limit_s == 2.5
    assert problem.memory_limit_bytes == 256 << 20
    assert [s.language for s in problem.solutions] == ["python", "cpp"]
    assert [t.kind for t in problem.all_tests] == ["public", "private"]
    assert problem.tags == ["math"]


def test_flow_view_never_contains_evaluation_tests() -> None:
    view = Problem.from_codecontests(row()).for_flow()
    assert "private_tests" not in view and "generated_tests" not in view
    assert "10" not in json.dumps(view)


def test_missing_limits_stay_unknown() -> None:
    problem = Problem.from_codecontests(row(time_limit=None, memory_limit_bytes=0))
    assert problem.time_limit_s is None and problem.memory_limit_bytes is None


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps(row()) + "\n{not json\n")
    with pytest.raises(UserError, match=r"bad\.jsonl:2: malformed problem"):
        load_jsonl(data)


def test_unknown_name_suggests_close_matches(tmp_path: Path) -> None:
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps(row()) + "\n")
    with pytest.raises(UserError, match=r"no problem named 'Sum'.*1_A\. Sum"):
        find_problem(data, "Sum")


@pytest.mark.skipif(not SAMPLE.exists(), reason="the shared CodeContests sample is not beside this checkout")
def test_shared_sample_loads() -> None:
    problems = load_jsonl(SAMPLE)
    assert len(problems) == 115
    assert all(p.solutions and p.public_tests for p in problems)
