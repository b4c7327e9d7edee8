"""Benchmark problem loaders: JSON lines, saved dataset directories, and the Hugging Face hub offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alphaflow.bench.datasets import (
    DataSource,
    ProblemFilter,
    difficulty_label,
    load_problems,
    parse_data_source,
    parse_difficulties,
)
from alphaflow.errors import UserError

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "codecontests" / "train_sample.jsonl"
if not SAMPLE.exists():
    SAMPLE = Path("/work/shared/data/codecontests/train_sample.jsonl")


def sample_rows(count: int) -> list[dict]:
    with SAMPLE.open(encoding="utf-8") as handle:
        return [json.loads(line) for _, line in zip(range(count), handle, strict=False)]


def test_jsonl_loads_every_problem_with_evaluation_tests():
    problems = load_problems(parse_data_source(str(SAMPLE))).problems
    assert len(problems) == 115
    first = problems[0]
    assert first.name == "1000_E. We Need More Bosses"
    assert first.private_tests and first.time_limit_s == 6.0
    assert first.solutions[0].language == "python"


def test_filters_by_names_difficulty_tags_and_limit():
    source = parse_data_source(str(SAMPLE))
    names = ("1000_E. We Need More Bosses",)
    assert [p.name for p in load_problems(source, ProblemFilter(names=names)).problems] == list(names)

    letter_a = load_problems(source, ProblemFilter(difficulties=parse_difficulties(["A"]))).problems
    assert len(letter_a) == 9 and all(p.difficulty == 7 for p in letter_a)
    assert parse_difficulties(["a", "8"]) == (7, 8)
    assert difficulty_label(7) == "A" and difficulty_label(None) == "UNKNOWN"

    trees = load_problems(source, ProblemFilter(tags=("trees",))).problems
    assert len(trees) == 21 and all("trees" in p.tags for p in trees)

    limited = load_problems(source, ProblemFilter(tags=("math",), limit=5)).problems
    assert len(limited) == 5 and all("math" in p.tags for p in limited)


def test_bad_inputs_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match=r"--data .*nope.jsonl: no such file"):
        parse_data_source(str(tmp_path / "nope.jsonl"))
    with pytest.raises(UserError, match="did you mean: 1000_E. We Need More Bosses"):
        load_problems(parse_data_source(str(SAMPLE)), ProblemFilter(names=("1000_E. We Need More Boses",)))
    with pytest.raises(UserError, match="--difficulty 'Z9'"):
        parse_difficulties(["Z9"])
    with pytest.raises(UserError, match="--split 'dev'"):
        parse_data_source("hf:deepmind/code_contests", split="dev")
    with pytest.raises(UserError, match="--limit 0"):
        load_problems(parse_data_source(str(SAMPLE)), ProblemFilter(limit=0))
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(sample_rows(1)[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"broken.jsonl:2: malformed problem"):
        load_problems(parse_data_source(str(broken)))


def test_codecontests_alias_and_default_split():
    assert parse_data_source("codecontests") == DataSource("hf", "deepmind/code_contests", "valid")
    assert parse_data_source("hf:deepmind/code_contests", split="test").split == "test"


def test_saved_dataset_directory_like_alphacodiums(tmp_path):
    from datasets import Dataset, DatasetDict

    rows = sample_rows(4)
    DatasetDict({"valid": Dataset.from_list(rows[:3]), "test": Dataset.from_list(rows[3:])}).save_to_disk(
        str(tmp_path / "processed")
    )
    valid = load_problems(parse_data_source(str(tmp_path / "processed"))).problems
    assert [p.name for p in valid] == [r["name"] for r in rows[:3]]
    assert valid[0].private_tests[0].output == rows[0]["private_tests"]["output"][0]
    test = load_problems(parse_data_source(str(tmp_path / "processed"), split="test")).problems
    assert [p.name for p in test] == [rows[3]["name"]]
    with pytest.raises(UserError, match="splits valid, test"):
        load_problems(parse_data_source(str(tmp_path / "processed"), split="train"))
    with pytest.raises(UserError, match="not a saved Hugging Face dataset"):
        load_problems(parse_data_source(str(tmp_path)))


def test_hub_offline_and_not_cached_names_the_local_alternative(tmp_path):
    # A fresh process with an empty cache and no network: the message must say what is missing.
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    code = (
        "from alphaflow.bench.datasets import load_problems, parse_data_source\n"
        "from alphaflow.errors import UserError\n"
        "try:\n    load_problems(parse_data_source('codecontests'))\n"
        "except UserError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    message = done.stdout.strip()
    assert "hf:deepmind/code_contests" in message and "not in the local Hugging Face cache" in message
    assert "--data FILE.jsonl" in message and "\n" not in message


def test_several_names_select_exactly_those_problems():
    source = parse_data_source(str(SAMPLE))
    names = ("103_B. Cthulhu", "1000_E. We Need More Bosses", "104_C. Cthulhu")
    chosen = load_problems(source, ProblemFilter(names=names)).problems
    assert sorted(p.name for p in chosen) == sorted(names)
