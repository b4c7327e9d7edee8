"""One ``--max-cost`` budget across a Ray cluster: the run's ``Budget`` lives in one actor.

Every model call on every node reserves its worst case through that actor before it is made and
settles or releases afterwards, exactly as ``alphaflow.models.budget.Budget`` does in one process,
so concurrent calls on different nodes cannot together pass the limit. ``ClusterBudget`` is the
client the model router holds instead of a local ``Budget`` (same ``reserve``/``settle``/``release``).
"""

from __future__ import annotations

import uuid
from typing import Any

from alphaflow.errors import BudgetExceeded, UserError
from alphaflow.models.budget import Budget


class BudgetKeeper:
    """The actor's body: a ``Budget`` whose refusals come back as values, not remote exceptions."""

    def __init__(self, max_cost_usd: float) -> None:
        self.budget = Budget(max_cost_usd)

    def reserve(self, model: str, worst_case_usd: float | None) -> tuple[str, Any]:
        try:
            return "ok", self.budget.reserve(model, worst_case_usd)
        except BudgetExceeded as error:
            return "exceeded", str(error)
        except UserError as error:
            return "user_error", str(error)

    def settle(self, reservation: float, cost_usd: float | None) -> None:
        self.budget.settle(reservation, cost_usd)

    def release(self, reservation: float) -> None:
        self.budget.release(reservation)

    def spent(self) -> dict[str, float]:
        return {"spent_usd": self.budget.spent_usd, "reserved_usd": self.budget.reserved_usd}


def start_budget_actor(ray: Any, max_cost_usd: float) -> tuple[Any, str]:
    """The run's budget actor (no CPU held; it answers in microseconds) and its unique name.

    Workers look it up by name (``ray.get_actor``) rather than receive the handle, so a restarted
    worker's constructor arguments hold no actor handle.
    """
    name = f"alphaflow-budget-{uuid.uuid4().hex[:12]}"
    actor = ray.remote(num_cpus=0, max_restarts=0)(BudgetKeeper).options(name=name).remote(max_cost_usd)
    return actor, name


class ClusterBudget:
    """What a node's model router calls; each method is one round trip to the budget actor.

    The calls block (the router's budget interface is synchronous); a reservation is a
    sub-millisecond actor call, small beside a model call.
    """

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def reserve(self, model: str, worst_case_usd: float | None) -> float:
        status, value = _wait(self.actor.reserve.remote(model, worst_case_usd))
        if status == "exceeded":
            raise BudgetExceeded(value)
        if status == "user_error":
            raise UserError(value)
        return float(value)

    def settle(self, reservation: float, cost_usd: float | None) -> None:
        _wait(self.actor.settle.remote(reservation, cost_usd))

    def release(self, reservation: float) -> None:
        _wait(self.actor.release.remote(reservation))


def _wait(ref: Any) -> Any:
    # ``ref.future().result()`` rather than ``ray.get``: it is called from an async actor's event
    # loop, where Ray warns about ``ray.get``; the wait is the same and short.
    return ref.future().result()
