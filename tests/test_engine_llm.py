"""`llm` steps over real HTTP: the scripted server, the real router and litellm client.

Covers the output formats, YAML repair, re-asking with the parse error, a step that never parses,
samples and their cache keys, model failures under on_error, and the trace of an llm step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alphaflow.engine import RunContext, StepFailed, run_flow
from alphaflow.models import build_router
from alphaflow.testing import Rule
from alphaflow.trace import Trace, read_trace

MODEL = "openai/scripted"


ENGINE_GLUE = Path(__file__).parent / "flows" / "engine_glue.py"  # step functions the test flows call


def write_flow(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    text = textwrap.dedent(text).lstrip().replace("functions: [engine_glue]", f"functions: [{ENGINE_GLUE}]")
    path.write_text(text, encoding="utf-8")
    return path


async def run(flow: Path, server, inputs=None, *, trace=None, cache_path=None, max_retries=0):
    router = build_router(
        MODEL, api_base=server.base_url, cache_path=cache_path, trace=trace, max_retries=max_retries
    )
    try:
        context = RunContext(router=router, trace=trace or Trace(None), model=MODEL)
        return await run_flow(flow, inputs or {}, context)
    finally:
        router.close()


YAML_FLOW = """
name: answers
inputs: {topic: {type: string, default: sorting}}
steps:
  - id: plan
    kind: llm
    system: You plan.
    user: "Plan for {{ inputs.topic }}."
    output: {format: yaml, keys: [steps, risk]}
    repair_attempts: 2
