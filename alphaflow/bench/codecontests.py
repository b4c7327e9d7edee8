"""``alphaflow bench codecontests``: plan the units, open the run directory, run, summarise.

The plan is problems x sample indices; on ``--resume`` the units already in ``results.jsonl`` are
skipped, after checking the run is the same experiment (flow hash, model, data, language).
"""

from __future__ import annotations

import asyncio
import shlex
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphaflow.bench.datasets import (
    ProblemFilter,
    examples_only,
    load_problems,
    parse_data_source,
    parse_difficulties,
)
from alphaflow.bench.meta import check_resumable, run_metadata
from alphaflow.bench.progress import BenchProgress, format_cost
from alphaflow.bench.runner import RunCounts, run_units
from alphaflow.bench.solvers import GoldSolver, Solver
from alphaflow.bench.store import RunStore, UnitResult
from alphaflow.bench.units import GOLD_FLOW, ModelSettings, Unit
from alphaflow.errors import BudgetExceeded, UserError
from alphaflow.problems import Problem


@dataclass
class BenchOptions:
    data: str
    out: str
    flow: str = "direct"
    model: str | None = None
    api_base: str | None = None
    samples: int = 1
    concurrency: int = 4
    model_concurrency: int | None = None  # model calls in flight (default: max(8, concurrency))
    max_cost: float | None = None
    resume: bool = False
    retry_errors: bool = False
    split: str | None = None
    limit: int | None = None
    names: tuple[str, ...] = ()
    difficulty: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str = "python"
    sandbox: str = "auto"
    pool_size: int | None = None
    time_limit_s: float | None = None
    memory_limit_mb: int | None = None
    case_insensitive: bool | None = None  # True: every problem's outputs compared case-insensitively
    cache: str | None = None  # model cache path; default RUN_DIR/model_cache.sqlite
    no_cache: bool = False
    # the other shared model flags (fallbacks, prices, rpm, retries, timeout, openai_direct) for build_router
    router_extra: dict[str, Any] = field(default_factory=dict)
    flow_inputs: dict[str, Any] = field(default_factory=dict)
    spent_before_usd: float = 0.0  # spent by earlier sessions of a resumed run (counts against --max-cost)
    quiet: bool = False
    executor: str = "local"  # local | ray (alphaflow.executors)
    ray_address: str | None = None
    ray_stats: Any = None  # a RayRunStats to fill (benchmarks), or None
    argv: list[str] | None = None  # the command line, for the printed resume command


@dataclass
class BenchOutcome:
    run_dir: Path
    counts: RunCounts
    results: list[UnitResult]  # this invocation's selection (earlier sessions' units of it included)
    problems: int  # problems in this invocation's selection
    stopped: str | None = None  # why the run stopped early, or None when every unit ran
    # the whole run in RUN_DIR, as the table and `bench report` show it; a resume with a narrower
    # selection (--names, --limit, ...) leaves units of other problems here that are not in ``results``
    run_results: list[UnitResult] = field(default_factory=list)
    run_problems: int = 0
    session_spent_usd: float | None = None  # this session's model spend as counted (None: unknown)


def validate_options(options: BenchOptions) -> None:
    if options.samples < 1:
        raise UserError(f"--samples {options.samples}: must be at least 1")
    if options.concurrency < 1:
        raise UserError(f"--concurrency {options.concurrency}: must be at least 1")
    if options.max_cost is not None and options.max_cost <= 0:
        raise UserError(f"--max-cost {options.max_cost}: must be positive")
    from alphaflow.executors import check_executor

    check_executor(options.executor, options.ray_address)
    if options.flow != GOLD_FLOW and not options.model:
        raise UserError(
            "--model is required to run a flow (e.g. --model openai/gpt-4o-mini); --flow gold needs none"
        )


def resume_command(options: BenchOptions) -> str:
    argv = list(options.argv if options.argv is not None else sys.argv[1:])
    if "--resume" not in argv:
        argv.append("--resume")
    return shlex.join(["alphaflow", *argv])


def plan_units(problems: list[Problem], options: BenchOptions, flow_ref: str, data: Any) -> list[Unit]:
    settings = ModelSettings(
        model=options.model,
        api_base=options.api_base,
        max_cost_usd=options.max_cost,
        cache_path=options.cache,
    )
    return [
        Unit(
            problem=problem.name,
            data=data,
            flow=flow_ref,
            sample_index=index,
            model=settings,
            language=options.language,
            flow_inputs=dict(options.flow_inputs),
        )
        for problem in problems
        for index in range(options.samples)
    ]


def resolve_flow_path(flow: str) -> str | None:
    if flow == GOLD_FLOW:
        return None
    from alphaflow.engine.loader import find_flow_file

    return str(find_flow_file(flow))


def make_solver(options: BenchOptions, flow_path: str | None, run_dir: Path, sandbox: Any) -> Solver:
    if flow_path is None:
        return GoldSolver()
    from alphaflow.bench.flow_solver import FlowSolver

    return FlowSolver.create(options, flow_path, run_dir, sandbox)


