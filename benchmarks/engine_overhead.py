"""Engine overhead: what the flow engine adds on top of the work its steps do.

Three measurements against the scripted OpenAI-compatible server (real HTTP, real litellm client,
the server in this process), no cache:
- ``python_200``: a 200-step chain of ``python`` steps (each renders a template, calls a trivial
  function, publishes its result) -> pure engine overhead per step (target < 2 ms);
- ``llm_200``: a 200-step chain of ``llm`` steps with zero model latency, and the same 200 requests
  sent straight to the router -> engine overhead per llm step = (flow - direct) / 200 (target < 2 ms),
  plus the end-to-end time per step;
- ``map_64``: 64 independent llm calls with 200 ms injected latency through a ``map`` at
  concurrency 16 -> wall time vs the ideal 64 / 16 x 0.2 s = 0.8 s (target <= 1.3x); measured
  through litellm with the server in this process, and through the OpenAI SDK client
  (``--openai-direct``) with the server in its own process, as a real model server is.

    python benchmarks/engine_overhead.py [--json] [--steps 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alphaflow.engine import RunContext, load_flow, run_flow
from alphaflow.models import CompletionRequest, build_router
from alphaflow.testing import Rule, ScriptedServer

MODEL = "openai/scripted"
MAP_CALLS, MAP_CONCURRENCY, MAP_LATENCY_S = 64, 16, 0.2


# The step functions the benchmark flows call (flows run registered step functions only).
BENCH_STEPS = """
import asyncio

from alphaflow.step_functions import step_function


@step_function("bench.count")
def count(n):
    return {"n": n}


@step_function("bench.sleep")
async def sleep(delay, result=None):
    return await asyncio.sleep(delay, result)
"""


def python_chain(steps: int) -> str:
    # bench.count(n=...) is about the cheapest function that takes keyword arguments.
    lines = [
        "name: python_chain",
        "functions: [./bench_steps.py]",
        "steps:",
        "  - {id: s0, kind: python, function: bench.count, args: {n: 0}}",
    ]
    for i in range(1, steps):
        args = f'{{n: "{{{{ s{i - 1}.n + 1 }}}}"}}'
        lines.append(f"  - {{id: s{i}, kind: python, function: bench.count, args: {args}}}")
    lines.append(f'outputs: {{last: "{{{{ s{steps - 1} }}}}"}}')
    return "\n".join(lines) + "\n"


def llm_chain(steps: int) -> str:
    lines = ["name: llm_chain", "steps:", "  - {id: s0, kind: llm, user: 'step 0'}"]
    for i in range(1, steps):
        lines.append(f"  - {{id: s{i}, kind: llm, user: 'step {i} after {{{{ s{i - 1} }}}}'}}")
    lines.append(f'outputs: {{last: "{{{{ s{steps - 1} }}}}"}}')
    return "\n".join(lines) + "\n"


def map_flow() -> str:
    return f"""
name: fan_out
steps:
  - id: calls
    kind: map
    count: {MAP_CALLS}
    concurrency: {MAP_CONCURRENCY}
    steps:
      - {{id: ask, kind: llm, user: "question {{{{ index }}}}"}}
    result: "{{{{ ask }}}}"
outputs: {{n: "{{{{ calls | length }}}}"}}
"""


async def timed_flow(path: Path, context: RunContext) -> float:
    flow = load_flow(path)  # loading and validation are not part of the per-step overhead
    started = time.perf_counter()
    await run_flow(flow, {}, context)
    return time.perf_counter() - started


class TimedRouter:
    """Passes requests to the real router and adds up the time spent inside its calls."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.seconds = 0.0

    async def complete(self, request: CompletionRequest) -> Any:
        started = time.perf_counter()
        try:
            return await self.router.complete(request)
        finally:
            self.seconds += time.perf_counter() - started


def sleep_map_flow() -> str:
    return f"""
name: fan_out_sleep
functions: [./bench_steps.py]
steps:
  - id: waits
    kind: map
    count: {MAP_CALLS}
    concurrency: {MAP_CONCURRENCY}
    steps:
      - id: wait
        kind: python
        function: bench.sleep
        args: {{delay: {MAP_LATENCY_S}, result: "{{{{ index }}}}"}}
    result: "{{{{ wait }}}}"
outputs: {{n: "{{{{ waits | length }}}}"}}
"""


async def direct_fan_out(router: Any) -> float:
    """The same 64 calls straight to the router with asyncio.gather: the baseline without the engine."""
    semaphore = asyncio.Semaphore(MAP_CONCURRENCY)

    async def call(index: int) -> None:
        async with semaphore:
            messages = [{"role": "user", "content": f"question {index} (direct)"}]
            await router.complete(
                CompletionRequest(model=MODEL, messages=messages, step=f"calls[{index}].direct")
            )

    started = time.perf_counter()
    await asyncio.gather(*(call(index) for index in range(MAP_CALLS)))
    return time.perf_counter() - started


@contextlib.contextmanager
def out_of_process_server(folder: Path) -> Iterator[str]:
    """``alphaflow scripted-server`` in a child process; yields its base URL."""
    script = folder / "map_script.yaml"
    script.write_text(
        f'rules:\n  - step: "calls*"\n    response: ok\n    latency_s: {MAP_LATENCY_S}\ndefault: ok\n'
    )
    command = [sys.executable, "-m", "alphaflow", "scripted-server", str(script), "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base_url = server.stdout.readline().strip() if server.stdout else ""
        if not base_url.startswith("http"):
            raise RuntimeError(f"the scripted server did not start: {command}")
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=10)


