"""``alphaflow bench report``: one or more runs as a terminal table, Markdown, HTML with plots, JSON.

The HTML page is self-contained (inline CSS, PNG plots embedded as base64) so it can be mailed or
attached to a CI run. Compared runs appear side by side in every table and in every plot.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphaflow.bench.metrics import summarize
from alphaflow.bench.store import RunStore, UnitResult
from alphaflow.errors import UserError
from alphaflow.judge.report import short_name


@dataclass
class LoadedRun:
    run_dir: Path
    label: str
    meta: dict[str, Any]
    records: list[dict[str, Any]]  # unit records in the order they finished
    summary: dict[str, Any]
    results: list[UnitResult]


def load_run(run_dir: str | Path, *, seed: int = 0) -> LoadedRun:
    store = RunStore(run_dir)
    meta = store.read_meta()
    results = sorted(store.read_results(), key=lambda r: r.finished_at)
    flow = Path(str(meta.get("flow") or "?")).stem
    model = short_name(str(meta["model"])) if meta.get("model") else ""
    label = f"{Path(run_dir).name}: {flow}" + (f" / {model}" if model else "")
    summary = summarize(results, seed=seed)
    unrecorded = float(meta.get("unrecorded_spend_usd") or 0.0)  # units a stop cut off mid-flow
    if unrecorded:
        cost = summary["cost_usd"]
        cost["unrecorded"] = unrecorded
        cost["total"] = None if cost["total"] is None else cost["total"] + unrecorded
    return LoadedRun(
        run_dir=Path(run_dir),
        label=label,
        meta=meta,
        records=[r.to_dict() for r in results],
        summary=summary,
        results=results,
    )


def shared_problems(runs: list[LoadedRun], *, seed: int = 0) -> tuple[list[LoadedRun], list[str]]:
    """Runs restricted to the problems every run attempted, and a warning per run that lost some.

    Compared runs over different problem sets would compare different questions: every headline
    figure is then computed over the intersection. Returns ``(runs, warnings)``; the runs are
    unchanged (and ``warnings`` empty) when the problem sets agree or there is one run. Raises
    UserError when the runs share no problem.
    """
    if len(runs) < 2:
        return runs, []
    sets = [{r.problem for r in run.results} for run in runs]
    shared = set.intersection(*sets)
    if all(problems == shared for problems in sets):
        return runs, []
    if not shared:
        raise UserError(
            f"{runs[0].run_dir} and {', '.join(str(r.run_dir) for r in runs[1:])}: no problem in common, "
            "nothing to compare"
        )
    warnings = [
        f"the runs cover different problem sets: comparing only the {len(shared)} problem(s) all of "
        "them attempted"
    ]
    kept = []
    for run, problems in zip(runs, sets, strict=True):
        dropped = sorted(problems - shared)
        if not dropped:
            warnings.append(f"{run.label}: 0 of {len(problems)} problem(s) dropped")
        else:
            names = ", ".join(dropped[:5]) + (f", ... ({len(dropped) - 5} more)" if len(dropped) > 5 else "")
            warnings.append(f"{run.label}: {len(dropped)} of {len(problems)} problem(s) dropped ({names})")
        results = [r for r in run.results if r.problem in shared]
        kept.append(
            LoadedRun(
                run_dir=run.run_dir,
                label=run.label,
                meta=run.meta,
                records=[r.to_dict() for r in results],
                summary=summarize(results, seed=seed),
                results=results,
            )
        )
    return kept, warnings


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
    """``$0.0123`` (four decimals), ``$0`` when nothing was spent, ``unknown`` without a price."""
    if value is None:
        return "unknown"
    return "$0" if value == 0 else f"${value:.4f}"


def human_seconds(value: float | None) -> str:
    """``1.08 s``, ``14.5 s``, ``2 min 05 s``: three significant figures under a minute."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.3g} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


def number(value: float | None) -> str:
    """A figure rounded for reading: ``2.175`` not ``2.17500000001``, ``890`` not ``890.0``."""
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.4g}"


def _limits(limits: dict[str, Any] | None) -> str:
    """``2 s, 256 MiB (from the problem)`` from the run's ``limits`` metadata."""
    if not limits:
        return "-"
    time_s, memory = limits.get("time_s"), limits.get("memory_mb")
    parts = [
        human_seconds(time_s) if time_s else "time from each problem",
        f"{number(memory)} MiB" if memory else "memory from each problem",
    ]
    source = limits.get("from")
    return ", ".join(parts) + (f" (limits from: {source})" if source and (time_s or memory) else "")


