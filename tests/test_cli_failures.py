"""Failures that must not look like success: `flows validate` on a folder with a broken file,
`trace show` on a file that is not a trace, output piped into `head`, and exit codes in `--help`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alphaflow.cli import main

REPO = Path(__file__).resolve().parent.parent


def test_validate_never_skips_a_file_that_does_not_parse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "direct.yaml").write_text((REPO / "flows" / "direct.yaml").read_text())
    (tmp_path / "broken.yaml").write_text("name: bad\nsteps:\n  - id: a\n    kind: llm\n   user: [oops\n")
    (tmp_path / "script.yaml").write_text("rules: []\n")  # a data file beside the flows
    assert main(["flows", "validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'broken.yaml'}:5:4 YAML syntax error" in out
    assert f"{tmp_path / 'direct.yaml'}: ok" in out
    assert f"{tmp_path / 'script.yaml'}: not a flow" in out


def test_validate_an_empty_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "validate", str(tmp_path)]) == 2
    assert "no .yaml/.yml files" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ('{"key": "plus#0", "problem": "plus"}\n', 1, "not a trace: expected a JSON object with an 'event'"),
        ("name: direct\nsteps: []\n", 1, "found 'name: direct'"),
        ('{"event": "flow_start"}\nnot json\n{"event": "flow_end"}\n', 2, "not a trace"),
    ],
)
def test_trace_show_on_a_file_that_is_not_a_trace_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, line: int, message: str
) -> None:
    path = tmp_path / "file.jsonl"
    path.write_text(content)
    assert main(["trace", "show", str(path)]) == 2
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"alphaflow: error: {path}:{line}: ")
    assert message in errors[0]
    assert captured.out == ""  # no empty table


def test_trace_show_reads_a_trace_with_a_torn_last_line_and_refuses_an_empty_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torn = tmp_path / "torn.jsonl"
    torn.write_text(json.dumps({"event": "flow_start", "flow": "direct"}) + '\n{"event": "step_e')
    assert main(["trace", "show", str(torn)]) == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["trace", "show", str(empty)]) == 2
    assert "has no events" in capsys.readouterr().err


def test_output_piped_into_a_closed_reader_ends_quietly(tmp_path: Path) -> None:
    # the reader leaves before anything is written, as `| head -c0` would
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "COLUMNS": "80"}
    process = subprocess.run(
        [sys.executable, "-m", "alphaflow", "flows", "list", "--json"],
        stdout=write,
        stderr=subprocess.PIPE,
        env=env,
        timeout=120,
        check=False,
    )
    os.close(write)
    assert process.returncode == 141
    assert b"Traceback" not in process.stderr and b"BrokenPipeError" not in process.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["bench", "codecontests"],
        ["bench", "report"],
        ["judge", "self-reward"],
        ["eval"],
        ["flows", "validate"],
        ["trace", "show"],
    ],
)
def test_help_documents_the_exit_codes(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    assert "exit codes: 0 " in " ".join(capsys.readouterr().out.split())
