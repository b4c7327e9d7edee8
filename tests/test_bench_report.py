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
