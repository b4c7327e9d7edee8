"""``alphaflow sandbox ...``: run, verify, doctor, cleanup (and build, from ``image.py``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError

EXTENSION_LANGUAGES = {".py": "python", ".cpp": "cpp", ".cc": "cpp", ".cxx": "cpp", ".c++": "cpp"}


def register(subparsers: argparse._SubParsersAction) -> None:
    sandbox = subparsers.add_parser(
        "sandbox", help="judge code in the sandbox; check and clean up the sandbox itself"
    )
    sandbox.set_defaults(func=lambda args: sandbox.print_help() or 2)
    commands = sandbox.add_subparsers(dest="sandbox_command", metavar="COMMAND")

    run = commands.add_parser("run", help="judge one solution file against a problem's tests")
    run.add_argument("solution", metavar="SOLUTION_FILE")
    run.add_argument(
        "--problem",
        required=True,
        metavar="PROBLEM",
        help="the problem, as solve takes it: a Markdown/text statement (its examples are the tests), "
        "a YAML/JSON problem, or DATASET.jsonl#NAME (or DATASET.jsonl with --name)",
    )
    run.add_argument("--name", help="the problem's name in a .jsonl dataset (or write DATASET.jsonl#NAME)")
    run.add_argument("--language", help="python or cpp (default: from the file extension)")
    run.add_argument("--tests", choices=("public", "all"), default="all", help="which tests (default all)")
    run.add_argument("--stop-on-first-failure", action="store_true")
    add_case_flag(run)
    _add_limit_flags(run)
    _add_backend_flags(run)
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(func=cmd_run)

    verify = commands.add_parser("verify", help="judge every reference solution of a dataset")
    verify.add_argument("dataset", metavar="DATASET.jsonl")
    verify.add_argument("--limit", type=int, metavar="N", help="only the first N problems")
    _add_limit_flags(verify)
    _add_backend_flags(verify)
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(func=cmd_verify)

    doctor = commands.add_parser("doctor", help="check the engine, the image and the runtimes")
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(func=cmd_doctor)

    cleanup = commands.add_parser(
        "cleanup",
        help="remove sandbox containers left by alphaflow runs that are gone",
        description="Removes the alphaflow sandbox containers whose owning process on this host no longer "
        "runs (a killed run's pool). Containers of runs still going are kept unless --all.",
    )
    cleanup.add_argument(
        "--all", action="store_true", help="remove every alphaflow sandbox container, running runs' too"
    )
    cleanup.set_defaults(func=cmd_cleanup)

    try:
        from alphaflow.sandbox.image import add_build_command
    except ImportError:
        return
    add_build_command(commands)


def add_case_flag(parser: argparse.ArgumentParser) -> None:
    """``--case-insensitive``: the same flag on every command that judges (sandbox run, solve, bench)."""
    parser.add_argument(
        "--case-insensitive",
        action="store_true",
        default=None,
        help="compare output tokens case-insensitively (default: when the statement says answers may "
        "be printed in any case; see docs/sandbox.md)",
    )


def _add_limit_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-limit", type=float, metavar="S", help="CPU seconds per test (default: problem's)"
    )
    parser.add_argument("--memory-limit", type=int, metavar="MB", help="MiB per test (default: problem's)")


def _add_backend_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        "--backend",
        dest="backend",
        choices=("auto", "docker", "local"),
        default="auto",
        help="auto (the default) needs Docker; local judges on this host with weaker isolation",
    )
    parser.add_argument("--pool-size", type=int, metavar="N", help="warm containers (default: CPU count)")
    parser.add_argument("--runtime", help="docker runtime, e.g. runsc (gVisor)")


def _limit_overrides(args: argparse.Namespace) -> tuple[float | None, int | None]:
    if args.time_limit is not None and args.time_limit <= 0:
        raise UserError(f"--time-limit {args.time_limit}: must be positive")
    if args.memory_limit is not None and args.memory_limit <= 0:
        raise UserError(f"--memory-limit {args.memory_limit}: must be positive (MiB)")
    memory = args.memory_limit << 20 if args.memory_limit else None
    return args.time_limit, memory


def _open(args: argparse.Namespace) -> Any:
    from alphaflow.sandbox.backends import open_sandbox

    return open_sandbox(args.backend, pool_size=args.pool_size, runtime=args.runtime)


def guess_language(path: Path, language: str | None) -> str:
    if language:
        return language
    guessed = EXTENSION_LANGUAGES.get(path.suffix.lower())
    if guessed is None:
        raise UserError(f"{path}: cannot tell the language from the extension; pass --language python|cpp")
    return guessed


# --- run ------------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from alphaflow.sandbox.types import Limits, TokenChecker

    path = Path(args.solution)
    if not path.is_file():
        raise UserError(f"{path}: no such solution file")
    try:
        code = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    language = guess_language(path, args.language)
    problem = _problem_for_run(args.problem, args.name)
    tests = problem.public_tests if args.tests == "public" else problem.all_tests
    if not tests:
        which = "public tests" if args.tests == "public" else "tests at all"
        raise UserError(f"{args.problem}: problem {problem.name!r} has no {which}")
    time_s, memory_bytes = _limit_overrides(args)
    limits = Limits.for_problem(problem, time_s=time_s, memory_bytes=memory_bytes)
    checker = TokenChecker.for_problem(problem, args.case_insensitive)

    async def judge() -> Any:
        async with _open(args) as sandbox:
            return await sandbox.judge(
                code,
                language,
                tests,
                limits=limits,
                checker=checker,
                stop_on_first_failure=args.stop_on_first_failure,
            )

    result = asyncio.run(judge())
    if args.json:
        data = result.to_dict()
        data["problem"] = problem.name
        print(json.dumps(data))
    else:
        _print_result(result, problem.name)
    return 0 if result.verdict == "AC" else 1


def _print_result(result: Any, problem_name: str) -> None:
    from rich.table import Table

    from alphaflow.console import Console

    console = Console()
    table = Table(title=f"{problem_name} - {result.language} on {result.backend}")
    for column in ("#", "kind", "verdict", "cpu s", "wall s", "memory KiB", "note"):
        table.add_column(
            column, justify="right" if column in ("#", "cpu s", "wall s", "memory KiB") else "left"
        )
    for index, test in enumerate(result.tests, start=1):
        style = "green" if test.verdict == "AC" else "red"
        table.add_row(
            str(index),
            test.kind,
            f"[{style}]{test.verdict}[/]",
            f"{test.cpu_s:.3f}",
            f"{test.wall_s:.3f}",
            str(test.memory_kb),
            (test.message or "")[:60],
        )
    console.print(table)
    if result.verdict == "CE":
        console.print(result.compile_output[-2000:], markup=False, highlight=False)
    style = "bold green" if result.verdict == "AC" else "bold red"
    if result.checker.get("case_sensitive") is False:
        console.print("outputs compared case-insensitively")
    console.print(
        f"[{style}]{result.verdict}[/] {result.passed}/{result.total} passed in {result.seconds:.2f} s"
        + (f" - {result.message}" if result.message else "")
    )
    _print_isolation(result.isolation, console)


def _print_isolation(isolation: dict[str, str], console: Any) -> None:
    """One line naming what the backend did not enforce (the local backend on a limited host)."""
    from alphaflow.sandbox.local import not_enforced

    weak = not_enforced(isolation)
    if weak:
        console.print(f"[yellow]not enforced:[/] {'; '.join(weak)}", highlight=False)


# --- verify ---------------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from alphaflow.console import Console
    from alphaflow.problems import load_jsonl
    from alphaflow.sandbox.verify import verify_problems

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit {args.limit}: must be at least 1")
    problems = load_jsonl(args.dataset)[: args.limit]
    time_s, memory_bytes = _limit_overrides(args)
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[bad]} unexpected"),
        TimeElapsedColumn(),
        console=console,
        transient=args.json,
    )
    task = progress.add_task("verify", total=None, bad=0)
    unexpected = 0

    def judged(outcome: Any) -> None:
        nonlocal unexpected
        unexpected += not outcome.as_expected
        progress.update(task, advance=1, bad=unexpected)

    async def verify() -> Any:
        async with _open(args) as sandbox:
            if hasattr(sandbox, "warm"):
                await sandbox.warm()
            return await verify_problems(
                problems,
                sandbox,
                time_s=time_s,
                memory_bytes=memory_bytes,
                on_judged=judged,
                on_queued=lambda n: progress.update(task, total=n),
            )

    with progress:
        report = asyncio.run(verify())
    data = report.to_dict()
    if args.json:
        print(json.dumps(data))
    else:
        _print_verify(data, Console())
    return 0 if report.ok else 1


def _print_verify(data: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    correct, incorrect = data["correct"], data["incorrect"]
    console.print(
        f"{data['problems']} problems in {data['seconds']:.1f} s: "
        f"correct solutions accepted {correct['accepted']}/{correct['total']}, "
        f"incorrect solutions rejected {incorrect['rejected']}/{incorrect['total']}, "
        f"unsupported {data['unsupported']} {data['unsupported_languages'] or ''}"
    )
    console.print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(data["verdicts"].items())))
    if data["failures"]:
        table = Table(title="unexpected verdicts")
        for column in ("problem", "solution", "expected", "verdict", "passed", "note"):
            table.add_column(column)
        for failure in data["failures"]:
            table.add_row(
                failure["problem"],
                f"{'correct' if failure['should_pass'] else 'incorrect'} #{failure['index']}",
                "accept" if failure["should_pass"] else "reject",
                failure["verdict"],
                f"{failure['passed']}/{failure['total']}",
                failure["message"][:60],
            )
        console.print(table)


# --- doctor and cleanup ---------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    from alphaflow.sandbox.doctor import run_checks

    checks = run_checks()
    if args.json:
        print(
            json.dumps(
                {"ok": all(c.ok or c.optional for c in checks), "checks": [c.to_dict() for c in checks]}
            )
        )
    else:
        for check in checks:
            mark = "ok  " if check.ok else ("warn" if check.optional else "FAIL")
            print(f"[{mark}] {check.name}: {check.detail}")
            if not check.ok and check.fix:
                print(f"       fix: {check.fix}")
    return 0 if all(c.ok or c.optional for c in checks) else 1


def cmd_cleanup(args: argparse.Namespace) -> int:
    from alphaflow.sandbox.backends import docker_client
    from alphaflow.sandbox.docker_pool import labelled_containers, reap_orphans, remove_labelled

    client, why = docker_client()
    if client is None:
        raise UserError(f"sandbox cleanup: {why}")
    removed = remove_labelled(client) if args.all else reap_orphans(client)
    kept = 0 if args.all else len(labelled_containers(client))
    note = f"; kept {kept} of runs still going (--all removes them too)" if kept else ""
    print(f"removed {removed} sandbox container{'s' if removed != 1 else ''}{note}", file=sys.stderr)
    return 0


def _problem_for_run(problem: str, name: str | None) -> Any:
    """``--problem`` as ``solve`` reads it; in a ``.jsonl`` dataset ``--name`` (or ``#NAME``) picks one."""
    from alphaflow.solve.problem_source import load_problem

    if name and "#" not in problem:
        problem = f"{problem}#{name}"
    loaded = load_problem(problem)
    for warning in loaded.warnings:
        print(f"alphaflow: warning: {warning}", file=sys.stderr)
    return loaded.problem
