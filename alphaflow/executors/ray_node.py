"""The per-node actor of the Ray executor: it owns the node's sandbox pool and runs units on it.

One ``NodeWorker`` is placed on each node (node affinity). Its process loads the flow and the model
router once and keeps one sandbox (the docker pool against the node's engine, or ``DOCKER_HOST``;
wrapped in a ``JudgementCache``) for the whole run; each unit is one async actor task, so many units
share the process as they share one asyncio loop locally. Model calls use the same options as a
local run; the ``--max-cost`` budget is the cluster's budget actor. A unit's trace events are
collected here and returned with its result, for the driver to write: only the driver writes files.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from alphaflow.bench.flow_solver import FlowSolver, UnitTrace
from alphaflow.errors import UserError
from alphaflow.trace import Trace, _jsonable, redact


class _CollectingSink(Trace):
    """The end of the trace chain: JSON lines grouped by unit key, kept in memory."""

    def __init__(self) -> None:
        super().__init__(None)
        self.lines: dict[str | None, list[str]] = {}

    def write(self, event: str, **fields: Any) -> None:
        record = {"ts": round(time.time(), 6), "event": event, **fields}
        line = redact(json.dumps(record, ensure_ascii=False, default=_jsonable), self._secrets)
        self.lines.setdefault(fields.get("unit"), []).append(line)

    def take(self, key: str) -> list[str]:
        """The unit's lines, plus any untagged ones written since the last take."""
        return self.lines.pop(None, []) + self.lines.pop(key, [])


class CollectingTrace(UnitTrace, _CollectingSink):
    """``UnitTrace`` (tags events with their unit, tallies model calls) into memory."""


class NodeWorker:
    """The actor's body. ``options`` is the run's ``BenchOptions``; ``flow_path`` None = gold;
    ``budget_name`` names the run's budget actor (``--max-cost``)."""

    def __init__(
        self, options: Any, flow_path: str | None, budget_name: str | None = None, solving_slots: int = 1
    ) -> None:
        self.options = options
        self.flow_path = flow_path
        self.budget_name = budget_name
        # This node's share of --concurrency: units solving at once here. A unit whose flow is done
        # frees its slot while its program is judged, as in the local executor.
        self.solving = asyncio.Semaphore(max(1, solving_slots))
        self.sandbox: Any = None
        self.solver: Any = None
        self.trace = CollectingTrace()
        self.problems: dict[str, Any] = {}
        self.open_lock = asyncio.Lock()
        self.units_run = 0

    async def start(self) -> dict[str, Any]:
        """Open the sandbox and the solver; returns where this worker runs (for logs and tests)."""
        import os
        import platform

        if self.sandbox is None:
            await self._open()
        return {"host": platform.node(), "pid": os.getpid(), "backend": self.sandbox.backend}

    async def _open(self) -> None:
        async with self.open_lock:  # a restarted worker's first units arrive together: one pool
            if self.sandbox is None:
                await self._open_now()

    async def _open_now(self) -> None:
        from alphaflow.bench.solvers import GoldSolver
        from alphaflow.sandbox import open_sandbox
        from alphaflow.sandbox.judgement_cache import JudgementCache

        sandbox = JudgementCache(
            open_sandbox(backend=self.options.sandbox, pool_size=self.options.pool_size, warn=False)
        )
        if self.flow_path is None:
            await sandbox.start()
            self.solver = GoldSolver()
        else:  # the model client's import and warm-up (seconds) overlap the pool's first container start
            from alphaflow.bench.flow_solver import _preload_model_client

            async def prepare_solver() -> None:
                await asyncio.to_thread(_preload_model_client)
                self.solver = self._flow_solver(sandbox)
                await self.solver.warm_up()  # part of the node's start-up, not of its first units

            await asyncio.gather(sandbox.start(), prepare_solver())
        self.sandbox = sandbox

    def _flow_solver(self, sandbox: Any) -> FlowSolver:
        from alphaflow.bench.flow_solver import router_for
        from alphaflow.engine import load_flow

        router = router_for(self.options, self.trace)
        if self.budget_name is not None:  # the cluster's one budget instead of a budget per node
            import ray

            from alphaflow.executors.ray_budget import ClusterBudget

            router.budget = ClusterBudget(ray.get_actor(self.budget_name))
        return FlowSolver(load_flow(self.flow_path), router, self.trace, self.options.model, sandbox)

    async def run_unit(self, unit: dict[str, Any], problem_ref: list[Any]) -> dict[str, Any]:
        """Run one unit; ``{"result": UnitResult dict, "trace": [lines]}`` or ``{"user_error": ...}``.

        ``problem_ref`` is ``[ObjectRef of the Problem]``: fetched once per problem and kept.
        """
        from alphaflow.bench.codecontests import _limits_for
        from alphaflow.bench.runner import release_once, run_unit
        from alphaflow.bench.units import Unit

        received_at = time.time()
        if self.sandbox is None:
            await self._open()
        parsed = Unit.from_dict(unit)
        problem = self.problems.get(parsed.problem)
        if problem is None:
            problem = self.problems[parsed.problem] = await problem_ref[0]
        await self.solving.acquire()
        queued_s = time.time() - received_at  # waiting for a solving slot: queueing, not Ray's cost
        release_solving = release_once(self.solving)
        try:
            result = await run_unit(
                parsed, problem, self.solver, self.sandbox, _limits_for(self.options), solved=release_solving
            )
        except UserError as error:  # a spent budget, a missing key: the driver stops the run
            return {
                "user_error": {"type": type(error).__name__, "message": str(error)},
                "trace": self.trace.take(parsed.key),
            }
        finally:
            release_solving()
        self.units_run += 1
        return {
            "result": result.to_dict(),
            "trace": self.trace.take(parsed.key),
            "received_at": received_at,
            "queued_s": queued_s,
            "replied_at": time.time(),
        }

    async def stats(self) -> dict[str, Any]:
        cache = self.sandbox
        router = getattr(self.solver, "router", None)
        return {
            "units_run": self.units_run,
            "judgement_cache_hits": getattr(cache, "hits", 0),
            "judgement_cache_misses": getattr(cache, "misses", 0),
            "spent_usd": router.usage.cost_usd if router is not None else 0.0,
        }

    async def close(self) -> None:
        """Close the sandbox pool (its containers go) and the model router."""
        if self.solver is not None:
            router = getattr(self.solver, "router", None)
            if router is not None:
                router.close()
        if self.sandbox is not None:
            await self.sandbox.close()
            self.sandbox = None
