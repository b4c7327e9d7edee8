"""The JSON-lines trace: survives torn lines, and never carries a secret from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from alphaflow.trace import REDACTED, Trace, read_trace


def test_secret_from_environment_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-123456789")
    path = tmp_path / "trace.jsonl"
    with Trace(path) as trace:
        trace.write("model_call", headers={"Authorization": "Bearer sk-test-SECRET-123456789"}, text="hi")
    content = path.read_text()
    assert "SECRET-123456789" not in content
    assert REDACTED in content


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    with Trace(path) as trace:
        trace.write("step_end", step="a")
    with path.open("a") as handle:
        handle.write('{"event": "step_e')  # a run killed mid-write
    assert [e["step"] for e in read_trace(path)] == ["a"]


def test_disabled_trace_writes_nothing(tmp_path: Path) -> None:
    Trace(None).write("anything", x=1)
    assert list(tmp_path.iterdir()) == []
