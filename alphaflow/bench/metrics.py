"""Benchmark figures from unit results: unbiased pass@k, solved-by-any, bootstrap intervals, breakdowns.

pass@k is the estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on Code"):
for a problem with n samples of which c are correct, pass@k = 1 - C(n-c, k) / C(n, k), computed as the
product 1 - prod_{i=n-c+1}^{n} (1 - k/i) so large n never overflows. The benchmark figure is its mean
over problems; confidence intervals come from a seeded bootstrap over problems.

pass@k is averaged only over the problems with n >= k judged samples (the estimator is undefined
below that), and every entry says over how many problems it is. Units that could not be judged for a
reason that is not the solution's (``UnitResult.fault``: a sandbox fault SE, an unreachable model, a
harness error) are not samples at all: they are left out of n and c and reported apart.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alphaflow.bench.datasets import difficulty_label
from alphaflow.bench.store import UnitResult


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased probability that at least one of k samples (drawn from n, c correct) is correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:  # every draw of k contains a correct sample
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def bootstrap_interval(
    values: Sequence[float], *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling problems, seeded)."""
    import numpy as np

    if not values:
        return (float("nan"), float("nan"))
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (float(low), float(high))


@dataclass
class ProblemOutcome:
    """One problem's samples folded together."""

    name: str
    difficulty: int | str | None
    tags: list[str]
    samples: int = 0  # judged samples (n of pass@k)
    correct: int = 0
    excluded: int = 0  # units left out of n: a fault that is not the solution's doing
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    wall_s: float = 0.0
    errors: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)

    def add(self, result: UnitResult) -> None:
        if result.judged:
            self.samples += 1
            self.correct += int(result.solved)
        else:
            self.excluded += 1
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        self.cost_usd = _add_cost(self.cost_usd, result)
        self.wall_s += result.wall_s
        self.errors += int(result.error is not None)
        self.verdicts[result.verdict] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "difficulty": difficulty_label(self.difficulty),
            "tags": self.tags,
            "samples": self.samples,
            "correct": self.correct,
            "excluded": self.excluded,
            "pass@1": pass_at_k(self.samples, self.correct, 1) if self.samples else None,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "wall_s": round(self.wall_s, 3),
            "errors": self.errors,
            "verdicts": dict(self.verdicts),
        }


def _add_cost(total: float | None, result: UnitResult) -> float | None:
    if total is None:
        return None
    if result.cost_usd is None:
        # No model call means nothing was spent; a call with an unknown price makes the total unknown.
        return total if result.model_calls == 0 and not result.prompt_tokens else None
    return total + result.cost_usd


def group_by_problem(results: Iterable[UnitResult]) -> list[ProblemOutcome]:
    outcomes: dict[str, ProblemOutcome] = {}
    for result in sorted(results, key=lambda r: (r.problem, r.sample_index)):
        outcome = outcomes.get(result.problem)
        if outcome is None:
            outcome = outcomes[result.problem] = ProblemOutcome(
                result.problem, result.difficulty, result.tags
            )
        outcome.add(result)
    return list(outcomes.values())


def pass_at_k_table(
    outcomes: Sequence[ProblemOutcome], max_k: int, *, resamples: int, confidence: float, seed: int
) -> dict[str, dict[str, Any]]:
    """pass@k for k = 1..max_k over the problems that have at least k samples, with intervals."""
    table: dict[str, dict[str, Any]] = {}
    for k in range(1, max_k + 1):
        values = [pass_at_k(o.samples, o.correct, k) for o in outcomes if o.samples >= k]
        if not values:
            continue
        low, high = bootstrap_interval(values, resamples=resamples, confidence=confidence, seed=seed)
        table[str(k)] = {
            "value": sum(values) / len(values),
            "ci_low": low,
            "ci_high": high,
            "problems": len(values),  # those with n >= k judged samples
            "of": len(outcomes),  # problems with any judged sample
        }
    return table