def _data(data: Any) -> str:
    """``jsonl /path/file.jsonl (split valid)`` from the run's ``data`` metadata."""
    if not isinstance(data, dict):
        return str(data or "-")
    text = " ".join(str(data[key]) for key in ("kind", "location") if data.get(key))
    return text + (f" (split {data['split']})" if data.get("split") else "")


def run_facts(run: LoadedRun) -> list[tuple[str, str]]:
    """The run's header as readable (name, value) pairs: no raw dicts, human units."""
    meta = run.meta
    host = meta.get("host") or {}
    versions = meta.get("versions") or {}
    return [
        ("run", str(run.run_dir)),
        ("started", str(meta.get("started_at") or "-").replace("T", " ")),
        ("flow", f"{meta.get('flow')} (sha256 {str(meta.get('flow_sha256') or '-')[:12]})"),
        ("model", str(meta.get("model") or "-")),
        ("data", _data(meta.get("data"))),
        ("samples per problem", str(meta.get("samples", "-"))),
        ("limits", _limits(meta.get("limits"))),
        ("sandbox", str(meta.get("sandbox") or "-")),
        ("host", f"{host.get('hostname', '-')} ({host.get('cpu_count', '?')} CPUs)"),
        ("versions", ", ".join(f"{name} {version}" for name, version in versions.items()) or "-"),
    ]


def verdict_cells(verdicts: dict[str, int]) -> list[tuple[str, str]]:
    """``[(verdict, "WA 2"), ...]`` in the plots' fixed verdict order (for colouring each part)."""
    from alphaflow.bench.plots import VERDICT_COLOURS

    order = [v for v in VERDICT_COLOURS if v in verdicts] + sorted(
        v for v in verdicts if v not in VERDICT_COLOURS
    )
    return [(verdict, f"{verdict} {verdicts[verdict]}") for verdict in order]


def _verdict_text(verdicts: dict[str, int]) -> str:
    return ", ".join(text for _, text in verdict_cells(verdicts))


def failure_rows(runs: list[LoadedRun]) -> list[list[str]]:
    """One row per errored unit: run, unit, fault, verdict, message (400 characters at most)."""
    rows = []
    for run in runs:
        for result in sorted(run.results, key=lambda r: (r.problem, r.sample_index)):
            if result.error:
                message = " ".join(str(result.error).split())
                rows.append(
                    [
                        run.label.split(":")[0],
                        result.key,
                        result.fault or "-",
                        result.verdict,
                        message[:400] + ("..." if len(message) > 400 else ""),
                    ]
                )
    return rows


FAILURE_HEADERS = ["run", "unit", "fault", "verdict", "message"]
PROBLEM_HEADERS = [
    "problem",
    "difficulty",
    "correct/samples",
    "not judged",
    "verdicts",
    "tokens",
    "cost",
    "wall time",
]


