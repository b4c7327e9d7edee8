"""The Ray executor of ``alphaflow bench codecontests``: units as Ray actor tasks, results on the driver.

Placement: one ``NodeWorker`` actor per alive node with CPUs (``NodeAffinitySchedulingStrategy``,
soft, so a restart may land elsewhere); each unit is one actor task on the least-loaded worker.
``--concurrency`` is shared out over the nodes in proportion to their CPUs (at least one each): a
node solves at most its share of units at once, and a unit whose flow is done frees its place while
its program is judged, as in the local executor; the driver keeps twice its share in flight on each
node so that a freed place is taken at once. Fault tolerance is Ray's: a worker whose
node dies is restarted (``max_restarts``) and the units it had in flight are retried on it
(``max_task_retries``). The driver alone writes the run directory: each finished unit's record is
appended (fsynced) to ``results.jsonl`` and its trace lines to ``trace.jsonl``, once per unit key, so
``--resume`` and the reports work as for a local run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alphaflow.bench.runner import OnResult, RunCounts
from alphaflow.bench.store import RunStore, UnitResult
from alphaflow.bench.units import Unit
from alphaflow.errors import BudgetExceeded, UserError
from alphaflow.executors import connect
from alphaflow.problems import Problem

# Actor tasks in flight per worker are bounded by the driver (twice the node's share), not by Ray.
WORKER_MAX_CONCURRENCY = 1000
# A unit that waited longer than this for its node's solving slot was sent ahead of need.
SLOT_WAIT_S = 0.001
# Restarts of a node's worker (its node died or it crashed) and retries of its in-flight units.
WORKER_RESTARTS = 4


@dataclass
class RayRunStats:
    """What the driver saw, for benchmarks: per-unit overhead = driver round trip - unit wall."""

    workers: list[dict[str, Any]] = field(default_factory=list)
    startup_s: float = 0.0  # until every worker had its sandbox and model client ready
    overhead_s: list[float] = field(default_factory=list)
    dispatch_s: list[float] = field(default_factory=list)  # submitted -> the worker has the unit
    return_s: list[float] = field(default_factory=list)  # the worker replied -> the driver has it
    queued_s: list[float] = field(default_factory=list)  # the worker has it -> a solving slot is free
    judgement_cache_hits: int = 0
    judgement_cache_misses: int = 0
    spent_usd: float | None = None  # what the nodes' model calls cost (None: a node's count was lost)


def cpu_nodes(ray: Any) -> dict[str, float]:
    """The alive nodes that have CPUs (where a sandbox pool can run): node id -> CPUs."""
    return {
        node["NodeID"]: float((node.get("Resources") or {}).get("CPU", 0))
        for node in ray.nodes()
        if node.get("Alive") and float((node.get("Resources") or {}).get("CPU", 0)) > 0
    }


def solving_shares(concurrency: int, cpus: list[float]) -> list[int]:
    """``concurrency`` split over nodes in proportion to ``cpus`` (largest remainders), at least 1
    each, taken from the largest shares: 16 over (2, 2, 4) CPUs -> [4, 4, 8]; 8 over (64, 2, 2) ->
    [6, 1, 1]. With fewer than one per node, every node gets 1 (the total exceeds ``concurrency``)."""
    total = sum(cpus)
    exact = [concurrency * c / total for c in cpus]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(cpus)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[: max(0, concurrency - sum(shares))]:
        shares[i] += 1
    for i in range(len(shares)):
        if shares[i] == 0:
            shares[i] = 1
            largest = max(range(len(shares)), key=shares.__getitem__)
            if shares[largest] > 1 and sum(shares) > concurrency:
                shares[largest] -= 1
    return shares


def start_workers(
    ray: Any, options: Any, flow_path: str | None, budget_name: str | None, concurrency: int
) -> tuple[list[Any], list[int]]:
    """One ``NodeWorker`` per CPU node, and each one's share of ``--concurrency``."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from alphaflow.executors.ray_node import NodeWorker

    remote = ray.remote(NodeWorker)
    options = dataclasses.replace(options, ray_stats=None)  # the driver's, not the workers'
    nodes = cpu_nodes(ray)
    if not nodes:
        raise UserError("--executor ray: the Ray cluster has no alive node with CPUs")
    shares = solving_shares(max(1, concurrency), list(nodes.values()))
    workers = [
        remote.options(
            num_cpus=0,  # units wait on models and the sandbox; the pool's containers use the CPUs
            max_concurrency=WORKER_MAX_CONCURRENCY,
            max_restarts=WORKER_RESTARTS,
            max_task_retries=WORKER_RESTARTS,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=True),
        ).remote(options, flow_path, budget_name, share)
        for node_id, share in zip(nodes, shares, strict=True)
    ]
    return workers, shares


