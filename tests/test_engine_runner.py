"""The engine's runner with non-model steps: python, loop, map, flow, when/retry/on_error, trace, cancel."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest

from alphaflow.engine import RunContext, StepFailed, load_flow, run_flow
from alphaflow.errors import UserError
from alphaflow.trace import Trace, read_trace

FLOWS = Path(__file__).parent / "flows"
sys.path.insert(0, str(FLOWS))  # the glue module the test flows call (engine_glue)

import engine_glue  # noqa: E402


@pytest.fixture(autouse=True)
def _reset_glue():
    engine_glue.reset()


def write_flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


async def test_every_non_model_kind_runs_and_publishes_results():
    result = await run_flow(FLOWS / "kinds.yaml", {"label": "hi"})
    outputs = result.outputs
    assert outputs["squares"] == [
        {"index": 0, "x": 3, "square": 9},
        {"index": 1, "x": 1, "square": 1},
        {"index": 2, "x": 2, "square": 4},
    ]
    assert outputs["grow"] == {"state": {"total": 12}, "iterations": 4, "converged": True}
    assert outputs["skipped"] is None
    assert outputs["child"] == {"upper": "HI"}
    assert outputs["text"] == {"rendered": "label=hi total=12", "native": [9, 1, 4], "as_yaml": "a: 1"}
    assert result.steps["skipped"].status == "skipped"
    assert result.steps["child.shout"].status == "ok"
    assert result.steps["grow[3].step_sum"].status == "ok"
    assert result.calls == 0


async def test_map_keeps_input_order_and_respects_the_concurrency_bound(tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: bounded
        functions: [engine_glue]
        inputs: {xs: {type: list}}
        steps:
          - id: out
            kind: map
            over: inputs.xs
            concurrency: 3
            steps:
              - {id: sq, kind: python, function: engine_glue.slow_square,
                 args: {x: "{{ item }}", delay_s: "{{ 0.05 if item % 2 else 0.001 }}"}}
            result: "{{ sq }}"
        outputs: {out: "{{ out }}"}
        """,
    )
    xs = list(range(12))
    result = await run_flow(flow, {"xs": xs})
    assert result.outputs["out"] == [x * x for x in xs]  # input order, though odd items finish last
    assert engine_glue.IN_FLIGHT["max"] == 3


async def test_map_over_a_count_without_result_yields_each_iterations_step_results(tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: counted
        functions: [engine_glue]
        steps:
          - id: runs
            kind: map
            count: 3
            steps:
              - {id: twice, kind: python, function: engine_glue.add,
                 args: {a: "{{ index }}", b: "{{ index }}"}}
        outputs: {runs: "{{ runs }}"}
        """,
    )
    result = await run_flow(flow, {})
    assert result.outputs["runs"] == [{"twice": 0}, {"twice": 2}, {"twice": 4}]


async def test_loop_stops_at_max_iterations_unconverged_and_state_merges(tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: capped
        functions: [engine_glue]
        steps:
          - id: count
            kind: loop
            max_iterations: 3
            state: {n: 0, keep: kept}
            until: "state.n > 100"
            steps:
              - {id: inc, kind: python, function: engine_glue.add, args: {a: "{{ state.n }}", b: 1}}
            update: {n: "{{ inc }}"}
        outputs: {count: "{{ count }}"}
        """,
    )
    result = await run_flow(flow, {})
    assert result.outputs["count"] == {"state": {"n": 3, "keep": "kept"}, "iterations": 3, "converged": False}


async def test_loop_condition_true_at_start_runs_no_iteration(tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: done_already
        functions: [engine_glue]
        steps:
          - id: count
            kind: loop
            max_iterations: 3
            state: {n: 5}
            until: "state.n == 5"
            steps:
              - {id: boom, kind: python, function: engine_glue.boom}
        outputs: {count: "{{ count }}"}
        """,
    )
    result = await run_flow(flow, {})
    assert result.outputs["count"] == {"state": {"n": 5}, "iterations": 0, "converged": True}


async def test_retry_reruns_a_failing_step_until_it_succeeds(tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: retried
        functions: [engine_glue]
        steps:
          - id: f
            kind: python
            function: engine_glue.flaky
            args: {key: retried, failures: 2}
            retry: {attempts: 3, backoff_s: 0.001}
        outputs: {f: "{{ f }}"}
        """,
    )
    result = await run_flow(flow, {})
    assert result.outputs["f"] == "ok after 3"
    assert result.steps["f"].attempts == 3


