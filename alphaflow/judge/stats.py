"""Small statistics for judge results: bootstrap intervals and agreement between judges.

Written here because scipy is not a dependency and each is a few lines: percentile bootstrap,
Cohen's kappa (two raters, nominal labels) and Spearman's rank correlation (ties get average ranks).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def mean(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("mean of no values")
    return sum(values) / len(values)


def bootstrap_ci(
    values: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Interval | None:
    """Percentile bootstrap interval of the mean; ``None`` for no values.

    Deterministic for a given ``seed`` so reports are reproducible.
    """
    values = [float(v) for v in values]
    if not values:
        return None
    center = mean(values)
    if len(values) == 1:
        return Interval(center, center, center, 1)
    rng = random.Random(seed)
    size = len(values)
    means = sorted(sum(rng.choices(values, k=size)) / size for _ in range(resamples))
    alpha = (1.0 - confidence) / 2.0
    return Interval(center, _quantile(means, alpha), _quantile(means, 1.0 - alpha), size)


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default 'linear' method)."""
    position = q * (len(sorted_values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(sorted_values) - 1)
    fraction = position - below
    return sorted_values[below] + (sorted_values[above] - sorted_values[below]) * fraction


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items; ``None`` when undefined.

    Undefined: no items, or both raters always gave one and the same label (chance agreement 1).
    """
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    counts_first, counts_second = Counter(first), Counter(second)
    expected = sum(counts_first[label] * counts_second[label] for label in counts_first) / (n * n)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2.0 + 1.0
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def pearson(first: Sequence[float], second: Sequence[float]) -> float | None:
    if len(first) != len(second):
        raise ValueError("both series must have the same length")
    n = len(first)
    if n < 2:
        return None
    mean_first, mean_second = mean(first), mean(second)
    covariance = sum((a - mean_first) * (b - mean_second) for a, b in zip(first, second, strict=True))
    spread_first = math.sqrt(sum((a - mean_first) ** 2 for a in first))
    spread_second = math.sqrt(sum((b - mean_second) ** 2 for b in second))
    if spread_first == 0 or spread_second == 0:
        return None  # a constant series has no rank order to agree with
    return covariance / (spread_first * spread_second)


def spearman(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the average ranks; ``None`` when undefined."""
    return pearson(average_ranks(first), average_ranks(second))


def histogram(values: Sequence[float], bins: Sequence[float]) -> dict[str, int]:
    """Counts per half-open bin ``[bins[i], bins[i+1])``; the last bin is closed on the right.

    Keys are ``"lo-hi"`` strings so the result is JSON-ready.
    """
    counts = {f"{_fmt(lo)}-{_fmt(hi)}": 0 for lo, hi in zip(bins, bins[1:], strict=False)}
    keys = list(counts)
    for value in values:
        for index, (lo, hi) in enumerate(zip(bins, bins[1:], strict=False)):
            last = index == len(keys) - 1
            if lo <= value < hi or (last and value == hi):
                counts[keys[index]] += 1
                break
    return counts


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)