async def measure(steps: int, folder: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"steps": steps}
    (folder / "bench_steps.py").write_text(BENCH_STEPS)
    (folder / "python.yaml").write_text(python_chain(steps))
    (folder / "llm.yaml").write_text(llm_chain(steps))
    (folder / "map.yaml").write_text(map_flow())
    (folder / "sleep_map.yaml").write_text(sleep_map_flow())
    ideal = MAP_CALLS / MAP_CONCURRENCY * MAP_LATENCY_S
    figures["map_ideal_s"] = ideal

    await timed_flow(folder / "python.yaml", RunContext())  # warm-up
    python_s = min([await timed_flow(folder / "python.yaml", RunContext()) for _ in range(3)])
    figures["python_step_overhead_ms"] = round(python_s / steps * 1000, 4)
    sleep_map_s = await timed_flow(folder / "sleep_map.yaml", RunContext())
    figures["map_python_sleep_wall_s"] = round(sleep_map_s, 3)
    figures["map_python_sleep_ratio"] = round(sleep_map_s / ideal, 3)

    rules = [Rule(step="calls*", response="ok", latency_s=MAP_LATENCY_S), Rule(response="ok")]
    with ScriptedServer(rules) as server:
        router = build_router(MODEL, api_base=server.base_url, cache_path=None, concurrency=MAP_CONCURRENCY)
        try:
            timed = TimedRouter(router)
            context = RunContext(router=timed, model=MODEL)
            await timed_flow(folder / "llm.yaml", context)  # warm-up: litellm's import, first connections
            timed.seconds = 0.0
            flow_s = await timed_flow(folder / "llm.yaml", context)
            figures["llm_step_end_to_end_ms"] = round(flow_s / steps * 1000, 3)
            figures["model_call_ms"] = round(timed.seconds / steps * 1000, 3)
            figures["llm_step_overhead_ms"] = round((flow_s - timed.seconds) / steps * 1000, 3)

            cpu_started = time.process_time()
            map_s = await timed_flow(folder / "map.yaml", context)
            figures["map_llm_wall_s"] = round(map_s, 3)
            figures["map_llm_ratio"] = round(map_s / ideal, 3)
            figures["map_llm_cpu_s"] = round(time.process_time() - cpu_started, 3)
            figures["map_llm_max_in_flight"] = server.max_in_flight
            figures["map_llm_direct_s"] = round(await direct_fan_out(router), 3)
        finally:
            router.close()
        # The same fan-out with the OpenAI SDK as the client (--openai-direct, what a local vLLM or
        # Ollama server gets) and the model server in its own process, as a real one is: the
        # in-process server above shares this process's interpreter lock with the engine.
        with out_of_process_server(folder) as base_url:
            sdk_router = build_router(MODEL, api_base=base_url, cache_path=None,
                                      concurrency=MAP_CONCURRENCY, openai_direct=True)
            try:
                sdk_context = RunContext(router=sdk_router, model=MODEL)
                await timed_flow(folder / "map.yaml", sdk_context)  # warm-up: the SDK's connections
                sdk_s = await timed_flow(folder / "map.yaml", sdk_context)
                figures["map_llm_openai_sdk_wall_s"] = round(sdk_s, 3)
                figures["map_llm_openai_sdk_ratio"] = round(sdk_s / ideal, 3)
            finally:
                sdk_router.close()
    figures["targets"] = {"step_overhead_ms": 2.0, "map_ratio": 1.3}
    figures["ok"] = (
        figures["python_step_overhead_ms"] < 2.0
        and figures["llm_step_overhead_ms"] < 2.0
        and min(figures["map_llm_ratio"], figures["map_llm_openai_sdk_ratio"]) <= 1.3
    )
    return figures


def report(figures: dict[str, Any]) -> list[str]:
    ideal = figures["map_ideal_s"]
    fan_out = f"{MAP_CALLS} x {MAP_LATENCY_S} s at concurrency {MAP_CONCURRENCY} (ideal {ideal:.2f} s)"
    return [
        f"python steps: {figures['python_step_overhead_ms']:.3f} ms engine overhead per step (target < 2 ms)",
        f"llm steps:    {figures['llm_step_overhead_ms']:.3f} ms engine overhead per step (target < 2 ms); "
        f"{figures['llm_step_end_to_end_ms']:.2f} ms end to end, {figures['model_call_ms']:.2f} ms of it "
        f"inside the model router",
        f"map of llm:   {fan_out}: {figures['map_llm_wall_s']:.3f} s = {figures['map_llm_ratio']:.2f}x "
        f"(target <= 1.3x; peak in flight {figures['map_llm_max_in_flight']}; "
        f"{figures['map_llm_cpu_s']:.2f} s CPU in this process)",
        f"              the same map, OpenAI SDK client (--openai-direct), server in its own process: "
        f"{figures['map_llm_openai_sdk_wall_s']:.3f} s = {figures['map_llm_openai_sdk_ratio']:.2f}x",
        f"              the same calls straight to the router, no engine: "
        f"{figures['map_llm_direct_s']:.3f} s = {figures['map_llm_direct_s'] / ideal:.2f}x",
        f"map, python:  {fan_out}: {figures['map_python_sleep_wall_s']:.3f} s "
        f"= {figures['map_python_sleep_ratio']:.2f}x (the engine's own scheduling, no model client)",
        "all targets met" if figures["ok"] else "a target was missed",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(measure(args.steps, Path(folder)))
    if args.json:
        print(json.dumps(figures))
    else:
        print("\n".join(report(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
