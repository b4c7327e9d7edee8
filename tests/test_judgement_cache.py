"""The judgement cache: one sandbox exec per distinct (code, language, tests, limits, checker) in a
run, shared by concurrent callers, visible in the trace; faults and host checkers are not cached."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Sequence

import pytest

from alphaflow.engine import RunContext, run_flow
from alphaflow.sandbox import Limits, RunResult, Sandbox, SandboxFault, TokenChecker
from alphaflow.sandbox.judgement_cache import JudgementCache
from alphaflow.sandbox.local import LocalSandbox
from alphaflow.trace import Trace, read_trace

ECHO_SUM = "a, b = map(int, input().split())\nprint(a + b)\n"
TESTS = [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"}]


class CountingSandbox(LocalSandbox):
    """The real local backend, counting the runner execs it makes."""

    def __init__(self) -> None:
        super().__init__(warn=False)
        self.execs = 0

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        self.execs += 1
        return await super()._exec_runner(request, timeout_s)


async def test_the_same_judgement_runs_once_and_later_callers_get_a_marked_copy():
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        first = await sandbox.judge(ECHO_SUM, "python", TESTS, Limits(time_s=2))
        again = await sandbox.judge(ECHO_SUM, "py3", [dict(t) for t in TESTS], Limits(time_s=2))
        assert first.verdict == again.verdict == "AC" and again.passed == 2
        assert inner.execs == 1 and (sandbox.hits, sandbox.misses) == (1, 1)
        assert again.cached and not first.cached and again.seconds == 0.0
        again.tests[0].stdout = "changed"  # a copy: the cached result stays as judged
        third = await sandbox.judge(ECHO_SUM, "python", TESTS, Limits(time_s=2))
        assert third.tests[0].stdout.strip() == "3"


async def test_any_difference_in_code_limits_or_checker_is_a_new_judgement():
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        await sandbox.judge(ECHO_SUM, "python", TESTS)
        await sandbox.judge(ECHO_SUM + "\n", "python", TESTS)
        await sandbox.judge(ECHO_SUM, "python", TESTS, Limits(time_s=1))
        await sandbox.judge(ECHO_SUM, "python", TESTS, checker=TokenChecker(case_sensitive=False))
        await sandbox.judge(ECHO_SUM, "python", TESTS, keep_bytes=16)
        assert inner.execs == 5 and sandbox.hits == 0 and sandbox.tests_reused == 0
        # the same program on tests it has met: answered from their results, nothing runs
        subset = await sandbox.judge(ECHO_SUM, "python", TESTS[:1])
        stopping = await sandbox.judge(ECHO_SUM, "python", TESTS, stop_on_first_failure=True)
        assert inner.execs == 5 and subset.cached and stopping.cached and sandbox.tests_reused == 3
        assert (sandbox.hits, sandbox.misses) == (2, 5) and subset.attempts == stopping.attempts == 1


async def test_concurrent_identical_judgements_share_one_exec():
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        results = await asyncio.gather(*(sandbox.judge(ECHO_SUM, "python", TESTS) for _ in range(5)))
    assert inner.execs == 1 and [r.verdict for r in results] == ["AC"] * 5
    assert sum(r.cached for r in results) == 4


async def test_a_host_side_checker_is_never_cached():
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        for _ in range(2):
            result = await sandbox.judge(ECHO_SUM, "python", TESTS, checker=lambda i, e, a: True)
            assert result.verdict == "AC" and not result.cached
    assert inner.execs == 2


class FaultyOnce(Sandbox):
    """A backend whose first exec fails as a dead container would (SandboxFault), then judges."""

    backend = "faulty"

    def __init__(self) -> None:
        self.inner = LocalSandbox(warn=False)
        self.execs = 0

    async def close(self) -> None:
        await self.inner.close()

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        self.execs += 1
        if self.execs <= 2:  # both attempts of the first judgement
            raise SandboxFault("container vanished")
        return await self.inner._exec_runner(request, timeout_s)

    async def run(self, cmd: Sequence[str], stdin: bytes = b"", timeout_s: float = 10.0) -> RunResult:
        return await self.inner.run(cmd, stdin, timeout_s)

    async def write_file(self, path: str, data: bytes | str) -> None:
        await self.inner.write_file(path, data)

    async def read_file(self, path: str) -> bytes:
        return await self.inner.read_file(path)


async def test_a_sandbox_fault_is_not_remembered():
    async with JudgementCache(FaultyOnce()) as sandbox:
        faulted = await sandbox.judge(ECHO_SUM, "python", TESTS)
        assert faulted.verdict == "SE"
        retried = await sandbox.judge(ECHO_SUM, "python", TESTS)
        assert retried.verdict == "AC" and not retried.cached


@pytest.mark.parametrize("hostile", ["import os\nos._exit(3)\n", "while True:\n    pass\n"])
async def test_failing_programs_are_cached_with_their_verdict(hostile):
    inner = CountingSandbox()
    async with JudgementCache(inner) as sandbox:
        limits = Limits(time_s=0.5)
        first = await sandbox.judge(hostile, "python", TESTS[:1], limits)
        second = await sandbox.judge(hostile, "python", TESTS[:1], limits)
    assert first.verdict == second.verdict and first.verdict in ("RE", "TLE")
    assert inner.execs == 1 and second.cached


async def test_a_flow_judging_the_same_code_twice_says_cached_in_the_trace(tmp_path):
    flow = tmp_path / "twice.yaml"
    flow.write_text(
        textwrap.dedent(
            f"""
            name: twice
            inputs:
              code: {{type: string}}
            steps:
              - id: first
                kind: sandbox
                code: "{{{{ inputs.code }}}}"
                language: python
                tests: {json.dumps(TESTS)}
              - id: second
                kind: sandbox
                code: "{{{{ inputs.code }}}}"
                language: python
                tests: {json.dumps(TESTS)}
            outputs:
              verdicts: ["{{{{ first.verdict }}}}", "{{{{ second.verdict }}}}"]
            """
        ).lstrip(),
        encoding="utf-8",
    )
    inner = CountingSandbox()
    with Trace(tmp_path / "trace.jsonl") as trace:
        async with JudgementCache(inner) as sandbox:
            result = await run_flow(flow, {"code": ECHO_SUM}, RunContext(sandbox=sandbox, trace=trace))
    assert result.outputs["verdicts"] == ["AC", "AC"] and inner.execs == 1
    ends = {e["path"]: e for e in read_trace(tmp_path / "trace.jsonl") if e["event"] == "step_end"}
    assert ends["second"].get("cached") is True and "cached" not in ends["first"]


async def test_the_cache_keeps_to_its_size_bound_dropping_the_least_recently_used():
    inner = CountingSandbox()
    async with JudgementCache(inner, max_entries=2, max_tests=2) as sandbox:
        programs = [f"print({n})\n" for n in range(3)]
        for program in programs:
            await sandbox.judge(program, "python", TESTS[:1])
        await sandbox.judge(programs[2], "python", TESTS[:1])  # kept
        await sandbox.judge(programs[0], "python", TESTS[:1])  # dropped: judged again
    assert inner.execs == 4 and sandbox.hits == 1


class TestCountingSandbox(CountingSandbox):
    """Also counts the tests each exec runs."""

    __test__ = False

    def __init__(self) -> None:
        super().__init__()
        self.tests_run: list[int] = []

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        self.tests_run.append(len(json.loads(request)["tests"]))
        return await super()._exec_runner(request, timeout_s)


# Fails on the third test only: prints the sum, except for "7 7" where it prints 0.
FAILS_ON_SEVENS = "a, b = map(int, input().split())\nprint(0 if a == b == 7 else a + b)\n"
SIX_TESTS = [
    {"input": f"{a} {b}\n", "output": f"{a + b}\n"}
    for a, b in [(1, 2), (5, 5), (7, 7), (2, 2), (3, 4), (9, 1)]
]


def _shape(result) -> tuple:
    """What a judgement says, minus timings."""
    return (
        result.verdict,
        result.passed,
        result.total,
        [(t.verdict, t.stdout, t.kind, t.input, t.expected, t.exit_code) for t in result.tests],
    )


@pytest.mark.parametrize("stop", [False, True])
@pytest.mark.parametrize(
    "earlier, asked",
    [
        ([0], [0, 1]),  # the anchors grow by one test
        ([0, 1], [3, 0, 1, 4]),  # known tests in the middle
        ([2], [0, 1, 2, 3]),  # a known failure: under stop, nothing after it runs
        ([0, 3], [0, 1, 2, 3, 4, 5]),  # the unknown failure comes first
        ([2, 5], [5, 4, 3, 2, 1, 0]),  # any order
        ([0, 1, 2, 3], [1, 2, 3]),  # all known
    ],
)
async def test_a_judgement_reusing_test_results_says_what_a_fresh_one_says(earlier, asked, stop):
    """Verdict, passed, total and every listed test (order, output, kind) equal a fresh judgement's."""
    inner = TestCountingSandbox()
    asked_tests = [{**SIX_TESTS[i], "kind": "ai"} for i in asked]
    async with JudgementCache(inner) as sandbox:
        await sandbox.judge(FAILS_ON_SEVENS, "python", [SIX_TESTS[i] for i in earlier], Limits(time_s=2))
        reused = await sandbox.judge(
            FAILS_ON_SEVENS, "python", asked_tests, Limits(time_s=2), stop_on_first_failure=stop
        )
    async with LocalSandbox(warn=False) as plain:
        fresh = await plain.judge(
            FAILS_ON_SEVENS, "python", asked_tests, Limits(time_s=2), stop_on_first_failure=stop
        )
    assert _shape(reused) == _shape(fresh)
    assert reused.cached_tests >= 1 and reused.backend == fresh.backend and reused.language == "python"
    known = set(earlier)
    if stop:  # asked for: the unknown tests before the first known failure (the runner stops itself)
        cut = asked.index(2) if 2 in known and 2 in asked else len(asked)
        assert sum(inner.tests_run[1:]) == len([i for i in asked[:cut] if i not in known])
    else:  # exactly the tests never judged with this program run
        assert sum(inner.tests_run[1:]) == len([i for i in asked if i not in known])
    assert reused.cached == (not inner.tests_run[1:])


