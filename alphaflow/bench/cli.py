"""``alphaflow bench``: run CodeContests benchmarks and report on them.

alphaflow bench codecontests --data SRC --flow F --model M --samples K --concurrency C --out RUN_DIR
alphaflow bench report RUN_DIR [--compare RUN_DIR2 ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from alphaflow.models.cli import add_router_options
from alphaflow.sandbox.cli import add_case_flag


def register(subparsers: Any) -> None:
    bench = subparsers.add_parser("bench", help="benchmark flows and models on CodeContests")
    commands = bench.add_subparsers(dest="bench_command", metavar="BENCH_COMMAND")
    bench.set_defaults(func=lambda args: (bench.print_help(), 2)[1])
    _register_codecontests(commands)
    _register_report(commands)


def _register_codecontests(commands: Any) -> None:
    run = commands.add_parser(
        "codecontests",
        help="run a flow (or the gold solutions) on CodeContests problems",
        description="K independent flow runs per problem, judged on the private + generated tests the "
        "flow never sees. Results are appended durably to RUN_DIR/results.jsonl; --resume continues.",
        epilog="exit codes: 0 the run finished (wrong answers are results, not failures); 1 every unit "
        "failed (the first error is printed); 2 bad arguments or data; 3 stopped early (--max-cost); "
        "130 interrupted (finished units are kept; --resume continues)",
    )
    run.add_argument(
        "--data", required=True, help="hf:deepmind/code_contests | codecontests | FILE.jsonl | DIR"
    )
    run.add_argument(
        "--out", required=True, metavar="RUN_DIR", help="run directory (meta.json, results.jsonl)"
    )
    run.add_argument("--flow", default="direct", help="flow name or path, or 'gold' for reference solutions")
    run.add_argument("--model", help="model for the flow's llm steps (any litellm string, or scripted:FILE)")
    run.add_argument("--samples", type=int, default=1, metavar="K", help="independent runs per problem")
    run.add_argument(
        "--concurrency",
        type=int,
        default=4,
        metavar="C",
        help="units (problem x sample) solving at once; a solved unit frees its place while it is judged",
    )
    run.add_argument("--resume", action="store_true", help="continue RUN_DIR, skipping recorded units")
    run.add_argument("--retry-errors", action="store_true", help="with --resume: rerun units that errored")
    run.add_argument("--split", help="train | valid | test (HF dataset or dataset directory; default valid)")
    run.add_argument("--limit", type=int, help="at most N problems (after the filters)")
    run.add_argument("--names", help="comma-separated problem names")
    run.add_argument("--difficulty", help="comma-separated difficulties: A,B,... or EASY,... or numbers")
    run.add_argument("--tags", help="comma-separated tags; a problem with any of them is kept")
    run.add_argument("--language", default="python", help="language the flow writes (python | cpp)")
    run.add_argument("--sandbox", default="auto", choices=("auto", "docker", "local"), help="sandbox backend")
    run.add_argument("--pool-size", type=int, help="docker pool size (default: CPU count)")
    run.add_argument("--time-limit", type=float, metavar="S", help="override every problem's time limit")
    run.add_argument("--memory-limit", type=int, metavar="MB", help="override every problem's memory limit")
    add_case_flag(run)
    run.add_argument("--cache", metavar="PATH", help="model cache (default RUN_DIR/model_cache.sqlite)")
    run.add_argument(
        "--set",
        "--input",
        "-i",
        dest="set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a flow input (a YAML value; @FILE reads YAML/JSON; repeatable)",
    )
    run.add_argument("--json", action="store_true", help="no progress bar; print one JSON summary line")
    add_router_options(run, model_concurrency_default=None)  # --model-concurrency default: max(8, C)
    from alphaflow.executors import add_executor_options

    add_executor_options(run)
    run.set_defaults(func=codecontests_command)


def _register_report(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="tables, Markdown, HTML with plots and a JSON summary of one or more runs",
        epilog="exit codes: 0 the report was written; 2 a RUN_DIR is not a benchmark run (or its "
        "meta.json is corrupt)",
    )
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--compare", nargs="+", default=[], metavar="RUN_DIR2", help="runs to put beside it")
    report.add_argument(
        "--out", metavar="DIR", help="where report.md/.html/.json go (default RUN_DIR/report)"
    )
    report.add_argument("--json", action="store_true", help="print the JSON summary instead of the table")
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    report.set_defaults(func=report_command)


def parse_sets(values: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` values as YAML (the flow is loaded later, per solver): the one parser."""
    from alphaflow.engine.inputs import parse_assignments

    return parse_assignments(values, None, flag="--set")


