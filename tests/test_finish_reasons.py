"""Why the model stopped (finish reason) reaches the completion and the trace, and an answer cut at
max_tokens says so where its parse error would otherwise puzzle: the run's error and `trace show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alphaflow.cli import main
from alphaflow.models import CompletionRequest, build_router
from alphaflow.testing import Rule
from alphaflow.trace import Trace, read_trace

CUT_YAML = "steps:\n  - read the input\n  - sum the"  # an answer the limit stopped mid-sentence


@pytest.mark.parametrize("direct", [False, True], ids=["litellm", "openai-sdk"])
async def test_finish_reasons_reach_the_completion_and_the_trace(
    scripted_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = scripted_server(
        [Rule(step="plan", response=CUT_YAML, finish_reason="length"), Rule(step="code", response="print(1)")]
    )
    trace_path = tmp_path / "t.jsonl"
    router = build_router(
        "openai/scripted",
        api_base=server.base_url,
        trace=Trace(trace_path),
        cache_path=tmp_path / "cache.sqlite",
        openai_direct=direct,
    )
    try:
        ask = [{"role": "user", "content": "plan it"}]
        cut = await router.complete(
            CompletionRequest(model=None, messages=ask, step="plan", n=2, max_tokens=9)
        )
        whole = await router.complete(CompletionRequest(model=None, messages=ask, step="code"))
        again = await router.complete(
            CompletionRequest(model=None, messages=ask, step="plan", n=2, max_tokens=9)
        )
    finally:
        router.close()
        router.trace.close()
    assert cut.finish_reasons == ["length", "length"] and whole.finish_reasons == ["stop"]
    assert again.cached and again.finish_reasons == [None, None]  # the cache keeps texts, not reasons
    calls = [event for event in read_trace(trace_path) if event["event"] == "model_call"]
    assert [call["finish_reasons"] for call in calls] == [["length", "length"], ["stop"], [None, None]]


def test_an_answer_cut_at_max_tokens_is_named_in_the_error_and_in_trace_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "plan.yaml"
    flow.write_text(
        "name: plan\nsteps:\n"
        "  - {id: plan, kind: llm, user: Plan it., max_tokens: 9, repair_attempts: 0,\n"
        "     output: {format: yaml, keys: [steps, risks]}}\n"
        "outputs: {plan: '{{ plan }}'}\n",
        encoding="utf-8",
    )
    script = tmp_path / "script.yaml"
    script.write_text(
        "rules:\n  - step: plan\n    finish_reason: length\n    response: |\n"
        + "".join(f"      {line}\n" for line in CUT_YAML.splitlines()),
        encoding="utf-8",
    )
    trace = tmp_path / "t.jsonl"
    code = main(["run", str(flow), "--model", f"scripted:{script}", "--trace", str(trace), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "missing the key(s): risks (the answer was cut at max_tokens=9: finish_reason length" in err
    assert (
        "alphaflow: warning: the model's answer was cut at max_tokens (finish_reason length) at step plan"
        in err
    )
    (call,) = [event for event in read_trace(trace) if event["event"] == "model_call"]
    assert call["finish_reasons"] == ["length"]

    assert main(["trace", "show", str(trace)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "plan llm failed" in shown and "1 answer cut at max_tokens" in shown
    page = tmp_path / "t.html"
    assert main(["trace", "show", str(trace), "--html", str(page)]) == 0
    assert "1 cut at max_tokens" in page.read_text(encoding="utf-8")


def test_solve_warns_when_the_code_it_judged_was_cut_at_max_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cut answer taken as code compiles to an error: the user is told why, not left puzzled."""
    script = tmp_path / "script.yaml"
    script.write_text(
        'rules:\n  - step: code\n    finish_reason: length\n    response: "n = int(input())\\nprint(n +"\n',
        encoding="utf-8",
    )
    problem = str(Path(__file__).resolve().parent.parent / "examples" / "problems" / "tile_painting.md")
    args = ["solve", problem, "--flow", "direct", "--model", f"scripted:{script}", "--sandbox", "local"]
    assert main([*args, "--no-cache", "--json", "--trace", str(tmp_path / "t.jsonl")]) == 1
    captured = capsys.readouterr()
    outcome = json.loads(captured.out)
    assert outcome["public"]["verdict"] == "CE"
    assert any("cut at max_tokens (finish_reason length) at step code" in w for w in outcome["warnings"])
    assert "alphaflow: warning: the model's answer was cut at max_tokens" in captured.err


def test_a_script_with_a_bad_finish_reason_is_a_one_line_error(tmp_path: Path) -> None:
    from alphaflow.errors import UserError
    from alphaflow.testing import load_script

    script = tmp_path / "script.yaml"
    script.write_text("rules:\n  - step: plan\n    response: hi\n    finish_reason: 7\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"script.yaml:2: rules\[0\]: finish_reason must be a word"):
        load_script(script)
