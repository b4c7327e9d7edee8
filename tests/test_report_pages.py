"""Every report page alphaflow writes, opened in a real headless browser (Debian's chromium).

Each kind (bench run, bench comparison, eval rubric, eval pairwise) comes from a real offline run
(scripted or stub model, local sandbox) and must load with no console message, fetch nothing from the
network, and show its tables.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import chromium, load

REPO = Path(__file__).resolve().parents[1]
CASE = REPO / "tests" / "fixtures" / "cases" / "10-passk-n-lt-k"  # two tiny problems: plus and minus
EXAMPLES = REPO / "examples" / "judge"


def alphaflow(*args: str | Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "alphaflow", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return done


def table_ids(dom: str) -> list[str]:
    return re.findall(r'<table (?:id|class)="([^"]+)"', dom)


def assert_clean(page) -> None:
    assert page.dom.strip().endswith("</html>")
    assert page.console == []  # no errors, warnings or logs
    assert page.external == []  # self-contained: nothing from the network


@pytest.fixture(scope="module")
def bench_runs(tmp_path_factory) -> Path:
    chromium()  # skip early where there is no browser
    root = tmp_path_factory.mktemp("bench")
    common = ["--data", CASE / "problems.jsonl", "--flow", "direct", "--sandbox", "local", "--json"]
    alphaflow(
        "bench",
        "codecontests",
        *common,
        "--model",
        f"scripted:{CASE / 'model.yaml'}",
        "--samples",
        "2",
        "--out",
        root / "scripted",
    )
    alphaflow(
        "bench",
        "codecontests",
        *common,
        "--model",
        "stub",
        "--samples",
        "1",
        "--limit",
        "1",
        "--out",
        root / "stub",
    )
    return root


def test_bench_run_page(bench_runs):
    alphaflow("bench", "report", bench_runs / "scripted")
    page = load(bench_runs / "scripted" / "report" / "report.html")
    assert_clean(page)
    assert table_ids(page.dom) == ["headline", "difficulty", "tag", "problems", "runs"]
    assert page.dom.count('src="data:image/png;base64,') == 3
    assert re.search(r'<span class="verdict" style="background: #2e7d32">AC 2</span>', page.dom)
    assert re.search(r'<span class="verdict" style="background: #c62828">WA 2</span>', page.dom)
    assert "50.0% [0.0, 100.0] over 2 of 2 problems (n&gt;=1)" in page.dom
    assert 'class="warning"' not in page.dom


def test_bench_compare_page(bench_runs):
    out = bench_runs / "compare"
    done = alphaflow(
        "bench", "report", bench_runs / "scripted", "--compare", bench_runs / "stub", "--out", out
    )
    assert "comparing only the 1 problem(s)" in done.stderr
    page = load(out / "report.html")
    assert_clean(page)
    assert table_ids(page.dom) == ["headline", "difficulty", "tag", "problems", "problems", "runs"]
    assert page.dom.count('class="warning"') == 3
    assert "1 of 2 problem(s) dropped (minus)" in page.dom  # --limit 1 took the file's first: plus


def eval_page(tmp_path: Path, kind: str, *models: str) -> str:
    alphaflow("eval", kind, "--data", EXAMPLES / f"{kind}.jsonl", *models, "--out", tmp_path, "--no-cache")
    page = load(tmp_path / "report.html")
    assert_clean(page)
    return page.dom


def test_eval_rubric_page(tmp_path):
    chromium()
    dom = eval_page(tmp_path, "rubric", "--model", f"scripted:{EXAMPLES / 'dry_eval.yaml'}")
    assert [h for h in re.findall(r"<h2[^>]*>([^<]+)</h2>", dom)] == ["Per judge", "Per item"]
    assert dom.count("<table>") == 2
    assert "<td>boil</td><td>1.08</td>" in dom  # the per-item row: item, then the judge's score


def test_eval_pairwise_page(tmp_path):
    chromium()
    dom = eval_page(
        tmp_path,
        "pairwise",
        "--model",
        "stub",
        "--judge-model",
        "stub",
        "--judge-model",
        f"scripted:{EXAMPLES / 'dry_eval.yaml'}",
    )
    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", dom)
    assert headings == ["Per judge", "Agreement between judges", "Per item"]
    assert "<th>scripted:dry_eval.yaml</th>" in dom
    assert '<td class="bad">disagree: stub tie, scripted:dry_eval.yaml A</td>' in dom
