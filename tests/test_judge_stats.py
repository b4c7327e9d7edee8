"""The judge statistics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from alphaflow.judge.stats import (
    average_ranks,
    bootstrap_ci,
    cohen_kappa,
    histogram,
    spearman,
)


def test_cohen_kappa_textbook_table() -> None:
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> po = 0.7, pe = 0.5, kappa = 0.4
    first = ["yes"] * 25 + ["no"] * 25
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)


def test_cohen_kappa_three_labels_and_edge_cases() -> None:
    # po = 4/6; marginals A:3/3, B:2/2, tie:1/1 -> pe = (9 + 4 + 1) / 36 = 14/36
    first = ["A", "A", "A", "B", "B", "tie"]
    second = ["A", "A", "B", "B", "A", "tie"]
    expected = (4 / 6 - 14 / 36) / (1 - 14 / 36)
    assert cohen_kappa(first, second) == pytest.approx(expected)
    assert cohen_kappa(["A", "B"], ["A", "B"]) == pytest.approx(1.0)
    assert cohen_kappa(["A", "A"], ["A", "A"]) is None  # chance agreement is 1: undefined
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa(["A"], ["A", "B"])


def test_spearman_without_and_with_ties() -> None:
    # no ties: 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 4 / 120 = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # ties: y ranks [1, 2, 3.5, 5, 3.5]; Pearson of the ranks = 8 / sqrt(10 * 9.5)
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [4, 4, 4]) is None  # a constant judge has no ranking
    assert spearman([1], [2]) is None


def test_average_ranks_share_tied_positions() -> None:
    assert average_ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]


def test_bootstrap_interval_matches_the_exact_resampling_distribution() -> None:
    # values [0, 0, 0, 1]: P(mean = 0) = (3/4)^4 = 0.316 -> the 2.5% quantile is 0;
    # P(mean >= 0.75) = 13/256 = 0.051 and P(mean = 1) = 1/256 -> the 97.5% quantile is 0.75.
    interval = bootstrap_ci([0, 0, 0, 1], resamples=20000, seed=1)
    assert interval is not None
    assert interval.mean == pytest.approx(0.25)
    assert (interval.low, interval.high, interval.n) == (0.0, 0.75, 4)


def test_bootstrap_is_reproducible_and_degenerate_cases() -> None:
    values = [3.0, 4.5, 2.0, 5.0, 4.0, 1.0]
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    interval = bootstrap_ci(values)
    assert interval is not None and interval.low <= interval.mean <= interval.high
    assert bootstrap_ci([]) is None
    single = bootstrap_ci([4.0])
    assert single is not None and (single.low, single.high) == (4.0, 4.0)
    constant = bootstrap_ci([2.0] * 5)
    assert constant is not None and (constant.low, constant.high) == (2.0, 2.0)


def test_histogram_bins_are_half_open_except_the_last() -> None:
    counts = histogram([0, 0.5, 1, 4.99, 5, 3.2], [0, 1, 2, 3, 4, 5])
    assert counts == {"0-1": 2, "1-2": 1, "2-3": 0, "3-4": 1, "4-5": 2}
