"""Step functions the judge flows call (``judging.NAME``): few-shot picks, score reading, pairs, rewards.

Each function takes and returns plain JSON-ready values, so a flow's trace shows exactly what
went in and came out. The logic lives in ``alphaflow.judge``; these are thin adapters.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from alphaflow.judge.code_reward import RewardWeights, code_reward, ranking_key
from alphaflow.judge.preferences import (
    FAILED,
    PAIR,
    ScoredCandidate,
    choose_pair,
    dpo_record,
    score_candidate,
)
from alphaflow.judge.scores import (
    parse_correctness,
    parse_winner,
    rubric_judgement,
)
from alphaflow.step_functions.registry import step_function

# --- self-instruction ------------------------------------------------------------------------


@step_function("judging.fewshot_examples")
def fewshot_examples(prompts: Sequence[str], count: int, seed: int) -> list[str]:
    """``count`` distinct seed prompts drawn with a fixed seed (all of them when there are fewer)."""
    pool = list(prompts)
    return random.Random(seed).sample(pool, min(count, len(pool)))


_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:new\s+)?(?:task|prompt|instruction)\s*(?:\d+)?\s*:(?:\*\*)?\s*", re.IGNORECASE
)


@step_function("judging.extract_new_prompt")
def extract_new_prompt(text: Any) -> str | None:
    """The new prompt from a self-instruction answer: the text after a leading ``Task:`` label.

    ``None`` when the answer is empty, so an empty prompt never reaches the candidates.
    """
    if not isinstance(text, str):
        return None
    cleaned = _LABEL.sub("", text.strip(), count=1).strip()
    return cleaned or None


@step_function("judging.prompts_to_answer")
def prompts_to_answer(seeds: Sequence[str], generated: Any, include_seeds: bool) -> list[str]:
    """The prompts the actor answers: the generated ones (as in the paper), plus the seeds if asked.

    With self-instruction off the seeds are answered. Duplicates are dropped, keeping first
    occurrences.
    """
    new = [p for p in (generated or []) if isinstance(p, str) and p.strip()]
    if not generated:  # self-instruction off
        chosen = list(seeds)
    elif include_seeds:
        chosen = [*seeds, *new]
    else:
        chosen = new  # may be empty: self-instruction produced nothing usable
    return list(dict.fromkeys(chosen))


# --- self-rewarding: scores and pairs ---------------------------------------------------------


@step_function("judging.score_prompt")
def score_prompt(prompt: str, responses: Any, judgements: Any) -> dict[str, Any]:
    """One prompt's candidates with their parsed judge scores, and the preference pair if any.

    ``responses`` is the list of candidate texts; ``judgements[i]`` the judge's sampled answers for
    candidate ``i``. Result: ``{prompt, candidates: [...], status, pair}``; ``pair`` is the DPO
    record or ``None`` (status ``tie`` or ``too_few_scored``).
    """
    if responses is None:  # the actor's call failed (recorded in the trace)
        return {"prompt": prompt, "candidates": [], "status": FAILED, "pair": None}
    responses = _as_list(responses)
    judgements = _as_list(judgements)
    scored = [score_candidate(str(r), _as_list(j)) for r, j in zip(responses, judgements, strict=True)]
    status, best, worst = choose_pair([c.mean for c in scored])
    pair = None
    if status == PAIR:
        pair = dpo_record(
            prompt,
            scored[best],
            scored[worst],
            chosen_reward=scored[best].mean,
            rejected_reward=scored[worst].mean,
        )
    return {"prompt": prompt, "candidates": [c.to_dict() for c in scored], "status": status, "pair": pair}


# --- self-rewarding for code --------------------------------------------------------------------


@step_function("judging.generated_tests")
def generated_tests(parsed: Any) -> list[dict[str, str]]:
    """Tests from the model's YAML answer (``tests: [{input, output}]``); malformed items dropped."""
    items = parsed.get("tests") if isinstance(parsed, dict) else None
    tests = []
    for item in items or []:
        if isinstance(item, dict) and "input" in item and "output" in item:
            test = {"input": _text(item["input"]), "output": _text(item["output"]), "kind": "generated"}
            tests.append(test)
    return tests


