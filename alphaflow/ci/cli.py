"""``alphaflow ci``: the quality gate, the fix mode for failing tests, and the sticky PR comment.

alphaflow ci gate --config alphaflow-ci.yaml [--baseline RUN_DIR_OR_JSON] [--junit FILE] [--json]
alphaflow ci fix --test-command "python3 -m unittest -v" [--repo DIR] [--patch FILE] [--apply]
alphaflow ci comment --body FILE      (inside GitHub Actions: one sticky comment per pull request)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from alphaflow.errors import UserError

DEFAULT_OUT = "alphaflow-ci-results"
GATE_EPILOG = """\
exit status: 0 when every check holds, 1 when one does not (threshold, regression, or a check that
could not finish), 2 for a usage or config error, 130 when interrupted (--resume continues)
"""
FIX_EPILOG = """\
exit status: 0 when the patch makes the failing tests pass and breaks none (or nothing fails),
1 when no verified patch was found, 2 for a usage error
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from alphaflow.models.cli import add_router_options

    ci = subparsers.add_parser(
        "ci", help="CI: a quality gate for flows and models, and a fix mode for failing tests"
    )
    commands = ci.add_subparsers(dest="ci_command", metavar="CI_COMMAND")
    ci.set_defaults(func=lambda args: (ci.print_help(), 2)[1])

    gate = commands.add_parser(
        "gate",
        help="run the checks of alphaflow-ci.yaml and fail when a requirement or the baseline is missed",
        description="Run each check (solve, bench, eval, run) of the config, hold it to its requirements "
        "and to --baseline, and write JUnit XML, a Markdown summary, GitHub annotations and outputs.",
        epilog=GATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gate.add_argument("--config", default="alphaflow-ci.yaml", metavar="FILE", help="the gate config")
    gate.add_argument(
        "--baseline", metavar="RUN_DIR_OR_JSON", help="a previous gate's --out dir or gate.json"
    )
    gate.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    gate.add_argument("--summary", metavar="FILE", help="write the Markdown summary here too")
    gate.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"run directories (default {DEFAULT_OUT})"
    )
    gate.add_argument(
        "--resume", action="store_true", help="continue the gate in --out, keeping finished units"
    )
    gate.add_argument("--model", help="the model of every check (overrides the config)")
    gate.add_argument("--sandbox", choices=("auto", "docker", "local"), help="where code is judged")
    gate.add_argument(
        "--report-url", metavar="URL", help="where OUT's parent is published (links in the summary)"
    )
    gate.add_argument("--json", action="store_true", help="print the gate result as one JSON object")
    add_router_options(gate)
    gate.set_defaults(func=gate_command)

    fix = commands.add_parser(
        "fix",
        help="propose a patch for failing tests, verified by re-running them in the sandbox",
        description="Run the repository's tests in isolation, run flows/ci_fix.yaml on the failures, and "
        "write a unified diff that makes them pass without breaking any test that passed. The working "
        "tree is never touched unless --apply.",
        epilog=FIX_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fix.add_argument("--test-command", required=True, metavar="CMD", help='e.g. "python3 -m unittest -v"')
    fix.add_argument("--repo", default=".", metavar="DIR", help="the repository (default: here)")
    fix.add_argument("--patch", metavar="FILE", help="write the unified diff here (default OUT/fix.patch)")
    fix.add_argument("--explanation", metavar="FILE", help="write the Markdown explanation here")
    fix.add_argument("--out", default="alphaflow-fix", metavar="DIR", help="patch, explanation, trace")
    fix.add_argument("--apply", action="store_true", help="apply a verified patch to the working tree")
    fix.add_argument(
        "--sandbox",
        choices=("docker", "local"),
        default="docker",
        help="docker: a container with no network (default); local: a subprocess on this machine (only on "
        "an ephemeral runner)",
    )
    fix.add_argument("--image", help="run the tests in this image instead of the sandbox image")
    fix.add_argument(
        "--setup-command",
        metavar="CMD",
        help="run in the copy before the tests, with network "
        "and without secrets (e.g. pip install --target .alphaflow-deps pytest)",
    )
    fix.add_argument("--test-timeout", type=float, default=300.0, metavar="S", help="seconds per test run")
    fix.add_argument(
        "--max-rounds", type=int, default=4, metavar="N", help="edit-and-test rounds (default 4)"
    )
    fix.add_argument("--flow", default="ci_fix", help="the fix flow (default: the built-in ci_fix)")
    fix.add_argument("--model", help="litellm model string, or scripted:SCRIPT.yaml")
    fix.add_argument("--json", action="store_true", help="print one JSON object")
    add_router_options(fix)
    fix.set_defaults(func=fix_command)

    comment = commands.add_parser(
        "comment",
        help="create or update the one sticky pull-request comment (GitHub Actions)",
        description="Reads GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_EVENT_PATH (the pull request) and the "
        "token from GITHUB_TOKEN. Outside a pull request it does nothing and exits 0.",
    )
    comment.add_argument("--body", required=True, metavar="FILE", help="the Markdown to post")
    comment.add_argument("--marker", default=None, help="the hidden marker that finds the comment")
    comment.add_argument("--number", type=int, help="the pull request (default: from the event payload)")
    comment.set_defaults(func=comment_command)


def gate_command(args: argparse.Namespace) -> int:
    from alphaflow.ci.checks import GateSettings
    from alphaflow.ci.config import load_config
    from alphaflow.ci.gate import run_gate

    loaded = load_config(args.config)
    out = Path(args.out)
    if not args.resume and ((out / "gate.json").exists() or (out / "checks").exists()):
        raise UserError(
            f"--out {out}: already holds a gate run; add --resume to continue it, or pick a new --out"
        )
    if args.baseline and Path(args.baseline).resolve() == out.resolve():
        raise UserError(f"--baseline {args.baseline}: is the --out of this run; keep the baseline elsewhere")
    settings = GateSettings(
        out=out,
        model=args.model,
        api_base=args.api_base,
        sandbox=args.sandbox or loaded.config.sandbox,
        concurrency=loaded.config.concurrency,
        router=_router_extra(args),
        resume=args.resume,
        quiet=args.json or not sys.stderr.isatty(),
        announce=not args.json,
    )
    if args.baseline:  # a bad baseline is a usage error before any model call
        from alphaflow.ci.gate import load_baseline

        load_baseline(args.baseline)
    try:
        result = asyncio.run(run_gate(loaded, settings, args.baseline))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            f"alphaflow: interrupted; finished units are kept in {out}\n"
            f"continue with: alphaflow ci gate --config {args.config} --out {out} --resume",
            file=sys.stderr,
        )
        return 130
    return publish(result, loaded, args)