async def test_a_failure_stops_the_flow_with_the_step_path_and_cause(tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: failing
        functions: [engine_glue]
        steps:
          - id: outer
            kind: map
            count: 2
            steps:
              - {id: bad, kind: python, function: engine_glue.boom, args: {message: "it broke"}}
          - {id: never, kind: python, function: engine_glue.echo}
        """,
    )
    with pytest.raises(StepFailed) as caught:
        await run_flow(flow, {})
    assert "outer" in str(caught.value) and "it broke" in str(caught.value)
    assert caught.value.exit_code == 1


async def test_on_error_continue_publishes_none_and_records_the_error(tmp_path):
    trace_path = tmp_path / "trace.jsonl"
    flow = write_flow(
        tmp_path,
        """
        name: tolerant
        functions: [engine_glue]
        steps:
          - {id: bad, kind: python, function: engine_glue.boom, args: {message: nope}, on_error: continue,
             retry: {attempts: 2, backoff_s: 0}}
          - {id: after, kind: python, function: engine_glue.echo, args: {seen: "{{ bad }}"}}
        outputs: {after: "{{ after }}"}
        """,
    )
    with Trace(trace_path) as trace:
        result = await run_flow(flow, {}, RunContext(trace=trace))
    assert result.outputs["after"] == {"seen": None}
    assert result.steps["bad"].status == "continued" and result.steps["bad"].attempts == 2
    assert result.errors == ["bad: ValueError: nope"]
    events = read_trace(trace_path)
    ends = [e for e in events if e["event"] == "step_end" and e["path"] == "bad"]
    assert ends[0]["status"] == "continued" and "nope" in ends[0]["error"]
    assert [e["attempt"] for e in events if e["event"] == "step_retry"] == [1]


async def test_a_runtime_template_error_is_a_step_failure(tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: runtime_undefined
        functions: [engine_glue]
        inputs: {data: {type: object}}
        steps:
          - {id: e, kind: python, function: engine_glue.echo, args: {v: "{{ inputs.data.missing_key }}"}}
        """,
    )
    with pytest.raises(StepFailed, match="missing_key"):
        await run_flow(flow, {"data": {"present": 1}})


async def test_inputs_are_type_checked_and_defaults_filled(tmp_path):
    flow = load_flow(FLOWS / "kinds.yaml")
    with pytest.raises(UserError, match="missing required input 'label'"):
        await run_flow(flow, {})
    with pytest.raises(UserError, match="input 'limit' must be of type integer"):
        await run_flow(flow, {"label": "x", "limit": "ten"})
    with pytest.raises(UserError, match="unknown input 'labl'"):
        await run_flow(flow, {"label": "x", "labl": "y"})


async def test_trace_has_step_paths_with_iteration_indexes_and_summaries(tmp_path):
    trace_path = tmp_path / "trace.jsonl"
    with Trace(trace_path) as trace:
        await run_flow(FLOWS / "kinds.yaml", {"label": "hi"}, RunContext(trace=trace))
    events = read_trace(trace_path)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "flow_start" and kinds[-1] == "flow_end"
    ends = {e["path"]: e for e in events if e["event"] == "step_end"}
    assert {"squares[0].sq", "squares[2].sq", "grow[0].step_sum", "child.shout", "text"} <= set(ends)
    assert ends["squares[1].sq"]["inputs"] == {"x": 1}
    assert ends["squares[1].sq"]["output"] == 1
    assert ends["grow"]["output"]["converged"] is True
    assert all(isinstance(e["duration_s"], float) for e in ends.values())
    starts = [e["path"] for e in events if e["event"] == "step_start"]
    assert set(starts) == set(ends)


class RecordingSandbox:
    """An async context manager standing in for the sandbox; records that the run closed it."""

    def __init__(self) -> None:
        self.opened = self.closed = False

    async def __aenter__(self) -> RecordingSandbox:
        self.opened = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0)
        self.closed = True

    async def judge(self, code, language, tests, limits, stop_on_first_failure, checker=None):
        await asyncio.sleep(30)  # a judge that hangs until cancelled


