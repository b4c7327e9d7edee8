"""Requirements of a gate check: ``pass@1 >= 0.3``, ``solved: all``, ``cost_usd <= 2``.

A requirement names a metric, a comparison and a bound. Two spellings are accepted in the config:
a string ``"METRIC OP NUMBER"`` and a one-key mapping ``{METRIC: "OP NUMBER"}`` (``{solved: all}``
is short for "every problem solved"). Parsing is strict: an unknown metric, operator or bound is a
``ValueError`` whose message the config loader turns into ``file:line:col``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}

# Metrics each check kind reports; ``pass@K`` is matched by pattern.
METRICS: dict[str, tuple[str, ...]] = {
    "solve": ("pass@K", "solved", "solved_rate", "errors", "cost_usd"),
    "bench": ("pass@K", "solved", "solved_rate", "errors", "cost_usd"),
    "eval": ("mean_score", "win_rate", "accuracy", "failed_items", "cost_usd"),
    "run": ("pass_rate", "passed", "cost_usd"),
}
# Metrics whose total is known once the check ran, so "all" can stand for it.
COUNT_METRICS = {"solved": "problems", "passed": "runs"}
# Lower is better for these; ``max_drop`` (a regression bound) never applies to them.
LOWER_IS_BETTER = {"cost_usd", "errors", "failed_items"}

_TEXT = re.compile(r"^\s*(?P<metric>[A-Za-z_][\w@]*)\s*(?P<op>>=|<=|==|>|<|:)\s*(?P<bound>\S.*?)\s*$")
_BOUND = re.compile(r"^\s*(?P<op>>=|<=|==|>|<)?\s*(?P<bound>\S.*?)\s*$")


@dataclass(frozen=True)
class Requirement:
    """``metric op bound``; ``bound`` is ``None`` for ``all`` (the metric's total)."""

    metric: str
    op: str
    bound: float | None
    text: str

    def holds(self, value: float | None, total: float | None = None) -> bool:
        """Whether ``value`` meets the requirement; an unknown value (``None``) never does."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        bound = total if self.bound is None else self.bound
        if bound is None:
            return False
        return OPERATORS[self.op](float(value), float(bound))

    @property
    def higher_is_better(self) -> bool:
        return self.metric not in LOWER_IS_BETTER

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "bound": self.bound, "text": self.text}


def metric_allowed(kind: str, metric: str) -> bool:
    allowed = METRICS.get(kind, ())
    if metric in allowed:
        return True
    match = re.fullmatch(r"pass@(\d+)", metric)
    return bool(match) and "pass@K" in allowed and int(match.group(1)) >= 1


def parse_requirement(raw: Any, kind: str) -> Requirement:
    """Parse one requirement for a check of ``kind``; raise ``ValueError`` saying what is wrong."""
    if isinstance(raw, dict):
        if len(raw) != 1:
            raise ValueError(f"a requirement mapping has exactly one key (metric: bound), got {len(raw)}")
        metric, rest = next(iter(raw.items()))
        metric = str(metric)
        rest_text = "all" if rest == "all" else str(rest)
        if isinstance(rest, bool) or rest is None:
            raise ValueError(f"requirement '{metric}': expected a bound such as '>= 0.5' or all")
        match = _BOUND.match(rest_text)
        if not match:
            raise ValueError(f"requirement '{metric}': expected a bound such as '>= 0.5' or all")
        op, bound_text = match.group("op") or ">=", match.group("bound")
        text = f"{metric}: {rest_text}"
    elif isinstance(raw, str):
        match = _TEXT.match(raw)
        if not match:
            raise ValueError(
                f"cannot read requirement {raw!r}: expected 'METRIC OP NUMBER' such as 'pass@1 >= 0.3', "
                "or 'solved: all'"
            )
        metric, op, bound_text = match.group("metric"), match.group("op"), match.group("bound")
        if op == ":":
            op = ">="
        text = raw.strip()
    else:
        raise ValueError(
            f"a requirement is a string such as 'pass@1 >= 0.3' or a mapping such as "
            f"{{solved: all}}, not {type(raw).__name__}"
        )
    if not metric_allowed(kind, metric):
        allowed = ", ".join(m.replace("pass@K", "pass@k") for m in METRICS.get(kind, ()))
        raise ValueError(f"unknown metric '{metric}' for a {kind} check (known: {allowed})")
    if bound_text == "all":
        if metric not in COUNT_METRICS:
            raise ValueError(f"'all' is a bound for {', '.join(COUNT_METRICS)} only, not for '{metric}'")
        if op != ">=":
            raise ValueError(f"requirement '{text}': 'all' goes with >= (or ':') only")
        return Requirement(metric, ">=", None, text)
    try:
        bound = float(bound_text.rstrip("%")) / (100 if bound_text.endswith("%") else 1)
    except ValueError:
        raise ValueError(f"requirement '{text}': bound {bound_text!r} is not a number") from None
    if math.isnan(bound) or math.isinf(bound):
        raise ValueError(f"requirement '{text}': bound must be a finite number")
    return Requirement(metric, op, bound, text)
