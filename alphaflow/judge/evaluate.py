"""Evaluation pipelines: which flow reads which item fields, and the aggregate over items and judges.

Each built-in eval flow returns, per item, one result per judge. A result carries one judgement:
- rubric: ``score`` (1-5, possibly probability-weighted) - a number;
- pairwise: ``winner`` (``A``, ``B`` or ``tie``) - a label; as a number, B's win share (1, 0.5, 0);
- reference: ``correct`` (true/false) - a label; as a number, accuracy (1/0).
``None`` is an unreadable judgement: excluded from the figures and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from alphaflow.judge.stats import bootstrap_ci, cohen_kappa, spearman


@dataclass(frozen=True)
class EvalKind:
    flow: str  # path relative to flows/
    field: str  # the judgement's key in each judge result
    categorical: bool
    required: tuple[str, ...]
    optional: tuple[str, ...]
    response_output: str  # the flow output holding the judged response
    metric: str  # what the numeric figure means


EVAL_KINDS: dict[str, EvalKind] = {
    "rubric": EvalKind(
        "eval/rubric.yaml",
        "score",
        False,
        ("prompt",),
        ("response", "criteria", "evaluation_steps"),
        "response",
        "mean score (1-5)",
    ),
    "pairwise": EvalKind(
        "eval/pairwise.yaml",
        "winner",
        True,
        ("prompt", "response_a"),
        ("response_b",),
        "response_b",
        "B win rate (ties count half)",
    ),
    "reference": EvalKind(
        "eval/reference.yaml", "correct", True, ("prompt", "reference"), ("response",), "response", "accuracy"
    ),
}


def kind_of_results(results: Sequence[dict[str, Any]]) -> tuple[str, bool]:
    """``(field, categorical)`` for a custom flow, from the keys its judge results carry."""
    for result in results:
        if isinstance(result, dict):
            if "winner" in result:
                return "winner", True
            if "correct" in result:
                return "correct", True
            if "score" in result:
                return "score", False
    return "score", False


def judgement(result: Any, field: str) -> Any:
    return result.get(field) if isinstance(result, dict) else None


def as_number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if field == "winner":
        return {"B": 1.0, "tie": 0.5, "A": 0.0}.get(value)
    if field == "correct":
        return 1.0 if value else 0.0
    return float(value) if isinstance(value, int | float) else None


def aggregate(
    records: Sequence[dict[str, Any]], judges: Sequence[str], *, field: str, categorical: bool, seed: int = 0
) -> dict[str, Any]:
    """Per-judge figures with bootstrap CIs, the judges' mean per item, and pairwise agreement.

    ``records[i]["judges"][judge]`` is judge ``judge``'s result for item ``i``.
    """
    per_judge: dict[str, Any] = {}
    values: dict[str, list[Any]] = {}
    for judge in judges:
        labels = [judgement(record["judges"].get(judge), field) for record in records]
        values[judge] = labels
        numbers = [n for n in (as_number(v, field) for v in labels) if n is not None]
        interval = bootstrap_ci(numbers, seed=seed)
        figure: dict[str, Any] = {
            "items": len(records),
            "judged": len(numbers),
            "unreadable": len(records) - len(numbers),  # unparseable answers and failed calls
            "failed_calls": sum(
                bool(isinstance(r["judges"].get(judge), dict) and r["judges"][judge].get("judge_failed"))
                for r in records
            ),
            "value": interval.to_dict() if interval else None,
        }
        if categorical:
            figure["labels"] = {
                str(k): c
                for k, c in sorted(
                    Counter(v for v in labels if v is not None).items(), key=lambda kv: str(kv[0])
                )
            }
        per_judge[judge] = figure

    item_means = []
    for index in range(len(records)):
        numbers = [as_number(values[judge][index], field) for judge in judges]
        readable = [n for n in numbers if n is not None]
        item_means.append(sum(readable) / len(readable) if readable else None)
    mean_interval = bootstrap_ci([m for m in item_means if m is not None], seed=seed)

    agreement = []
    for first, second in combinations(judges, 2):
        both = [
            (a, b)
            for a, b in zip(values[first], values[second], strict=True)
            if a is not None and b is not None
        ]
        if categorical:
            statistic, value = (
                "cohen_kappa",
                cohen_kappa([str(a) for a, _ in both], [str(b) for _, b in both]),
            )
        else:
            statistic, value = "spearman", spearman([float(a) for a, _ in both], [float(b) for _, b in both])
        agreement.append(
            {"judges": [first, second], "statistic": statistic, "value": value, "items": len(both)}
        )
    return {
        "field": field,
        "categorical": categorical,
        "judges": per_judge,
        "mean_of_judges": mean_interval.to_dict() if mean_interval else None,
        "item_means": item_means,
        "agreement": agreement,
    }