def publish(result, loaded, args: argparse.Namespace) -> int:
    """Every output of a finished gate; returns the exit status."""
    from alphaflow.ci import github
    from alphaflow.ci.junit import write_junit
    from alphaflow.ci.summary import render_summary, write_summary

    junit = write_junit(result, args.junit or result.out / "junit.xml")
    text = render_summary(result, report_url=args.report_url, run_url=github.run_url())
    write_summary(text, result.out, args.summary)
    stream = sys.stderr if args.json else sys.stdout
    lines = []
    for verdict in result.checks:
        if not verdict.passed:
            lines.append(
                github.annotation(
                    "error",
                    "; ".join(verdict.reasons) or verdict.status,
                    title=f"alphaflow ci: {verdict.run.name} {verdict.status}",
                    file=str(loaded.path),
                    line=verdict.line,
                )
            )
        else:
            unknown = [r.requirement.text for r in verdict.requirements if r.value is None]
            if unknown:
                lines.append(
                    github.annotation(
                        "warning",
                        f"unknown value for {', '.join(unknown)}",
                        title=f"alphaflow ci: {verdict.run.name}",
                        file=str(loaded.path),
                        line=verdict.line,
                    )
                )
    if github.in_actions() or os.environ.get("GITHUB_OUTPUT"):
        github.emit(lines, stream)
    github.set_outputs(
        {
            "passed": "true" if result.passed else "false",
            "failed-checks": ",".join(v.run.name for v in result.checks if not v.passed),
            "summary-file": str(result.out / "summary.md"),
            "junit-file": str(junit),
            "json-file": str(result.out / "gate.json"),
            "out-dir": str(result.out),
        }
    )
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
    else:
        for verdict in result.checks:
            status = "ok  " if verdict.passed else verdict.status.upper()
            detail = (
                "; ".join(verdict.reasons)
                if verdict.reasons
                else ", ".join(f"{r.requirement.text} ({_fmt(r.value)})" for r in verdict.requirements)
            )
            print(f"{status:9} {verdict.run.name}: {detail}")
        held = sum(v.passed for v in result.checks)
        print(
            f"gate: {held} of {len(result.checks)} checks hold   junit: {junit}   "
            f"summary: {result.out}/summary.md"
        )
    return 0 if result.passed else 1


