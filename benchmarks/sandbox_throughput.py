"""Sandbox throughput: warm pool vs one ``docker run`` per test vs the local backend.

Judges the same trivial programs and tests (a) through the warm docker pool, (b) with one
``docker run --rm --network none`` per test (the naive baseline, kept small), and (c) through the local
backend, and prints per-test cost and overhead of each and the speed-up of (a) over (b).

Workloads:
- ``trivial_300``: a Python echo program against 300 one-line tests (target: <= 0.4 s wall in the
  warm pool, issue 9; 0.67 s before the runner became a package with a leaner fork server);
- ``many_tests``: the 12 problems of ``many_tests.jsonl`` (35-331 tests each) judged with the same echo
  program and no comparison, so the figure measures the harness, not the solutions.

"Overhead" is the wall time per test minus the program's own run time as the runner measured it.
Targets: pool overhead <= 10 ms per test and pool >= 20x faster than docker-run-per-test (issue 2),
300 trivial tests <= 0.4 s (issue 9). Other work on the machine inflates every figure: the load
average is printed beside them, and ``--repeat`` keeps the best of several trivial_300 runs.

    python benchmarks/sandbox_throughput.py [--json] [--baseline-tests 20] [--pool-size N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean
from typing import Any

from alphaflow.problems import load_jsonl
from alphaflow.resources import CHECKOUT_ROOT
from alphaflow.sandbox import JudgeResult, Limits, Sandbox, open_sandbox
from alphaflow.sandbox.runner.checker import compare_tokens

ECHO = "import sys\nsys.stdout.write(sys.stdin.read())\n"
TRIVIAL_TESTS = [{"input": f"{i}\n", "output": f"{i}\n"} for i in range(300)]
LIMITS = Limits(time_s=2.0, memory_bytes=256 << 20)
MANY_TESTS_CANDIDATES = [
    CHECKOUT_ROOT.parent / "shared" / "data" / "codecontests" / "many_tests.jsonl",
    Path("/work/shared/data/codecontests/many_tests.jsonl"),
]
TARGET_OVERHEAD_MS = 10.0
TARGET_SPEEDUP = 20.0
TARGET_TRIVIAL_300_S = 0.4


def many_tests_workload() -> list[list[dict[str, Any]]]:
    path = next((p for p in MANY_TESTS_CANDIDATES if p.exists()), None)
    if path is None:
        return []
    # output None: the runner does not compare, so only the harness is measured.
    return [[{"input": t.input, "output": None} for t in p.all_tests] for p in load_jsonl(path)]


def _figures(results: list[JudgeResult], seconds: float, slots: int = 1) -> dict[str, Any]:
    """Per-test cost; overhead is the slot time per test not spent in the program itself.

    With ``slots`` solutions judged at once, each test occupies one slot, so the harness's share is
    (elapsed x slots - the programs' own wall time) / tests.
    """
    tests = [t for r in results for t in r.tests]
    count = len(tests)
    per_test_ms = seconds * 1000 / count if count else 0.0
    program_ms = mean(t.wall_s for t in tests) * 1000 if tests else 0.0
    return {
        "tests": count,
        "seconds": round(seconds, 3),
        "slots": slots,
        "per_test_ms": round(per_test_ms, 2),
        "program_ms": round(program_ms, 2),
        "overhead_ms": round(per_test_ms * slots - program_ms, 2),
        "verdicts": sorted({r.verdict for r in results}),
    }


async def measure_backend(
    sandbox: Sandbox, many: list[list[dict[str, Any]]], slots: int, repeat: int = 1
) -> dict[str, Any]:
    if hasattr(sandbox, "warm"):
        await sandbox.warm()
    await sandbox.judge(ECHO, "python", TRIVIAL_TESTS[:2], limits=LIMITS)  # first-use costs out of the way
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        trivial = await sandbox.judge(ECHO, "python", TRIVIAL_TESTS, limits=LIMITS)
        runs.append((time.perf_counter() - started, trivial))
    seconds, trivial = min(runs, key=lambda run: run[0])
    trivial_figures = _figures([trivial], seconds) | {"runs_s": [round(run[0], 3) for run in runs]}
    figures: dict[str, Any] = {"trivial_300": trivial_figures}
    if many:
        started = time.perf_counter()
        judged = await asyncio.gather(
            *(sandbox.judge(ECHO, "python", tests, limits=LIMITS) for tests in many)
        )
        seconds = time.perf_counter() - started
        figures["many_tests"] = _figures(judged, seconds, min(slots, len(many))) | {"problems": len(many)}
    return figures


def measure_docker_run(image: str, count: int) -> dict[str, Any]:
    """The naive way: a fresh container per test, output compared on the host with the runner's checker."""
    compare = compare_tokens
    tests = TRIVIAL_TESTS[:count]
    accepted = 0
    started = time.perf_counter()
    for test in tests:
        done = subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "-i",
                "--network",
                "none",
                "--user",
                "65534:65534",
                image,
                "python3",
                "-c",
                ECHO,
            ],
            input=test["input"].encode(),
            capture_output=True,
            timeout=60,
        )
        accepted += done.returncode == 0 and compare(test["output"], done.stdout.decode())[0]
    seconds = time.perf_counter() - started
    return {
        "tests": count,
        "seconds": round(seconds, 3),
        "per_test_ms": round(seconds * 1000 / count, 2),
        "accepted": accepted,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    many = many_tests_workload()
    slots = args.pool_size or os.cpu_count() or 1
    report: dict[str, Any] = {
        "benchmark": "sandbox_throughput",
        "cpus": os.cpu_count(),
        # Other work on the machine inflates every figure; the load average says how much there was.
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    pool = open_sandbox("docker", pool_size=slots, warn=False)
    async with pool:
        report["pool"] = await measure_backend(pool, many, slots, args.repeat) | {"size": pool.settings.size}
        image = pool.settings.image
    report["docker_run"] = measure_docker_run(image, args.baseline_tests)
    async with open_sandbox("local", pool_size=slots, warn=False) as local:
        report["local"] = await measure_backend(local, many, slots)
    report["load_average_after"] = round(os.getloadavg()[0], 2)
    pool_trivial = report["pool"]["trivial_300"]
    speedup = report["docker_run"]["per_test_ms"] / pool_trivial["per_test_ms"]
    report["docker_run"]["overhead_ms"] = round(
        report["docker_run"]["per_test_ms"] - pool_trivial["program_ms"], 2
    )
    report["speedup_pool_vs_docker_run"] = round(speedup, 1)
    report["targets"] = {
        "pool_overhead_ms<=10": pool_trivial["overhead_ms"] <= TARGET_OVERHEAD_MS,
        "speedup>=20": speedup >= TARGET_SPEEDUP,
        "trivial_300_s<=0.4": pool_trivial["seconds"] <= TARGET_TRIVIAL_300_S,
    }
    return report


def print_report(report: dict[str, Any]) -> None:
    print(
        f"sandbox throughput on {report['cpus']} CPUs (pool size {report['pool']['size']}; load average "
        f"{report['load_average_before']} before, {report['load_average_after']} after)"
    )
    header = ("backend", "workload", "tests", "seconds", "ms/test", "program", "overhead")
    print("{:<12} {:<12} {:>6} {:>8} {:>8} {:>8} {:>9}".format(*header))
    for backend in ("pool", "local"):
        for workload, figures in report[backend].items():
            if not isinstance(figures, dict):
                continue
            print(
                f"{backend:<12} {workload:<12} {figures['tests']:>6} {figures['seconds']:>8.2f} "
                f"{figures['per_test_ms']:>8.2f} {figures['program_ms']:>8.2f} {figures['overhead_ms']:>9.2f}"
            )
    baseline = report["docker_run"]
    print(
        f"{'docker run':<12} {'trivial':<12} {baseline['tests']:>6} {baseline['seconds']:>8.2f} "
        f"{baseline['per_test_ms']:>8.2f} {'':>8} {baseline['overhead_ms']:>9.2f}"
    )
    print(f"warm pool is {report['speedup_pool_vs_docker_run']}x faster per test than docker-run-per-test")
    trivial = report["pool"]["trivial_300"]
    print(f"300 trivial tests in the warm pool: {trivial['seconds']:.3f} s (runs: {trivial['runs_s']})")
    for target, met in report["targets"].items():
        print(f"  target {target}: {'met' if met else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--baseline-tests", type=int, default=20, help="tests for the docker-run baseline")
    parser.add_argument("--pool-size", type=int, default=None, help="warm containers (default: CPU count)")
    parser.add_argument("--repeat", type=int, default=5, help="trivial_300 runs on the pool; the best counts")
    args = parser.parse_args()
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