async def test_cancelling_a_run_cancels_pending_steps_and_closes_the_sandbox(tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: cancellable
        steps:
          - id: fan
            kind: map
            count: 4
            steps:
              - {id: judge, kind: sandbox, code: "print(1)", tests: [{input: "", output: "1"}]}
        """,
    )
    sandbox = RecordingSandbox()
    task = asyncio.create_task(run_flow(flow, {}, RunContext(sandbox_factory=lambda: sandbox)))
    await asyncio.sleep(0.2)
    assert sandbox.opened and not sandbox.closed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sandbox.closed
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert pending == []


async def test_sandbox_step_judges_with_the_local_backend(tmp_path):
    from alphaflow.sandbox import open_sandbox

    flow = write_flow(
        tmp_path,
        """
        name: judged
        inputs: {problem: {type: object}}
        steps:
          - id: judge
            kind: sandbox
            code: "print(sum(map(int, input().split())))"
            tests: "{{ inputs.problem.public_tests }}"
        outputs: {verdict: "{{ judge.verdict }}", passed: "{{ judge.passed }}", tests: "{{ judge.tests }}"}
        """,
    )
    problem = {
        "public_tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "2 2\n", "output": "5\n"}],
        "time_limit_s": 2,
        "memory_limit_bytes": 256 << 20,
    }
    context = RunContext(sandbox_factory=lambda: open_sandbox(backend="local", warn=False))
    result = await run_flow(flow, {"problem": problem}, context)
    assert result.outputs["verdict"] == "WA"
    assert result.outputs["passed"] == 1
    assert [test["verdict"] for test in result.outputs["tests"]] == ["AC", "WA"]


def test_trace_html_escapes_everything_and_needs_no_external_assets(tmp_path):
    from alphaflow.engine.traceview import load_events, render_html

    trace_path = tmp_path / "trace.jsonl"
    hostile = "<script>alert('x')</script> & <img src=http://evil/x.png>"
    with Trace(trace_path) as trace:
        trace.write("step_end", path="a<b>", kind="llm", status="failed", duration_s=0.1, error=hostile)
        trace.write(
            "model_call", step="a<b>", prompt_tokens=3, completion_tokens=4, cost_usd=0.5, texts=[hostile]
        )
    page = render_html(load_events(trace_path), title="t <x>")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "a&lt;b&gt;" in page
    head = page.split("<body>")[0]
    assert "<link" not in head and "http" not in head  # styles are inline: nothing is fetched


def test_ctrl_c_stops_a_cli_run_cleanly(tmp_path):
    import os
    import signal
    import subprocess
    import time

    flow = write_flow(
        tmp_path,
        """
        name: sleepy
        functions: [engine_glue]
        steps:
          - {id: wait, kind: python, function: engine_glue.sleep, args: {delay: 60}}
        """,
    )
    trace_path = tmp_path / "trace.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "alphaflow", "run", str(flow), "--trace", str(trace_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(FLOWS)},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if trace_path.exists() and "step_start" in trace_path.read_text():
                break
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert stderr.strip() == "alphaflow: interrupted"
    events = read_trace(trace_path)
    assert events[-1]["event"] == "flow_end" and events[-1]["status"] == "cancelled"


async def test_a_trace_subclass_without_a_file_still_receives_every_step_event():
    class Listening(Trace):  # e.g. a live progress display
        def __init__(self) -> None:
            super().__init__(None)
            self.seen: list[tuple[str, str | None]] = []

        def write(self, event: str, **fields) -> None:
            self.seen.append((event, fields.get("path")))

    listener = Listening()
    await run_flow(FLOWS / "child.yaml", {"word": "x"}, RunContext(trace=listener))
    assert [event for event, _ in listener.seen] == ["flow_start", "step_start", "step_end", "flow_end"]
    assert listener.seen[1:3] == [("step_start", "shout"), ("step_end", "shout")]


def test_trace_show_skips_a_torn_last_line_and_refuses_lines_that_are_not_events(tmp_path):
    from rich.console import Console

    from alphaflow.engine.traceview import load_events, print_summary
    from alphaflow.errors import UserError

    trace_path = tmp_path / "trace.jsonl"
    good = {"event": "step_end", "path": "a", "kind": "python", "status": "ok", "duration_s": 0.5}
    trace_path.write_text('[1, 2]\n"text"\n' + __import__("json").dumps(good) + '\n{"event": "step_e')
    with pytest.raises(UserError, match=r"trace.jsonl:1: not a trace"):
        load_events(trace_path)
    trace_path.write_text(__import__("json").dumps(good) + '\n{"event": "step_e')
    events = load_events(trace_path)
    assert [event["path"] for event in events] == ["a"]
    console = Console(record=True, width=120)
    print_summary(events, console, title="t")
    assert "python" in console.export_text()


def test_trace_summary_survives_hostile_fields(tmp_path):
    from rich.console import Console

    from alphaflow.engine.traceview import print_summary

    events = [
        {
            "event": "step_end",
            "path": "[red]x[/red]",
            "kind": "[bold]",
            "status": "[/]",
            "duration_s": "slow",
        },
        {"event": "model_call", "prompt_tokens": "many", "cost_usd": "free", "error": "[/oops]"},
        {"event": "flow_end", "flow": "[/]", "status": "ok", "duration_s": 1},
    ]
    console = Console(record=True, width=200)
    print_summary(events, console, title="t")
    text = console.export_text()
    assert "[red]x[/red]" in text and "[/oops]" in text


async def test_errors_inside_expressions_are_step_failures_not_crashes(tmp_path):
    flow = write_flow(
        tmp_path,
        """
        name: type_errors
        functions: [engine_glue]
        inputs: {n: {type: any, default: null}}
        steps:
          - {id: cmp, kind: python, function: engine_glue.echo, when: "inputs.n > 1", on_error: continue}
          - {id: add, kind: python, function: engine_glue.echo, args: {v: "{{ inputs.n + 1 }}"},
             on_error: continue}
          - {id: call, kind: flow, flow: child.yaml, inputs: {word: "{{ 3 }}"}, on_error: continue}
        outputs: {cmp: "{{ cmp }}", add: "{{ add }}", call: "{{ call }}"}
        """,
    )
    (tmp_path / "child.yaml").write_text((FLOWS / "child.yaml").read_text().replace("./", f"{FLOWS}/"))
    result = await run_flow(flow, {})
    assert result.outputs == {"cmp": None, "add": None, "call": None}
    assert [error.split(":")[0] for error in result.errors] == ["cmp", "add", "call"]
    assert "TypeError" in result.errors[0] and "TypeError" in result.errors[1]
    assert "input 'word' must be of type string" in result.errors[2]