def _limits_for(options: BenchOptions):
    from alphaflow.sandbox import Limits

    memory = options.memory_limit_mb * (1 << 20) if options.memory_limit_mb else None

    def limits_for(problem: Problem) -> Any:
        return Limits.for_problem(problem, time_s=options.time_limit_s, memory_bytes=memory)

    return limits_for


def _public_args(options: BenchOptions) -> dict[str, Any]:
    skip = {"argv", "quiet", "spent_before_usd", "ray_stats"}
    return {name: value for name, value in vars(options).items() if name not in skip}


async def run_codecontests(options: BenchOptions) -> BenchOutcome:
    """Run (or resume) a benchmark; raises ``KeyboardInterrupt``/``CancelledError`` when stopped."""
    validate_options(options)
    source = parse_data_source(options.data, options.split)
    selection = ProblemFilter(
        names=tuple(options.names),
        difficulties=parse_difficulties(options.difficulty),
        tags=tuple(options.tags),
        limit=options.limit,
    )
    problem_set = load_problems(source, selection)
    for problem in problem_set.problems if options.case_insensitive else ():
        problem.case_insensitive = True
    if not problem_set.problems:
        raise UserError(f"--data {options.data}: no problem matches the filters")
    on_examples = examples_only(problem_set.problems)
    if on_examples:
        print(
            f"alphaflow: warning: {len(on_examples)} problem(s) have no hidden tests and are evaluated on "
            f"their examples, which the flow also sees: {', '.join(on_examples[:5])}",
            file=sys.stderr,
        )
    flow_path = resolve_flow_path(options.flow)
    run_dir = Path(options.out)
    store = RunStore(run_dir)
    meta = run_metadata(
        flow=options.flow,
        flow_path=flow_path,
        model=options.model,
        data=source.to_dict(),
        language=options.language,
        samples=options.samples,
        concurrency=options.concurrency,
        limits={"time_s": options.time_limit_s, "memory_mb": options.memory_limit_mb, "from": "problem"},
        sandbox=options.sandbox,
        args=_public_args(options),
    )
    if options.resume:
        previous = store.read_meta()
        check_resumable(previous, meta, store.meta_path)
        previous["resumes"] = [*previous.get("resumes", []), {"at": meta["started_at"], "args": meta["args"]}]
        meta = previous
    elif store.exists():
        raise UserError(
            f"--out {run_dir}: already holds a run; add --resume to continue it, or pick a new --out"
        )
    if options.cache is None and not options.no_cache:
        options.cache = str(run_dir / "model_cache.sqlite")
    store.write_meta(meta)

    earlier = store.read_results()
    done = {r.key for r in earlier if not (options.retry_errors and r.error)}
    plan = plan_units(problem_set.problems, options, flow_path or GOLD_FLOW, source)
    planned_keys = {unit.key for unit in plan}
    units = [unit for unit in plan if unit.key not in done]
    counts = RunCounts()
    for result in earlier:
        if result.key in planned_keys and result.key in done:
            counts.add(result)
    outcome = BenchOutcome(run_dir=run_dir, counts=counts, results=[], problems=len(problem_set.problems))
    # --max-cost covers the whole run, resumes included: what earlier sessions spent is already gone,
    # recorded with their units, or (units stopped mid-flow) in meta.json's unrecorded_spend_usd.
    options.spent_before_usd = sum(r.cost_usd or 0.0 for r in earlier) + float(
        meta.get(UNRECORDED_SPEND, 0.0)
    )
    if units and options.max_cost is not None and options.spent_before_usd >= options.max_cost:
        outcome.stopped = (
            f"budget reached: this run already spent ${options.spent_before_usd:.4f} of "
            f"--max-cost ${options.max_cost:.4f}; raise --max-cost to continue"
        )
    elif units:
        try:
            await _execute(units, problem_set.by_name(), options, flow_path, store, counts, outcome)
        finally:  # stopped or not: spend no unit record carries counts against a resume's --max-cost
            _record_unrecorded_spend(store, meta, units, outcome.session_spent_usd)
    store.close()
    outcome.run_results = store.read_results()
    outcome.results = [r for r in outcome.run_results if r.key in planned_keys]
    selected = {problem.name for problem in problem_set.problems}
    outcome.run_problems = len(selected | {r.problem for r in outcome.run_results})
    return outcome


UNRECORDED_SPEND = "unrecorded_spend_usd"  # meta.json: paid model calls of units stopped mid-flow


def _record_unrecorded_spend(
    store: RunStore, meta: dict[str, Any], units: list[Unit], session_spent: float | None
) -> None:
    """Keep in meta.json what this session spent beyond the cost its unit records carry (units a
    stop cut off mid-flow paid for calls and left no record); never raises."""
    if not session_spent:
        return
    try:
        keys = {unit.key for unit in units}
        recorded = sum(r.cost_usd or 0.0 for r in store.read_results() if r.key in keys)
        unrecorded = session_spent - recorded
        if unrecorded > 1e-9:
            meta[UNRECORDED_SPEND] = round(float(meta.get(UNRECORDED_SPEND, 0.0)) + unrecorded, 9)
            store.write_meta(meta)
    except Exception:  # an unreadable store or a full disk: the records still hold what they hold
        pass