async def run_units_ray(
    units: Sequence[Unit],
    problems: dict[str, Problem],
    options: Any,
    flow_path: str | None,
    store: RunStore,
    *,
    concurrency: int,
    on_result: OnResult | None = None,
    counts: RunCounts | None = None,
    stats: RayRunStats | None = None,
) -> RunCounts:
    """Run ``units`` on the cluster of ``options.ray_address``; same contract as ``run_units``.

    Raises ``BudgetExceeded``/``UserError`` when a unit hit one: no unit is sent after it, and the
    units in flight are collected first (each finishes, or fails fast on the spent budget), so every
    unit already paid for is recorded. Ctrl-C cancels what is in flight.
    """
    ray = connect(getattr(options, "ray_address", None))
    counts = counts or RunCounts()
    stats = stats if stats is not None else RayRunStats()
    counts.planned += len(units)
    budget_actor = budget_name = None
    if options.max_cost is not None:
        from alphaflow.executors.ray_budget import start_budget_actor

        budget_actor, budget_name = start_budget_actor(ray, options.max_cost - options.spent_before_usd)
    started = time.perf_counter()
    workers, shares = start_workers(ray, options, flow_path, budget_name, concurrency)
    trace_path = store.run_dir / "trace.jsonl"
    try:
        stats.workers = list(await asyncio.gather(*(_ref(w.start.remote()) for w in workers)))
        stats.startup_s = time.perf_counter() - started
        with trace_path.open("a", encoding="utf-8") as trace:
            await _drive(ray, units, problems, workers, shares, store, trace, counts, on_result, stats)
    finally:
        await _collect_stats(workers, stats)  # also after a budget stop: what was spent is recorded
        await _stop(ray, workers, budget_actor)
    return counts


async def _drive(
    ray: Any,
    units: Sequence[Unit],
    problems: dict[str, Problem],
    workers: list[Any],
    shares: list[int],
    store: RunStore,
    trace: Any,
    counts: RunCounts,
    on_result: OnResult | None,
    stats: RayRunStats,
) -> None:
    problem_refs = {name: ray.put(problem) for name, problem in problems.items()}
    pending = list(reversed(units))  # popped from the end: plan order
    load = [0] * len(workers)
    in_flight: dict[asyncio.Future[Any], tuple[Unit, int, float, float]] = {}
    written: set[str] = set()
    answered_at: dict[asyncio.Future[Any], float] = {}
    refs: dict[asyncio.Future[Any], Any] = {}
    try:
        stop: UserError | None = None
        while pending or in_flight:
            while pending and any(load[i] < 2 * shares[i] for i in range(len(workers))):
                unit = pending.pop()
                index = min(range(len(workers)), key=lambda i: load[i] / shares[i])
                # In a list, the problem is not fetched with every unit: the worker keeps it by name.
                ref = workers[index].run_unit.remote(unit.to_dict(), [problem_refs[unit.problem]])
                load[index] += 1
                future = _ref(ref)
                refs[future] = ref
                future.add_done_callback(lambda f: answered_at.setdefault(f, time.perf_counter()))
                in_flight[future] = (unit, index, time.perf_counter(), time.time())
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                unit, index, submitted, submitted_wall = in_flight.pop(future)
                refs.pop(future, None)
                load[index] -= 1
                reply = _reply(future, unit)
                if reply.get("trace"):
                    trace.write("".join(line + "\n" for line in reply["trace"]))
                    trace.flush()
                if "user_error" in reply:
                    # No new units; the ones in flight finish or fail fast (a spent budget refuses
                    # their next call), so every unit already paid for is recorded before the stop.
                    error = reply["user_error"]
                    stop = stop or (BudgetExceeded if error["type"] == "BudgetExceeded" else UserError)(
                        error["message"]
                    )
                    pending.clear()
                    continue
                result = UnitResult.from_dict(reply["result"])
                if result.key in written:  # a retried unit that had already answered: keep the first
                    continue
                written.add(result.key)
                answered = answered_at.pop(future, time.perf_counter())
                stats.overhead_s.append(
                    max(0.0, _overhead(reply, submitted, submitted_wall, answered, result))
                )
                if "received_at" in reply:  # one host's clock on a local cluster; skewed across hosts
                    stats.dispatch_s.append(reply["received_at"] - submitted_wall)
                    stats.return_s.append(answered - submitted + submitted_wall - reply["replied_at"])
                    stats.queued_s.append(float(reply.get("queued_s") or 0.0))
                store.append(result)  # fsynced before it counts, as in the local executor
                counts.add(result)
                if on_result:
                    on_result(result, counts)
        if stop is not None:
            raise stop
    finally:  # stopped (Ctrl-C, a failed write): the units still running are cancelled, not retried
        for future in in_flight:
            future.cancel()
            _cancel(ray, refs.get(future))


