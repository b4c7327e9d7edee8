"""Running one gate check: its units, and the metrics of each of its ``repeat`` runs.

Each kind drives an existing part of alphaflow through its public functions:
- ``solve`` and ``bench``: the benchmark runner (``alphaflow.bench``), so units (problem x sample) are
  appended durably to ``CHECK_DIR/bench/results.jsonl`` and a cancelled gate resumes where it stopped.
  A solve check writes its problem files into ``CHECK_DIR/problems.jsonl`` first; a problem with no
  hidden tests is judged on its examples. ``repeat: N`` runs N x samples units and splits them by
  sample index, so every repeat gets its own model answers (the index is part of the cache key).
- ``eval``: the evaluation pipelines (``alphaflow.judge``), one cache per repeat.
- ``run``: any flow through the engine; ``expect`` is evaluated over its outputs.
Finished repeats of eval and run checks are kept in ``CHECK_DIR`` and skipped on ``--resume``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alphaflow.ci.config import EVAL_METRICS, BenchCheck, EvalCheck, LoadedConfig, RunCheck, SolveCheck
from alphaflow.errors import UserError


@dataclass
class GateSettings:
    """What the command line adds to every check."""

    out: Path
    model: str | None = None
    api_base: str | None = None
    sandbox: str = "auto"
    concurrency: int = 4  # units (or items) in flight
    router: dict[str, Any] = field(default_factory=dict)  # alphaflow.models.cli.router_options(args)
    resume: bool = False
    quiet: bool = True  # no progress bars
    announce: bool = False  # one line on stderr as each check starts and ends (CI logs)


@dataclass
class UnitOutcome:
    """One JUnit test case: a problem x sample, an eval item, or one run of a flow."""

    name: str
    repetition: int
    passed: bool
    message: str = ""  # the verdict or score, one line
    details: str = ""  # the first failing test, the error
    seconds: float = 0.0


@dataclass
class CheckRun:
    """What a check produced: per-repeat metrics and the units they came from."""

    name: str
    kind: str
    run_dir: Path
    repetitions: list[dict[str, float | None]] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)  # what "all" means (problems, runs)
    units: list[UnitOutcome] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)  # HTML reports
    error: str | None = None  # the check could not run to the end

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data.pop("units")
        return data


def model_for(check: Any, loaded: LoadedConfig, settings: GateSettings) -> str | None:
    """--model wins, then the check's model, then the config's."""
    if settings.model:
        return settings.model
    return loaded.resolve_model(check.model or loaded.config.model)


def flow_ref(name_or_path: str, loaded: LoadedConfig) -> str:
    """A built-in flow name stays a name; anything that looks like a file resolves against the config."""
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        return loaded.resolve(name_or_path)
    return name_or_path


async def run_check(check: Any, loaded: LoadedConfig, settings: GateSettings) -> CheckRun:
    """Run one check; a failure inside it becomes ``CheckRun.error`` (config mistakes still raise)."""
    run_dir = settings.out / "checks" / check.name
    run_dir.mkdir(parents=True, exist_ok=True)
    run = CheckRun(check.name, check.kind, run_dir)
    if isinstance(check, SolveCheck | BenchCheck):
        await _bench_like(check, loaded, settings, run)
    elif isinstance(check, EvalCheck):
        await _eval(check, loaded, settings, run)
    elif isinstance(check, RunCheck):
        await _run(check, loaded, settings, run)
    return run


# --- solve and bench ---------------------------------------------------------------------------------
def write_problem_set(files: list[str], target: Path) -> int:
    """Write problem files as CodeContests JSON lines; a problem without hidden tests keeps its examples
    as the evaluation tests. Returns the number of problems."""
    from alphaflow.solve.problem_source import load_problem

    rows: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for file in files:
        problem = load_problem(file).problem
        if problem.name in names:
            raise UserError(
                f"{file}: problem name {problem.name!r} is also the name of {names[problem.name]}"
            )
        names[problem.name] = file
        hidden = problem.private_tests or problem.public_tests
        if not hidden and not problem.generated_tests:
            raise UserError(f"{file}: the problem has no tests to judge a solution on")
        rows.append(
            {
                "name": problem.name,
                "description": problem.description,
                "public_tests": _columns(problem.public_tests),
                "private_tests": _columns(hidden),
                "generated_tests": _columns(problem.generated_tests),
                "time_limit": problem.time_limit_s,
                "memory_limit_bytes": problem.memory_limit_bytes,
                "difficulty": problem.difficulty,
                "cf_tags": list(problem.tags),
            }
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def _columns(tests: list[Any]) -> dict[str, list[str]]:
    return {"input": [t.input for t in tests], "output": [t.output for t in tests]}


async def _bench_like(
    check: SolveCheck | BenchCheck, loaded: LoadedConfig, settings: GateSettings, run: CheckRun
) -> None:
    from alphaflow.bench.codecontests import BenchOptions, run_codecontests
    from alphaflow.bench.report import load_run, write_reports

    if isinstance(check, SolveCheck):
        data = str(run.run_dir / "problems.jsonl")
        write_problem_set(loaded.problem_files(check.problems), Path(data))
        limit, split, names = None, None, ()
    else:
        data = (
            check.data
            if check.data.startswith("hf:") or check.data == "codecontests"
            else loaded.resolve(check.data)
        )
        limit, split, names = check.limit, check.split, tuple(check.names)
    bench_dir = run.run_dir / "bench"
    options = BenchOptions(
        data=data,
        out=str(bench_dir),
        flow=flow_ref(check.flow, loaded),
        model=model_for(check, loaded, settings),
        api_base=settings.api_base or check.api_base or loaded.config.api_base,
        samples=check.samples * check.repeat,
        concurrency=settings.concurrency,
        model_concurrency=settings.router.get("concurrency"),
        max_cost=check.max_cost,
        resume=settings.resume and (bench_dir / "meta.json").exists(),
        split=split,
        limit=limit,
        names=names,
        language=check.language,
        sandbox=settings.sandbox,
        flow_inputs=dict(check.set),
        quiet=settings.quiet,
        argv=[],
    )
    outcome = await run_codecontests(options)
    if outcome.stopped:
        run.error = f"stopped early: {outcome.stopped}"
    run.totals = {"problems": outcome.problems}
    for index in range(check.repeat):
        chosen = [
            r
            for r in outcome.results
            if index * check.samples <= r.sample_index < (index + 1) * check.samples
        ]
        run.repetitions.append(bench_metrics(chosen, check.samples, outcome.problems))
    for result in sorted(outcome.results, key=lambda r: (r.problem, r.sample_index)):
        run.units.append(_bench_unit(result, check.samples))
    if outcome.results:
        paths = write_reports([load_run(bench_dir)], bench_dir / "report")
        run.reports.append(str(paths["html"]))


def bench_metrics(results: list[Any], samples: int, problems: int) -> dict[str, float | None]:
    """pass@k (k <= samples), solved (problems solved by any sample), solved_rate, errors, cost_usd."""
    from alphaflow.bench.metrics import summarize

    summary = summarize(results, resamples=200)
    metrics: dict[str, float | None] = {}
    for k in range(1, samples + 1):
        row = summary["pass_at_k"].get(str(k))
        # A problem with no finished unit counts as unsolved, so pass@k is over every planned problem.
        metrics[f"pass@{k}"] = (row["value"] * row["problems"] / problems) if row and problems else 0.0
    solved = summary["solved_any"]["count"]
    metrics["solved"] = float(solved)
    metrics["solved_rate"] = solved / problems if problems else 0.0
    metrics["errors"] = float(summary["errors"])
    metrics["cost_usd"] = summary["cost_usd"]["total"]
    return metrics


def _bench_unit(result: Any, samples: int) -> UnitOutcome:
    evaluation = result.evaluation or {}
    if result.solved:
        message = f"AC: {evaluation.get('passed')}/{evaluation.get('total')} tests"
    elif result.error and not evaluation:
        message = "error"
    else:
        passed, total = evaluation.get("passed", 0), evaluation.get("total", 0)
        message = f"verdict {result.verdict}: {passed}/{total} tests passed"
    details = []
    if result.error:
        details.append(f"error: {result.error}")
    failure = evaluation.get("first_failure")
    if failure:
        details.append(
            f"first failing test: #{failure.get('index', 0) + 1} {failure.get('verdict')}"
            + (f" ({failure['message']})" if failure.get("message") else "")
        )
        for name in ("stdout", "stderr"):
            if failure.get(name):
                details.append(f"{name}: {failure[name]}")
    return UnitOutcome(
        name=f"{result.problem} [sample {result.sample_index % samples}]",
        repetition=result.sample_index // samples,
        passed=bool(result.solved),
        message=message,
        details="\n".join(details),
        seconds=float(result.wall_s or 0.0),
    )


# --- eval --------------------------------------------------------------------------------------------
def eval_flow(check: EvalCheck, loaded: LoadedConfig) -> tuple[str, Any]:
    from alphaflow.judge.runs import eval_kind

    name = check.eval if check.eval in EVAL_METRICS else loaded.resolve(check.eval)
    return eval_kind(name)


async def _eval(check: EvalCheck, loaded: LoadedConfig, settings: GateSettings, run: CheckRun) -> None:
    from alphaflow.judge.data import load_items
    from alphaflow.judge.report import eval_report, to_html, to_markdown
    from alphaflow.judge.runs import run_eval
    from alphaflow.models import build_router
    from alphaflow.trace import Trace

    flow_path, kind = eval_flow(check, loaded)
    data = loaded.resolve(check.data)
    items = load_items(data, kind.required, kind.optional) if kind else load_items(data, (), ())
    model = model_for(check, loaded, settings)
    judges = [loaded.resolve_model(j) or j for j in check.judges] or ([model] if model else [])
    if not judges:
        raise UserError(f"check '{check.name}': no model to judge with (give --model, model: or judges:)")
    metric = EVAL_METRICS.get(check.eval) or _custom_metric(check)
    bar = next((r for r in check.requirements() if r.metric == metric), None)
    run.totals = {"items": len(items)}
    for index in range(check.repeat):
        rep_dir = run.run_dir / f"repeat_{index + 1}"
        saved = rep_dir / "result.json"
        if settings.resume and saved.exists():
            result = json.loads(saved.read_text(encoding="utf-8"))
        else:
            with Trace(rep_dir / "trace.jsonl") as trace:
                router = build_router(
                    model,
                    api_base=settings.api_base or check.api_base or loaded.config.api_base,
                    cache_path=str(rep_dir / "model_cache.sqlite"),  # one cache per repeat: fresh answers
                    max_cost_usd=check.max_cost,
                    trace=trace,
                    **settings.router,
                )
                try:
                    result = await run_eval(
                        flow_path,
                        items,
                        judges,
                        router,
                        trace,
                        model=model,
                        kind=kind,
                        concurrency=settings.concurrency,
                    )
                    result["cost_usd"] = router.usage.cost_usd
                finally:
                    router.close()
            summary = result["summary"]
            report = eval_report(check.eval, kind.metric if kind else metric, summary, data=data, model=model)
            rep_dir.mkdir(parents=True, exist_ok=True)
            (rep_dir / "report.md").write_text(to_markdown(report), encoding="utf-8")
            (rep_dir / "report.html").write_text(to_html(report), encoding="utf-8")
            saved.write_text(json.dumps(result, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        run.reports.append(str(rep_dir / "report.html"))
        summary = result["summary"]
        mean = (summary.get("mean_of_judges") or {}).get("mean")
        run.repetitions.append(
            {
                metric: mean,
                "failed_items": float(len(summary["failed_items"])),
                "cost_usd": result.get("cost_usd"),
            }
        )
        for record in result["records"]:
            run.units.append(_eval_unit(record, index, metric, bar))


def _custom_metric(check: EvalCheck) -> str:
    """A custom eval flow reports whichever of the three figures its requirements name."""
    for requirement in check.requirements():
        if requirement.metric in EVAL_METRICS.values():
            return requirement.metric
    return "mean_score"


def _eval_unit(record: dict[str, Any], index: int, metric: str, bar: Any) -> UnitOutcome:
    value = record.get("mean_of_judges")
    if "error" in record:
        return UnitOutcome(str(record["id"]), index, False, "error", str(record["error"]))
    if value is None:
        return UnitOutcome(
            str(record["id"]), index, False, "no readable judgement", json.dumps(record["judges"])[:2000]
        )
    passed = bar.holds(value) if bar is not None else True
    if metric == "win_rate":  # the mean of the judges' B shares: 1 B wins, 0 A wins, between: split or tie
        verdict = {1.0: "B wins", 0.0: "A wins", 0.5: "tie"}.get(value, f"B win share {value:.3g}")
        message = f"{verdict} (the judged response is B)"
    elif metric == "accuracy":
        message = {1.0: "correct", 0.0: "incorrect"}.get(
            value, f"judged correct by {value:.0%} of the judges"
        )
    else:
        message = f"score {value:.3g}" + ("" if passed or bar is None else f" (needs {bar.op} {bar.bound:g})")
    return UnitOutcome(
        str(record["id"]), index, passed, message, json.dumps(record["judges"], default=str)[:2000]
    )


# --- run ---------------------------------------------------------------------------------------------
async def _run(check: RunCheck, loaded: LoadedConfig, settings: GateSettings, run: CheckRun) -> None:
    from alphaflow.engine import RunContext, load_flow, run_flow
    from alphaflow.engine.templating import TemplateCache, TemplateError
    from alphaflow.models import build_router
    from alphaflow.sandbox import open_sandbox
    from alphaflow.trace import Trace

    flow = load_flow(flow_ref(check.flow, loaded))
    inputs = {**check.set, **check.inputs}
    model = model_for(check, loaded, settings)
    templates = TemplateCache()
    run.totals = {"runs": 1}
    records: list[dict[str, Any]] = []
    with Trace(run.run_dir / "trace.jsonl") as trace:
        router = build_router(  # one router for every repeat: one budget, one cache keyed by sample index
            model,
            api_base=settings.api_base or check.api_base or loaded.config.api_base,
            cache_path=str(run.run_dir / "model_cache.sqlite"),
            max_cost_usd=check.max_cost,
            trace=trace,
            **settings.router,
        )
        try:
            for index in range(check.repeat):
                saved = run.run_dir / f"repeat_{index + 1}.json"
                if settings.resume and saved.exists():
                    records.append(json.loads(saved.read_text(encoding="utf-8")))
                    continue
                spent = router.usage.cost_usd
                context = RunContext(
                    router=router,
                    sandbox_factory=lambda: open_sandbox(backend=settings.sandbox),
                    trace=trace,
                    model=model,
                    sample_index=index,
                )
                record: dict[str, Any] = {"outputs": None, "passed": False, "error": None}
                try:
                    result = await run_flow(flow, inputs=inputs, context=context)
                    record["outputs"] = result.outputs
                    record["seconds"] = result.duration_s
                    scope = {"outputs": result.outputs, "inputs": inputs}
                    record["passed"] = bool(templates.evaluate(check.expect, scope))
                except TemplateError as error:  # e.g. an output the flow does not have
                    record["error"] = f"expect: {error}"
                except UserError as error:
                    record["error"] = str(error).splitlines()[0]
                    if error.exit_code == 3:  # the budget: stop the check, keep what finished
                        run.error = str(error)
                now = router.usage.cost_usd
                record["cost_usd"] = None if now is None or spent is None else now - spent
                saved.write_text(json.dumps(record, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
                records.append(record)
                if run.error:
                    break
        finally:
            router.close()
    for index, record in enumerate(records):
        passed = bool(record["passed"])
        run.repetitions.append(
            {"pass_rate": float(passed), "passed": float(passed), "cost_usd": record.get("cost_usd")}
        )
        outputs = json.dumps(record.get("outputs"), ensure_ascii=False, default=str)[:2000]
        message = (
            "expect held"
            if passed
            else (f"error: {record['error']}" if record.get("error") else f"expect failed: {check.expect}")
        )
        run.units.append(
            UnitOutcome(
                f"{check.flow} [run {index + 1}]",
                index,
                passed,
                message,
                f"outputs: {outputs}",
                float(record.get("seconds") or 0.0),
            )
        )
