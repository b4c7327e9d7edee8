"""Reports of evaluation runs in three formats: terminal (rich), Markdown and standalone HTML.

A report is a title, a few key/value facts, and tables; each renderer draws the same content.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cell:
    """A table cell with a tone the renderers colour: ``good``, ``bad``, ``warn`` or ``muted``."""

    text: str
    tone: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str | Cell]]
    note: str = ""


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


def short_name(model: str) -> str:
    """A model name for a table header: ``scripted:examples/judge/x.yaml`` -> ``scripted:x.yaml``."""
    prefix, _, rest = model.partition(":")
    if rest and "/" in rest and prefix in ("scripted", "hf", "proxy", "vllm"):
        return f"{prefix}:{rest.rstrip('/').rsplit('/', 1)[-1]}"
    return model


def eval_report(
    flow: str,
    metric: str,
    summary: dict[str, Any],
    *,
    data: str,
    model: str | None,
    records: list[dict[str, Any]] | None = None,
) -> Report:
    """The report of ``alphaflow eval`` from :func:`alphaflow.judge.evaluate.aggregate`'s summary.

    With ``records`` (the per-item results of :func:`alphaflow.judge.runs.run_eval`) it also holds a
    row per item: each judge's judgement, and where judges disagree or a judgement is missing.
    """
    report = Report(
        title=f"Evaluation: {flow}",
        facts=[
            ("data", data),
            ("model", model or "(responses from the file)"),
            ("figure", metric),
            ("interval", "95% bootstrap CI of the mean over items"),
            ("judges", ", ".join(summary["judges"])),
        ],
    )
    rows = []
    for judge, figure in summary["judges"].items():
        row = [
            short_name(judge),
            str(figure["items"]),
            str(figure["judged"]),
            str(figure["unreadable"]),
            str(figure.get("failed_calls", 0)),
            interval_text(figure["value"]),
        ]
        if summary["categorical"]:
            labels = figure.get("labels", {}).items()
            row.append(", ".join(f"{LABEL_NAMES.get(k, k)}: {v}" for k, v in labels) or "-")
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
                    [
                        " vs ".join(short_name(j) for j in a["judges"]),
                        a["statistic"],
                        fmt(a["value"]),
                        str(a["items"]),
                    ]
                    for a in summary["agreement"]
                ],
            )
        )
    if records:
        judges = list(summary["judges"])
        report.tables.append(item_table(records, judges, summary["field"], summary["categorical"]))
    return report


# How a reference judgement's label reads (the summary keeps the JSON booleans' text).
LABEL_NAMES = {"True": "correct", "False": "incorrect"}

# Scores (1-5) further apart than this count as a disagreement between judges.
SCORE_SPREAD = 1.0


def _judgement_cell(result: Any, field: str) -> tuple[Cell, Any]:
    """The cell of one judge's result on one item, and its readable judgement (None if unreadable)."""
    if not isinstance(result, dict):
        return Cell("no result", "bad"), None
    value = result.get(field)
    if result.get("judge_failed"):
        return Cell("call failed", "bad"), None
    if value is None:
        return Cell("unreadable", "warn"), None
    if field == "correct":
        return Cell("correct" if value else "incorrect", "good" if value else "bad"), value
    if isinstance(value, float):
        return Cell(f"{value:.2f}"), value
    return Cell(str(value)), value


