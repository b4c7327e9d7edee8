"""The hard spending limit: checked before every provider call, so a run overshoots by at most one call."""

from __future__ import annotations

import threading

from alphaflow.errors import BudgetExceeded, UserError


class Budget:
    """Tracks spend; ``reserve`` refuses a call whose worst case would pass ``max_cost_usd``.

    In-flight calls hold a reservation of their worst case, so concurrent calls cannot together
    overshoot; ``settle`` replaces the reservation with the real cost.
    """

    def __init__(self, max_cost_usd: float) -> None:
        if max_cost_usd < 0:
            raise UserError(f"--max-cost must be >= 0, not {max_cost_usd}")
        self.max_cost_usd = float(max_cost_usd)
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self._lock = threading.Lock()

    def reserve(self, model: str, worst_case_usd: float | None) -> float:
        if worst_case_usd is None:
            raise UserError(f"--max-cost is set but the price of model {model} is unknown to litellm, so the "
                            "budget cannot be kept: give its price (prices=..., USD per million tokens) "
                            "or run without --max-cost")
        with self._lock:
            committed = self.spent_usd + self.reserved_usd
            if committed >= self.max_cost_usd or committed + worst_case_usd > self.max_cost_usd:
                raise BudgetExceeded(
                    f"budget reached: spent ${self.spent_usd:.4f} of --max-cost ${self.max_cost_usd:.4f}"
                    f" (${self.reserved_usd:.4f} in flight); the next call to {model} could cost up to "
                    f"${worst_case_usd:.4f}, so it was not made")
            self.reserved_usd += worst_case_usd
            return worst_case_usd

    def settle(self, reservation: float, cost_usd: float | None) -> None:
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reservation)
            self.spent_usd += cost_usd if cost_usd is not None else reservation

    def release(self, reservation: float) -> None:
        """A call that failed without an answer: nothing was billed."""
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - reservation)
