"""``alphaflow trace show``: a terminal summary of a run trace, and a self-contained HTML page.

Reads the JSON-lines events written by the engine (``flow_*``, ``step_*``) and the model layer
(``model_call``). Model-call fields are read defensively, since the model layer owns them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape

from alphaflow.console import Console
from alphaflow.errors import UserError


@dataclass
class TraceSummary:
    steps: list[dict[str, Any]] = field(default_factory=list)  # the step_end events
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unknown_cost_calls: int = 0
    model_errors: list[str] = field(default_factory=list)
    step_errors: list[str] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)  # the flow_end events


def load_events(path: Path) -> list[dict[str, Any]]:
    """The events of a trace file (JSON lines, each an object with an ``event`` field).

    A torn last line (a killed run) is skipped; any other line that is not an event, or a file with
    no event at all, is a ``UserError`` naming the file and line: a file that is not a trace must
    not read as an empty one."""
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not a trace file")
    if not path.is_file():
        raise UserError(f"trace file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a trace (not UTF-8 text)") from None
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    events: list[dict[str, Any]] = []
    for position, (number, line) in enumerate(numbered):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
            if events and position == len(numbered) - 1:  # the half-written last line of a killed run
                break
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            start = " ".join(line.split())[:60]
            raise UserError(
                f"{path}:{number}: not a trace: expected a JSON object with an 'event' field "
                f"(as --trace writes), found {start!r}"
            )
        events.append(event)
    if not events:
        raise UserError(f"{path}: not a trace: the file has no events")
    return events


def _seconds(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def summarize(events: list[dict[str, Any]]) -> TraceSummary:
    summary = TraceSummary()
    for event in events:
        kind = event.get("event")
        if kind == "step_end":
            summary.steps.append(event)
            if event.get("error"):
                summary.step_errors.append(f"{event.get('path')}: {event.get('status')}: {event['error']}")
        elif kind == "flow_end":
            summary.flows.append(event)
        elif kind == "model_call":
            summary.calls += 1
            summary.cached_calls += bool(event.get("cached"))
            summary.prompt_tokens += _count(event.get("prompt_tokens"))
            summary.completion_tokens += _count(event.get("completion_tokens"))
            cost = event.get("cost_usd")
            if cost is None and not event.get("cached") and not event.get("error"):
                summary.unknown_cost_calls += 1
            elif isinstance(cost, int | float):
                summary.cost_usd += float(cost)
            if event.get("error"):
                summary.model_errors.append(f"{event.get('step') or '-'}: {event['error']}")
    return summary


def print_summary(events: list[dict[str, Any]], console: Console, title: str) -> None:
    """The run as a tree (loops and maps with numbered iterations), then totals and errors."""
    from rich.tree import Tree

    from alphaflow.engine.trace_tree import build_tree, human_seconds, run_facts

    summary = summarize(events)
    run = build_tree(events)
    facts = " · ".join(f"{label} {text}" for label, text in run_facts(run))
    tree = Tree(f"[bold]{escape(title)}[/bold]  {escape(human_seconds(run.duration_s))}"
                + (f"\n[dim]{escape(facts)}[/dim]" if facts else ""))

    def label(node: Any) -> str:
        status = node.status
        style = {"ok": "green", "skipped": "dim", "continued": "yellow", "failed": "red"}.get(status, "")
        text = f"{escape(node.id)} [dim]{escape(node.kind)}[/dim]"
        text += f" [{style}]{escape(status)}[/{style}]" if style else f" {escape(status)}"
        text += f" {escape(human_seconds(node.duration_s))}"
        if node.kind == "llm":
            prompt, completion = node.tokens
            text += f" [dim]· {prompt}+{completion} tokens{' · cached' if node.cached else ''}[/dim]"
            if node.cut:
                text += f" [yellow]· {node.cut} answer{'s' * (node.cut > 1)} cut at max_tokens[/yellow]"
        if node.kind == "sandbox":
            output = (node.end_event or {}).get("output")
            if isinstance(output, dict) and output.get("verdict"):
                verdict = output["verdict"]
                colour = "green" if verdict == "AC" else "red"
                score = f"{output.get('passed')}/{output.get('total')}"
                text += f" [{colour}]{escape(str(verdict))} {score}[/{colour}]"
        if node.error:
            text += f"\n[red]{escape(node.error[:300])}[/red]"
        return text

    def add(branch: Any, node: Any) -> None:
        here = branch.add(label(node))
        for child in node.children:
            add(here, child)
        word = "iteration" if node.kind == "loop" else "item"
        for index in sorted(node.iterations):
            group = here.add(f"[dim]{word} {index + 1}[/dim]")
            for child in node.iterations[index]:
                add(group, child)

    for node in run.root.children:
        add(tree, node)
    console.print(tree)
    cost = f"${summary.cost_usd:.4f}"
    if summary.unknown_cost_calls:
        cost += f" + {summary.unknown_cost_calls} call(s) of unknown price"
    console.print(
        f"model calls: {summary.calls} ({summary.cached_calls} cached), "
        f"tokens: {summary.prompt_tokens} prompt + {summary.completion_tokens} completion, cost: {cost}"
    )
    for error in summary.step_errors + summary.model_errors:
        console.print(f"[red]error[/red] {escape(error)}", highlight=False)


def render_html(events: list[dict[str, Any]], title: str) -> str:
    """The self-contained trace viewer page (``alphaflow.engine.trace_html``)."""
    from alphaflow.engine.trace_html import render_trace_html

    return render_trace_html(events, title)
