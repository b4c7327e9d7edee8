"""Shared by the Ray executor tests: a scripted model that solves some problems, and run helpers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from alphaflow.bench.codecontests import BenchOptions, run_codecontests
from alphaflow.problems import Problem, load_jsonl
from alphaflow.testing import Rule

SAMPLE = Path("/work/shared/data/codecontests/train_sample.jsonl")
if not SAMPLE.exists():
    SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "codecontests" / "train_sample.jsonl"

# Fields that depend on when and how fast a unit ran, not on what it produced.
TIMING_FIELDS = ("wall_s", "finished_at")
JUDGE_TIMING_FIELDS = ("seconds",)
MEASURED_FIELDS = ("cpu_s", "memory_kb")


def sample_problems(count: int) -> list[Problem]:
    """The first ``count`` problems of the sample with different statements (the sample holds
    duplicates such as 103_B and 104_C "Cthulhu": one prompt would share cached answers, so token
    counts would depend on which unit ran first)."""
    distinct: dict[str, Problem] = {}
    for problem in load_jsonl(SAMPLE):
        distinct.setdefault(problem.description, problem)
    return list(distinct.values())[:count]


def solving_rule(problems: list[Problem], solved: set[str], latency_s: float = 0.0) -> Rule:
    """The model answers the problems in ``solved`` with their reference solution, others wrongly."""

    def answer(request: Any) -> str:
        for problem in problems:
            if problem.description[:300] in request.last_user and problem.name in solved:
                return f"```python\n{problem.solutions[0].code}\n```"
        return "```python\nprint(42)\n```"

    return Rule(response=answer, latency_s=latency_s)


def options(run_dir: Path, problems: list[Problem], **overrides: Any) -> BenchOptions:
    settings: dict[str, Any] = {
        "data": str(SAMPLE),
        "out": str(run_dir),
        "flow": "direct",
        "model": "openai/scripted",
        "samples": 2,
        "concurrency": 4,
        "names": tuple(problem.name for problem in problems),
        "sandbox": "local",
        "quiet": True,
        "argv": [],
    }
    settings.update(overrides)
    return BenchOptions(**settings)


def run(bench_options: BenchOptions) -> Any:
    return asyncio.run(run_codecontests(bench_options))


def records(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "results.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def comparable(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each unit's record by key, minus timings: what must not depend on the executor."""
    out = {}
    for record in records(run_dir):
        record = {k: v for k, v in record.items() if k not in TIMING_FIELDS}
        for group in (record.get("public"), record.get("evaluation")):
            if group and group.get("judge"):
                group["judge"] = {k: v for k, v in group["judge"].items() if k not in JUDGE_TIMING_FIELDS}
            if group and group.get("first_failure"):  # measured, so it varies from run to run
                group["first_failure"] = {
                    k: v for k, v in group["first_failure"].items() if k not in MEASURED_FIELDS
                }
        out[record["key"]] = record
    return out
