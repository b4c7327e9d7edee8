"""Execution-grounded reward for code candidates.

A candidate's reward mixes three pieces of evidence, each in [0, 1]:
- its pass rate on the problem's public tests (run in the sandbox),
- its pass rate on tests the model generated itself (also run in the sandbox),
- the LLM judge's mean score divided by the scale's top (5).
Private and hidden tests are evaluation data and never enter the reward.

Pairs prefer execution evidence: candidates are ranked first by their execution reward (the
weighted public/generated pass rates) and only then by the full weighted reward, so the judge can
break a tie between equally-passing programs but can never prefer a program that passed fewer tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from alphaflow.errors import UserError


@dataclass(frozen=True)
class RewardWeights:
    public: float = 0.5
    generated: float = 0.3
    judge: float = 0.2

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value < 0:
                raise UserError(f"reward weight {name!r} must be >= 0, got {value}")
        if self.public + self.generated + self.judge == 0:
            raise UserError("reward weights are all 0: give at least one positive weight")

    @classmethod
    def parse(cls, text: str, *, flag: str = "--weights") -> RewardWeights:
        """From ``public=0.5,generated=0.3,judge=0.2`` (names may be omitted to keep defaults)."""
        values: dict[str, float] = {}
        for part in filter(None, (piece.strip() for piece in text.split(","))):
            name, _, number = part.partition("=")
            name = name.strip()
            if name not in ("public", "generated", "judge"):
                raise UserError(f"{flag}: unknown weight {name!r} (expected public, generated, judge)")
            try:
                values[name] = float(number)
            except ValueError:
                raise UserError(f"{flag}: weight {name!r} needs a number, got {number.strip()!r}") from None
        return cls(**values)


def pass_rate(judge_result: Any) -> float | None:
    """``passed / total`` of a sandbox result dict; ``None`` when it carries no evidence.

    No evidence: no tests, a sandbox failure (SE) or an unsupported language. A compile error is
    evidence (0 passed)."""
    if not isinstance(judge_result, dict):
        return None
    if judge_result.get("verdict") in ("SE", "unsupported"):
        return None  # the sandbox failed or cannot run the language: no evidence either way
    total = judge_result.get("total") or 0
    if total <= 0:
        return None
    return float(judge_result.get("passed") or 0) / float(total)


def _weighted(parts: list[tuple[float, float | None]]) -> float | None:
    present = [(weight, value) for weight, value in parts if value is not None and weight > 0]
    total_weight = sum(weight for weight, _ in present)
    if total_weight == 0:
        return None
    return sum(weight * value for weight, value in present) / total_weight


def code_reward(
    public: Any, generated: Any, judge_mean: float | None, weights: RewardWeights, *, judge_scale: float = 5.0
) -> dict[str, Any]:
    """The reward's parts and totals for one candidate; missing evidence drops out of the weighting."""
    public_rate, generated_rate = pass_rate(public), pass_rate(generated)
    judge_part = judge_mean / judge_scale if judge_mean is not None else None
    execution = _weighted([(weights.public, public_rate), (weights.generated, generated_rate)])
    total = _weighted(
        [(weights.public, public_rate), (weights.generated, generated_rate), (weights.judge, judge_part)]
    )
    return {
        "public_pass_rate": public_rate,
        "generated_pass_rate": generated_rate,
        "judge_score": judge_mean,
        "execution_reward": execution,
        "reward": total,
    }


def ranking_key(reward: dict[str, Any]) -> tuple[float, float] | None:
    """Execution evidence first, then the weighted total; ``None`` when there is no evidence at all."""
    if reward["reward"] is None:
        return None
    execution = reward["execution_reward"]
    return (execution if execution is not None else 0.0, reward["reward"])
