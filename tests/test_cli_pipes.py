"""A reader that leaves early (``alphaflow ... | head -1``): every command ends like a Unix tool, with
exit status 141 (128 + SIGPIPE) and nothing on standard error, whether it prints with rich or print."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GLUE = REPO / "tests" / "flows" / "engine_glue.py"
TILE = ["examples/problems/tile_painting.md", "--model", "scripted:examples/scripted/tile_painting.yaml"]


def _assert_quiet_exit(code: int, err: str) -> None:
    assert code == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err, err


def test_reader_that_reads_one_line_and_closes_ends_the_command_with_141(tmp_path: Path) -> None:
    """`alphaflow run FLOW | head -1`: the first output fills the pipe, so the command is still
    printing (the next output, then the totals) when the reader goes."""
    flow = tmp_path / "lines.yaml"
    flow.write_text(
        f"name: lines\nfunctions: [{GLUE}]\n"
        "steps:\n  - {id: one, kind: python, function: engine_glue.echo, args: {n: 1}}\n"
        "outputs:\n  text: \"{{ 'a line of the output\\n' * 20000 }}\"\n  more: done\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "alphaflow", "run", str(flow)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode("utf-8", "replace")
    assert first == b"text:\n"
    _assert_quiet_exit(process.wait(timeout=120), err)


@pytest.mark.parametrize(
    "args",
    [
        ["solve", *TILE, "--sandbox", "local"],  # rich panels and tables
        ["solve", *TILE, "--sandbox", "local", "--json"],  # print()
        ["flows", "list"],
        ["eval", "rubric", "--data", "examples/judge/rubric.jsonl", "--model", "stub", "--out", "{tmp}/ev"],
    ],
    ids=["solve", "solve-json", "flows-list", "eval"],
)
def test_every_command_ends_with_141_when_the_reader_is_gone(args: list[str], tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader left before the command printed anything
    try:
        done = subprocess.run(
            [sys.executable, "-m", "alphaflow", *(arg.replace("{tmp}", str(tmp_path)) for arg in args)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=REPO,
            timeout=300,
        )
    finally:
        os.close(write_end)
    err = done.stderr.decode("utf-8", "replace")
    _assert_quiet_exit(done.returncode, err)


def test_commands_print_with_the_console_that_ends_quietly_on_a_closed_pipe() -> None:
    """rich's own Console exits 1 on a closed pipe; every command uses ``alphaflow.console.Console``."""
    direct = re.compile(r"from rich\.console import [^\n]*\bConsole\b(?!Options)|rich\.console\.Console\(")
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "alphaflow").rglob("*.py"))
        if path.name != "console.py" and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
