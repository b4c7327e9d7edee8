"""Reading scores, winners and verdicts from judge answers; pairs and code rewards."""

from __future__ import annotations

import math

import pytest

from alphaflow.errors import UserError
from alphaflow.judge.code_reward import RewardWeights, code_reward
from alphaflow.judge.preferences import PAIR, TIE, TOO_FEW, choose_pair
from alphaflow.judge.scores import parse_score, parse_winner, weighted_score_from_logprobs
from alphaflow.step_functions.judging import (
    extract_new_prompt,
    generated_tests,
    pairwise_outcome,
    prompts_to_answer,
    reference_verdict,
    rubric_score,
    score_code_prompt,
    score_prompt,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is relevant.\nScore: 4", 4.0),
        ("reasoning\n**Score:** 3", 3.0),
        ("Score: 2\nOn reflection it deserves more.\nScore: 5", 5.0),  # the last line wins
        ("score = 4.5", 4.5),
        ("Score: 4/5", 4.0),
        ("Score: 0", 0.0),
    ],
)
def test_score_is_read_from_the_final_score_line(text: str, expected: float) -> None:
    assert parse_score(text) == expected


@pytest.mark.parametrize(
    "text",
    ["I would give it four points.", "Score: excellent", "Score: 8/10", "Score: 7", "", None, "Score:"],
)
def test_an_answer_without_a_readable_score_is_none_never_zero(text: object) -> None:
    assert parse_score(text) is None


def test_winner_parsing() -> None:
    assert parse_winner("A is clearer.\nWinner: A") == "A"
    assert parse_winner("Winner: b") == "B"
    assert parse_winner("Winner: tie") == "tie"
    assert parse_winner("Both are fine.") is None


def test_pairwise_swap_maps_back_and_disagreement_is_a_tie() -> None:
    # first order (A=x, B=y) says A; swapped order (A=y, B=x) says B -> x both times: consistent
    agree = pairwise_outcome("Winner: A", "Winner: B")
    assert (agree["winner"], agree["consistent"]) == ("A", True)
    # position bias: the judge prefers whatever is shown first -> a tie
    biased = pairwise_outcome("Winner: A", "Winner: A")
    assert (biased["winner"], biased["consistent"]) == ("tie", False)
    unreadable = pairwise_outcome("Winner: A", "no idea")
    assert unreadable["winner"] is None and unreadable["consistent"] is None


def test_reference_verdict_majority_and_unreadable() -> None:
    result = reference_verdict(["ok\nVerdict: correct", "Verdict: incorrect", "Verdict: correct", "hmm"])
    assert result["correct"] is True and result["unparseable"] == 1
    assert reference_verdict(["Verdict: correct", "Verdict: incorrect"])["correct"] is None
    assert reference_verdict(["nothing"])["correct"] is None


def test_weighted_score_from_openai_logprobs() -> None:
    content = [
        {"token": "4", "logprob": math.log(0.6),
         "top_logprobs": [{"token": t, "logprob": math.log(p)}
                          for t, p in [("4", 0.6), ("3", 0.3), ("5", 0.05), ("x", 0.05)]]},
    ]
    # renormalised over score tokens: (4*0.6 + 3*0.3 + 5*0.05) / 0.95
    expected = (4 * 0.6 + 3 * 0.3 + 5 * 0.05) / 0.95
    assert weighted_score_from_logprobs({"content": content}) == pytest.approx(expected)
    assert rubric_score(["4"], [{"content": content}])["score"] == pytest.approx(expected)
    assert weighted_score_from_logprobs({"content": [{"token": "good", "logprob": 0.0}]}) is None


def test_rubric_score_without_logprobs_averages_readable_samples() -> None:
    result = rubric_score(["4", "Score: 5", "dunno"])
    assert result["score"] == pytest.approx(4.5)
    assert (result["method"], result["unparseable"]) == ("parsed", 1)
    assert rubric_score(["nothing"])["score"] is None


def test_choose_pair_statuses() -> None:
    assert choose_pair([3.0, 4.5, None, 2.0]) == (PAIR, 1, 3)
    assert choose_pair([4.0, 4.0, None]) == (TIE, None, None)
    assert choose_pair([4.0, None, None]) == (TOO_FEW, None, None)
    assert choose_pair([(1.0, 0.2), (1.0, 0.9), (0.5, 0.95)]) == (PAIR, 1, 2)


