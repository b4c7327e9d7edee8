"""Reports of evaluation runs in three formats: terminal (rich), Markdown and standalone HTML.

A report is a title, a few key/value facts, and tables; each renderer draws the same content.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Report:
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def interval_text(interval: dict[str, Any] | None) -> str:
    if not interval:
        return "n/a"
    return f"{interval['mean']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}]"


def eval_report(flow: str, metric: str, summary: dict[str, Any], *, data: str, model: str | None) -> Report:
    """The report of ``alphaflow eval`` from :func:`alphaflow.judge.evaluate.aggregate`'s summary."""
    report = Report(
        title=f"Evaluation: {flow}",
        facts=[
            ("data", data),
            ("model", model or "(responses from the file)"),
            ("figure", metric),
            ("interval", "95% bootstrap CI of the mean over items"),
        ],
    )
    rows = []
    for judge, figure in summary["judges"].items():
        row = [
            judge,
            str(figure["items"]),
            str(figure["judged"]),
            str(figure["unreadable"]),
            str(figure.get("failed_calls", 0)),
            interval_text(figure["value"]),
        ]
        if summary["categorical"]:
            row.append(", ".join(f"{k}: {v}" for k, v in figure.get("labels", {}).items()) or "-")
        rows.append(row)
    headers = ["judge", "items", "judged", "unreadable", "failed calls", metric]
    if summary["categorical"]:
        headers.append("labels")
    report.tables.append(Table("Per judge", headers, rows))
    if len(summary["judges"]) > 1:
        report.facts.append(("mean of judges", interval_text(summary["mean_of_judges"])))
        report.tables.append(
            Table(
                "Agreement between judges",
                ["judges", "statistic", "value", "items"],
                [
                    [" vs ".join(a["judges"]), a["statistic"], fmt(a["value"]), str(a["items"])]
                    for a in summary["agreement"]
                ],
            )
        )
    return report


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    lines += [f"- **{key}**: {_md(value)}" for key, value in report.facts]
    for table in report.tables:
        lines += [
            "",
            f"## {table.title}",
            "",
            "| " + " | ".join(_md(h) for h in table.headers) + " |",
            "|" + "---|" * len(table.headers),
        ]
        lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_html(report: Report) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;"
        "text-align:left}th{background:#f3f3f3}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        "<ul>",
        *[f"<li><b>{e(key)}</b>: {e(str(value))}</li>" for key, value in report.facts],
        "</ul>",
    ]
    for table in report.tables:
        parts.append(
            f"<h2>{e(table.title)}</h2><table><thead><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in table.headers)
            + "</tr></thead><tbody>"
        )
        parts += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in table.rows]
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def print_terminal(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    console.print(f"[bold]{report.title}[/bold]")
    for key, value in report.facts:
        console.print(f"  {key}: {value}", markup=False, highlight=False, soft_wrap=True)
    for table in report.tables:
        rich_table = RichTable(title=table.title, title_justify="left")
        for header in table.headers:
            rich_table.add_column(header, overflow="fold")
        for row in table.rows:
            rich_table.add_row(*[str(c) for c in row])
        console.print(rich_table)