def score_code_prompt(
    problem: dict[str, Any],
    codes: Any,
    public_results: Any,
    generated_results: Any,
    judgements: Any,
    weights: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One problem's code candidates with execution evidence, judge scores, reward and the pair.

    Pairs rank candidates by execution reward first, then by the weighted total (see
    ``alphaflow.judge.code_reward``).
    """
    reward_weights = RewardWeights(**(weights or {}))
    if codes is None:  # the actor's call failed (recorded in the trace)
        return {
            "prompt": problem.get("description", ""),
            "name": problem.get("name"),
            "candidates": [],
            "status": FAILED,
            "pair": None,
        }
    codes, judgements = _as_list(codes), _as_list(judgements)
    public_results, generated_results = _as_list(public_results), _as_list(generated_results)
    candidates: list[ScoredCandidate] = []
    keys = []
    for index, code in enumerate(codes):
        candidate = score_candidate(code if isinstance(code, str) else "", _as_list(judgements[index]))
        reward = code_reward(public_results[index], generated_results[index], candidate.mean, reward_weights)
        candidate.extra = {
            **reward,
            "public_verdict": _verdict(public_results[index]),
            "generated_verdict": _verdict(generated_results[index]),
        }
        if not isinstance(code, str) or not code.strip():
            candidate.extra["reward"] = None  # no program: nothing to prefer or reject
        candidates.append(candidate)
        keys.append(ranking_key(candidate.extra) if candidate.extra["reward"] is not None else None)
    status, best, worst = choose_pair(keys)
    pair = None
    if status == PAIR:
        pair = dpo_record(
            problem.get("description", ""),
            candidates[best],
            candidates[worst],
            chosen_reward=candidates[best].extra["reward"],
            rejected_reward=candidates[worst].extra["reward"],
        )
        pair["name"] = problem.get("name")
    return {
        "prompt": problem.get("description", ""),
        "name": problem.get("name"),
        "candidates": [c.to_dict() for c in candidates],
        "status": status,
        "pair": pair,
    }


@step_function("judging.score_code_evidence")
def score_code_evidence(
    problem: dict[str, Any], codes: Any, evidence: Any, weights: dict[str, float] | None = None
) -> dict[str, Any]:
    """``score_code_prompt`` from the flow's per-candidate evidence dicts
    (``{public_run, generated_run, grades}``, as the ``evidence`` map yields them)."""
    evidence = [item if isinstance(item, dict) else {} for item in _as_list(evidence)]
    return score_code_prompt(
        problem,
        codes,
        [item.get("public_run") for item in evidence],
        [item.get("generated_run") for item in evidence],
        [item.get("grades") for item in evidence],
        weights,
    )


# --- evaluation pipelines ---------------------------------------------------------------------


@step_function("judging.pick_response")
def pick_response(given: Any, generated: Any) -> str:
    """The item's own response when it has one, else the model's answer."""
    if isinstance(given, str) and given.strip():
        return given
    texts, _ = _texts_and_logprobs(generated)
    return texts[0] if texts else ""


@step_function("judging.both_orders")
def both_orders(a: str, b: str) -> list[dict[str, str]]:
    """The two presentation orders of a pairwise comparison: (A, B), then (B, A)."""
    return [{"first": a, "second": b}, {"first": b, "second": a}]


@step_function("judging.rubric_score")
def rubric_score(answer: Any, logprobs: Any = None, high: int = 5) -> dict[str, Any]:
    """G-Eval-style score: probability-weighted at the score token when log-probabilities came back,
    else parsed (``alphaflow.judge.scores.rubric_judgement``).

    ``answer`` is the judge step's result: a text, a list of sampled texts, or a result carrying
    ``text``/``texts`` and ``logprobs`` (one block per sample).
    """
    texts, carried = _texts_and_logprobs(answer)
    logprobs = carried if logprobs is None else logprobs
    return {
        **rubric_judgement(texts, _per_sample(logprobs, len(texts)), high=high),
        "judgements": texts,
        "judge_failed": answer is None,  # the call failed (see the trace), as opposed to unreadable
    }


def _per_sample(logprobs: Any, samples: int) -> list[Any]:
    """One log-probability block per sample, from one block or a list of them."""
    if logprobs is None:
        return []
    if isinstance(logprobs, list | tuple) and logprobs and all(
        item is None or isinstance(item, list | tuple) or (isinstance(item, dict) and "content" in item)
        for item in logprobs
    ):
        return list(logprobs)
    return [logprobs] + [None] * (samples - 1)


@step_function("judging.pairwise_outcome")
def pairwise_outcome(first: Any, swapped: Any) -> dict[str, Any]:
    """Combine the two orders: ``first`` judged (A, B); ``swapped`` judged (B, A) as its (A, B).

    The swapped answer is mapped back to the original labels; when the two orders disagree the
    outcome is a tie (position bias cancelled). Unreadable in either order -> winner ``None``.
    """
    first_winner = parse_winner(first)
    swapped_raw = parse_winner(swapped)
    swapped_winner = {"A": "B", "B": "A"}.get(swapped_raw, swapped_raw) if swapped_raw else None
    if first_winner is None or swapped_winner is None:
        winner = None
    elif first_winner == swapped_winner:
        winner = first_winner
    else:
        winner = "tie"
    return {
        "winner": winner,
        "first_order": first_winner,
        "swapped_order": swapped_winner,
        "consistent": None if winner is None else first_winner == swapped_winner,
        "judgements": [first, swapped],
        "judge_failed": first is None or swapped is None,
    }


@step_function("judging.reference_verdict")
def reference_verdict(texts: Any) -> dict[str, Any]:
    """Correct/incorrect against the reference: majority of the readable samples (a split is None)."""
    texts = _as_list(texts)
    verdicts = [parse_correctness(t) for t in texts]
    readable = [v for v in verdicts if v is not None]
    correct = None
    if readable and readable.count(True) != readable.count(False):
        correct = readable.count(True) > readable.count(False)
    return {
        "correct": correct,
        "votes": verdicts,
        "unparseable": sum(v is None for v in verdicts),
        "judgements": texts,
        "judge_failed": not texts,
    }


# --- helpers ------------------------------------------------------------------------------------

def _texts_and_logprobs(result: Any) -> tuple[list[str], Any]:
    """Texts and log-probabilities from an llm step's result, whatever its shape."""
    if isinstance(result, str):
        return [result], None
    if isinstance(result, dict):
        texts = result.get("value", result.get("texts") or result.get("text") or result.get("content"))
        return [t for t in _as_list(texts) if isinstance(t, str)], result.get("logprobs")
    if isinstance(result, list | tuple):
        texts: list[str] = []
        logprobs: list[Any] = []
        for item in result:
            item_texts, item_logprobs = _texts_and_logprobs(item)
            texts.extend(item_texts)
            if item_logprobs is not None:
                logprobs.append(item_logprobs)
        return texts, logprobs or None
    for name in ("texts", "text"):
        if hasattr(result, name):
            carried = {name: getattr(result, name), "logprobs": getattr(result, "logprobs", None)}
            return _texts_and_logprobs(carried)
    return [], None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _verdict(result: Any) -> str | None:
    return result.get("verdict") if isinstance(result, dict) else None
