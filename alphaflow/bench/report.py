"""``alphaflow bench report``: one or more runs as a terminal table, Markdown, HTML with plots, JSON.

The HTML page is self-contained (inline CSS, PNG plots embedded as base64) so it can be mailed or
attached to a CI run. Compared runs appear side by side in every table and in every plot.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphaflow.bench.metrics import summarize
from alphaflow.bench.store import RunStore


@dataclass
class LoadedRun:
    run_dir: Path
    label: str
    meta: dict[str, Any]
    records: list[dict[str, Any]]  # unit records in the order they finished
    summary: dict[str, Any]


def load_run(run_dir: str | Path, *, seed: int = 0) -> LoadedRun:
    store = RunStore(run_dir)
    meta = store.read_meta()
    results = sorted(store.read_results(), key=lambda r: r.finished_at)
    flow = Path(str(meta.get("flow") or "?")).stem
    label = f"{Path(run_dir).name}: {flow}" + (f" / {meta['model']}" if meta.get("model") else "")
    return LoadedRun(
        run_dir=Path(run_dir),
        label=label,
        meta=meta,
        records=[r.to_dict() for r in results],
        summary=summarize(results, seed=seed),
    )


# --- shared table content ---------------------------------------------------------------------------
def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _interval(row: dict[str, Any] | None, k: int) -> str:
    """``62.5% [40.0, 85.0] over 8 of 10 problems (n>=3)``: pass@k covers problems with n >= k only."""
    if not row:
        return f"- (no problem has n>={k} judged samples)"
    over = f" over {row['problems']} of {row['of']} problems (n>={k})" if "of" in row else ""
    return f"{row['value'] * 100:.1f}% [{row['ci_low'] * 100:.1f}, {row['ci_high'] * 100:.1f}]{over}"


def _excluded(summary: dict[str, Any]) -> str:
    excluded = summary.get("excluded") or {}
    if not excluded.get("units"):
        return "0"
    faults = ", ".join(f"{fault} {count}" for fault, count in excluded["by_fault"].items())
    unjudged = excluded.get("problems") or 0
    lost = f"; {unjudged} problem(s) with no judged sample" if unjudged else ""
    return f"{excluded['units']} units ({faults}){lost}"


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def headline_rows(runs: list[LoadedRun]) -> list[tuple[str, list[str]]]:
    """(figure, one cell per run) for the main comparison table."""
    max_k = max((r.summary["max_samples"] for r in runs), default=0)
    rows: list[tuple[str, list[str]]] = [
        ("flow", [str(r.meta.get("flow")) for r in runs]),
        ("model", [str(r.meta.get("model") or "-") for r in runs]),
        ("problems", [str(r.summary["problems"]) for r in runs]),
        ("units (problem x sample)", [str(r.summary["units"]) for r in runs]),
        (
            "solved by any sample",
            [
                f"{r.summary['solved_any']['count']} of {r.summary['problems']} "
                f"({_percent(r.summary['solved_any']['rate'])})"
                for r in runs
            ],
        ),
    ]
    for k in range(1, max_k + 1):
        rows.append((f"pass@{k} [95% CI]", [_interval(r.summary["pass_at_k"].get(str(k)), k) for r in runs]))
    rows += [
        ("verdicts", [", ".join(f"{v} {n}" for v, n in r.summary["verdicts"].items()) for r in runs]),
        ("errors", [str(r.summary["errors"]) for r in runs]),
        ("not judged (left out of pass@k)", [_excluded(r.summary) for r in runs]),
        ("tokens / problem", [f"{r.summary['tokens']['per_problem'] or 0:.0f}" for r in runs]),
        ("cost total", [_money(r.summary["cost_usd"]["total"]) for r in runs]),
        ("cost / problem", [_money(r.summary["cost_usd"]["per_problem"]) for r in runs]),
        ("unit wall time / problem", [f"{r.summary['wall_s']['per_problem'] or 0:.2f} s" for r in runs]),
    ]
    if any(r.summary.get("first_error") for r in runs):
        rows.append(("first error", [str(r.summary.get("first_error") or "-")[:300] for r in runs]))
    return rows


def breakdown_rows(runs: list[LoadedRun], field: str) -> tuple[list[str], list[list[str]]]:
    """Rows of a difficulty or tag breakdown: group, then 'solved/problems (pass@1)' per run."""
    groups = sorted({group for r in runs for group in r.summary[field]})
    rows = []
    for group in groups:
        cells = []
        for run in runs:
            figures = run.summary[field].get(group)
            cells.append(
                "-"
                if not figures
                else f"{figures['solved_any']}/{figures['problems']} (pass@1 {_percent(figures['pass@1'])})"
            )
        rows.append([group, *cells])
    return groups, rows


# --- outputs ----------------------------------------------------------------------------------------
def print_terminal(runs: list[LoadedRun]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="CodeContests benchmark", show_lines=False)
    table.add_column("figure", style="bold")
    for run in runs:
        table.add_column(run.label)
    for name, cells in headline_rows(runs):
        table.add_row(name, *cells)
    Console().print(table)


def markdown_report(runs: list[LoadedRun]) -> str:
    def table(header: list[str], rows: list[list[str]]) -> list[str]:
        escape = [[cell.replace("|", "\\|") for cell in row] for row in [header, *rows]]
        lines = ["| " + " | ".join(escape[0]) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(row) + " |" for row in escape[1:]]

    labels = [run.label for run in runs]
    lines = ["# CodeContests benchmark", ""]
    lines += table(["figure", *labels], [[name, *cells] for name, cells in headline_rows(runs)])
    for title, field in (("By difficulty", "by_difficulty"), ("By tag", "by_tag")):
        _, rows = breakdown_rows(runs, field)
        lines += ["", f"## {title}", "", "solved by any sample / problems (pass@1)", ""]
        lines += table([field.removeprefix("by_"), *labels], rows)
    for run in runs:
        lines += ["", f"## Problems: {run.label}", ""]
        lines += table(
            [
                "problem",
                "difficulty",
                "correct/samples",
                "not judged",
                "verdicts",
                "tokens",
                "cost",
                "wall s",
            ],
            [
                [
                    p["name"],
                    str(p["difficulty"]),
                    f"{p['correct']}/{p['samples']}",
                    str(p.get("excluded", 0)),
                    ", ".join(f"{v} {n}" for v, n in p["verdicts"].items()),
                    str(p["prompt_tokens"] + p["completion_tokens"]),
                    _money(p["cost_usd"]),
                    f"{p['wall_s']:.2f}",
                ]
                for p in run.summary["per_problem"]
            ],
        )
    lines += ["", "## Runs", ""]
    for run in runs:
        meta = run.meta
        host = meta.get("host") or {}
        lines.append(
            f"- `{run.run_dir}`: started {meta.get('started_at')}, "
            f"host {host.get('hostname')} ({host.get('cpu_count')} CPUs), sandbox {meta.get('sandbox')}, "
            f"flow sha256 {str(meta.get('flow_sha256'))[:12]}, "
            f"versions {json.dumps(meta.get('versions', {}))}"
        )
    return "\n".join(lines) + "\n"


def json_report(runs: list[LoadedRun]) -> dict[str, Any]:
    return {
        "runs": [
            {
                "run_dir": str(run.run_dir),
                "label": run.label,
                "meta": {
                    key: run.meta.get(key)
                    for key in (
                        "flow",
                        "flow_sha256",
                        "model",
                        "data",
                        "samples",
                        "started_at",
                        "host",
                        "versions",
                        "limits",
                        "sandbox",
                    )
                },
                "summary": run.summary,
            }
            for run in runs
        ]
    }


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CodeContests benchmark</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
img { max-width: 100%; margin: 0.5rem 0; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
code { font-size: 0.85rem; }
</style></head><body>
<h1>CodeContests benchmark</h1>
<table id="headline"><tr><th>figure</th>{% for label in labels %}<th>{{ label }}</th>{% endfor %}</tr>
{% for name, cells in headline %}<tr><th>{{ name }}</th>
{% for cell in cells %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>
<h2>Plots</h2>
<div class="plots">{% for title, png in plots %}
<figure><img alt="{{ title }}" src="data:image/png;base64,{{ png }}">
<figcaption>{{ title }}</figcaption></figure>
{% endfor %}</div>
{% for title, field, rows in breakdowns %}
<h2>{{ title }}</h2><p>solved by any sample / problems (pass@1)</p>
<table id="{{ field }}"><tr><th>{{ field }}</th>{% for label in labels %}<th>{{ label }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}
{% for run in runs %}
<h2>Problems: {{ run.label }}</h2>
<table class="problems"><tr><th>problem</th><th>difficulty</th><th>correct/samples</th><th>not judged</th>
<th>verdicts</th>
<th>tokens</th><th>cost</th><th>wall s</th></tr>
{% for p in run.summary.per_problem %}<tr><td>{{ p.name }}</td><td>{{ p.difficulty }}</td>
<td>{{ p.correct }}/{{ p.samples }}</td><td>{{ p.excluded }}</td>
<td>{% for v, n in p.verdicts.items() %}{{ v }} {{ n }} {% endfor %}</td>
<td>{{ p.prompt_tokens + p.completion_tokens }}</td><td>{{ money(p.cost_usd) }}</td>
<td>{{ "%.2f"|format(p.wall_s) }}</td></tr>{% endfor %}
</table>
<p>Run <code>{{ run.run_dir }}</code>: started {{ run.meta.started_at }} on {{ run.meta.host.hostname }}
({{ run.meta.host.cpu_count }} CPUs), sandbox {{ run.meta.sandbox }}, flow sha256
<code>{{ run.meta.flow_sha256 }}</code>, versions {{ run.meta.versions }}.</p>
{% endfor %}
</body></html>
"""