async def _execute(
    units: list[Unit],
    problems: dict[str, Problem],
    options: BenchOptions,
    flow_path: str | None,
    store: RunStore,
    counts: RunCounts,
    outcome: BenchOutcome,
) -> None:
    from alphaflow.sandbox import open_sandbox
    from alphaflow.sandbox.judgement_cache import JudgementCache

    _cancel_on_sigterm()
    if options.executor == "ray":
        await _execute_on_ray(units, problems, options, flow_path, store, counts, outcome)
        return
    solver: Solver | None = None
    try:
        # opening pings the Docker engine (blocking): off the event loop
        opened = await asyncio.to_thread(open_sandbox, backend=options.sandbox, pool_size=options.pool_size)
        sandbox = JudgementCache(opened)  # one judgement per distinct request
        try:
            solver = make_solver(options, flow_path, store.run_dir, sandbox)
            # The model client's one-off set-up overlaps the pool's first container start; done
            # beside the first units instead, it would hold back every unit's first request.
            await asyncio.gather(sandbox.start(), solver.warm_up())
            with BenchProgress(len(units), already_done=counts.finished, quiet=options.quiet) as progress:
                try:
                    await run_units(
                        units,
                        problems,
                        solver,
                        sandbox,
                        store,
                        concurrency=options.concurrency,
                        limits_for=_limits_for(options),
                        on_result=progress.update,
                        counts=counts,
                    )
                except BudgetExceeded as error:  # stop cleanly: every finished unit is already on disk
                    outcome.stopped = str(error)
        finally:
            await sandbox.close()
    finally:
        if solver is not None:
            router = getattr(solver, "router", None)
            if router is not None:
                outcome.session_spent_usd = router.usage.cost_usd
            await solver.close()
        store.close()


async def _execute_on_ray(
    units: list[Unit],
    problems: dict[str, Problem],
    options: BenchOptions,
    flow_path: str | None,
    store: RunStore,
    counts: RunCounts,
    outcome: BenchOutcome,
) -> None:
    from alphaflow.executors.ray_bench import RayRunStats, run_units_ray

    stats = options.ray_stats if options.ray_stats is not None else RayRunStats()
    try:
        with BenchProgress(len(units), already_done=counts.finished, quiet=options.quiet) as progress:
            try:
                await run_units_ray(
                    units,
                    problems,
                    options,
                    flow_path,
                    store,
                    concurrency=options.concurrency,
                    on_result=progress.update,
                    counts=counts,
                    stats=stats,
                )
            except BudgetExceeded as error:  # every finished unit is already on disk
                outcome.stopped = str(error)
    finally:
        outcome.session_spent_usd = stats.spent_usd
        store.close()


def _cancel_on_sigterm() -> None:
    """SIGTERM behaves like Ctrl-C: cancel the run so the sandbox and store are closed cleanly."""
    task = asyncio.current_task()
    if task is None:
        return
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signal support
        pass


def summary_line(outcome: BenchOutcome) -> str:
    """The run's figures on one line, as the table above it and ``bench report`` count them.

    A resume with a narrower selection (``--resume --names X``) first gets a line of its own, labelled,
    for what this invocation selected; a second line quotes the selection's first error, if any.
    """
    whole = _figures(outcome.run_results, outcome.run_problems)
    first = first_error(outcome)
    error_line = f"\nfirst error: {first}" if first else ""
    if {r.key for r in outcome.run_results} <= {r.key for r in outcome.results}:
        return whole + error_line
    selection = _figures(outcome.results, outcome.problems)
    return f"this selection: {selection}{error_line}\nwhole run: {whole}"


def _figures(results: list[UnitResult], problems: int) -> str:
    """``solved P of N problems (units accepted; errors; not judged; cost)`` over ``results``."""
    from alphaflow.bench.metrics import group_by_problem

    counts = RunCounts()
    for result in results:
        counts.add(result)
    solved_problems = sum(1 for o in group_by_problem(results) if o.correct)
    return (
        f"solved {solved_problems} of {problems} problems "
        f"({counts.solved} of {counts.finished} units accepted on the evaluation tests; "
        f"errors {counts.errors}; not judged {sum(1 for r in results if not r.judged)}; "
        f"cost {format_cost(counts.cost_usd)})"
    )


def first_error(outcome: BenchOutcome) -> str | None:
    """``PROBLEM#SAMPLE: message`` of the first unit (in finishing order) that failed, or None."""
    from alphaflow.bench import metrics

    return metrics.first_error(outcome.results)


def all_failed(outcome: BenchOutcome) -> bool:
    """True when units ran and every one of them ended in an error: nothing succeeded."""
    return bool(outcome.results) and all(r.error for r in outcome.results)