def _router_extra(args: argparse.Namespace) -> dict[str, Any]:
    """The shared model flags bench does not handle itself (endpoint, budget, cache, concurrency)."""
    from alphaflow.models.cli import router_options

    options = router_options(args)
    for own in ("api_base", "concurrency", "cache_path", "max_cost_usd"):
        options.pop(own)
    return options


def codecontests_command(args: argparse.Namespace) -> int:
    from alphaflow.bench.codecontests import (
        BenchOptions,
        all_failed,
        first_error,
        resume_command,
        run_codecontests,
        summary_line,
    )
    from alphaflow.bench.datasets import split_csv

    options = BenchOptions(
        data=args.data,
        out=args.out,
        flow=args.flow,
        model=args.model,
        api_base=args.api_base,
        samples=args.samples,
        concurrency=args.concurrency,
        model_concurrency=args.model_concurrency,
        max_cost=args.max_cost,
        resume=args.resume,
        retry_errors=args.retry_errors,
        split=args.split,
        limit=args.limit,
        names=split_csv(args.names),
        difficulty=split_csv(args.difficulty),
        tags=split_csv(args.tags),
        language=args.language,
        sandbox=args.sandbox,
        pool_size=args.pool_size,
        time_limit_s=args.time_limit,
        memory_limit_mb=args.memory_limit,
        case_insensitive=args.case_insensitive,
        cache=args.cache,
        no_cache=args.no_cache,
        router_extra=_router_extra(args),
        flow_inputs=parse_sets(args.set),
        quiet=args.json,
        executor=args.executor,
        ray_address=args.ray_address,
        argv=sys.argv[1:] if sys.argv and sys.argv[0] else None,
    )
    try:
        outcome = asyncio.run(run_codecontests(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            f"alphaflow: interrupted; every finished unit is saved in {options.out}/results.jsonl\n"
            f"resume with: {resume_command(options)}",
            file=sys.stderr,
        )
        return 130
    if args.json:
        from alphaflow.bench.metrics import summarize

        summary = summarize(outcome.results)
        summary.pop("per_problem")
        print(json.dumps({"run_dir": str(outcome.run_dir), "stopped": outcome.stopped, **summary}))
    else:
        from alphaflow.bench.report import load_run, print_terminal

        if outcome.results:
            print_terminal([load_run(outcome.run_dir)])
        print(summary_line(outcome))
        run_dir = outcome.run_dir
        if (run_dir / "results.jsonl").exists():
            print(f"results: {run_dir}/results.jsonl   report: alphaflow bench report {run_dir}")
        else:
            print(f"no unit finished: nothing written to {outcome.run_dir}/results.jsonl")
    if outcome.stopped:
        print(
            f"alphaflow: stopped early: {outcome.stopped}\nresume with: {resume_command(options)}",
            file=sys.stderr,
        )
        return 3
    if all_failed(outcome):
        print(
            f"alphaflow: error: every unit failed ({len(outcome.results)} of {len(outcome.results)}); "
            f"first: {first_error(outcome)}",
            file=sys.stderr,
        )
        return 1
    return 0


def report_command(args: argparse.Namespace) -> int:
    from alphaflow.bench.report import build_report

    return build_report(args.run_dir, compare=args.compare, out=args.out, as_json=args.json, seed=args.seed)
