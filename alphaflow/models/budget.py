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
                            f"budget cannot be kept: give its price (--price {model}=IN,OUT in USD per "
                            "million input,output tokens) or run without --max-cost")
        with self._lock:
            committed = self.spent_usd + self.reserved_usd
            if committed >= self.max_cost_usd or committed + worst_case_usd > self.max_cost_usd:
                raise BudgetExceeded(
                    f"budget reached: spent {_usd(self.spent_usd)} of --max-cost {_usd(self.max_cost_usd)}"
                    f" ({_usd(self.reserved_usd)} in flight); the next call to {model} could cost up to "
                    f"{_usd(worst_case_usd)}, so it was not made")
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


def _usd(amount: float) -> str:
    """Dollars with the digits that matter: ``$0.0123``, and ``$1e-07`` for a budget under a cent's
    hundredth (so a tiny --max-cost never reads as $0.0000)."""
    return f"${amount:.4f}" if amount == 0 or amount >= 0.0001 else f"${amount:.2g}"
