"""``alphaflow trace show``: a terminal summary of a run trace, and a self-contained HTML page.

Reads the JSON-lines events written by the engine (``flow_*``, ``step_*``) and the model layer
(``model_call``). Model-call fields are read defensively, since the model layer owns them.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
    summary = summarize(events)
    for flow in summary.flows:
        status = escape(f"{flow.get('status')} in {flow.get('duration_s')} s")
        console.print(f"flow [bold]{escape(str(flow.get('flow')))}[/bold]: {status}")
    table = Table(title=title, show_lines=False)
    for column in ("step", "kind", "status", "seconds", "attempts"):
        table.add_column(column, justify="right" if column in ("seconds", "attempts") else "left")
    for step in summary.steps:
        status = str(step.get("status"))
        style = {"ok": "green", "skipped": "dim", "continued": "yellow", "failed": "red"}.get(status, "")
        table.add_row(
            escape(str(step.get("path"))),
            escape(str(step.get("kind"))),
            f"[{style}]{status}[/{style}]" if style else escape(status),
            f"{_seconds(step.get('duration_s')):.3f}",
            escape(str(step.get("attempts", 1))),
        )
    console.print(table)
    cost = f"${summary.cost_usd:.4f}"
    if summary.unknown_cost_calls:
        cost += f" + {summary.unknown_cost_calls} call(s) of unknown price"
    console.print(
        f"model calls: {summary.calls} ({summary.cached_calls} cached), "
        f"tokens: {summary.prompt_tokens} prompt + {summary.completion_tokens} completion, cost: {cost}"
    )
    for error in summary.step_errors + summary.model_errors:
        console.print(f"[red]error[/red] {escape(error)}", highlight=False)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
.ok{color:#176a17}.failed{color:#b00}.continued{color:#a60}.skipped{color:#888}
details{margin:2px 0;border-left:3px solid #ddd;padding-left:8px}summary{cursor:pointer}
pre{background:#f6f6f6;padding:6px;white-space:pre-wrap;word-break:break-word;max-height:40em;overflow:auto}
.error{color:#b00}
"""


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return f"<pre>{html.escape(text)}</pre>"


def render_html(events: list[dict[str, Any]], title: str) -> str:
    """A self-contained page (no external assets); every value from the trace is escaped."""
    summary = summarize(events)
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>model calls: {summary.calls} ({summary.cached_calls} cached); "
        f"tokens: {summary.prompt_tokens} prompt + {summary.completion_tokens} completion; "
        f"cost: ${summary.cost_usd:.4f}"
        + (f" + {summary.unknown_cost_calls} call(s) of unknown price" if summary.unknown_cost_calls else "")
        + "</p>",
    ]
    if summary.step_errors or summary.model_errors:
        parts.append("<h2>Errors</h2><ul>")
        parts += [
            f"<li class='error'>{esc(error)}</li>" for error in summary.step_errors + summary.model_errors
        ]
        parts.append("</ul>")
    parts.append("<h2>Steps</h2><table><tr><th>step</th><th>kind</th><th>status</th><th>seconds</th></tr>")
    for step in summary.steps:
        status = str(step.get("status"))
        parts.append(
            f"<tr><td>{esc(str(step.get('path')))}</td><td>{esc(str(step.get('kind')))}</td>"
            f"<td class='{esc(status)}'>{esc(status)}</td>"
            f"<td>{_seconds(step.get('duration_s')):.3f}</td></tr>"
        )
    parts.append("</table><h2>Events</h2>")
    for event in events:
        label = " ".join(
            str(event.get(key))
            for key in ("event", "path", "step", "status", "model")
            if event.get(key) is not None
        )
        details = "".join(
            f"<div><b>{esc(str(key))}</b>{_pre(value)}</div>"
            for key, value in event.items()
            if key != "event"
        )
        parts.append(f"<details><summary>{esc(label)}</summary>{details}</details>")
    parts.append("</body></html>")
    return "\n".join(parts)
