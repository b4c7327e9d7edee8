"""Judging a unit's final code: one sandbox exec over public + evaluation tests, split by kind.

The flow only ever saw the public tests; the private and generated tests (evaluation) decide whether
the unit counts as solved. Running both groups in one judgement keeps it to one exec per solution.
"""

from __future__ import annotations

from typing import Any

from alphaflow.problems import Problem

# How much of a failing test's output a result record keeps.
FAILURE_TEXT_CHARS = 500
# Verdicts that come from the whole judgement, not from any single test.
_WHOLE_VERDICTS = ("CE", "SE", "unsupported")


def group_verdict(tests: list[Any], whole_verdict: str) -> dict[str, Any]:
    """``{verdict, passed, total, verdicts}`` for one group of per-test results."""
    total = len(tests)
    passed = sum(1 for test in tests if test.verdict == "AC")
    mix: dict[str, int] = {}
    for test in tests:
        mix[test.verdict] = mix.get(test.verdict, 0) + 1
    failing = next((test for test in tests if test.verdict != "AC"), None)
    if total and passed == total:
        verdict = "AC"
    elif failing is not None:
        verdict = failing.verdict
    else:
        verdict = whole_verdict  # no per-test results (compile error, sandbox fault, unsupported)
    group: dict[str, Any] = {"verdict": verdict, "passed": passed, "total": total, "verdicts": mix}
    if failing is not None:  # enough to see why, without keeping every test's output
        group["first_failure"] = {
            "index": tests.index(failing),
            "verdict": failing.verdict,
            "exit_code": failing.exit_code,
            "signal": getattr(failing, "signal", None),
            "cpu_s": failing.cpu_s,
            "memory_kb": failing.memory_kb,
            "message": (failing.message or "")[:300],
            "stderr": (failing.stderr or "")[-FAILURE_TEXT_CHARS:],
            "stdout": (failing.stdout or "")[:FAILURE_TEXT_CHARS],
        }
    return group


async def judge_split(
    sandbox: Any, problem: Problem, code: str, language: str, limits: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Judge ``code`` on every test of ``problem``; returns (public, evaluation, details)."""
    public_count = len(problem.public_tests)
    evaluation_count = len(problem.evaluation_tests)
    from alphaflow.sandbox import TokenChecker

    checker = TokenChecker.for_problem(problem)
    result = await sandbox.judge(
        code, language=language, tests=problem.all_tests, limits=limits, checker=checker
    )
    tests = list(result.tests)
    if result.verdict in _WHOLE_VERDICTS and not tests:
        public = {"verdict": result.verdict, "passed": 0, "total": public_count, "verdicts": {}}
        evaluation = {"verdict": result.verdict, "passed": 0, "total": evaluation_count, "verdicts": {}}
    else:
        public = group_verdict([t for t in tests if t.kind == "public"], result.verdict)
        evaluation = group_verdict([t for t in tests if t.kind != "public"], result.verdict)
    details = {
        "backend": result.backend,
        "seconds": round(result.seconds, 4),
        "attempts": result.attempts,
        "message": result.message,
        "compile_output": (result.compile_output or "")[:2000],
    }
    return public, evaluation, details