def _fmt(value) -> str:
    from alphaflow.ci.gate import fmt

    return fmt(value)


def fix_command(args: argparse.Namespace) -> int:
    from alphaflow.ci.fix import FixRequest, run_fix_command

    if args.max_rounds < 1:
        raise UserError(f"--max-rounds {args.max_rounds}: must be at least 1")
    if args.test_timeout <= 0:
        raise UserError(f"--test-timeout {args.test_timeout}: must be positive")
    if args.max_cost is not None and args.max_cost <= 0:
        raise UserError(f"--max-cost {args.max_cost}: must be positive")
    if args.image and args.sandbox == "local":
        raise UserError("--image runs the tests in a container: it needs --sandbox docker")

    request = FixRequest(
        repo=Path(args.repo),
        test_command=args.test_command,
        out=Path(args.out),
        patch=Path(args.patch) if args.patch else None,
        explanation=Path(args.explanation) if args.explanation else None,
        apply=args.apply,
        sandbox=args.sandbox,
        image=args.image,
        setup_command=args.setup_command,
        timeout_s=args.test_timeout,
        max_rounds=args.max_rounds,
        flow=args.flow,
        model=args.model or os.environ.get("ALPHAFLOW_MODEL"),
        api_base=args.api_base,
        max_cost=args.max_cost,
        router=_router_extra(args),
    )
    return run_fix_command(request, as_json=args.json)


def comment_command(args: argparse.Namespace) -> int:
    from alphaflow.ci import github
    from alphaflow.ci.comment import DEFAULT_MARKER, upsert_comment

    body_path = Path(args.body)
    try:
        body = body_path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"--body {body_path}: cannot read it: {error.strerror or error}") from None
    number = args.number or github.pull_request_number()
    if number is None:
        print("alphaflow ci comment: not a pull request event; nothing posted", file=sys.stderr)
        return 0
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    if not repository:
        raise UserError("GITHUB_REPOSITORY is not set (OWNER/NAME)")
    posted = upsert_comment(
        api_url=os.environ.get("GITHUB_API_URL", "https://api.github.com"),
        repository=repository,
        number=number,
        body=body,
        token=os.environ.get("GITHUB_TOKEN", ""),
        marker=args.marker or DEFAULT_MARKER,
    )
    print(f"alphaflow ci comment: {posted.action} comment {posted.id} on #{number}")
    return 0


def _router_extra(args: argparse.Namespace) -> dict:
    """The shared model options, less those a check sets itself (its endpoint, budget and cache)."""
    from alphaflow.models.cli import router_options

    own = ("api_base", "max_cost_usd", "cache_path")
    return {key: value for key, value in router_options(args).items() if key not in own}