def item_table(records: list[dict[str, Any]], judges: list[str], field: str, categorical: bool) -> Table:
    """One row per item: each judge's judgement and a note on disagreement or missing judgements.

    Judges disagree on an item when their readable labels differ (pairwise, reference) or their scores
    are more than :data:`SCORE_SPREAD` apart (rubric); with three or more judges the note names the
    judges outside the majority label.
    """
    rows: list[list[str | Cell]] = []
    for record in records:
        item = str(record.get("id", "?"))
        if "error" in record:
            message = " ".join(str(record["error"]).split())[:300]
            rows.append([item, *[Cell("-", "muted") for _ in judges], Cell(f"item failed: {message}", "bad")])
            continue
        cells, readable, shown = [], {}, {}
        for judge in judges:
            cell, value = _judgement_cell(record.get("judges", {}).get(judge), field)
            cells.append(cell)
            if value is not None:
                readable[judge], shown[judge] = value, cell.text
        missing = [judge for judge in judges if judge not in readable]
        notes = [f"no judgement from {', '.join(map(short_name, missing))}"] if missing else []
        tone = "warn" if missing else ""
        if len(readable) > 1:
            if categorical:
                labels = Counter(shown.values())
                if len(labels) > 1:
                    top, count = labels.most_common(1)[0]
                    outliers = [short_name(j) for j, text in shown.items() if text != top]
                    if count > len(readable) / 2:
                        notes.append(f"disagree: {', '.join(outliers)} against the majority ({top})")
                    else:
                        notes.append(
                            "disagree: " + ", ".join(f"{short_name(j)} {text}" for j, text in shown.items())
                        )
                    tone = "bad"
            else:
                spread = max(readable.values()) - min(readable.values())
                if spread > SCORE_SPREAD:
                    notes.append(f"disagree: scores {spread:.2f} apart")
                    tone = "bad"
        quiet = "agree" if len(judges) > 1 else "-"
        rows.append([item, *cells, Cell("; ".join(notes) or quiet, tone)])
    return Table(
        "Per item",
        ["item", *map(short_name, judges), "note"],
        rows,
        note="each judge's judgement per item; a note marks judges that disagree or gave no judgement",
    )


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    lines += [f"- **{key}**: {_md(value)}" for key, value in report.facts]
    for table in report.tables:
        lines += [
            "",
            f"## {table.title}",
            "",
            *([table.note, ""] if table.note else []),
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
        "text-align:left;vertical-align:top}th{background:#f3f3f3}"
        ".good{background:#e8f5e9;color:#1b5e20}.bad{background:#ffebee;color:#b71c1c}"
        ".warn{background:#fff8e1;color:#8d6e00}.muted{color:#9e9e9e}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        "<ul>",
        *[f"<li><b>{e(key)}</b>: {e(str(value))}</li>" for key, value in report.facts],
        "</ul>",
    ]
    for table in report.tables:
        anchor = e(table.title.lower().replace(" ", "-"))
        parts.append(
            f'<h2 id="{anchor}">{e(table.title)}</h2>' + (f"<p>{e(table.note)}</p>" if table.note else "")
        )
        parts.append(
            "<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in table.headers) + "</tr></thead><tbody>"
        )
        parts += ["<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in table.rows]
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_cell(cell: str | Cell) -> str:
    tone = cell.tone if isinstance(cell, Cell) else ""
    opening = f'<td class="{tone}">' if tone else "<td>"
    return opening + html.escape(str(cell)) + "</td>"


TERMINAL_ROWS = 20  # rows of a table the terminal shows

# The terminal's colours for a cell's tone (rich styles).
RICH_STYLES = {"good": "green", "bad": "bold red", "warn": "yellow", "muted": "dim"}


def print_terminal(report: Report) -> None:
    from rich.table import Table as RichTable
    from rich.text import Text

    from alphaflow.console import Console

    console = Console()
    console.print(f"[bold]{report.title}[/bold]")
    for key, value in report.facts:
        console.print(f"  {key}: {value}", markup=False, highlight=False, soft_wrap=True)
    for table in report.tables:
        rich_table = RichTable(title=table.title, title_justify="left")
        for header in table.headers:
            rich_table.add_column(header, overflow="fold")
        rows = table.rows
        if len(rows) > TERMINAL_ROWS:  # long tables: the rows worth a look (a toned last cell) first
            rows = sorted(rows, key=lambda row: not (isinstance(row[-1], Cell) and row[-1].tone))
            rich_table.caption = f"{TERMINAL_ROWS} of {len(rows)} rows; all of them in report.md/.html"
            rows = rows[:TERMINAL_ROWS]
        for row in rows:
            rich_table.add_row(
                *[Text(str(c), style=RICH_STYLES.get(c.tone, "") if isinstance(c, Cell) else "") for c in row]
            )
        console.print(rich_table)
