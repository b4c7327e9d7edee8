"""Limits from problems, the result's JSON form, and reading (or rejecting) the runner's answer."""

from __future__ import annotations

import json

import pytest

from alphaflow.problems import Problem
from alphaflow.problems import TestCase as Case
from alphaflow.sandbox import JudgeResult, Limits, SandboxFault, TestResult
from alphaflow.sandbox.protocol import build_request, parse_response
from alphaflow.sandbox.runner.checker import compare_tokens
from alphaflow.sandbox.types import DEFAULT_MEMORY_BYTES, DEFAULT_TIME_S, normalize_language, normalize_tests


def test_limits_come_from_the_problem_then_overrides_then_defaults() -> None:
    problem = Problem("p", "", time_limit_s=6.0, memory_limit_bytes=128 << 20)
    assert Limits.for_problem(problem) == Limits(time_s=6.0, memory_bytes=128 << 20)
    assert Limits.for_problem(problem, time_s=1.5).time_s == 1.5
    assert Limits.for_problem(problem, memory_bytes=64 << 20).memory_bytes == 64 << 20
    bare = Limits.for_problem(Problem("q", ""))
    assert (bare.time_s, bare.memory_bytes) == (DEFAULT_TIME_S, DEFAULT_MEMORY_BYTES)
    with pytest.raises(ValueError):
        Limits(time_s=0)


def test_languages() -> None:
    assert [normalize_language(x) for x in ("Python3", "py", "C++", "cpp")] == [
        "python",
        "python",
        "cpp",
        "cpp",
    ]
    assert normalize_language("java") is None and normalize_language("python2") is None


def test_to_dict_keeps_kind_and_truncates_long_inputs() -> None:
    tests = normalize_tests([Case("x" * 10_000, "y", "private"), {"input": "1", "output": None}])
    assert [t["kind"] for t in tests] == ["private", "public"]
    result = JudgeResult(
        "AC", 1, 1, tests=[TestResult("AC", kind="private", input="x" * 10_000, expected="y")]
    )
    shown = json.loads(json.dumps(result.to_dict()))["tests"][0]
    assert shown["kind"] == "private" and shown["expected"] == "y"
    assert len(shown["input"]) < 2100 and "more chars" in shown["input"]


def test_request_carries_protocol_fields() -> None:
    raw = build_request(
        source="print(1)",
        language="python",
        tests=normalize_tests([{"input": "", "output": "1"}]),
        limits=Limits(),
        checker=lambda i, e, a: True,
        stop_on_first_failure=True,
        keep_bytes=10,
    )
    request = json.loads(raw)
    assert request["checker"] == {"kind": "none"}
    assert request["stop_on_first_failure"] is False  # the host decides failures with a callable
    assert request["keep_bytes"] >= Limits().output_bytes
    assert set(request["limits"]) == {
        "time_s",
        "memory_bytes",
        "output_bytes",
        "compile_time_s",
        "wall_factor",
    }


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"Traceback (most recent call last)",
        b"[]",
        b'{"verdict": "SE"}',
        b'{"verdict": "AC", "tests": [{"verdict": "BOGUS"}]}',
    ],
)
def test_unreadable_runner_answers_are_sandbox_faults(raw: bytes) -> None:
    with pytest.raises(SandboxFault):
        parse_response(raw, normalize_tests([{"input": "", "output": ""}]))


def test_runner_token_checker_is_importable_on_the_host() -> None:
    compare = compare_tokens
    assert compare is not None