def problem_rows(run: LoadedRun) -> list[list[str]]:
    """The per-problem table of one run (verdicts as text)."""
    return [
        [
            p["name"],
            str(p["difficulty"]),
            f"{p['correct']}/{p['samples']}",
            str(p.get("excluded", 0)),
            _verdict_text(p["verdicts"]),
            str(p["prompt_tokens"] + p["completion_tokens"]),
            _money(p["cost_usd"]),
            human_seconds(p["wall_s"]),
        ]
        for p in run.summary["per_problem"]
    ]


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
        ("verdicts", [_verdict_text(r.summary["verdicts"]) for r in runs]),
        ("errors", [str(r.summary["errors"]) for r in runs]),
        ("not judged (left out of pass@k)", [_excluded(r.summary) for r in runs]),
        ("tokens / problem", [number(r.summary["tokens"]["per_problem"]) for r in runs]),
        ("cost total", [_money(r.summary["cost_usd"]["total"]) for r in runs]),
        ("cost / problem", [_money(r.summary["cost_usd"]["per_problem"]) for r in runs]),
        ("unit wall time / problem", [human_seconds(r.summary["wall_s"]["per_problem"]) for r in runs]),
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
def print_terminal(runs: list[LoadedRun], warnings: list[str] | None = None) -> None:
    """The headline table (verdicts coloured), the failures, and any problem-set warning (stderr)."""
    from rich.markup import escape
    from rich.table import Table

    from alphaflow.bench.plots import VERDICT_COLOURS
    from alphaflow.console import Console

    def coloured(verdicts: dict[str, int]) -> str:
        return ", ".join(
            f"[bold {VERDICT_COLOURS.get(verdict, '#90a4ae')}]{escape(text)}[/]"
            for verdict, text in verdict_cells(verdicts)
        )

    console = Console()
    for warning in warnings or []:
        Console(stderr=True).print(
            f"alphaflow: warning: {warning}", style="yellow", markup=False, highlight=False, soft_wrap=True
        )
    table = Table(title="CodeContests benchmark", show_lines=False)
    table.add_column("figure", style="bold")
    for run in runs:
        table.add_column(escape(run.label), overflow="fold")
    for name, cells in headline_rows(runs):
        if name == "verdicts":
            table.add_row(name, *[coloured(r.summary["verdicts"]) for r in runs])
        else:
            table.add_row(escape(name), *[escape(cell) for cell in cells])
    console.print(table)
    failures = failure_rows(runs)
    if failures:
        errors = Table(title=f"Failed units ({len(failures)})", title_justify="left")
        for header in FAILURE_HEADERS:
            errors.add_column(header, overflow="fold", style="red" if header == "message" else None)
        for row in failures[:20]:
            errors.add_row(*[escape(cell) for cell in row])
        console.print(errors)
        if len(failures) > 20:
            console.print(f"... and {len(failures) - 20} more in report.md", markup=False, highlight=False)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    escape = [[cell.replace("|", "\\|").replace("\n", " ") for cell in row] for row in [header, *rows]]
    lines = ["| " + " | ".join(escape[0]) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in escape[1:]]


def markdown_report(runs: list[LoadedRun], warnings: list[str] | None = None) -> str:
    labels = [run.label for run in runs]
    lines = ["# CodeContests benchmark", ""]
    for warning in warnings or []:
        lines += [f"> **Warning**: {warning}", ">"]
    if warnings:
        lines[-1] = ""
    lines += _md_table(["figure", *labels], [[name, *cells] for name, cells in headline_rows(runs)])
    failures = failure_rows(runs)
    if failures:
        lines += ["", f"## Failed units ({len(failures)})", ""]
        lines += _md_table(FAILURE_HEADERS, failures)
    for title, field in (("By difficulty", "by_difficulty"), ("By tag", "by_tag")):
        _, rows = breakdown_rows(runs, field)
        lines += ["", f"## {title}", "", "solved by any sample / problems (pass@1)", ""]
        lines += _md_table([field.removeprefix("by_"), *labels], rows)
    for run in runs:
        lines += ["", f"## Problems: {run.label}", ""]
        lines += _md_table(PROBLEM_HEADERS, problem_rows(run))
    lines += ["", "## Runs", ""]
    facts = [dict(run_facts(run)) for run in runs]
    lines += _md_table(
        ["", *[f"run {i + 1}" for i in range(len(runs))]],
        [[name, *[run[name] for run in facts]] for name in facts[0]] if facts else [],
    )
    return "\n".join(lines) + "\n"


def json_report(runs: list[LoadedRun], warnings: list[str] | None = None) -> dict[str, Any]:
    return {
        "warnings": list(warnings or []),
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
        ],
    }


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CodeContests benchmark</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 80rem; color: #222;
  padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
