"""Preference pairs for DPO: per prompt, the best-scored candidate against the worst-scored one.

Candidates carry their judge samples' parsed scores; unreadable samples are excluded from the mean
(and counted), a candidate with no readable sample has no mean and takes no part in the pair. When
the best and the worst mean are equal there is no preference to learn from: no pair, counted as a tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alphaflow.judge.scores import mean_of_parsed, parse_score
from alphaflow.judge.stats import histogram

PAIR = "pair"
TIE = "tie"
TOO_FEW = "too_few_scored"  # fewer than two candidates with a readable score
FAILED = "failed"  # the actor's call failed: no candidates


@dataclass
class ScoredCandidate:
    response: str
    judgements: list[str]
    scores: list[float | None]  # one per judge sample; None = unreadable
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. execution evidence for code

    @property
    def mean(self) -> float | None:
        return mean_of_parsed(self.scores)

    @property
    def unparseable(self) -> int:
        return sum(score is None for score in self.scores)

    def to_dict(self) -> dict[str, Any]:
        return {
            "response": self.response,
            "judgements": self.judgements,
            "scores": self.scores,
            "mean": self.mean,
            "unparseable": self.unparseable,
            **self.extra,
        }


def score_candidate(response: str, judgements: Sequence[Any], *, high: float = 5.0) -> ScoredCandidate:
    texts = [text if isinstance(text, str) else "" for text in judgements]
    return ScoredCandidate(response, texts, [parse_score(text, high=high) for text in texts])


def choose_pair(rewards: Sequence[Any | None]) -> tuple[str, int | None, int | None]:
    """``(status, chosen_index, rejected_index)`` from one reward per candidate (``None`` = unscored).

    A reward is a number or a tuple compared in order (e.g. execution evidence first, then the
    judge). The first candidate reaching the best reward is chosen and the first reaching the worst
    is rejected, so the result is deterministic. Floats are rounded to 9 digits before comparing so
    that equal means computed in a different order still tie.
    """
    scored = [(index, _comparable(reward)) for index, reward in enumerate(rewards) if reward is not None]
    if len(scored) < 2:
        return TOO_FEW, None, None
    best = max(scored, key=lambda pair: pair[1])
    worst = min(scored, key=lambda pair: pair[1])
    if best[1] == worst[1]:
        return TIE, None, None
    return PAIR, best[0], worst[0]


def _comparable(reward: Any) -> Any:
    if isinstance(reward, tuple):
        return tuple(_comparable(part) for part in reward)
    return round(float(reward), 9)


def dpo_record(
    prompt: str,
    chosen: ScoredCandidate,
    rejected: ScoredCandidate,
    *,
    chosen_reward: float,
    rejected_reward: float,
) -> dict[str, Any]:
    """One line of the DPO dataset: TRL's ``prompt``/``chosen``/``rejected`` plus the scores."""
    return {
        "prompt": prompt,
        "chosen": chosen.response,
        "rejected": rejected.response,
        "score_chosen": chosen_reward,
        "score_rejected": rejected_reward,
    }


def iteration_statistics(prompts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Statistics of one iteration from its per-prompt records (as built by the glue)."""
    candidates = [c for p in prompts for c in p["candidates"]]
    means = [c["mean"] for c in candidates if c["mean"] is not None]
    statuses = [p["status"] for p in prompts]
    judged_prompts = sum(status in (PAIR, TIE) for status in statuses)
    ties = statuses.count(TIE)
    return {
        "prompts": len(prompts),
        "candidates": len(candidates),
        "judge_samples": sum(len(c["scores"]) for c in candidates),
        "parse_failures": sum(c["unparseable"] for c in candidates),
        "unscored_candidates": sum(c["mean"] is None for c in candidates),
        "unjudged_candidates": sum(not c["scores"] for c in candidates),  # the judge call failed
        "pairs": statuses.count(PAIR),
        "ties": ties,
        "too_few_scored": statuses.count(TOO_FEW),
        "failed_prompts": statuses.count(FAILED),
        "tie_rate": ties / judged_prompts if judged_prompts else None,
        "mean_score": sum(means) / len(means) if means else None,
        "score_histogram": histogram(means, [0, 1, 2, 3, 4, 5]),
        # every readable judge sample, by its value (the additive prompt gives whole points)
        "sample_score_counts": _value_counts([s for c in candidates for s in c["scores"] if s is not None]),
    }


def _value_counts(values: Sequence[float]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in sorted(values):
        key = str(int(value)) if float(value).is_integer() else str(value)
        counts[key] = counts.get(key, 0) + 1
    return counts
