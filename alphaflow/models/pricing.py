"""Prices per token: litellm's price map, overridable per model. Unknown prices stay unknown (None)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alphaflow.models.types import Target

DEFAULT_MAX_OUTPUT_TOKENS = 4096  # worst-case output when neither the request nor the price map says


@dataclass(frozen=True)
class Price:
    input_per_token: float
    output_per_token: float
    max_output_tokens: int | None = None


class Pricing:
    """``prices`` maps a model name to USD per million tokens: ``{"openai/x": (0.15, 0.60)}``."""

    def __init__(self, prices: dict[str, tuple[float, float]] | None = None) -> None:
        self._overrides = {name: Price(i / 1e6, o / 1e6) for name, (i, o) in (prices or {}).items()}
        self._known: dict[str, Price | None] = {}

    def price(self, target: Target) -> Price | None:
        if target.free:
            return Price(0.0, 0.0)
        name = target.price_model or target.name
        if name in self._overrides:
            return self._overrides[name]
        if name not in self._known:
            self._known[name] = _litellm_price(name)
        return self._known[name]

    def cost(self, target: Target, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = self.price(target)
        if price is None:
            return None
        return prompt_tokens * price.input_per_token + completion_tokens * price.output_per_token

    def worst_case(self, target: Target, messages: list[dict[str, Any]], n: int,
                   max_tokens: int | None) -> float | None:
        """An upper estimate of the next call's cost, from the prompt size and the output bound."""
        price = self.price(target)
        if price is None:
            return None
        if price.input_per_token == 0 and price.output_per_token == 0:
            return 0.0
        output = max_tokens or price.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS
        return _prompt_tokens(target, messages) * price.input_per_token + n * output * price.output_per_token


def _litellm_price(model: str) -> Price | None:
    from alphaflow.models.litellm_backend import import_litellm

    litellm = import_litellm()
    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises several types for "not in the price map"
        return None
    input_cost, output_cost = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if input_cost is None or output_cost is None:
        return None
    return Price(float(input_cost), float(output_cost), info.get("max_output_tokens"))


def _prompt_tokens(target: Target, messages: list[dict[str, Any]]) -> int:
    from alphaflow.models.litellm_backend import import_litellm

    try:
        return int(import_litellm().token_counter(model=target.price_model or target.name, messages=messages))
    except Exception:  # no tokenizer for that model: assume a token every two characters (pessimistic)
        return sum(len(str(m.get("content", ""))) for m in messages) // 2 + 4 * len(messages)