img { max-width: 100%; margin: 0.5rem 0; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.plots figure { margin: 0; }
code { font-size: 0.85rem; }
.warning { background: #fff4e5; border-left: 4px solid #ef6c00; padding: 0.5rem 1rem; margin: 1rem 0; }
.verdict { display: inline-block; color: #fff; border-radius: 3px; padding: 0 0.35rem; margin: 1px;
  font-size: 0.8rem; white-space: nowrap; }
td.message { color: #b71c1c; font-family: ui-monospace, monospace; font-size: 0.8rem; max-width: 50rem;
  white-space: pre-wrap; word-break: break-word; }
</style></head><body>
<h1>CodeContests benchmark</h1>
{% for warning in warnings %}<div class="warning"><b>Warning:</b> {{ warning }}</div>
{% endfor %}
{% macro verdicts(counts) %}{% for verdict, text in verdict_cells(counts) %}<span class="verdict"
 style="background: {{ colour(verdict) }}">{{ text }}</span>{% endfor %}{% endmacro %}
<table id="headline"><tr><th>figure</th>{% for label in labels %}<th>{{ label }}</th>{% endfor %}</tr>
{% for name, cells in headline %}<tr><th>{{ name }}</th>
{% if name == "verdicts" %}{% for run in runs %}<td>{{ verdicts(run.summary.verdicts) }}</td>{% endfor %}
{% else %}{% for cell in cells %}<td>{{ cell }}</td>{% endfor %}{% endif %}</tr>
{% endfor %}</table>
{% if failures %}<h2>Failed units ({{ failures|length }})</h2>
<table id="failures"><tr>{% for header in failure_headers %}<th>{{ header }}</th>{% endfor %}</tr>
{% for row in failures %}<tr>{% for cell in row[:-1] %}<td>{{ cell }}</td>{% endfor %}
<td class="message">{{ row[-1] }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Plots</h2>
<div class="plots">{% for title, png in plots %}
<figure><img alt="{{ title }}" src="data:image/png;base64,{{ png }}"></figure>
{% endfor %}</div>
{% for title, field, rows in breakdowns %}
<h2>{{ title }}</h2><p>solved by any sample / problems (pass@1)</p>
<table id="{{ field }}"><tr><th>{{ field }}</th>{% for label in labels %}<th>{{ label }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}
{% for run in runs %}
<h2>Problems: {{ run.label }}</h2>
<table class="problems"><tr>{% for header in problem_headers %}<th>{{ header }}</th>{% endfor %}</tr>
{% for p, row in zip(run.summary.per_problem, problem_rows(run)) %}<tr>
{% for cell in row %}<td>{% if loop.index0 == 4 %}{{ verdicts(p.verdicts) }}
{% else %}{{ cell }}{% endif %}</td>
{% endfor %}</tr>{% endfor %}
</table>
{% endfor %}
<h2>Runs</h2>
<table id="runs"><tr><th></th>{% for run in runs %}<th>run {{ loop.index }}</th>{% endfor %}</tr>
{% for name in fact_names %}<tr><th>{{ name }}</th>
{% for facts in run_facts %}<td>{{ facts[name] }}</td>{% endfor %}
</tr>{% endfor %}
</table>
</body></html>
"""


def html_report(runs: list[LoadedRun], warnings: list[str] | None = None) -> str:
    import jinja2

    from alphaflow.bench.plots import VERDICT_COLOURS, cost_vs_solved_plot, pass_at_k_plot, verdict_mix_plot

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
    facts = [dict(run_facts(run)) for run in runs]
    return template.render(
        labels=[r.label for r in runs],
        warnings=list(warnings or []),
        headline=headline_rows(runs),
        failures=failure_rows(runs),
        failure_headers=FAILURE_HEADERS,
        plots=plots,
        breakdowns=breakdowns,
        runs=runs,
        problem_headers=PROBLEM_HEADERS,
        problem_rows=problem_rows,
        verdict_cells=verdict_cells,
        colour=lambda verdict: VERDICT_COLOURS.get(verdict, "#90a4ae"),
        fact_names=list(facts[0]) if facts else [],
        run_facts=facts,
        zip=zip,
    )


def write_reports(runs: list[LoadedRun], out: Path, warnings: list[str] | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "report.md", "html": out / "report.html", "json": out / "summary.json"}
    paths["markdown"].write_text(markdown_report(runs, warnings), encoding="utf-8")
    paths["html"].write_text(html_report(runs, warnings), encoding="utf-8")
    paths["json"].write_text(
        json.dumps(json_report(runs, warnings), indent=2, default=str) + "\n", encoding="utf-8"
    )
    return paths


def build_report(
    run_dir: str,
    *,
    compare: list[str] | None = None,
    out: str | None = None,
    as_json: bool = False,
    seed: int = 0,
) -> int:
    """Load RUN_DIR (and the runs to compare), write report.md/.html and summary.json, print a table.

    Runs over different problem sets are compared on the problems they share, with a warning."""
    runs, warnings = shared_problems(
        [load_run(path, seed=seed) for path in [run_dir, *(compare or [])]], seed=seed
    )
    paths = write_reports(runs, Path(out) if out else Path(run_dir) / "report", warnings)
    if as_json:
        for warning in warnings:
            print(f"alphaflow: warning: {warning}", file=sys.stderr)
        print(json.dumps(json_report(runs, warnings), default=str))
        return 0
    print_terminal(runs, warnings)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