outputs: {plan: "{{ plan }}"}
"""


async def test_text_and_code_outputs_and_the_messages_sent(tmp_path, scripted_server):
    server = scripted_server(
        [
            {"step": "explain", "response": "It sorts."},
            {"step": "code", "response": "Here:\n```python\nprint(sorted([3, 1]))\n```\nDone."},
        ]
    )
    flow = write_flow(
        tmp_path,
        """
        name: two
        inputs: {language: {type: string, default: python}}
        steps:
          - {id: explain, kind: llm, system: "Be brief.", user: "Explain sorting in {{ inputs.language }}."}
          - id: code
            kind: llm
            user: "Write it. Context: {{ explain }}"
            temperature: 0.3
            output: {format: code, language: "{{ inputs.language }}"}
        outputs: {explain: "{{ explain }}", code: "{{ code }}"}
        """,
    )
    result = await run(flow, server)
    assert result.outputs == {"explain": "It sorts.", "code": "print(sorted([3, 1]))\n"}
    [explain_call] = server.calls("explain")
    assert explain_call.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Explain sorting in python."},
    ]
    [code_call] = server.calls("code")
    assert code_call.messages[-1]["content"] == "Write it. Context: It sorts."
    assert code_call.body["temperature"] == 0.3
    assert result.calls == 2 and result.prompt_tokens > 0


async def test_malformed_yaml_is_repaired_without_asking_again(tmp_path, scripted_server):
    answer = "My plan:\nsteps: first: split the list\n  then merge\nrisk: low\n"
    server = scripted_server([{"step": "plan", "response": answer}])
    result = await run(write_flow(tmp_path, YAML_FLOW), server)
    assert result.outputs["plan"] == {"steps": "first: split the list\nthen merge", "risk": "low"}
    assert len(server.calls("plan")) == 1


async def test_unparseable_yaml_is_re_asked_with_the_parse_error(tmp_path, scripted_server):
    server = scripted_server(
        [
            {
                "step": "plan",
                "responses": ["I would rather not say.", "```yaml\nsteps: [a, b]\nrisk: high\n```"],
            }
        ]
    )
    trace_path = tmp_path / "trace.jsonl"
    with Trace(trace_path) as trace:
        result = await run(write_flow(tmp_path, YAML_FLOW), server, trace=trace)
    assert result.outputs["plan"] == {"steps": ["a", "b"], "risk": "high"}
    first, second = server.calls("plan")
    assert second.messages[:2] == first.messages
    assert second.messages[2] == {"role": "assistant", "content": "I would rather not say."}
    assert (
        "could not parse" in second.messages[3]["content"] and "steps, risk" in second.messages[3]["content"]
    )
    reasks = [e for e in read_trace(trace_path) if e["event"] == "step_reask"]
    assert len(reasks) == 1 and reasks[0]["path"] == "plan"


async def test_an_answer_that_never_parses_is_a_step_failure_not_an_empty_string(tmp_path, scripted_server):
    server = scripted_server([{"step": "plan", "response": "no yaml here, sorry"}])
    with pytest.raises(StepFailed, match=r"unusable yaml answer after 2 re-ask\(s\)"):
        await run(write_flow(tmp_path, YAML_FLOW), server)
    assert len(server.calls("plan")) == 3  # the first ask and two re-asks

    tolerant = write_flow(
        tmp_path, YAML_FLOW.replace("repair_attempts: 2", "repair_attempts: 0\n    on_error: continue")
    )
    result = await run(tolerant, server)
    assert result.outputs["plan"] is None
    assert result.steps["plan"].status == "continued" and "unusable yaml answer" in result.errors[0]


async def test_model_failure_after_retries_is_a_step_failure_under_on_error(tmp_path, scripted_server):
    server = scripted_server([{"step": "ask", "response": "never sent", "fault": {"status": 500}}])
    flow = write_flow(
        tmp_path,
        """
        name: flaky_model
        functions: [engine_glue]
        steps:
          - {id: ask, kind: llm, user: hi, on_error: continue}
          - {id: after, kind: python, function: engine_glue.dumps, args: {obj: "{{ ask }}"}}
        outputs: {after: "{{ after }}"}
        """,
    )
    result = await run(flow, server, max_retries=1)
    assert result.outputs["after"] == "null"
    assert result.steps["ask"].status == "continued" and "500" in result.errors[0]
    assert len(server.calls("ask")) == 2  # the router retried once


async def test_samples_and_map_iterations_are_distinct_samples_and_a_rerun_reuses_them(
    tmp_path, scripted_server
):
    counter = {"n": 0}

    def numbered(request) -> str:
        counter["n"] += 1
        return f"answer {counter['n']}"

    server = scripted_server([Rule(step="*", response=numbered)])
    flow = write_flow(
        tmp_path,
        """
        name: sampled
        steps:
          - {id: many, kind: llm, user: "same prompt", samples: 3, temperature: 0.8}
          - id: fan
            kind: map
            count: 2
            steps:
              - {id: one, kind: llm, user: "same prompt", samples: 3, temperature: 0.8}
            result: "{{ one }}"
        outputs: {many: "{{ many }}", fan: "{{ fan }}"}
        """,
    )
    cache = tmp_path / "cache.sqlite"
    trace_path = tmp_path / "trace.jsonl"
    with Trace(trace_path) as trace:
        first = await run(flow, server, cache_path=cache, trace=trace)
    texts = first.outputs["many"] + first.outputs["fan"][0] + first.outputs["fan"][1]
    assert len(set(texts)) == 9  # nine distinct samples, none collapsed by the cache
    indexes = sorted(e["sample_index"] for e in read_trace(trace_path) if e["event"] == "model_call")
    assert len(set(indexes)) == 3

    calls_before = len(server.calls())
    second = await run(flow, server, cache_path=cache)
    assert second.outputs == first.outputs
    assert len(server.calls()) == calls_before  # all from the cache


async def test_llm_step_trace_has_prompt_response_and_parsed_output(tmp_path, scripted_server):
    server = scripted_server([{"step": "plan", "response": "steps: [a]\nrisk: none\n"}])
    trace_path = tmp_path / "trace.jsonl"
    with Trace(trace_path) as trace:
        await run(write_flow(tmp_path, YAML_FLOW), server, trace=trace)
    events = read_trace(trace_path)
    [end] = [e for e in events if e["event"] == "step_end"]
    assert end["path"] == "plan" and end["status"] == "ok" and end["model"] == MODEL
    assert end["prompt"][1] == {"role": "user", "content": "Plan for sorting."}
    assert end["response"] == ["steps: [a]\nrisk: none\n"]
    assert end["output"] == {"steps": ["a"], "risk": "none"}
    assert [e["step"] for e in events if e["event"] == "model_call"] == ["plan"]


def test_cli_run_with_a_scripted_model_prints_one_json_object(tmp_path):
    script = tmp_path / "dry.yaml"
    script.write_text('rules:\n  - step: plan\n    response: "steps: [x]\\nrisk: low"\n')
    flow = write_flow(tmp_path, YAML_FLOW)
    trace_path = tmp_path / "trace.jsonl"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alphaflow",
            "run",
            str(flow),
            "--input",
            "topic=graphs",
            "--model",
            f"scripted:{script}",
            "--no-cache",
            "--trace",
            str(trace_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["outputs"] == {"plan": {"steps": ["x"], "risk": "low"}}
    assert payload["calls"] == 1
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "alphaflow",
            "trace",
            "show",
            str(trace_path),
            "--html",
            str(tmp_path / "t.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0 and "model calls: 1" in shown.stdout
    page = (tmp_path / "t.html").read_text()
    assert "<script" not in page and "http" not in page.split("<body>")[0]
    assert "Plan for graphs." in page


def test_cli_run_reports_a_missing_required_input_in_one_line(tmp_path):
    flow = write_flow(
        tmp_path, "name: needs\ninputs: {n: {type: integer}}\nsteps:\n  - {id: a, kind: llm, user: hi}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "alphaflow", "run", str(flow), "--input", "n=ten"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "alphaflow: error: --input n: 'ten' is not a valid integer"


async def test_budget_stops_the_run_even_under_on_error_continue(tmp_path, scripted_server):
    from alphaflow.errors import BudgetExceeded

    server = scripted_server([{"step": "*", "response": "one two three"}])
    flow = write_flow(
        tmp_path,
        """
        name: spender
        steps:
          - id: many
            kind: map
            count: 50
            concurrency: 1
            steps:
              - {id: ask, kind: llm, user: "question {{ index }}", max_tokens: 10, on_error: continue}
        """,
    )
    router = build_router(
        MODEL, api_base=server.base_url, cache_path=None, max_cost_usd=0.1, prices={MODEL: (1000.0, 1000.0)}
    )
    try:
        with pytest.raises(BudgetExceeded) as caught:
            await run_flow(flow, {}, RunContext(router=router, model=MODEL))
    finally:
        router.close()
    made = len(server.calls())
    assert 0 < made < 50
    partial = caught.value.partial  # what the run finished before it stopped
    assert partial.calls == made
    assert sum(record.status == "ok" for record in partial.steps.values()) == made


async def test_logprobs_with_top_alternatives_reach_the_server_and_the_result(tmp_path, scripted_server):
    server = scripted_server([{"step": "score", "response": "4", "top_logprobs": {"4": -0.2, "5": -1.9}}])
    flow = write_flow(
        tmp_path,
        """
        name: scored
        steps:
          - {id: score, kind: llm, user: "Score it 1-5.", logprobs: 2}
        outputs: {score: "{{ score }}"}
        """,
    )
    result = await run(flow, server)
    score = result.outputs["score"]
    assert score["value"] == "4"
    [request] = server.calls("score")
    assert request.body.get("logprobs") is True and request.body.get("top_logprobs") == 2
    first_token = score["logprobs"][0][0]
    assert {alt["token"] for alt in first_token["top_logprobs"]} >= {"4", "5"}
