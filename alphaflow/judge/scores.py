"""Reading judgements out of a judge model's free text (and, when given, its log-probabilities).

A judgement that cannot be read is ``None`` — never 0 — so that callers exclude it and count it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# "Score: 4", "score = 3.5", "**Score:** 4/5" — the final such line of the answer wins.
_SCORE_LINE = re.compile(
    r"^\W*score\W*[:=]\W*(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?:/\s*(?P<scale>[0-9]+))?\W*$",
    re.IGNORECASE,
)
# A whole answer that is only the rating: "4", "**4**", "4/5", "4." (G-Eval's score-only form).
_BARE_SCORE = re.compile(r"^[\W_]*(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?:/\s*(?P<scale>[0-9]+))?[\W_]*$")


@dataclass(frozen=True)
class LocatedScore:
    """A score read from an answer, and where its number stands (character offsets in the text)."""

    value: float
    start: int
    end: int


def locate_score(text: Any, *, low: float = 0.0, high: float = 5.0) -> LocatedScore | None:
    """The score of ``text`` and its position: the last ``Score: X`` line, else an answer that is
    only the number (``4``, ``4/5``). ``None`` when there is none, when it is outside ``[low, high]``
    or written over another scale (``8/10`` on a 5-point scale): clamping would invent a judgement.
    """
    if not isinstance(text, str):
        return None
    lines = []
    offset = 0
    for line in text.splitlines(keepends=True):
        lines.append((offset, line))
        offset += len(line)
    found = None
    for offset, line in reversed(lines):
        match = _SCORE_LINE.match(line.strip())
        if match:
            found = (offset + len(line) - len(line.lstrip()), match)
            break
    if found is None:
        match = _BARE_SCORE.match(text.strip())
        if match is None:
            return None
        found = (len(text) - len(text.lstrip()), match)
    base, match = found
    value = float(match["value"])
    scale = match["scale"]
    if scale is not None and float(scale) != high:
        return None
    if not low <= value <= high:
        return None
    return LocatedScore(value, base + match.start("value"), base + match.end("value"))


def parse_score(text: Any, *, low: float = 0.0, high: float = 5.0) -> float | None:
    """The number of :func:`locate_score`, or ``None`` when the answer has no readable score."""
    located = locate_score(text, low=low, high=high)
    return None if located is None else located.value


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


def weighted_score_from_logprobs(
    logprobs: Any, *, text: str | None = None, choices: Sequence[int] = (1, 2, 3, 4, 5)
) -> float | None:
    """G-Eval's probability-weighted score (Liu et al. 2023, arXiv 2303.16634, section 2.3): the sum
    over the score values of p(value) x value, at the token that carries the answer's score.

    ``logprobs`` is the OpenAI chat ``logprobs.content`` list (each entry ``{token, logprob,
    top_logprobs: [{token, logprob}]}``), or an object with a ``content`` attribute/key holding it;
    ``text`` the answer (default: the tokens joined). The score is located as :func:`locate_score`
    reads it (``4/5`` is 4, not the denominator); the token whose characters hold its number must be
    exactly that number, and the probabilities of the alternatives among its ``top_logprobs`` that are
    ``choices`` are renormalised over them. ``None`` when there is no readable score, the tokens do not
    spell ``text``, the score spans several tokens or is not one of ``choices`` (e.g. ``3.5``): the
    caller then falls back to the parsed score.
    """
    entries = _logprob_entries(logprobs)
    tokens = [str(_field(entry, "token", "") or "") for entry in entries]
    joined = "".join(tokens)
    text = joined if text is None else text
    if not entries or joined != text:
        return None
    located = locate_score(text, low=min(choices), high=max(choices))
    if located is None:
        return None
    wanted = {str(c): c for c in choices}
    offset = 0
    for entry, token in zip(entries, tokens, strict=True):
        if offset <= located.start < offset + len(token):
            covers_number = offset + len(token) >= located.end
            if not covers_number or token.strip() not in wanted:
                return None
            return _weighted_at(entry, wanted)
        offset += len(token)
    return None


def _weighted_at(entry: Any, wanted: dict[str, int]) -> float | None:
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


def rubric_judgement(
    texts: Sequence[Any], logprobs: Sequence[Any] | None, *, high: int = 5
) -> dict[str, Any]:
    """One judge's G-Eval score over its samples: each sample probability-weighted at its score token
    when its log-probabilities came back, else its parsed score; the mean over readable samples.

    ``logprobs[i]`` belongs to ``texts[i]`` (or is None). Returns ``{score, method, parsed, weighted,
    unparseable, unreadable}``: ``method`` is ``logprobs``, ``parsed``, ``mixed`` or None;
    ``unreadable`` is True exactly when ``score`` is None — the one rule every view counts by.
    """
    choices = range(1, high + 1)
    blocks = list(logprobs or [])
    parsed: list[float | None] = []
    weighted: list[float | None] = []
    for index, text in enumerate(texts):
        parsed.append(parse_score(text, low=1, high=high))
        block = blocks[index] if index < len(blocks) else None
        weighted.append(
            weighted_score_from_logprobs(block, text=text, choices=choices) if block is not None else None
        )
    values = [w if w is not None else p for w, p in zip(weighted, parsed, strict=True)]
    score = mean_of_parsed(values)
    used = {
        "logprobs" if w is not None else "parsed"
        for w, p in zip(weighted, parsed, strict=True)
        if p is not None
    }
    method = None if score is None else (used.pop() if len(used) == 1 else "mixed")
    return {
        "score": score,
        "method": method,
        "parsed": parsed,
        "weighted": weighted,
        "unparseable": sum(p is None for p in parsed),
        "unreadable": score is None,
    }


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