async def _collect_stats(workers: list[Any], stats: RayRunStats) -> None:
    """Add up the workers' judgement-cache counts and model spend; a lost worker's spend is unknown."""
    replies = await asyncio.gather(*(_ref(w.stats.remote()) for w in workers), return_exceptions=True)
    spent: float | None = 0.0
    for reply in replies:
        if isinstance(reply, BaseException):
            spent = None
            continue
        stats.judgement_cache_hits += reply["judgement_cache_hits"]
        stats.judgement_cache_misses += reply["judgement_cache_misses"]
        spent = None if spent is None else spent + float(reply.get("spent_usd") or 0.0)
    stats.spent_usd = spent


def _overhead(
    reply: dict[str, Any], submitted: float, submitted_wall: float, answered: float, result: UnitResult
) -> float:
    """What Ray added to a unit's critical path (seconds): the round trip minus the unit's own wall
    time, less any wait for the node's solving slot. A unit that found its node busy was sent ahead
    of time: it waited for the slot, not for Ray, so only the reply's way back counts for it."""
    waited = float(reply.get("queued_s") or 0.0)
    if waited > SLOT_WAIT_S and "received_at" in reply:  # one host's clock (a local cluster)
        started = submitted + (reply["received_at"] - submitted_wall) + waited
        return answered - started - result.wall_s
    return answered - submitted - result.wall_s - waited


def _cancel(ray: Any, ref: Any) -> None:
    try:
        ray.cancel(ref)
    except Exception:  # already finished, or the worker is gone: nothing left to stop
        pass


def _reply(future: asyncio.Future[Any], unit: Unit) -> dict[str, Any]:
    """The actor's reply; a unit Ray could not run even after its retries becomes an error record."""
    try:
        return future.result()
    except Exception as error:  # RayActorError, RayTaskError ...: recorded, visible, retryable later
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        result = UnitResult(
            key=unit.key,
            problem=unit.problem,
            sample_index=unit.sample_index,
            language=unit.language,
            error=f"ray: {type(error).__name__}: {message}"[:500],
            finished_at=time.time(),
        )
        return {"result": result.to_dict()}


def _ref(ref: Any) -> asyncio.Future[Any]:
    return asyncio.wrap_future(ref.future())


async def _stop(ray: Any, workers: list[Any], budget_actor: Any) -> None:
    """Close every worker's sandbox pool (its containers go), then end the actors."""
    closing = [_ref(worker.close.remote()) for worker in workers]
    await asyncio.wait(closing, timeout=60)
    for worker in workers:
        ray.kill(worker, no_restart=True)
    if budget_actor is not None:
        ray.kill(budget_actor, no_restart=True)
