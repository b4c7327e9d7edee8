"""Reading judgements out of a judge model's free text (and, when given, its log-probabilities).

A judgement that cannot be read is ``None`` — never 0 — so that callers exclude it and count it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

# "Score: 4", "score = 3.5", "**Score:** 4/5" — the final such line of the answer wins.
_SCORE_LINE = re.compile(
    r"^\W*score\W*[:=]\W*(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?:/\s*(?P<scale>[0-9]+))?\W*$",
    re.IGNORECASE,
)


def parse_score(text: Any, *, low: float = 0.0, high: float = 5.0) -> float | None:
    """The number on the last ``Score: X`` line of ``text``, or ``None`` when there is none.

    A score outside ``[low, high]`` (or written over another scale, e.g. ``8/10`` on a 5-point
    scale) is unreadable rather than clamped: clamping would invent a judgement.
    """
    if not isinstance(text, str):
        return None
    for line in reversed(text.strip().splitlines()):
        match = _SCORE_LINE.match(line.strip())
        if not match:
            continue
        value = float(match["value"])
        scale = match["scale"]
        if scale is not None and float(scale) != high:
            return None
        return value if low <= value <= high else None
    return None


def mean_of_parsed(scores: Iterable[float | None]) -> float | None:
    """Mean of the readable scores; ``None`` when none was readable."""
    readable = [s for s in scores if s is not None]
    return sum(readable) / len(readable) if readable else None


# Pairwise verdicts: "Winner: A" / "Winner: B" / "Winner: tie" on the last such line.
_WINNER_LINE = re.compile(r"^\W*(?:winner|verdict|better)\W*[:=]\W*(?P<who>a|b|tie|draw)\W*$", re.IGNORECASE)


def parse_winner(text: Any) -> str | None:
    """``"A"``, ``"B"`` or ``"tie"`` from the last ``Winner: X`` line; ``None`` when unreadable."""
    if not isinstance(text, str):
        return None
    for line in reversed(text.strip().splitlines()):
        match = _WINNER_LINE.match(line.strip())
        if match:
            who = match["who"].lower()
            return "tie" if who in ("tie", "draw") else who.upper()
    return None


_VERDICT_LINE = re.compile(r"^\W*(?:verdict|answer is)\W*[:=]?\W*(?P<v>correct|incorrect)\W*$", re.IGNORECASE)


def parse_correctness(text: Any) -> bool | None:
    """``True``/``False`` from a final ``Verdict: correct|incorrect`` line; ``None`` when unreadable."""
    if not isinstance(text, str):
        return None
    for line in reversed(text.strip().splitlines()):
        match = _VERDICT_LINE.match(line.strip())
        if match:
            return match["v"].lower() == "correct"
    return None


def weighted_score_from_logprobs(logprobs: Any, *, choices: Sequence[int] = (1, 2, 3, 4, 5)) -> float | None:
    """G-Eval's probability-weighted score: sum over the score tokens of p(token) x value.

    ``logprobs`` is the OpenAI chat ``logprobs.content`` list (each entry ``{token, logprob,
    top_logprobs: [{token, logprob}]}``), or an object with a ``content`` attribute/key holding it.
    The score token is the last generated token that is one of ``choices``; the probabilities of
    the alternatives among its ``top_logprobs`` are renormalised over the score tokens. ``None``
    when no score token was generated.
    """
    entries = _logprob_entries(logprobs)
    wanted = {str(c): c for c in choices}
    for entry in reversed(entries):
        if _field(entry, "token", "").strip() not in wanted:
            continue
        alternatives = _field(entry, "top_logprobs", None) or [entry]
        weights: dict[int, float] = {}
        for alternative in alternatives:
            token = str(_field(alternative, "token", "")).strip()
            logprob = _field(alternative, "logprob", None)
            if token in wanted and isinstance(logprob, int | float) and wanted[token] not in weights:
                weights[wanted[token]] = math.exp(logprob)
        total = sum(weights.values())
        if total <= 0:
            return None
        return sum(value * weight for value, weight in weights.items()) / total
    return None


def _logprob_entries(logprobs: Any) -> list[Any]:
    if logprobs is None:
        return []
    content = _field(logprobs, "content", None)
    if content is not None:
        return list(content)
    if isinstance(logprobs, list):
        # A list of per-sample logprob blocks: the first sample's block.
        if logprobs and _field(logprobs[0], "content", None) is not None:
            return list(_field(logprobs[0], "content", []))
        return list(logprobs)
    return []


def _field(obj: Any, name: str, default: Any) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)
