"""The Ray executor for flow runs that are not benchmark units: eval items, self-reward prompts.

``run_flows_ray`` runs one flow over many independent inputs (one unit each: an eval item, a
self-rewarding prompt or problem) on a Ray cluster. Placement and fault tolerance are as for the
benchmark (``alphaflow.executors.ray_bench``): a ``FlowWorker`` actor per node with CPUs, owning the
node's sandbox (opened on first use, for the code task) and a model router built by the same
function as a local run; one budget actor for ``--max-cost``; a unit is an actor task, retried by
Ray when its node dies. The driver writes every unit's trace lines to the run's trace and returns
the flow results in input order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from alphaflow.errors import BudgetExceeded, UserError
from alphaflow.executors import connect
from alphaflow.executors.ray_bench import WORKER_MAX_CONCURRENCY, WORKER_RESTARTS, _cancel, cpu_nodes

# (trace, model) -> model router; a picklable callable, e.g. functools.partial(judge.cli._router, args)
RouterFactory = Callable[[Any, Any], Any]


class FlowWorker:
    """The actor's body: one flow, one router, one lazily opened sandbox for the node's units."""

    def __init__(
        self,
        flow_ref: str,
        make_router: RouterFactory,
        model: str | None,
        sandbox_backend: str | None,
        budget_name: str | None,
    ) -> None:
        from alphaflow.executors.ray_node import CollectingTrace

        self.flow_ref = flow_ref
        self.make_router = make_router
        self.model = model
        self.sandbox_backend = sandbox_backend
        self.budget_name = budget_name
        self.trace = CollectingTrace()
        self.flow: Any = None
        self.router: Any = None
        self.sandbox: Any = None
        self.sandbox_lock = asyncio.Lock()

    async def start(self) -> dict[str, Any]:
        import os
        import platform

        from alphaflow.engine import load_flow

        if self.flow is None:
            self.flow = load_flow(self.flow_ref)
            self.router = self.make_router(self.trace, self.model)
            if self.budget_name is not None:
                import ray

                from alphaflow.executors.ray_budget import ClusterBudget

                self.router.budget = ClusterBudget(ray.get_actor(self.budget_name))
        return {"host": platform.node(), "pid": os.getpid()}

    def _open_sandbox(self) -> Any:
        """The node's sandbox for every unit here (a judgement cache over the pool); closed in ``close``."""
        worker = self

        class _Shared:  # the engine enters and exits this per run; the pool outlives the runs
            async def __aenter__(self) -> Any:
                async with worker.sandbox_lock:  # units starting together open one pool, not several
                    return await self._open()

            async def _open(self) -> Any:
                if worker.sandbox is None:
                    from alphaflow.sandbox import open_sandbox
                    from alphaflow.sandbox.judgement_cache import JudgementCache

                    sandbox = JudgementCache(
                        open_sandbox(backend=worker.sandbox_backend or "auto", warn=False)
                    )
                    await sandbox.start()
                    worker.sandbox = sandbox
                return worker.sandbox

            async def __aexit__(self, *exc_info: object) -> None:
                return None

        return _Shared()

    async def run(self, key: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Run the flow on ``inputs``; ``{"result": FlowResult}`` or ``{"error"|"user_error": ...}``."""
        from alphaflow.bench.flow_solver import CURRENT_UNIT, UnitUsage
        from alphaflow.engine import RunContext, StepFailed, run_flow

        await self.start()
        context = RunContext(
            router=self.router,
            trace=self.trace,
            model=self.model,
            sandbox_factory=self._open_sandbox if self.sandbox_backend else None,
        )
        token = CURRENT_UNIT.set(UnitUsage(key))  # tags this unit's trace lines
        try:
            reply: dict[str, Any] = {"result": await run_flow(self.flow, inputs, context)}
        except StepFailed as error:
            reply = {"error": str(error)}
        except UserError as error:
            reply = {"user_error": {"type": type(error).__name__, "message": str(error)}}
        finally:
            CURRENT_UNIT.reset(token)
        reply["trace"] = self.trace.take(key)
        return reply

    async def close(self) -> None:
        if self.router is not None:
            self.router.close()
        if self.sandbox is not None:
            await self.sandbox.close()
            self.sandbox = None


async def run_flows_ray(
    flow_ref: str,
    units: Sequence[tuple[str, dict[str, Any]]],
    *,
    make_router: RouterFactory,
    model: str | None,
    trace: Any,
    concurrency: int,
    max_cost_usd: float | None = None,
    sandbox_backend: str | None = None,
    ray_address: str | None = None,
) -> list[dict[str, Any]]:
    """Run ``flow_ref`` once per ``(key, inputs)`` on the cluster; replies in input order.

    Each reply is ``{"result": FlowResult}`` or ``{"error": str}`` (a failed step, or a unit Ray could
    not run after its retries). A spent budget or another ``UserError`` stops the whole run (raised).
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ray = connect(ray_address)
    budget_actor = budget_name = None
    if max_cost_usd is not None:
        from alphaflow.executors.ray_budget import start_budget_actor

        budget_actor, budget_name = start_budget_actor(ray, max_cost_usd)
    nodes = cpu_nodes(ray)
    if not nodes:
        raise UserError("--executor ray: the Ray cluster has no alive node with CPUs")
    remote = ray.remote(FlowWorker)
    workers = [
        remote.options(
            num_cpus=0,
            max_concurrency=WORKER_MAX_CONCURRENCY,
            max_restarts=WORKER_RESTARTS,
            max_task_retries=WORKER_RESTARTS,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True),
        ).remote(flow_ref, make_router, model, sandbox_backend, budget_name)
        for node in nodes
    ]
    replies: list[dict[str, Any] | None] = [None] * len(units)
    in_flight: dict[asyncio.Future[Any], tuple[int, int, Any]] = {}
    load = [0] * len(workers)
    pending = list(reversed(range(len(units))))
    try:
        await asyncio.gather(*(_ref(worker.start.remote()) for worker in workers))
        while pending or in_flight:
            while pending and len(in_flight) < concurrency:
                index = pending.pop()
                slot = min(range(len(workers)), key=load.__getitem__)
                key, inputs = units[index]
                ref = workers[slot].run.remote(key, inputs)
                in_flight[_ref(ref)] = (index, slot, ref)
                load[slot] += 1
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                index, slot, _ = in_flight.pop(future)
                load[slot] -= 1
                try:
                    reply = future.result()
                except Exception as error:  # RayActorError after the retries: this unit failed
                    reply = {"error": f"ray: {type(error).__name__}: {str(error).strip()[:300]}"}
                write_lines(trace, reply.pop("trace", []))
                if "user_error" in reply:
                    error = reply["user_error"]
                    raise (BudgetExceeded if error["type"] == "BudgetExceeded" else UserError)(
                        error["message"]
                    )
                replies[index] = reply
    finally:
        for future, (_, _, ref) in in_flight.items():
            future.cancel()
            _cancel(ray, ref)
        await asyncio.wait([_ref(worker.close.remote()) for worker in workers], timeout=60)
        for worker in workers:
            ray.kill(worker, no_restart=True)
        if budget_actor is not None:
            ray.kill(budget_actor, no_restart=True)
    return [reply or {"error": "not run"} for reply in replies]


def write_lines(trace: Any, lines: list[str]) -> None:
    """Append JSON lines produced on a worker (already redacted there) to the driver's trace."""
    handle = getattr(trace, "_handle", None)
    if handle is None or not lines:
        return
    with trace._lock:
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()


def _ref(ref: Any) -> asyncio.Future[Any]:
    return asyncio.wrap_future(ref.future())
