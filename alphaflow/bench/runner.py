"""Running benchmark units concurrently: solve, judge on the evaluation tests, record durably.

``run_units`` keeps at most ``concurrency`` units *solving* (running their flow, which is what calls
the models); a unit whose flow has finished gives its place to the next unit while its program is
judged on the evaluation tests, so a slow judgement (seconds of CPU for some reference-speed programs)
never holds back model work. Judging is bounded by the sandbox pool, and at most ``concurrency``
units wait on it. Every finished unit is appended to the results store (fsynced) before it is
counted, so cancelling the run (Ctrl-C, SIGTERM, a spent budget) loses only units that had not
finished. A unit that fails is a recorded result with its error (and its ``fault`` when that is not
the solution's doing); a ``UserError`` (bad key, spent budget) stops the whole run instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alphaflow.bench.judging import judge_split
from alphaflow.bench.solvers import Solver
from alphaflow.bench.store import RunStore, UnitResult
from alphaflow.bench.units import Unit
from alphaflow.errors import UserError
from alphaflow.problems import Problem

LimitsFor = Callable[[Problem], Any]


@dataclass
class RunCounts:
    planned: int = 0
    finished: int = 0
    solved: int = 0
    errors: int = 0
    faults: int = 0  # errors that are not the solution's doing (left out of pass@k)
    cost_usd: float | None = 0.0

    def add(self, result: UnitResult) -> None:
        self.finished += 1
        self.solved += int(result.solved)
        self.errors += int(result.error is not None)
        self.faults += int(result.fault is not None)
        if self.cost_usd is not None:
            if result.cost_usd is None and result.model_calls:
                self.cost_usd = None
            else:
                self.cost_usd += result.cost_usd or 0.0


OnResult = Callable[[UnitResult, RunCounts], None]


def release_once(slots: asyncio.Semaphore, then: Callable[[], Any] | None = None) -> Callable[[], None]:
    """A callable that gives one of ``slots`` back (and calls ``then``) the first time only: a unit
    frees its solving place when its flow is done, or in any case when it ends."""
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            slots.release()
            if then is not None:
                then()

    return release


async def run_unit(
    unit: Unit,
    problem: Problem,
    solver: Solver,
    sandbox: Any,
    limits_for: LimitsFor,
    solved: Callable[[], None] | None = None,
) -> UnitResult:
    """Solve one unit and judge its code; failures become the result's ``error``. ``solved`` is
    called once the solver is done with the unit (before judging), however it ended."""
    started = time.perf_counter()
    result = UnitResult(
        key=unit.key,
        problem=unit.problem,
        sample_index=unit.sample_index,
        language=unit.language,
        difficulty=problem.difficulty,
        tags=list(problem.tags),
    )
    try:
        try:
            attempt = await solver.solve(unit, problem)
        finally:
            if solved is not None:
                solved()
        result.code, result.language = attempt.code, attempt.language
        result.prompt_tokens, result.completion_tokens = attempt.prompt_tokens, attempt.completion_tokens
        result.cost_usd, result.model_calls, result.error, result.fault = (
            attempt.cost_usd,
            attempt.model_calls,
            attempt.error,
            attempt.fault if attempt.error else None,
        )
        if attempt.code is not None and not result.error:
            if not problem.evaluation_tests:
                result.error = "the problem has no private or generated tests to evaluate on"
                result.fault = "harness"
            else:
                public, evaluation, details = await judge_split(
                    sandbox, problem, attempt.code, attempt.language, limits_for(problem)
                )
                result.public, result.evaluation = public, {**evaluation, "judge": details}
                result.solved = evaluation["verdict"] == "AC"
                if "SE" in (public["verdict"], evaluation["verdict"]):  # the harness failed, not the code
                    result.error = f"sandbox fault: {details['message'] or 'SE'}"[:500]
                    result.fault = "sandbox"
        elif attempt.code is None and not result.error:
            result.error = "the flow produced no code"
    except UserError:
        raise
    except Exception as error:  # a failed unit is a recorded, visible result, not a crashed benchmark
        result.error = f"{type(error).__name__}: {error}"
        result.fault = "harness"
    result.wall_s = round(time.perf_counter() - started, 4)
    result.finished_at = time.time()
    return result


async def run_units(
    units: Sequence[Unit],
    problems: dict[str, Problem],
    solver: Solver,
    sandbox: Any,
    store: RunStore,
    *,
    concurrency: int,
    limits_for: LimitsFor,
    on_result: OnResult | None = None,
    counts: RunCounts | None = None,
) -> RunCounts:
    """Run ``units`` in plan order with at most ``concurrency`` solving and as many more being judged;
    each result is on disk before it counts. Raises the first ``UserError`` a unit raised, after
    cancelling the units still solving and recording those already being judged."""
    counts = counts or RunCounts()
    counts.planned += len(units)
    concurrency = max(1, concurrency)
    solving = asyncio.Semaphore(concurrency)
    alive = asyncio.Semaphore(2 * concurrency)  # solving + waiting on the judge
    stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    tasks: set[asyncio.Task[None]] = set()
    judging: set[asyncio.Task[Any]] = set()  # units past solving: their model calls are paid for

    async def one(unit: Unit) -> None:
        task = asyncio.current_task()
        release_solving = release_once(solving, then=lambda: judging.add(task))  # type: ignore[arg-type]
        try:
            result = await run_unit(
                unit, problems[unit.problem], solver, sandbox, limits_for, solved=release_solving
            )
            store.append(result)  # synchronous on purpose: a cancellation cannot split write and count
            counts.add(result)
            if on_result:
                on_result(result, counts)
        except Exception as error:  # a UserError (budget, key) or a failed write: the run stops
            if not stopped.done():
                stopped.set_exception(error)
        finally:
            release_solving()
            alive.release()

    async def dispatch() -> None:
        for unit in units:
            await alive.acquire()
            await solving.acquire()
            task = asyncio.create_task(one(unit))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(judging.discard)

    dispatcher = asyncio.create_task(dispatch())
    try:
        # Never gather the units under the dispatcher: cancelling it would cancel them all.
        waiting: set[asyncio.Future[Any]] = {dispatcher, stopped}
        while not stopped.done() and (not dispatcher.done() or tasks):
            await asyncio.wait(waiting | tasks, return_when=asyncio.FIRST_COMPLETED)
            if dispatcher.done():
                dispatcher.result()  # a dispatcher that failed (it cannot, but never silently)
        if stopped.done():
            # Units still solving stop now; units being judged are paid for and finish first, so
            # what was spent stays on record (a resume counts it against --max-cost).
            dispatcher.cancel()
            for task in tasks - judging:
                task.cancel()
            if tasks & judging:
                await asyncio.wait(tasks & judging)
            stopped.result()  # raises the unit's error
    finally:
        for task in (dispatcher, *tasks):
            task.cancel()
        await asyncio.gather(dispatcher, *tasks, return_exceptions=True)
    return counts
