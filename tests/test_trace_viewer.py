"""The trace viewer: a real AlphaCodium run's trace as a terminal tree and as a page in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alphaflow.cli import main
from alphaflow.engine.trace_tree import build_tree, human_bytes, human_seconds
from alphaflow.trace import read_trace
from tests.browser import load

REPO = Path(__file__).resolve().parent.parent
PROBLEM = REPO / "examples" / "problems" / "tile_painting.md"
SCRIPT = REPO / "examples" / "scripted" / "tile_painting.yaml"


@pytest.fixture(scope="module")
def alphacodium_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trace of the README's dry run (AlphaCodium, scripted model, judged in the local sandbox)."""
    trace = tmp_path_factory.mktemp("trace") / "trace.jsonl"
    code = main(
        [
            "solve",
            str(PROBLEM),
            "--model",
            f"scripted:{SCRIPT}",
            "--sandbox",
            "local",
            "--trace",
            str(trace),
            "--json",
            "--no-cache",  # the tree's llm steps must show real calls, whatever ran before
        ]
    )
    assert code == 0
    return trace


@pytest.fixture(scope="module")
def failing_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose step fails: the model never gives the YAML keys the step needs."""
    folder = tmp_path_factory.mktemp("failing")
    flow = folder / "flow.yaml"
    flow.write_text(
        "name: failing\nsteps:\n  - id: plan\n    kind: llm\n    user: Plan it.\n"
        "    repair_attempts: 0\n    output: {format: yaml, keys: [plan]}\n"
    )
    script = folder / "script.yaml"
    script.write_text("rules:\n  - step: plan\n    response: I would rather not.\n")
    trace = folder / "trace.jsonl"
    assert main(["run", str(flow), "--model", f"scripted:{script}", "--trace", str(trace), "--json"]) != 0
    return trace


def test_the_tree_nests_loops_with_numbered_iterations(alphacodium_trace: Path) -> None:
    tree = build_tree(read_trace(alphacodium_trace))
    top = [node.id for node in tree.root.children]
    assert top[:3] == ["reflect", "validate_reflection", "reflection"]
    fix_public = next(node for node in tree.root.children if node.id == "fix_public")
    assert fix_public.kind == "loop" and fix_public.iterations
    first = fix_public.iterations[min(fix_public.iterations)]
    assert [node.id for node in first][:2] == ["analyse_public", "fix_public_code"]
    llm = next(node for node in tree.root.walk() if node.kind == "llm")
    assert llm.calls and llm.tokens[0] > 0


def test_terminal_view_is_a_tree_with_verdicts_and_human_times(
    alphacodium_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "show", str(alphacodium_trace)]) == 0
    out = capsys.readouterr().out
    assert "fix_public" in out and "iteration 1" in out
    assert re.search(r"initial_judge sandbox ok \d+(\.\d+)? m?s (AC|WA) \d+/\d+", out)
    assert "1796" not in out  # no epoch timestamps
    assert "model calls:" in out


def test_html_page_loads_in_a_real_browser_and_shows_every_step(
    alphacodium_trace: Path, tmp_path: Path
) -> None:
    page = tmp_path / "trace.html"
    assert main(["trace", "show", str(alphacodium_trace), "--html", str(page)]) == 0
    loaded = load(page)
    assert loaded.console == []  # no errors (or anything else) in the console
    assert loaded.external == []  # works offline: nothing fetched from the network
    steps = [json.loads(line) for line in alphacodium_trace.read_text().splitlines()]
    paths = {event["path"] for event in steps if event.get("event") == "step_end"}
    anchors = set(re.findall(r'id="(step-[^"]+)"', loaded.dom))
    assert {"step-" + re.sub(r"[^A-Za-z0-9_-]", "-", path) for path in paths} <= anchors
    # an llm step shows its prompt and answer as text with real newlines, and the parsed YAML
    assert "Prompt</h4>" in loaded.dom and "Answer</h4>" in loaded.dom and "Parsed</h4>" in loaded.dom
    assert "\\n" not in re.sub(r"<[^>]+>", "", loaded.dom.split("<main>", 1)[1])[:20000]
    # a sandbox step shows its per-test table and the code, highlighted
    assert "<th>expected</th>" in loaded.dom and 'class="hl"' in loaded.dom
    assert "iteration 1" in loaded.dom


def test_errors_come_first_and_link_to_their_step(failing_trace: Path, tmp_path: Path) -> None:
    page = tmp_path / "failing.html"
    assert main(["trace", "show", str(failing_trace), "--html", str(page)]) == 0
    dom = load(page).dom
    errors = dom.index('id="errors"')
    assert errors < dom.index('class="timeline"')
    link = re.search(r'<section class="errors".*?href="#(step-[^"]+)"', dom, re.DOTALL)
    assert link and f'id="{link.group(1)}"' in dom


def test_the_browser_check_can_fail(tmp_path: Path) -> None:
    """The console and offline checks above catch a page that errs or fetches from the network."""
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><p>x</p><script>missing();</script><img src="https://example.org/a.png">')
    loaded = load(page)
    assert any("missing is not defined" in message for message in loaded.console)
    assert loaded.external


def test_human_units() -> None:
    assert human_seconds(0.0004) == "0.40 ms"
    assert human_seconds(0.34) == "340 ms"
    assert human_seconds(4.2468) == "4.25 s"
    assert human_seconds(125) == "2 min 05 s"
    assert human_bytes(7064) == "6.9 MiB"


def test_a_file_that_is_no_trace_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.jsonl"
    assert main(["trace", "show", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
