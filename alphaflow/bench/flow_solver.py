"""Solving a unit with a YAML flow through the engine, one shared model router for the whole run.

The sample index goes into the engine's ``RunContext`` and so into every model call's cache key: K
samples of a problem stay K distinct answers, and a resumed run reuses the calls it already paid for.
Tokens and cost are attributed to the unit whose task made the call (a context variable follows the
unit's asyncio tasks), so one router, one budget and one cache serve every unit.
"""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphaflow.bench.solvers import Attempt
from alphaflow.bench.units import Unit
from alphaflow.problems import Problem
from alphaflow.trace import Trace


@dataclass
class UnitUsage:
    key: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    model_errors: list[str] = field(default_factory=list)  # failed model calls, as the step saw them

    def add_call(self, fields: dict[str, Any]) -> None:
        self.calls += 1
        self.prompt_tokens += int(fields.get("prompt_tokens") or 0)
        self.completion_tokens += int(fields.get("completion_tokens") or 0)
        cost = fields.get("cost_usd")
        if self.cost_usd is not None:
            if cost is None and not fields.get("cached"):
                self.cost_usd = None  # a price is unknown: the total is unknown, not lower
            else:
                self.cost_usd += float(cost or 0.0)


CURRENT_UNIT: contextvars.ContextVar[UnitUsage | None] = contextvars.ContextVar("bench_unit", default=None)


class UnitTrace(Trace):
    """The run's trace; each event is tagged with its unit, and model calls are tallied per unit."""

    def write(self, event: str, **fields: Any) -> None:
        usage = CURRENT_UNIT.get()
        if usage is not None:
            fields.setdefault("unit", usage.key)
            if event == "model_call" and not fields.get("error"):
                usage.add_call(fields)
            elif event == "model_call":
                usage.model_errors.append(str(fields["error"]))
                if fields.get("completed_samples"):
                    usage.add_call(fields)  # a failed call whose served requests were billed: count them
        super().write(event, **fields)


class FlowSolver:
    def __init__(self, flow: Any, router: Any, trace: UnitTrace, model: str, sandbox: Any) -> None:
        self.flow = flow
        self.router = router
        self.trace = trace
        self.model = model
        self.sandbox = sandbox

    @classmethod
    def create(cls, options: Any, flow_path: str, run_dir: Path, sandbox: Any) -> FlowSolver:
        from alphaflow.engine import load_flow

        flow = load_flow(flow_path)  # a FlowError (file:line:col) before any model call
        trace = UnitTrace(run_dir / "trace.jsonl")
        router = router_for(options, trace)
        _preload_model_client()
        return cls(flow, router, trace, options.model, sandbox)

    async def solve(self, unit: Unit, problem: Problem) -> Attempt:
        from alphaflow.engine import RunContext, StepFailed, run_flow

        usage = UnitUsage(unit.key)
        token = CURRENT_UNIT.set(usage)
        inputs: dict[str, Any] = {**unit.flow_inputs, "problem": problem.for_flow()}
        if "language" in self.flow.spec.inputs:
            inputs["language"] = unit.language
        context = RunContext(
            router=self.router,
            sandbox=self.sandbox,
            trace=self.trace,
            model=self.model,
            sample_index=unit.sample_index,
        )
        code: str | None = None
        error: str | None = None
        fault: str | None = None
        try:
            result = await run_flow(self.flow, inputs=inputs, context=context)
            outputs = dict(result.outputs or {})
            code = outputs.get("code") if isinstance(outputs.get("code"), str) else None
            if code is None:
                error = (
                    f"flow '{self.flow.name}' gave no 'code' output (outputs: {', '.join(outputs) or 'none'})"
                )
        except StepFailed as failure:  # a failed step is this unit's recorded failure, not the run's
            error = str(failure)
            if any(message in failure.reason for message in usage.model_errors):  # unreachable, not wrong
                fault = "model"
        finally:
            CURRENT_UNIT.reset(token)
        return Attempt(
            code=code,
            language=unit.language,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd,
            model_calls=usage.calls,
            error=error,
            fault=fault,
        )

    async def warm_up(self) -> None:
        """The model client's one-off set-up (``ModelRouter.warm_up``: lazy imports and response
        models, ~0.3 s of CPU) in a thread, before the first units: left to them, it holds back every
        unit's first request. Run it beside other start-up work (the sandbox pool)."""
        await asyncio.to_thread(self.router.warm_up, self.model)

    async def close(self) -> None:
        self.router.close()
        self.trace.close()


def router_for(options: Any, trace: Trace) -> Any:
    """The run's model router from its ``BenchOptions`` (the Ray executor's node workers use it too,
    so models are called with the same options wherever a unit runs)."""
    from alphaflow.models import build_router

    router = build_router(
        options.model,
        api_base=options.api_base,
        concurrency=options.model_concurrency or max(8, options.concurrency),
        cache_path=None if options.no_cache else options.cache,
        max_cost_usd=None if options.max_cost is None else options.max_cost - options.spent_before_usd,
        trace=trace,
        **getattr(options, "router_extra", {}),  # further router flags (main's add_router_options)
    )
    router.target(options.model)  # a missing API key is one line now, not an error per unit
    return router


def _preload_model_client() -> None:
    """Import litellm now (seconds), not inside the first unit: it would stall every unit in flight
    and charge the import to that unit's wall time."""
    from alphaflow.models.litellm_backend import import_litellm

    import_litellm()
