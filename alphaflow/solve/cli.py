"""``alphaflow solve PROBLEM``: run a flow (AlphaCodium by default) on one problem and judge the result."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.models.cli import add_router_options, router_options
from alphaflow.sandbox.cli import add_case_flag

MODEL_ENV = "ALPHAFLOW_MODEL"
EXAMPLES = """\
examples:
  alphaflow solve examples/problems/tile_painting.md --model openai/gpt-4o-mini
  alphaflow solve examples/problems/tile_painting.md --model scripted:examples/scripted/tile_painting.yaml
  alphaflow solve problem.md --model hosted_vllm/Qwen/Qwen2.5-Coder-7B-Instruct --api-base http://localhost:8000/v1
  alphaflow solve '../shared/data/codecontests/train_sample.jsonl#1242_A. Tile Painting' --flow direct
  alphaflow solve my_problem.json --set num_ai_tests=4 --set double_validation=false --max-cost 0.50

exit status: 0 when the final code passes every public test, 1 when not, 2 on a usage error
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "solve",
        help="solve one coding problem with a flow (AlphaCodium by default) and judge the code",
        description="Run a flow on one problem with live progress, then show the code, its verdicts on "
        "the public tests and, when the problem has them, on the private tests (evaluation only: the "
        "flow never sees them).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "problem",
        metavar="PROBLEM",
        help="a .md/.txt statement, a .yaml/.json problem (CodeContests fields), or DATASET.jsonl#NAME",
    )
    parser.add_argument("--flow", default="alphacodium", help="alphacodium (default), direct, or a flow file")
    parser.add_argument(
        "--model",
        help=f"litellm model string, or scripted:SCRIPT.yaml (default: the flow's model, else ${MODEL_ENV})",
    )
    parser.add_argument(
        "--language",
        choices=("python", "cpp"),
        default="python",
        help="the language the code is written and judged in (default: python)",
    )
    parser.add_argument("--out", metavar="FILE", help="save the final code here")
    add_case_flag(parser)
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="JSON-lines trace of the run (default: a new file "
        "under the temporary directory, kept and printed)",
    )
    parser.add_argument(
        "--set",
        "--input",
        "-i",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a flow input, e.g. --set num_ai_tests=4 (typed by the input's declaration; "
        "@FILE reads YAML/JSON; repeatable)",
    )
    parser.add_argument(
        "--sandbox",
        choices=("auto", "docker", "local"),
        default="auto",
        help="where code is judged (default: docker when available, else local)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    add_router_options(parser)
    parser.set_defaults(func=run_solve)


def run_solve(args: argparse.Namespace) -> int:
    from alphaflow.console import Console
    from alphaflow.solve.overrides import parse_overrides
    from alphaflow.solve.problem_source import load_problem
    from alphaflow.solve.progress import RunProgress, live_progress
    from alphaflow.solve.report import render
    from alphaflow.solve.session import SolveRequest, solve

    err = Console(stderr=True)
    loaded = load_problem(args.problem)
    if args.case_insensitive:
        loaded.problem.case_insensitive = True
    for warning in loaded.warnings:
        err.print(f"[yellow]alphaflow: warning:[/] {warning}", highlight=False, soft_wrap=True)
    flow = load_solve_flow(args.flow)
    model = resolve_model(args.model, flow.spec.model)
    overrides = parse_overrides(args.overrides, flow.spec)
    trace_path = args.trace or default_trace_path(loaded.problem.name)
    _check_writable(trace_path, "--trace")
    if args.out:
        _check_writable(args.out, "--out")
    request = SolveRequest(
        problem=loaded.problem,
        flow=flow,
        model=model,
        language=args.language,
        inputs=overrides,
        router_options=router_options(args),
        sandbox_backend=args.sandbox,
        trace_path=trace_path,
    )
    progress = RunProgress(flow.name, loaded.problem.name, model)
    try:
        with live_progress(progress, err, enabled=not args.json):
            outcome = asyncio.run(solve(request, progress))
    except KeyboardInterrupt:
        kept = f"alphaflow: interrupted; the trace so far is kept: {trace_path}"
        err.print(kept, highlight=False, soft_wrap=True)
        return 130
    outcome.warnings = list(loaded.warnings)
    cut = progress.cut_warning()
    if cut:
        outcome.warnings.append(cut)
        err.print(f"[yellow]alphaflow: warning:[/] {cut}", highlight=False, soft_wrap=True)
    if args.out:
        out = Path(args.out)
        try:
            out.write_text(
                outcome.code if outcome.code.endswith("\n") else outcome.code + "\n", encoding="utf-8"
            )
        except OSError as error:
            raise UserError(f"--out {out}: cannot write the code: {error.strerror or error}") from None
        outcome.out_path = str(out)
    if args.json:
        print(json.dumps(outcome.to_json(), ensure_ascii=False))
    else:
        render(outcome, Console())
    return 0 if outcome.public_passed else 1


def _check_writable(path_text: str, flag: str) -> None:
    """Fail before any model call when an output file cannot be written (a directory, no permission)."""
    path = Path(path_text)
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a directory, give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{flag} {path}: cannot create {path.parent}: {error.strerror or error}") from None
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise UserError(f"{flag} {path}: no permission to write there")


def load_solve_flow(name_or_path: str) -> Any:
    """A built-in flow by name, or a flow file; an unknown one lists the available flows."""
    from alphaflow.engine import load_flow
    from alphaflow.resources import flows_dir

    if not Path(name_or_path).is_file() and name_or_path not in available_flows():
        raise UserError(
            f"--flow {name_or_path}: no such flow file or built-in flow (available: "
            f"{', '.join(available_flows()) or 'none'} in {flows_dir()}, or give a path)"
        )
    return load_flow(name_or_path)


def available_flows() -> list[str]:
    """Names of the built-in flows that take a problem (the ones solve can run)."""
    from alphaflow.resources import flows_dir

    names = []
    for path in sorted(flows_dir().glob("*.y*ml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        name = re.search(r"^name:\s*['\"]?([\w./-]+)", text, re.MULTILINE)
        if name and re.search(r"^\s+problem:\s", text, re.MULTILINE):
            names.append(name.group(1))
    return names


def resolve_model(flag: str | None, flow_default: str | None) -> str:
    model = flag or flow_default or os.environ.get(MODEL_ENV)
    if not model:
        raise UserError(
            f"no model configured: pass --model (for example --model openai/gpt-4o-mini, or "
            f"--model scripted:SCRIPT.yaml for an offline dry run) or set {MODEL_ENV}"
        )
    return model


def default_trace_path(problem_name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", problem_name).strip("-").lower()[:40] or "problem"
    directory = Path(tempfile.gettempdir()) / "alphaflow-traces"
    return str(directory / f"solve-{slug}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl")
