"""pass@k and the benchmark summary, checked against values computed by hand."""

from __future__ import annotations

import math

import pytest

from alphaflow.bench.metrics import bootstrap_interval, pass_at_k, summarize
from alphaflow.bench.store import UnitResult


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 1, 2 / 5),  # pass@1 is the fraction correct
        (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2)
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (5, 0, 3, 0.0),
        (5, 5, 1, 1.0),
        (4, 1, 4, 1.0),  # n - c < k: any 4 of 4 include the correct one
        (1000, 1, 1, 0.001),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_is_stable_where_binomials_are_huge():
    n, c, k = 400, 150, 100
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def unit(problem: str, sample: int, verdict: str, *, difficulty=7, tags=("math",), cost=0.01, error=None):
    return UnitResult(
        key=f"{problem}#{sample}",
        problem=problem,
        sample_index=sample,
        evaluation=None if error else {"verdict": verdict, "passed": 0, "total": 1},
        solved=verdict == "AC",
        prompt_tokens=100,
        completion_tokens=20,
        cost_usd=cost,
        model_calls=1,
        wall_s=2.0,
        error=error,
        difficulty=difficulty,
        tags=list(tags),
    )


def test_summary_of_a_small_run():
    results = [
        unit("P1", 0, "AC"),
        unit("P1", 1, "WA"),
        unit("P2", 0, "TLE", difficulty=8, tags=("dp",)),
        unit("P2", 1, "WA", difficulty=8, tags=("dp",)),
        unit("P3", 0, "AC", tags=("math", "dp")),
        unit("P3", 1, "AC", tags=("math", "dp")),
    ]
    summary = summarize(results, resamples=500, seed=1)
    assert summary["problems"] == 3 and summary["units"] == 6 and summary["max_samples"] == 2
    # pass@1 = mean(1/2, 0, 1) = 0.5; pass@2 = mean(1, 0, 1) = 2/3; solved by any = 2 of 3
    assert summary["pass_at_k"]["1"]["value"] == pytest.approx(0.5)
    assert summary["pass_at_k"]["2"]["value"] == pytest.approx(2 / 3)
    assert summary["solved_any"]["count"] == 2 and summary["solved_any"]["rate"] == pytest.approx(2 / 3)
    for row in summary["pass_at_k"].values():
        assert 0.0 <= row["ci_low"] <= row["value"] <= row["ci_high"] <= 1.0
    assert summary["verdicts"] == {"AC": 3, "WA": 2, "TLE": 1}
    assert summary["by_difficulty"]["A"] == {
        "problems": 2, "solved_any": 2, "pass@1": 0.75, "pass@2": 1.0, "pass@2_problems": 2
    }
    assert summary["by_difficulty"]["B"]["solved_any"] == 0
    assert summary["by_tag"]["dp"]["problems"] == 2 and summary["by_tag"]["math"]["problems"] == 2
    assert summary["tokens"]["prompt"] == 600 and summary["tokens"]["per_problem"] == pytest.approx(240)
    assert summary["cost_usd"]["total"] == pytest.approx(0.06)
    assert summary["wall_s"]["per_problem"] == pytest.approx(4.0)
    assert summary == summarize(results, resamples=500, seed=1)  # seeded: reproducible


def test_unknown_price_makes_the_cost_unknown_not_zero_and_errors_count_as_failures():
    results = [unit("P1", 0, "AC"), unit("P1", 1, "", cost=None, error="model timed out")]
    summary = summarize(results, resamples=100)
    assert summary["cost_usd"]["total"] is None
    assert summary["verdicts"] == {"AC": 1, "error": 1} and summary["errors"] == 1
    assert summary["pass_at_k"]["1"]["value"] == pytest.approx(0.5)


def test_problems_with_fewer_samples_are_left_out_of_larger_k():
    results = [unit("P1", 0, "AC"), unit("P1", 1, "WA"), unit("P2", 0, "WA")]
    table = summarize(results, resamples=100)["pass_at_k"]
    assert table["1"]["problems"] == 2 and table["2"]["problems"] == 1
    assert table["2"]["value"] == pytest.approx(1.0)


def test_bootstrap_interval_of_constant_values_is_a_point():
    assert bootstrap_interval([0.25] * 10, resamples=50) == pytest.approx((0.25, 0.25))
    low, high = bootstrap_interval([0.0] * 50 + [1.0] * 50, resamples=2000, seed=3)
    assert 0.35 < low < 0.5 < high < 0.65