async def test_results_are_reused_only_for_the_same_program_limits_and_checker():
    inner = TestCountingSandbox()
    async with JudgementCache(inner) as sandbox:
        await sandbox.judge(ECHO_SUM, "python", TESTS[:1], Limits(time_s=2))
        await sandbox.judge(ECHO_SUM, "python", TESTS, Limits(time_s=3))
        await sandbox.judge(ECHO_SUM, "python", TESTS, Limits(time_s=2), checker=TokenChecker(float_tol=0.5))
        await sandbox.judge(ECHO_SUM + "# changed\n", "python", TESTS, Limits(time_s=2))
        assert inner.tests_run == [1, 2, 2, 2] and sandbox.tests_reused == 0
        again = await sandbox.judge(ECHO_SUM, "python", TESTS, Limits(time_s=2))
    assert inner.tests_run == [1, 2, 2, 2, 1] and again.cached_tests == 1 and not again.cached


async def test_a_compile_error_is_the_answer_even_when_tests_were_known():
    inner = TestCountingSandbox()
    async with JudgementCache(inner) as sandbox:
        broken = "def f(:\n"
        first = await sandbox.judge(broken, "python", TESTS[:1])
        second = await sandbox.judge(broken, "python", TESTS)
    assert first.verdict == second.verdict == "CE" and second.total == 2 and second.passed == 0


