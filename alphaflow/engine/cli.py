"""Commands: ``alphaflow run``, ``alphaflow flows validate|list|show``, ``alphaflow trace show``."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.models.cli import add_router_options, router_options

SANDBOX_BACKENDS = ("auto", "docker", "local")
FUNCTIONS_HELP = ("a module (name or path/to/file.py) whose @step_function functions the flow may call "
                  "besides the built-ins (repeatable; importing it runs its code)")


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="run a flow (a YAML file or a built-in name)")
    run.add_argument("flow", metavar="FLOW", help="path of a flow file, or the name of a built-in flow")
    run.add_argument(
        "--input",
        "-i",
        "--set",
        dest="input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a flow input (parsed by its declared type; @FILE reads YAML/JSON; repeatable)",
    )
    run.add_argument("--input-file", metavar="FILE", help="a YAML or JSON mapping of inputs")
    run.add_argument("--model", "-m", help="model for llm steps (litellm string, or scripted:SCRIPT.yaml)")
    run.add_argument("--trace", metavar="FILE", help="append the run's events (JSON lines) to FILE")
    run.add_argument("--sandbox", choices=SANDBOX_BACKENDS, default="auto", help="sandbox backend")
    run.add_argument("--sample-index", type=int, default=0, help="the run's sample index (for pass@k runs)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--functions", action="append", default=[], metavar="MODULE", help=FUNCTIONS_HELP)
    add_router_options(run)
    run.set_defaults(func=run_command)

    flows = subparsers.add_parser("flows", help="validate, list and show flows")
    flows_sub = flows.add_subparsers(dest="flows_command", metavar="COMMAND", required=True)
    validate = flows_sub.add_parser(
        "validate",
        help="check flow files; every problem as file:line:col",
        description="Checks every file given and every .yaml/.yml file in the folders given; a file "
        "that does not parse is reported with file:line, never skipped. A YAML mapping without "
        "`steps` found in a folder is listed as not a flow.",
        epilog="exit codes: 0 every flow is valid; 1 at least one file has a problem (each printed as "
        "file:line:col); 2 a folder holds no YAML file",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="flow files, or folders of them")
    validate.add_argument("--functions", action="append", default=[], metavar="MODULE", help=FUNCTIONS_HELP)
    validate.set_defaults(func=validate_command)
    listing = flows_sub.add_parser("list", help="the built-in flows")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=list_command)
    show = flows_sub.add_parser("show", help="a flow's step graph")
    show.add_argument("flow", metavar="NAME_OR_PATH")
    show.add_argument("--functions", action="append", default=[], metavar="MODULE", help=FUNCTIONS_HELP)
    show.set_defaults(func=show_command)

    trace = subparsers.add_parser("trace", help="read a run trace")
    trace_sub = trace.add_subparsers(dest="trace_command", metavar="COMMAND", required=True)
    trace_show = trace_sub.add_parser(
        "show",
        help="summarize a trace; --html writes a page to browse it",
        epilog="exit codes: 0 the trace was shown; 2 the file is missing or is not a trace (the first "
        "line that is not an event is named)",
    )
    trace_show.add_argument("file", metavar="FILE")
    trace_show.add_argument("--html", metavar="OUT.html", help="write a self-contained HTML page")
    trace_show.set_defaults(func=trace_show_command)


# -- flows -----------------------------------------------------------------------------------------
def validate_command(args: argparse.Namespace) -> int:
    from alphaflow.engine.loader import validate_flow
    from alphaflow.engine.resolve import iter_flow_files
    from alphaflow.errors import UserError

    files: list[Path] = []
    for given in args.files:
        path = Path(given)
        if path.is_dir():
            found = iter_flow_files(path)
            if not found:
                raise UserError(f"{path}: no .yaml/.yml files in the folder")
            files += found
        else:
            files.append(path)
    failed = False
    for file in files:
        if file not in map(Path, args.files) and _declares_no_steps(file):
            # Found in a folder, parsed, and no flow (a prompt or data file): said, not checked.
            print(f"{file}: not a flow (a YAML mapping without steps), not checked")
            continue
        problems = validate_flow(file, functions=args.functions)
        if problems:
            failed = True
            for problem in problems:
                print(problem)
        else:
            print(f"{file}: ok")
    return 1 if failed else 0


def _declares_no_steps(file: Path) -> bool:
    """True for a readable YAML mapping without ``steps``; a file that does not parse is a flow
    with an error (reported with file:line), never skipped."""
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "steps" not in data


def list_command(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from alphaflow.console import Console
    from alphaflow.engine.show import builtin_flows
    from alphaflow.resources import flows_dir

    flows = builtin_flows()
    if args.json:
        print(json.dumps([{"name": n, "description": d, "path": str(p)} for n, d, p in flows]))
        return 0
    table = Table(title=f"flows in {flows_dir()}")
    table.add_column("name", style="bold")
    table.add_column("file")
    table.add_column("description")
    for name, description, path in flows:
        short = first_sentence(description)
        table.add_row(escape(name), escape(str(path.relative_to(flows_dir()))), escape(short))
    Console().print(table)
    return 0


def show_command(args: argparse.Namespace) -> int:
    from alphaflow.console import Console
    from alphaflow.engine.loader import load_flow
    from alphaflow.engine.show import flow_tree

    Console().print(flow_tree(load_flow(args.flow, functions=args.functions)))
    return 0


# -- trace -----------------------------------------------------------------------------------------
def trace_show_command(args: argparse.Namespace) -> int:
    from alphaflow.console import Console
    from alphaflow.engine.traceview import load_events, print_summary, render_html

    path = Path(args.file)
    events = load_events(path)
    out = Path(args.html) if args.html else None
    if out is not None and not out.parent.is_dir():  # said before the tree is printed, not after
        raise UserError(f"--html {out}: the folder {out.parent} does not exist")
    print_summary(events, Console(), title=str(path))
    if out is not None:
        try:
            out.write_text(render_html(events, title=f"alphaflow trace {path.name}"), encoding="utf-8")
        except OSError as error:
            raise UserError(f"--html {out}: cannot write the page: {error.strerror or error}") from None
        print(f"wrote {out}")
    return 0


# -- run -------------------------------------------------------------------------------------------
# A sentence ends at ". " unless the word before the dot is an abbreviation ("et al.", "e.g.", "vs.").
_SENTENCE_END = re.compile(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\betc)(?<!\bcf)\.\s+(?=[A-Z(])")


def first_sentence(text: str, width: int = 160) -> str:
    """The first sentence of a description, for one table row; abbreviations do not end it, and a
    sentence longer than ``width`` characters is cut at a word boundary."""
    sentence = _SENTENCE_END.split(" ".join(text.split()), maxsplit=1)[0].rstrip(".")
    if len(sentence) <= width:
        return sentence
    return sentence[:width].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def collect_inputs(spec: Any, input_file: str | None, pairs: list[str]) -> dict[str, Any]:
    from alphaflow.engine.inputs import parse_assignments, read_data_file
    from alphaflow.errors import UserError

    inputs: dict[str, Any] = {}
    if input_file:
        data = read_data_file(Path(input_file), flag="--input-file")
        if not isinstance(data, dict):
            raise UserError(f"--input-file {input_file}: expected a mapping of input names to values")
        inputs.update(data)
    inputs.update(parse_assignments(pairs, spec, flag="--input"))
    return inputs


def run_command(args: argparse.Namespace) -> int:
    from alphaflow.engine.loader import load_flow
    from alphaflow.errors import UserError

    if args.sample_index < 0:
        raise UserError(f"--sample-index must be >= 0, not {args.sample_index}")
    flow = load_flow(args.flow, functions=args.functions)
    inputs = collect_inputs(flow.spec, args.input_file, args.input)
    try:
        result = asyncio.run(_run(flow, inputs, args))
    except UserError as error:
        _report_partial(error, args.json)
        raise
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
    else:
        _print_result(result)
    return 0


async def _run(flow: Any, inputs: dict[str, Any], args: argparse.Namespace) -> Any:
    from alphaflow.console import Console
    from alphaflow.engine.runner import RunContext, run_flow
    from alphaflow.models import build_router
    from alphaflow.solve.progress import RunProgress, live_progress
    from alphaflow.solve.session import ProgressTrace

    # live progress on a terminal (stage, model calls, tokens, cost, judgings), as solve shows it
    err = Console(stderr=True)
    progress = RunProgress(flow.name, "its inputs", args.model or flow.spec.model or "-")
    shown = err.is_terminal and not args.json
    with ProgressTrace(args.trace, progress) as trace, live_progress(progress, err, enabled=shown):
        router = build_router(args.model or flow.spec.model, trace=trace, **router_options(args))
        try:
            context = RunContext(
                router=router,
                sandbox_factory=lambda: _open_sandbox(args.sandbox),
                trace=trace,
                model=args.model,
                sample_index=args.sample_index,
            )
            return await run_flow(flow, inputs, context)
        finally:
            router.close()
            cut = progress.cut_warning()
            if cut:  # a failed step's error says it too; a run that went on may be puzzling without it
                err.print(f"[yellow]alphaflow: warning:[/] {cut}", highlight=False, soft_wrap=True)


def _open_sandbox(backend: str) -> Any:
    from alphaflow.sandbox import open_sandbox

    return open_sandbox(backend=backend)


def _report_partial(error: Exception, as_json: bool) -> None:
    """When a run stops early (budget, failed step), say what it finished before the one-line error."""
    partial = getattr(error, "partial", None)
    if partial is None:
        return
    if as_json:
        print(json.dumps({**partial.to_dict(), "stopped": str(error)}, ensure_ascii=False, default=str))
        return
    finished = sum(1 for record in partial.steps.values() if record.status in ("ok", "skipped", "continued"))
    cost = "unknown" if partial.cost_usd is None else f"${partial.cost_usd:.4f}"
    print(
        f"alphaflow: stopped after {finished} finished step(s), {partial.calls} model call(s), cost {cost}",
        file=sys.stderr,
    )


def _print_result(result: Any) -> None:
    from rich.markup import escape
    from rich.pretty import Pretty

    from alphaflow.console import Console

    console = Console()
    for name, value in result.outputs.items():
        name = escape(str(name))
        if isinstance(value, str) and "\n" in value:
            console.print(f"[bold]{name}[/bold]:")
            console.print(value, markup=False, highlight=False)
        else:
            console.print(f"[bold]{name}[/bold]:", Pretty(value))
    cost = "unknown (a model without a known price)" if result.cost_usd is None else f"${result.cost_usd:.4f}"
    console.print(
        f"[dim]{len(result.steps)} steps, {result.calls} model calls, "
        f"{result.prompt_tokens}+{result.completion_tokens} tokens, cost {cost}, "
        f"{result.duration_s:.2f} s[/dim]"
    )
    for error in result.errors:
        print(f"continued after error: {error}", file=sys.stderr)
