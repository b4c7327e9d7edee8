"""How the bench runs units: at most ``concurrency`` solving, judging never holding back the next
unit's model work, every result on disk before it counts, and a user error stopping the run."""

from __future__ import annotations

import asyncio
import time

import pytest

from alphaflow.bench.datasets import DataSource
from alphaflow.bench.runner import run_units
from alphaflow.bench.solvers import Attempt
from alphaflow.bench.store import RunStore
from alphaflow.bench.units import Unit
from alphaflow.errors import UserError
from alphaflow.problems import Problem
from alphaflow.problems import TestCase as Case
from alphaflow.sandbox import Limits
from alphaflow.sandbox.local import LocalSandbox

# Correct, and slow on the evaluation test only: judging takes ~0.6 s, solving (below) ~0.2 s.
SLOW_ON_HIDDEN = "import time\nn = int(input())\nif n > 1:\n    time.sleep(0.6)\nprint(n * 2)\n"
PROBLEM = Problem(
    name="double",
    description="Print twice n.",
    public_tests=[Case("1\n", "2\n")],
    private_tests=[Case("5\n", "10\n", kind="private")],
)
DATA = DataSource(kind="jsonl", location="/nowhere.jsonl")


class TimedSolver:
    """The model side of a unit, as a solver with a known duration that logs when each unit ran."""

    def __init__(self, seconds: float = 0.2, fail_on: int | None = None) -> None:
        self.seconds = seconds
        self.fail_on = fail_on
        self.spans: dict[int, tuple[float, float]] = {}
        self.solving = 0
        self.most_solving = 0

    async def solve(self, unit: Unit, problem: Problem) -> Attempt:
        started = time.perf_counter()
        self.solving += 1
        self.most_solving = max(self.most_solving, self.solving)
        try:
            if unit.sample_index == self.fail_on:
                raise UserError("budget reached: --max-cost $0.01")
            await asyncio.sleep(self.seconds)
        finally:
            self.solving -= 1
        self.spans[unit.sample_index] = (started, time.perf_counter())
        return Attempt(code=SLOW_ON_HIDDEN, language="python", model_calls=1)

    async def warm_up(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _units(count: int) -> list[Unit]:
    return [Unit(problem=PROBLEM.name, data=DATA, flow="gold", sample_index=i) for i in range(count)]


async def _run(tmp_path, solver: TimedSolver, units: list[Unit], concurrency: int):
    store = RunStore(tmp_path / "run")
    recorded: dict[int, float] = {}
    async with LocalSandbox(warn=False) as sandbox:
        counts = await run_units(
            units,
            {PROBLEM.name: PROBLEM},
            solver,
            sandbox,
            store,
            concurrency=concurrency,
            limits_for=lambda problem: Limits(time_s=3),
            on_result=lambda result, counts: recorded.setdefault(result.sample_index, time.perf_counter()),
        )
    store.close()
    return counts, recorded, store


async def test_a_slow_judgement_does_not_hold_back_the_next_units_solving(tmp_path):
    solver = TimedSolver()
    counts, recorded, store = await _run(tmp_path, solver, _units(3), concurrency=1)
    assert counts.finished == counts.solved == 3 and solver.most_solving == 1
    # unit 1 solved while unit 0 was still being judged (its result came after unit 1 started)
    assert solver.spans[1][0] < recorded[0] and solver.spans[2][0] < recorded[1]
    assert sorted(r.sample_index for r in store.read_results()) == [0, 1, 2]
    assert all(r.evaluation["verdict"] == "AC" for r in store.read_results())


async def test_at_most_concurrency_units_solve_at_once(tmp_path):
    solver = TimedSolver(seconds=0.1)
    counts, _, _ = await _run(tmp_path, solver, _units(8), concurrency=2)
    assert counts.finished == 8 and solver.most_solving == 2


async def test_a_user_error_stops_the_run_keeping_every_finished_result(tmp_path):
    solver = TimedSolver(fail_on=2)
    with pytest.raises(UserError, match="budget reached"):
        await _run(tmp_path, solver, _units(6), concurrency=1)
    kept = RunStore(tmp_path / "run").read_results()
    # units 0 and 1 had solved (their model calls are paid for): judged and on disk before the stop
    assert sorted(r.sample_index for r in kept) == [0, 1] and all(r.evaluation for r in kept)
    assert 3 not in solver.spans and 4 not in solver.spans


async def test_a_user_error_after_every_unit_was_dispatched_still_records_the_units_being_judged(tmp_path):
    solver = TimedSolver(fail_on=2)  # units 0 and 1 are being judged when unit 2 fails
    with pytest.raises(UserError, match="budget reached"):
        await _run(tmp_path, solver, _units(3), concurrency=2)
    kept = RunStore(tmp_path / "run").read_results()
    assert sorted(r.sample_index for r in kept) == [0, 1] and all(r.evaluation for r in kept)