def html_report(runs: list[LoadedRun]) -> str:
    import jinja2

    from alphaflow.bench.plots import cost_vs_solved_plot, pass_at_k_plot, verdict_mix_plot

    def encoded(png: bytes) -> str:
        return base64.b64encode(png).decode("ascii")

    plots = [
        ("pass@k with confidence intervals", encoded(pass_at_k_plot([(r.label, r.summary) for r in runs]))),
        ("cost against problems solved", encoded(cost_vs_solved_plot([(r.label, r.records) for r in runs]))),
        ("verdict mix", encoded(verdict_mix_plot([(r.label, r.summary) for r in runs]))),
    ]
    breakdowns = [
        ("By difficulty", "difficulty", breakdown_rows(runs, "by_difficulty")[1]),
        ("By tag", "tag", breakdown_rows(runs, "by_tag")[1]),
    ]
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(_HTML)
    return template.render(
        labels=[r.label for r in runs],
        headline=headline_rows(runs),
        plots=plots,
        breakdowns=breakdowns,
        runs=runs,
        money=_money,
    )


def write_reports(runs: list[LoadedRun], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "report.md", "html": out / "report.html", "json": out / "summary.json"}
    paths["markdown"].write_text(markdown_report(runs), encoding="utf-8")
    paths["html"].write_text(html_report(runs), encoding="utf-8")
    paths["json"].write_text(json.dumps(json_report(runs), indent=2, default=str) + "\n", encoding="utf-8")
    return paths


def build_report(
    run_dir: str,
    *,
    compare: list[str] | None = None,
    out: str | None = None,
    as_json: bool = False,
    seed: int = 0,
) -> int:
    runs = [load_run(path, seed=seed) for path in [run_dir, *(compare or [])]]
    paths = write_reports(runs, Path(out) if out else Path(run_dir) / "report")
    if as_json:
        print(json.dumps(json_report(runs), default=str))
        return 0
    print_terminal(runs)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
