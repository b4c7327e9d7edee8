"""How well `alphaflow bench codecontests` overlaps units: wall time against the ideal critical path.

A scripted OpenAI-compatible model answers every AlphaCodium stage after a fixed latency (1 s by
default), with answers that take the flow's shortest path (the first program is the problem's reference
solution, so no fix round runs). The same problems x samples are benchmarked at several concurrency
levels. The ideal is what a harness with zero overhead would take: units are list-scheduled over C
slots in plan order, each lasting (its sequential model calls x latency), counted from the results.
Target: wall <= 1.15x ideal at concurrency 16. When concurrency 1 is among the levels (first), a second
figure adds the sandbox time each unit needed there, and the bound of all sandbox work spread over
every CPU: on a machine with few cores the judge, not the harness, sets the pace.

    .venv/bin/python benchmarks/codecontests_scaling.py            # 30 problems x 2 samples, C = 1, 4, 16
    .venv/bin/python benchmarks/codecontests_scaling.py --quick    # 8 x 2 at C = 4, 16 (CI-sized)
    .venv/bin/python benchmarks/codecontests_scaling.py --json     # one JSON line
    .venv/bin/python benchmarks/codecontests_scaling.py --concurrency 16 --executor ray
        # each level also on a local Ray cluster (pip install 'alphaflow[ray]'): its wall time over the
        # local executor's (target <= 1.15x), the overhead per unit (target <= 20 ms), same results
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from alphaflow.bench.codecontests import BenchOptions, run_codecontests
from alphaflow.problems import Problem, load_jsonl
from alphaflow.testing import Rule, ScriptedServer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "codecontests" / "train_sample.jsonl"
TARGET_RATIO = 1.15
TARGET_RAY_RATIO = 1.15  # the Ray executor's wall time over the local executor's, same run
TARGET_RAY_OVERHEAD_MS = 20.0  # per unit: driver round trip minus the unit's own wall time


def _yaml_block(data: dict[str, Any]) -> str:
    return "```yaml\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "```"


def shortest_path_rules(problems: list[Problem], latency_s: float) -> list[Rule]:
    """Answers for every AlphaCodium stage; the code is the reference solution of the asked problem."""

    def problem_of(request: Any) -> Problem:
        text = request.all_text
        for problem in problems:
            if problem.description[:300] in text:
                return problem
        raise ValueError("the request names no known problem")

    def explanations(request: Any) -> str:
        problem = problem_of(request)
        return _yaml_block(
            {
                "self_reflection": f"- {problem.name}: read the input, compute the answer, print it.",
                "tests_explanations": [
                    {"input": t.input, "output": t.output, "explanation": "as the statement says"}
                    for t in problem.public_tests
                ],
            }
        )

    def tests(request: Any) -> str:
        problem = problem_of(request)
        return _yaml_block(
            {
                "tests": [
                    {"input": t.input, "output": t.output, "explanation": "checked"}
                    for t in problem.public_tests
                ]
            }
        )

    def code(request: Any) -> str:
        return f"```python\n{problem_of(request).solutions[0].code}\n```"

    solutions = _yaml_block(
        {
            "possible_solutions": [
                {
                    "name": "Direct",
                    "content": "Follow the statement.",
                    "why_it_works": "It is the statement.",
                    "complexity": "fits the limits",
                },
                {
                    "name": "Careful",
                    "content": "Follow the statement, carefully.",
                    "why_it_works": "Same.",
                    "complexity": "fits the limits",
                },
            ]
        }
    )
    ranking = _yaml_block({"best_solution": "Direct", "ranking": ["Direct", "Careful"], "why": "simplest"})
    answers: list[tuple[str, Any]] = [
        ("*validate_reflection", explanations),
        ("*reflect", explanations),
        ("*propose", solutions),
        ("*rank", ranking),
        ("*validate_tests", tests),
        ("*generate_tests", tests),
        ("*initial_code", code),
        ("*", code),  # a fix stage, should the shortest path ever be left: answer with the reference
    ]
    return [Rule(step=step, response=response, latency_s=latency_s) for step, response in answers]


def ideal_makespan(unit_seconds: list[float], concurrency: int) -> float:
    """List scheduling in plan order over ``concurrency`` slots: what the worker queue does."""
    slots = [0.0] * min(concurrency, max(1, len(unit_seconds)))
    for seconds in unit_seconds:
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + seconds)
    return max(slots) if unit_seconds else 0.0


def run_level(
    problems: list[Problem],
    data: Path,
    concurrency: int,
    args: argparse.Namespace,
    workdir: Path,
    executor: str = "local",
) -> dict[str, Any]:
    run_name = f"c{concurrency}" if executor == "local" else f"c{concurrency}-{executor}"
    ray_stats = None
    if executor == "ray":
        from alphaflow.executors.ray_bench import RayRunStats

        ray_stats = RayRunStats()
    with ScriptedServer(shortest_path_rules(problems, args.latency)) as server:
        options = BenchOptions(
            data=str(data),
            out=str(workdir / run_name),
            flow=args.flow,
            model="openai/scripted",
            api_base=server.base_url,
            samples=args.samples,
            concurrency=concurrency,
            model_concurrency=max(concurrency, 1) * 2,
            limit=len(problems),
            sandbox=args.sandbox,
            pool_size=args.pool_size,
            no_cache=True,
            quiet=True,
            executor=executor,
            ray_stats=ray_stats,
            argv=[],
        )
        started = time.perf_counter()
        outcome = asyncio.run(run_codecontests(options))
        wall = time.perf_counter() - started
    by_key = {r.key: r for r in outcome.results}
    plan = [f"{p.name}#{i}" for p in problems for i in range(args.samples)]
    calls = [by_key[key].model_calls if key in by_key else 0 for key in plan]
    ideal = ideal_makespan([c * args.latency for c in calls], concurrency)
    latencies, sandbox_s = _trace_figures(workdir / run_name / "trace.jsonl")
    sandbox_s += sum(
        float((r.evaluation or {}).get("judge", {}).get("seconds") or 0) for r in outcome.results
    )
    units = max(1, len(outcome.results))
    row_extra: dict[str, Any] = {}
    if ray_stats is not None:
        overheads = sorted(ray_stats.overhead_s)
        row_extra = {
            "ray_nodes": len(ray_stats.workers),
            # Starting each node's worker (imports, model client, sandbox pool) is inside the wall time.
            "ray_startup_s": round(ray_stats.startup_s, 2),
            "overhead_ms_per_unit": round(1000 * sum(overheads) / len(overheads), 1) if overheads else None,
            # Ray's own share: driver -> worker, and worker reply -> driver (medians).
            "dispatch_ms_median": _median_ms(ray_stats.dispatch_s),
            "return_ms_median": _median_ms(ray_stats.return_s),
            "overhead_ms_p90": round(1000 * overheads[int(0.9 * (len(overheads) - 1))], 1)
            if overheads
            else None,
        }
    return {
        "executor": executor,
        "concurrency": concurrency,
        # Where the time went: model calls should stay near the scripted latency at any concurrency;
        # sandbox time (the flow's judge steps + the evaluation judgement) grows when CPUs are short.
        "model_call_mean_s": round(sum(latencies) / len(latencies), 3) if latencies else None,
        "sandbox_s_per_unit": round(sandbox_s / units, 3),
        "units": len(outcome.results),
        "solved_units": sum(r.solved for r in outcome.results),
        "errors": sum(r.error is not None for r in outcome.results),
        "sequential_calls_per_unit": sorted(set(calls)),
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
        "ratio": round(wall / ideal, 3) if ideal else None,
        "judgement_cache_hits": _cache_hits(workdir / run_name / "trace.jsonl"),
        **row_extra,
        "_unit_model_s": [c * args.latency for c in calls],
        "_outcomes": {r.key: _outcome(r) for r in outcome.results},
    }


def _median_ms(values: list[float]) -> float | None:
    return round(1000 * sorted(values)[len(values) // 2], 1) if values else None


def _outcome(result: Any) -> tuple[Any, ...]:
    """What a unit produced, minus timings: equal across executors when results are identical."""
    public, evaluation = result.public or {}, result.evaluation or {}
    return (
        result.solved,
        result.code,
        result.model_calls,
        result.error,
        public.get("verdict"),
        public.get("passed"),
        evaluation.get("verdict"),
        evaluation.get("passed"),
        evaluation.get("total"),
    )


def _cache_hits(path: Path) -> int:
    """Sandbox steps answered by the judgement cache (``cached: true`` on their ``step_end``)."""
    if not path.exists():
        return 0
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if '"cached": true' in line and '"step_end"' in line)


def add_machine_ideal(row: dict[str, Any], serial_sandbox_s: float) -> None:
    """A second, machine-aware ideal: each unit also needs the sandbox time it took at concurrency 1,
    and all sandbox work together cannot finish faster than on every CPU at once."""
    unit_seconds = [model_s + serial_sandbox_s for model_s in row["_unit_model_s"]]
    cpu_bound = len(unit_seconds) * serial_sandbox_s / (os.cpu_count() or 1)
    ideal = max(ideal_makespan(unit_seconds, row["concurrency"]), cpu_bound)
    row["ideal_with_sandbox_s"] = round(ideal, 2)
    row["ratio_with_sandbox"] = round(row["wall_s"] / ideal, 3) if ideal else None


def _start_ray(address: str | None) -> None:
    from alphaflow.executors import require_ray

    ray = require_ray()
    if address:
        ray.init(address=address, logging_level="WARNING")
    else:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING")


def _trace_figures(path: Path) -> tuple[list[float], float]:
    """Model-call latencies, and the summed duration of the flow's sandbox steps, from a run's trace."""
    latencies: list[float] = []
    sandbox_s = 0.0
    if not path.exists():
        return latencies, sandbox_s
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            if event.get("event") == "model_call" and event.get("latency_s") is not None:
                latencies.append(float(event["latency_s"]))
            elif event.get("event") == "step_end" and event.get("kind") == "sandbox":
                sandbox_s += float(event.get("duration_s") or 0)
    return latencies, sandbox_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--quick", action="store_true", help="8 problems x 2 samples at concurrency 4 and 16")
    parser.add_argument("--problems", type=int, default=30)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per scripted model call")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated levels")
    parser.add_argument("--flow", default="alphacodium", help="alphacodium (default) or direct")
    parser.add_argument("--sandbox", default="auto", choices=("auto", "docker", "local"))
    parser.add_argument("--pool-size", type=int, help="docker pool size (default: CPU count)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--keep", metavar="DIR", help="keep the run directories (traces, results) in DIR")
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="ray: also run each level on a local Ray cluster, beside the local executor",
    )
    parser.add_argument("--ray-address", help="a running Ray cluster (default: start a local one)")
    args = parser.parse_args(argv)
    if args.quick:
        args.problems, args.concurrency = min(args.problems, 8), "4,16"
    levels = [int(level) for level in args.concurrency.split(",") if level.strip()]

    from alphaflow.models.litellm_backend import import_litellm

    importing = time.perf_counter()
    import_litellm()  # once, outside every timed run; each Ray run's fresh workers import it inside theirs
    client_import_s = time.perf_counter() - importing
    problems = load_jsonl(args.data)[: args.problems]
    if args.executor == "ray":
        _start_ray(args.ray_address)  # the cluster is up before any timed run, as a real one would be
    rows = []
    ray_rows = []
    with tempfile.TemporaryDirectory(prefix="af-scaling-") as scratch:
        directory = args.keep or scratch
        subset = Path(directory) / "problems.jsonl"
        subset.write_text(
            "".join(line for line, _ in zip(args.data.open(encoding="utf-8"), problems, strict=False)),
            encoding="utf-8",
        )
        serial_sandbox_s: float | None = None  # per unit, measured at concurrency 1 (no contention)
        for level in levels:
            row = run_level(problems, subset, level, args, Path(directory))
            if level == 1:
                serial_sandbox_s = row["sandbox_s_per_unit"]
            if serial_sandbox_s is not None:
                add_machine_ideal(row, serial_sandbox_s)
            row.pop("_unit_model_s")
            local_outcomes = row.pop("_outcomes")
            rows.append(row)
            if not args.json:
                print(
                    f"concurrency {level:>2}: {row['units']} units ({row['solved_units']} solved, "
                    f"{row['errors']} errors), calls/unit {row['sequential_calls_per_unit']}, "
                    f"wall {row['wall_s']:.1f} s, ideal {row['ideal_s']:.1f} s, ratio {row['ratio']} "
                    f"(model call {row['model_call_mean_s']} s, "
                    f"sandbox {row['sandbox_s_per_unit']} s per unit)"
                    + (
                        f"; with the sandbox time of C=1 and {os.cpu_count()} CPUs: ideal "
                        f"{row['ideal_with_sandbox_s']:.1f} s, ratio {row['ratio_with_sandbox']}"
                        if "ideal_with_sandbox_s" in row
                        else ""
                    ),
                    file=sys.stderr if args.json else sys.stdout,
                )
            if args.executor == "ray":
                ray_row = run_level(problems, subset, level, args, Path(directory), executor="ray")
                ray_row.pop("_unit_model_s")
                ray_row["results_identical"] = ray_row.pop("_outcomes") == local_outcomes
                ray_row["ratio_to_local"] = round(ray_row["wall_s"] / row["wall_s"], 3)
                ray_row["ratio_to_local_after_startup"] = round(
                    (ray_row["wall_s"] - ray_row["ray_startup_s"]) / row["wall_s"], 3
                )
                # What a user of the CLI sees: there the local run imports the model client too.
                ray_row["ratio_to_local_both_importing"] = round(
                    ray_row["wall_s"] / (row["wall_s"] + client_import_s), 3
                )
                ray_rows.append(ray_row)
                if not args.json:
                    print(
                        f"  ray, {ray_row['ray_nodes']} node(s): wall {ray_row['wall_s']:.1f} s "
                        f"({ray_row['ratio_to_local']}x the local executor; start-up "
                        f"{ray_row['ray_startup_s']} s; {ray_row['ratio_to_local_after_startup']}x after it, "
                        f"{ray_row['ratio_to_local_both_importing']}x with the local run importing the "
                        f"model client ({client_import_s:.1f} s) as the CLI does), ratio to ideal "
                        f"{ray_row['ratio']}, overhead "
                        f"{ray_row['overhead_ms_per_unit']} ms per unit (p90 {ray_row['overhead_ms_p90']}; "
                        f"dispatch {ray_row['dispatch_ms_median']}, return {ray_row['return_ms_median']}), "
                        f"results identical: {ray_row['results_identical']}"
                    )
    top = max(rows, key=lambda row: row["concurrency"]) if rows else None
    verdict = {
        "benchmark": "codecontests_scaling",
        "flow": args.flow,
        "problems": len(problems),
        "samples": args.samples,
        "latency_s": args.latency,
        "client_import_s": round(client_import_s, 2),
        "levels": rows,
        "ratio_at_max_concurrency": top["ratio"] if top else None,
        "target_ratio": TARGET_RATIO,
        "meets_target": bool(top and top["ratio"] is not None and top["ratio"] <= TARGET_RATIO),
    }
    if ray_rows:
        ray_top = max(ray_rows, key=lambda row: row["concurrency"])
        verdict["ray"] = {
            "levels": ray_rows,
            "ratio_to_local_at_max_concurrency": ray_top["ratio_to_local"],
            "target_ratio_to_local": TARGET_RAY_RATIO,
            "target_overhead_ms": TARGET_RAY_OVERHEAD_MS,
            "meets_target": bool(
                ray_top["ratio_to_local"] <= TARGET_RAY_RATIO
                and (ray_top["overhead_ms_per_unit"] or 0) <= TARGET_RAY_OVERHEAD_MS
                and ray_top["results_identical"]
            ),
        }
    if args.json:
        print(json.dumps(verdict))
    else:
        level = top["concurrency"] if top else "-"
        print(
            f"ratio at concurrency {level}: {verdict['ratio_at_max_concurrency']} "
            f"(target <= {TARGET_RATIO}): {'met' if verdict['meets_target'] else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    from alphaflow.errors import UserError

    try:
        sys.exit(main())
    except UserError as error:  # e.g. no sandbox image: one line, as the CLI does
        print(f"codecontests_scaling: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
