"""Reports of benchmark runs: the HTML page parses and carries its plots and tables; Markdown and JSON."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from alphaflow.bench.meta import run_metadata
from alphaflow.bench.store import RunStore, UnitResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(run_dir: Path, flow: str, verdicts: dict[str, list[str]], cost: float | None = 0.01) -> None:
    store = RunStore(run_dir)
    store.write_meta(
        run_metadata(
            flow=flow,
            flow_path=None,
            model="openai/scripted",
            data={"kind": "jsonl", "location": "x"},
            language="python",
            samples=2,
            concurrency=2,
            limits={},
            sandbox="local",
            args={},
        )
    )
    for index, (problem, outcomes) in enumerate(verdicts.items()):
        for sample, verdict in enumerate(outcomes):
            store.append(
                UnitResult(
                    key=f"{problem}#{sample}",
                    problem=problem,
                    sample_index=sample,
                    code="print(1)",
                    evaluation={"verdict": verdict, "passed": 1, "total": 2},
                    solved=verdict == "AC",
                    prompt_tokens=50,
                    completion_tokens=10,
                    cost_usd=cost,
                    model_calls=1,
                    wall_s=1.0,
                    difficulty=7 + index,
                    tags=["math", "<script>"],
                    finished_at=1000.0 + index * 2 + sample,
                )
            )
    store.close()


def bench_report(*args: Path | str) -> subprocess.CompletedProcess:
    """``alphaflow bench report ARGS`` in a child process (the CLI as a user runs it)."""
    return subprocess.run(
        [sys.executable, "-m", "alphaflow", "bench", "report", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


class PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: list[str] = []
        self.cells: list[str] = []
        self.scripts = 0
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
        elif tag == "table":
            self.tables.append(attributes.get("id") or attributes.get("class") or "")
        elif tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


def test_report_compares_runs_in_html_markdown_and_json(tmp_path):
    write_run(tmp_path / "direct", "direct", {"P1": ["AC", "WA"], "P2": ["WA", "TLE"]})
    write_run(tmp_path / "alpha", "alphacodium", {"P1": ["AC", "AC"], "P2": ["AC", "WA"]})
    out = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "alphaflow",
            "bench",
            "report",
            str(tmp_path / "direct"),
            "--compare",
            str(tmp_path / "alpha"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "pass@1" in done.stdout and "direct" in done.stdout and "alphacodium" in done.stdout

    page = PageParser()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    assert len(page.images) == 3  # pass@k, cost against solved, verdict mix
    for source in page.images:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)  # embedded: the page is self-contained
        assert base64.b64decode(source[len(prefix) :]).startswith(PNG_MAGIC)
    assert {"headline", "difficulty", "tag"} <= set(page.tables) and page.tables.count("problems") == 2
    assert page.scripts == 0  # a tag named "<script>" was escaped, not injected
    assert "<script>" in page.cells  # ... and shown as text
    # The headline table holds both runs' figures side by side.
    row = page.cells.index("solved by any sample")
    assert page.cells[row + 1 : row + 3] == ["1 of 2 (50.0%)", "2 of 2 (100.0%)"]
    row = page.cells.index("pass@1 [95% CI]")
    assert page.cells[row + 1].startswith("25.0%") and page.cells[row + 2].startswith("75.0%")

    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| pass@2 [95% CI] | 50.0%" in markdown and "## By difficulty" in markdown

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    direct, alpha = (run["summary"] for run in summary["runs"])
    assert direct["pass_at_k"]["1"]["value"] == 0.25 and alpha["pass_at_k"]["2"]["value"] == 1.0
    assert direct["verdicts"] == {"WA": 2, "AC": 1, "TLE": 1}
    assert summary["runs"][1]["meta"]["flow"] == "alphacodium"


def test_report_json_flag_and_a_missing_run_dir(tmp_path):
    write_run(tmp_path / "run", "direct", {"P1": ["AC", "WA"]}, cost=None)
    done = subprocess.run(
        [sys.executable, "-m", "alphaflow", "bench", "report", str(tmp_path / "run"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["runs"][0]["summary"]["cost_usd"]["total"] is None  # unknown price stays unknown

    missing = subprocess.run(
        [sys.executable, "-m", "alphaflow", "bench", "report", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert (
        missing.stderr.strip()
        == f"alphaflow: error: {tmp_path / 'nope'}: not a benchmark run directory (no meta.json)"
    )


# --- plots ------------------------------------------------------------------------------------------
def _summary(table: dict[int, tuple[float, float, float]], problems: int = 3) -> dict:
    return {
        "confidence": 0.95,
        "pass_at_k": {
            str(k): {"value": v, "ci_low": lo, "ci_high": hi, "problems": problems, "of": problems}
            for k, (v, lo, hi) in table.items()
        },
    }


def _errorbars(axes) -> list:
    from matplotlib.container import ErrorbarContainer

    return [c for c in axes.containers if isinstance(c, ErrorbarContainer)]


def test_pass_at_k_plot_shows_0_and_100_with_whiskers_only_where_intervals_exist():
    from alphaflow.bench.plots import pass_at_k_figure

    runs = [
        ("none solved", _summary({1: (0.0, 0.0, 0.0), 2: (0.0, 0.0, 0.0), 3: (0.0, 0.0, 0.0)})),
        ("all solved", _summary({1: (1.0, 1.0, 1.0), 2: (1.0, 1.0, 1.0), 3: (1.0, 1.0, 1.0)})),
        ("some", _summary({1: (0.5, 0.2, 0.8), 2: (0.6, 0.6, 0.6), 3: (0.7, 0.4, 0.9)})),
    ]
    figure = pass_at_k_figure(runs)
    axes = figure.axes[0]
    assert axes.get_ylim() == (-5.0, 105.0)  # a point at 0% or 100% is not cut in half
    assert list(axes.get_yticks()) == [0, 20, 40, 60, 80, 100]
    assert list(axes.get_xticks()) == [1, 2, 3]  # integer k only
    bars = _errorbars(axes)
    assert len(bars) == 1  # only the run with intervals of some width
    _, _, (segments,) = bars[0].lines
    assert len(segments.get_segments()) == 2  # k=1 and k=3; k=2's interval has no width
    figure.canvas.draw()
    legend = axes.get_legend()
    assert legend is not None
    assert not legend.get_window_extent().overlaps(axes.get_window_extent())  # off the data


def test_pass_at_k_plot_for_a_single_k_draws_a_bar_per_run():
    from alphaflow.bench.plots import pass_at_k_figure

    figure = pass_at_k_figure(
        [("a: direct", _summary({1: (0.0, 0.0, 0.0)}, 1)), ("b: alpha", _summary({1: (1.0, 1.0, 1.0)}, 1))]
    )
    axes = figure.axes[0]
    assert [round(p.get_height()) for p in axes.patches] == [0, 100]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["a", "b"]
    assert _errorbars(axes) == []  # one problem: no interval to draw
    assert axes.get_ylim() == (-5.0, 105.0)
    assert "pass@1" in axes.get_xlabel()


def test_cost_plot_falls_back_to_tokens_when_every_cost_is_zero_or_unknown():
    from alphaflow.bench.plots import cost_axis, cost_vs_solved_figure

    free = [
        {"cost_usd": 0.0, "model_calls": 1, "prompt_tokens": 100, "completion_tokens": 20, "problem": "P"}
    ]
    unpriced = [
        {"cost_usd": None, "model_calls": 1, "prompt_tokens": 50, "completion_tokens": 5, "problem": "Q"}
    ]
    priced = [
        {"cost_usd": 0.002, "model_calls": 1, "prompt_tokens": 5, "completion_tokens": 5, "problem": "R"}
    ]
    assert cost_axis([("free", free)]) == "tokens"
    assert cost_axis([("priced", priced), ("unpriced", unpriced)]) == "tokens"
    assert cost_axis([("priced", priced)]) == "cost"
    axes = cost_vs_solved_figure([("free", free), ("unpriced", unpriced)]).axes[0]
    assert "tokens" in axes.get_xlabel() and "cost unknown or $0" in axes.get_xlabel()
    assert axes.get_xlim()[1] >= 120  # not the degenerate -0.04..0.04 of a flat zero-cost line


# --- tables -----------------------------------------------------------------------------------------
def test_human_units():
    from alphaflow.bench.report import _money, human_seconds, number

    assert human_seconds(1.0831) == "1.08 s" and human_seconds(14.479) == "14.5 s"
    assert human_seconds(125) == "2 min 05 s"
    assert _money(0.012345) == "$0.0123" and _money(0.0) == "$0" and _money(None) == "unknown"
    assert number(2.17500000001) == "2.175" and number(890.0) == "890"


def test_compare_over_different_problem_sets_uses_the_shared_problems_and_warns(tmp_path):
    write_run(tmp_path / "a", "direct", {"P1": ["AC", "WA"], "P2": ["WA", "WA"], "P3": ["AC", "AC"]})
    write_run(tmp_path / "b", "alphacodium", {"P1": ["AC", "AC"], "P2": ["WA", "AC"]})
    out = tmp_path / "report"
    done = bench_report(tmp_path / "a", "--compare", tmp_path / "b", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "different problem sets: comparing only the 2 problem(s)" in done.stderr
    assert "1 of 3 problem(s) dropped (P3)" in done.stderr and "0 of 2 problem(s) dropped" in done.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    a, b = (run["summary"] for run in summary["runs"])
    assert a["problems"] == b["problems"] == 2
    assert a["pass_at_k"]["1"]["value"] == 0.25  # P1 1/2, P2 0/2; P3 (2/2) is left out
    assert len(summary["warnings"]) == 3
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "> **Warning**: the runs cover different problem sets" in markdown
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count('class="warning"') == 3


def test_run_header_is_readable_and_failed_units_show_their_message(tmp_path):
    write_run(tmp_path / "run", "direct", {"P1": ["AC", "WA"]})
    store = RunStore(tmp_path / "run")
    store.append(
        UnitResult(
            key="P2#0",
            problem="P2",
            sample_index=0,
            error="model call failed: 429 Too Many Requests",
            fault="model",
            finished_at=2000.0,
        )
    )
    store.close()
    out = tmp_path / "report"
    done = bench_report(tmp_path / "run", "--out", out)
    assert done.returncode == 0, done.stderr
    assert "Failed units (1)" in done.stdout and "429 Too Many Requests" in done.stdout
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| run | P2#0 | model | error | model call failed: 429 Too Many Requests |" in markdown
    runs_table = markdown.split("## Runs", 1)[1]
    assert "{" not in runs_table  # no raw dicts (limits, data source, versions, host)
    assert "| data | jsonl x |" in runs_table
    assert "| samples per problem | 2 |" in runs_table
    page = PageParser()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    assert "model call failed: 429 Too Many Requests" in page.cells
    assert not any("{" in cell for cell in page.cells)
    assert "1 s" in page.cells  # P1's wall time: human units


def test_compare_with_no_shared_problem_is_a_one_line_error(tmp_path):
    write_run(tmp_path / "a", "direct", {"P1": ["AC"]})
    write_run(tmp_path / "b", "direct", {"P2": ["WA"]})
    done = bench_report(tmp_path / "a", "--compare", tmp_path / "b")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"alphaflow: error: {tmp_path / 'a'} and {tmp_path / 'b'}: no problem in common, nothing to compare"
    )


def test_plots_of_a_run_with_no_judged_sample_still_draw():
    from alphaflow.bench.plots import cost_vs_solved_plot, pass_at_k_figure, pass_at_k_plot

    empty = {"confidence": 0.95, "pass_at_k": {}}
    axes = pass_at_k_figure([("a: direct", empty), ("b: direct", _summary({1: (0.5, 0.0, 1.0)}))]).axes[0]
    assert axes.get_ylim() == (-5.0, 105.0)
    assert pass_at_k_plot([("a", empty)]).startswith(PNG_MAGIC)
    assert cost_vs_solved_plot([("a", [])]).startswith(PNG_MAGIC)
