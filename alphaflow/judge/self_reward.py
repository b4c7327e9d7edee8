"""The self-rewarding loop over iterations: run the flow, write the DPO pairs and the statistics.

Iteration ``i`` runs ``flows/self_rewarding.yaml`` (or the code variant) with actor ``M_i`` and
writes ``OUT/iteration_i/``:
- ``dpo.jsonl``: TRL's preference format, one ``{prompt, chosen, rejected, score_chosen,
  score_rejected}`` per line (code pairs also carry the problem ``name``);
- ``candidates.jsonl``: every prompt with its candidates, judge answers, parsed scores and status;
- ``stats.json``: score histogram, pairs, ties and tie rate, parse failures.
Training ``M_{i+1}`` on ``dpo.jsonl`` happens outside (TRL's DPOTrainer on a GPU); the next
iteration's actor is whatever ``--next-model`` names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.judge.code_reward import RewardWeights
from alphaflow.judge.preferences import iteration_statistics


@dataclass
class SelfRewardPlan:
    """What to run; built from the CLI flags (or by a caller directly)."""

    out: Path
    actors: list[str]  # one per iteration: M1, M2, ...
    judge_model: str | None = None  # None: each iteration's actor judges itself
    prompts: list[str] = field(default_factory=list)  # text task: the seed prompts
    problems: list[dict[str, Any]] = field(default_factory=list)  # code task: Problem.for_flow() dicts
    flow: str | None = None  # None: the built-in flow for the task
    new_prompts: int = 0
    include_seeds: bool = False
    fewshot: int = 8
    weights: RewardWeights = field(default_factory=RewardWeights)
    language: str = "python"

    @property
    def is_code(self) -> bool:
        return bool(self.problems)

    @property
    def flow_ref(self) -> str:
        return self.flow or ("self_rewarding_code" if self.is_code else "self_rewarding")


def actors_for(model: str, next_models: Sequence[str], iterations: int) -> list[str]:
    """The actor of each iteration: ``--model`` first, then one ``--next-model`` per later iteration.

    Without ``--next-model`` every iteration uses ``--model`` (more data from the same actor);
    with it, the count must match, so M1 -> M2 -> M3 is spelled out and never guessed.
    """
    if iterations < 1:
        raise UserError(f"--iterations must be at least 1, got {iterations}")
    if not next_models:
        return [model] * iterations
    if len(next_models) != iterations - 1:
        raise UserError(
            f"--next-model given {len(next_models)} time(s) for --iterations {iterations}: "
            f"give one per iteration after the first ({iterations - 1})"
        )
    return [model, *next_models]


def flow_inputs(plan: SelfRewardPlan, iteration: int) -> dict[str, Any]:
    judge = plan.judge_model or ""
    if plan.is_code:
        return {
            "problems": plan.problems,
            "language": plan.language,
            "judge_model": judge,
            "weights": {
                "public": plan.weights.public,
                "generated": plan.weights.generated,
                "judge": plan.weights.judge,
            },
        }
    return {
        "prompts": plan.prompts,
        "judge_model": judge,
        "new_prompts": plan.new_prompts,
        "include_seeds": plan.include_seeds,
        "fewshot": plan.fewshot,
        "seed": iteration,
    }


def write_iteration(directory: Path, outputs: dict[str, Any], *, actor: str, judge: str) -> dict[str, Any]:
    """Write one iteration's files; return its statistics (also in ``stats.json``)."""
    directory.mkdir(parents=True, exist_ok=True)
    records = [record for record in outputs.get("prompts") or [] if isinstance(record, dict)]
    with (directory / "dpo.jsonl").open("w", encoding="utf-8") as handle:
        for record in records:
            if record.get("pair"):
                handle.write(json.dumps(record["pair"], ensure_ascii=False) + "\n")
    with (directory / "candidates.jsonl").open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    stats = {"actor": actor, "judge": judge, **iteration_statistics(records)}
    generated = outputs.get("generated_prompts")
    if generated:
        stats["generated_prompts"] = len(generated)
        stats["unusable_generated_prompts"] = sum(not p for p in generated)
    stats["tied_prompts"] = [r.get("name") or r["prompt"][:80] for r in records if r.get("status") == "tie"]
    (directory / "stats.json").write_text(
        json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return stats


def summary_lines(stats: dict[str, Any], iteration: int) -> list[str]:
    """Human-readable lines for the terminal."""
    tie_rate = "n/a" if stats["tie_rate"] is None else f"{stats['tie_rate']:.0%}"
    mean = "n/a" if stats["mean_score"] is None else f"{stats['mean_score']:.2f}"
    histogram = "  ".join(f"[{k}] {v}" for k, v in stats["score_histogram"].items())
    return [
        f"iteration {iteration}: actor {stats['actor']}, judge {stats['judge']}",
        f"  prompts {stats['prompts']}, candidates {stats['candidates']}, "
        f"judge samples {stats['judge_samples']}",
        f"  pairs {stats['pairs']}, ties {stats['ties']} (tie rate {tie_rate}), too few scored "
        f"{stats['too_few_scored']}, parse failures {stats['parse_failures']}",
        f"  mean score {mean}; histogram of candidate means: {histogram}",
        failure_line(stats),
    ]


def failure_line(stats: dict[str, Any]) -> str:
    """``  failures: ...`` with the counts and the first failure's message (``none`` when none)."""
    failed = stats.get("failed_prompts", 0)
    errors = len(stats.get("step_errors") or [])
    dropped = len(stats.get("dropped_samples") or [])
    if not (failed or errors or dropped):
        return "  failures: none"
    return (
        f"  failures: {failed} failed prompt(s), {errors} failed step(s), {dropped} dropped sample(s); "
        f"first: {stats.get('first_failure') or '-'}"
    )


def nothing_succeeded(all_stats: Sequence[dict[str, Any]]) -> bool:
    """True when no iteration produced anything to learn from: every prompt failed, or there were none,
    or no candidate got a single readable judgement (every judge call failed or was unreadable)."""
    return all(
        stats["failed_prompts"] == stats["prompts"]
        or stats.get("unscored_candidates", 0) == stats.get("candidates", 0)
        for stats in all_stats
    )