def test_score_prompt_averages_samples_and_excludes_unparseable() -> None:
    record = score_prompt(
        "Explain tides.",
        ["answer one", "answer two"],
        [["Score: 4", "Score: 5", "no score here"], ["Score: 2", "Score: 2", "Score: 3"]],
    )
    first, second = record["candidates"]
    assert first["scores"] == [4.0, 5.0, None] and first["mean"] == 4.5 and first["unparseable"] == 1
    assert second["mean"] == pytest.approx(7 / 3)
    assert record["status"] == PAIR
    assert record["pair"] == {
        "prompt": "Explain tides.", "chosen": "answer one", "rejected": "answer two",
        "score_chosen": 4.5, "score_rejected": pytest.approx(7 / 3),
    }


def test_new_prompt_extraction_and_prompt_choice() -> None:
    assert extract_new_prompt("Task: Write a haiku about rain.") == "Write a haiku about rain."
    assert extract_new_prompt("**New task:** Plan a trip") == "Plan a trip"
    assert extract_new_prompt("   ") is None
    assert prompts_to_answer(["s1", "s2"], None, False) == ["s1", "s2"]
    assert prompts_to_answer(["s1"], ["n1", None, "n1"], False) == ["n1"]
    assert prompts_to_answer(["s1"], ["n1"], True) == ["s1", "n1"]
    assert prompts_to_answer(["s1"], [None], False) == []


def test_reward_weights_parse_and_reject_bad_values() -> None:
    assert RewardWeights.parse("public=1,judge=0") == RewardWeights(public=1.0, generated=0.3, judge=0.0)
    with pytest.raises(UserError, match="--weights: unknown weight 'private'"):
        RewardWeights.parse("private=1")
    with pytest.raises(UserError, match="needs a number"):
        RewardWeights.parse("public=lots")
    with pytest.raises(UserError, match="must be >= 0"):
        RewardWeights(public=-1)
    with pytest.raises(UserError, match="all 0"):
        RewardWeights(public=0, generated=0, judge=0)


def test_code_reward_weights_and_missing_evidence() -> None:
    weights = RewardWeights(public=0.5, generated=0.3, judge=0.2)
    public = {"verdict": "WA", "passed": 1, "total": 2}
    reward = code_reward(public, {"verdict": "AC", "passed": 4, "total": 4}, 4.0, weights)
    assert reward["execution_reward"] == pytest.approx((0.5 * 0.5 + 0.3 * 1.0) / 0.8)
    assert reward["reward"] == pytest.approx(0.5 * 0.5 + 0.3 * 1.0 + 0.2 * 0.8)
    # a sandbox failure is no evidence: its weight drops out instead of counting as 0
    failed = code_reward({"verdict": "SE", "passed": 0, "total": 2}, None, 5.0, weights)
    assert failed["execution_reward"] is None and failed["reward"] == pytest.approx(1.0)


def test_code_pairs_prefer_execution_over_the_judge() -> None:
    problem = {"name": "p", "description": "Add two numbers."}
    passing = {"verdict": "AC", "passed": 2, "total": 2}
    failing = {"verdict": "WA", "passed": 0, "total": 2}
    record = score_code_prompt(
        problem, ["good()", "flattering()", "bad()"],
        [passing, failing, failing], [passing, failing, failing],
        [["Score: 1"], ["Score: 5"], ["Score: 3"]],
        weights={"public": 0.1, "generated": 0.1, "judge": 0.8},  # the judge dominates the total...
    )
    # ...yet the passing program is chosen and, among the failing ones, the lower-judged is rejected
    assert record["status"] == PAIR
    assert (record["pair"]["chosen"], record["pair"]["rejected"]) == ("good()", "bad()")
    assert record["candidates"][1]["reward"] > record["candidates"][0]["reward"]


def test_generated_tests_keep_only_well_formed_items() -> None:
    tests = [{"input": "1 2\n", "output": "3\n"}, {"input": "x"}, "junk", {"input": 5, "output": 5}]
    parsed = {"tests": tests}
    assert generated_tests(parsed) == [
        {"input": "1 2\n", "output": "3\n", "kind": "generated"},
        {"input": "5", "output": "5", "kind": "generated"},
    ]
    assert generated_tests(None) == []