def _group_figures(outcomes: Sequence[ProblemOutcome], max_k: int) -> dict[str, Any]:
    full = [o for o in outcomes if o.samples >= max_k]
    return {
        "problems": len(outcomes),
        "solved_any": sum(o.correct > 0 for o in outcomes),
        "pass@1": sum(pass_at_k(o.samples, o.correct, 1) for o in outcomes) / len(outcomes),
        f"pass@{max_k}": (sum(pass_at_k(o.samples, o.correct, max_k) for o in full) / len(full))
        if full
        else None,
        f"pass@{max_k}_problems": len(full),
    }


def summarize(
    results: Sequence[UnitResult],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Every figure a report shows, as plain JSON-ready data.

    ``problems`` counts problems with at least one judged sample; ``excluded`` holds the units left out
    of pass@k (``{units, problems, by_fault, first_error}``)."""
    grouped = group_by_problem(results)
    outcomes = [o for o in grouped if o.samples]
    faulted = [r for r in results if not r.judged]
    max_k = max((o.samples for o in outcomes), default=0)
    solved_any = [1.0 if o.correct else 0.0 for o in outcomes]
    any_low, any_high = bootstrap_interval(solved_any, resamples=resamples, confidence=confidence, seed=seed)

    by_difficulty: dict[str, list[ProblemOutcome]] = defaultdict(list)
    by_tag: dict[str, list[ProblemOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_difficulty[difficulty_label(outcome.difficulty)].append(outcome)
        for tag in outcome.tags or ["(none)"]:
            by_tag[tag].append(outcome)

    verdicts = Counter(result.verdict for result in results)
    cost: float | None = 0.0
    for outcome in grouped:
        cost = None if cost is None or outcome.cost_usd is None else cost + outcome.cost_usd
    prompt_tokens = sum(o.prompt_tokens for o in grouped)
    completion_tokens = sum(o.completion_tokens for o in grouped)
    wall = sum(o.wall_s for o in grouped)
    count = len(outcomes)
    spent_on = len(grouped)  # spending is per problem attempted, judged or not
    return {
        "problems": count,
        "units": len(results),
        "max_samples": max_k,
        "solved_any": {
            "count": int(sum(solved_any)),
            "rate": (sum(solved_any) / count) if count else None,
            "ci_low": any_low,
            "ci_high": any_high,
        },
        "pass_at_k": pass_at_k_table(outcomes, max_k, resamples=resamples, confidence=confidence, seed=seed),
        "confidence": confidence,
        "bootstrap": {"resamples": resamples, "seed": seed},
        "by_difficulty": {
            label: _group_figures(group, max_k) for label, group in sorted(by_difficulty.items())
        },
        "by_tag": {tag: _group_figures(group, max_k) for tag, group in sorted(by_tag.items())},
        "verdicts": dict(verdicts.most_common()),
        "errors": sum(o.errors for o in grouped),
        "excluded": {
            "units": len(faulted),
            "problems": len(grouped) - count,  # problems with no judged sample at all
            "by_fault": dict(Counter(str(r.fault) for r in faulted).most_common()),
            "first_error": first_error(faulted),
        },
        "first_error": first_error(results),
        "tokens": {
            "prompt": prompt_tokens,
            "completion": completion_tokens,
            "per_problem": (prompt_tokens + completion_tokens) / spent_on if spent_on else None,
        },
        "cost_usd": {
            "total": cost,
            "per_problem": (cost / spent_on) if cost is not None and spent_on else None,
        },
        "wall_s": {"total_unit": wall, "per_problem": wall / spent_on if spent_on else None},
        "per_problem": [o.to_dict() for o in grouped],
    }


def first_error(results: Sequence[UnitResult]) -> str | None:
    """``PROBLEM#SAMPLE: message`` of the earliest finished unit with an error (500 characters at
    most), or None."""
    failed = sorted((r for r in results if r.error), key=lambda r: (r.finished_at, r.key))
    return f"{failed[0].key}: {failed[0].error}"[:500] if failed else None
