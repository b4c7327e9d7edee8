"""A retry of an llm step makes a new call; an answer its step could not use is never served from the
cache again (issue 10, item 5). Real router, real SQLite cache, scripted server over HTTP."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from alphaflow.engine import RunContext, StepFailed, run_flow
from alphaflow.models import build_router
from alphaflow.testing import Rule

MODEL = "openai/scripted"
GOOD = "```yaml\nverdict: ok\n```"
BAD = "no yaml here: : :\n  - ["


def write_flow(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


async def run(flow: Path, server, cache_path: Path):
    router = build_router(MODEL, api_base=server.base_url, cache_path=cache_path, max_retries=0)
    try:
        return await run_flow(flow, {}, RunContext(router=router, model=MODEL))
    finally:
        router.close()


def answers(*texts: str) -> Rule:
    """Answers the given texts in turn (the last one repeats)."""
    return Rule(step="*", response=lambda r: texts[min(r.rule_call, len(texts) - 1)])


RETRIED = """
    name: retried
    steps:
      - id: judge
        kind: llm
        user: Judge this.
        temperature: 0
        output: {format: yaml, keys: [verdict]}
        repair_attempts: 0
        retry: {attempts: 2, backoff_s: 0}
    outputs: {verdict: "{{ judge.verdict }}"}
    """


async def test_a_retry_makes_a_new_call_instead_of_replaying_the_cached_bad_answer(tmp_path, scripted_server):
    server = scripted_server([answers(BAD, GOOD)])
    result = await run(write_flow(tmp_path, RETRIED), server, tmp_path / "cache.sqlite")
    assert result.outputs == {"verdict": "ok"}
    assert result.steps["judge"].attempts == 2
    assert len(server.calls()) == 2  # the retry asked the model again


async def test_an_unusable_answer_is_not_served_from_the_cache_on_a_rerun(tmp_path, scripted_server):
    flow = write_flow(tmp_path, RETRIED.replace("repair_attempts: 0", "repair_attempts: 1")
                      .replace("retry: {attempts: 2, backoff_s: 0}", "on_error: fail"))
    cache = tmp_path / "cache.sqlite"
    server = scripted_server([answers(BAD, BAD, GOOD)])
    with pytest.raises(StepFailed, match="unusable yaml answer"):
        await run(flow, server, cache)  # the answer and its repair are both unusable
    assert len(server.calls()) == 2
    # the rerun (--resume --retry-errors does the same) asks anew instead of failing on the cache
    result = await run(flow, server, cache)
    assert result.outputs == {"verdict": "ok"}
    assert len(server.calls()) == 3
    # and a good answer stays cached: the next rerun makes no call
    assert (await run(flow, server, cache)).outputs == {"verdict": "ok"}
    assert len(server.calls()) == 3


async def test_retries_inside_a_retried_loop_make_distinct_calls(tmp_path, scripted_server):
    flow = write_flow(tmp_path, """
        name: nested
        steps:
          - id: outer
            kind: loop
            max_iterations: 1
            retry: {attempts: 2, backoff_s: 0}
            steps:
              - id: judge
                kind: llm
                user: Judge this.
                output: {format: yaml, keys: [verdict]}
                repair_attempts: 0
        outputs: {verdict: "{{ outer.state }}"}
        """)
    server = scripted_server([answers(BAD, GOOD)])
    result = await run(flow, server, tmp_path / "cache.sqlite")
    assert result.steps["outer"].attempts == 2 and len(server.calls()) == 2