WITH_AI_TEST = [*TESTS, {"input": "4 4\n", "output": "8\n", "kind": "ai"}]


async def test_a_flow_re_judging_anchor_tests_runs_only_the_new_one_and_the_trace_says_so(tmp_path):
    flow = tmp_path / "anchors.yaml"
    flow.write_text(
        textwrap.dedent(
            f"""
            name: anchors
            inputs:
              code: {{type: string}}
            steps:
              - id: public
                kind: sandbox
                code: "{{{{ inputs.code }}}}"
                language: python
                tests: {json.dumps(TESTS)}
              - id: with_ai
                kind: sandbox
                code: "{{{{ inputs.code }}}}"
                language: python
                tests: {json.dumps(WITH_AI_TEST)}
            outputs:
              verdicts: ["{{{{ public.verdict }}}}", "{{{{ with_ai.verdict }}}}", "{{{{ with_ai.passed }}}}"]
            """
        ).lstrip(),
        encoding="utf-8",
    )
    inner = TestCountingSandbox()
    with Trace(tmp_path / "trace.jsonl") as trace:
        async with JudgementCache(inner) as sandbox:
            result = await run_flow(flow, {"code": ECHO_SUM}, RunContext(sandbox=sandbox, trace=trace))
    assert result.outputs["verdicts"] == ["AC", "AC", 3] and inner.tests_run == [2, 1]
    ends = {e["path"]: e for e in read_trace(tmp_path / "trace.jsonl") if e["event"] == "step_end"}
    assert ends["with_ai"].get("cached_tests") == 2 and "cached" not in ends["with_ai"]


async def test_a_program_keeping_files_between_tests_gets_the_same_answer_merged_or_fresh():
    """Tests are independent (each starts from what compiling left), so reusing one is sound."""
    from sandbox_programs import ECHO_TESTS, REMEMBERS_EARLIER_TESTS

    code = REMEMBERS_EARLIER_TESTS(".")
    async with JudgementCache(LocalSandbox(warn=False)) as sandbox:
        await sandbox.judge(code, "python", ECHO_TESTS[1:2])
        merged = await sandbox.judge(code, "python", ECHO_TESTS)
    async with LocalSandbox(warn=False) as plain:
        fresh = await plain.judge(code, "python", ECHO_TESTS)
    assert _shape(merged) == _shape(fresh) and fresh.verdict == "AC" and merged.cached_tests == 1
