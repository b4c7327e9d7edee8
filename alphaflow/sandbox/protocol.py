"""The host side of the runner protocol: build the request JSON, read the runner's answer.

The runner (``alphaflow.sandbox.runner``) reads one JSON object on stdin and writes one on stdout; this
module is the only place on the host that knows those field names. Verdicts, limits and frames come
from the runner's own ``protocol`` module, so both sides share one definition.
"""

from __future__ import annotations

import json
from typing import Any

from alphaflow.sandbox.types import (
    VERDICTS,
    Checker,
    JudgeResult,
    Limits,
    ProgramChecker,
    SandboxFault,
    TestResult,
    TokenChecker,
)


def checker_spec(checker: Checker) -> dict[str, Any]:
    """The protocol's ``checker`` object; a host-side callable makes the runner skip comparison."""
    if checker is None:
        checker = TokenChecker()
    if isinstance(checker, TokenChecker):
        return {"kind": "tokens", "float_tol": checker.float_tol, "case_sensitive": checker.case_sensitive}
    if isinstance(checker, ProgramChecker):
        return {"kind": "program", "language": checker.language, "source": checker.source}
    if callable(checker):
        return {"kind": "none"}
    raise TypeError(f"checker must be None, TokenChecker, ProgramChecker or a callable, not {checker!r}")


def checker_record(checker: Checker) -> dict[str, Any]:
    """How outputs are compared, as every ``JudgeResult`` records it (a program's source left out)."""
    spec = checker_spec(checker)
    if spec["kind"] == "none":
        return {"kind": "host", "function": getattr(checker, "__qualname__", type(checker).__name__)}
    return {key: value for key, value in spec.items() if key != "source"}


def build_request(
    *,
    source: str,
    language: str,
    tests: list[dict[str, Any]],
    limits: Limits,
    checker: Checker,
    stop_on_first_failure: bool,
    keep_bytes: int,
    parallel: int = 1,
) -> bytes:
    spec = checker_spec(checker)
    if spec["kind"] == "none":
        # The host compares, so it needs the whole output, not a preview.
        keep_bytes = max(keep_bytes, limits.output_bytes)
    request = {
        "language": language,
        "source": source,
        "tests": [{"input": t["input"], "output": t["output"]} for t in tests],
        "limits": limits.to_protocol(),
        "checker": spec,
        # With a host-side checker the runner cannot see failures, so it must run every test.
        "stop_on_first_failure": stop_on_first_failure and spec["kind"] != "none",
        "keep_bytes": keep_bytes,
        "parallel": parallel,
    }
    return json.dumps(request).encode()


def parse_response(raw: bytes, tests: list[dict[str, Any]]) -> JudgeResult:
    """Turn the runner's stdout into a ``JudgeResult``; anything unreadable is a ``SandboxFault``."""
    try:
        answer = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        preview = raw[:300].decode("utf-8", errors="replace")
        raise SandboxFault(f"runner output is not JSON: {preview!r}") from None
    if not isinstance(answer, dict) or "verdict" not in answer:
        raise SandboxFault(f"runner output lacks a verdict: {str(answer)[:300]!r}")
    if answer["verdict"] == "SE":
        why = answer.get("error") or answer.get("message") or "no reason given"
        raise SandboxFault(f"runner reported a sandbox error: {why}")
    compile_info = answer.get("compile") or {}
    results = []
    for index, item in enumerate(answer.get("tests") or []):
        if index >= len(tests):
            raise SandboxFault("runner returned more test results than tests")
        verdict = str(item.get("verdict"))
        if verdict == "skipped":  # not run after an earlier failure (stop_on_first_failure)
            continue
        if verdict not in VERDICTS:
            raise SandboxFault(f"runner returned an unknown verdict {verdict!r}")
        if verdict == "SE":
            raise SandboxFault(f"runner reported a sandbox error on test {index}: {item.get('message')}")
        results.append(
            TestResult(
                verdict=verdict,
                cpu_s=float(item.get("cpu_s") or 0.0),
                wall_s=float(item.get("wall_s") or 0.0),
                memory_kb=int(item.get("memory_kb") or 0),
                kind=tests[index].get("kind", "public"),
                stdout=str(item.get("stdout") or ""),
                stderr=str(item.get("stderr") or ""),
                exit_code=item.get("exit_code"),
                signal=item.get("signal"),
                stdout_truncated=bool(item.get("stdout_truncated")),
                message=str(item.get("message") or ""),
                input=tests[index]["input"],
                expected=tests[index]["output"],
            )
        )
    verdict = str(answer["verdict"])
    if verdict not in VERDICTS:
        raise SandboxFault(f"runner returned an unknown verdict {verdict!r}")
    return JudgeResult(
        verdict=verdict,
        passed=sum(1 for t in results if t.verdict == "AC"),
        total=len(tests),
        tests=results,
        compile_output=str(compile_info.get("output") or ""),
        compile_s=float(compile_info.get("seconds") or 0.0),
        runner=answer.get("runner") or {},
        checker=answer.get("checker") or {},
    )


def apply_host_checker(result: JudgeResult, checker: Any, stop_on_first_failure: bool) -> JudgeResult:
    """Compare outputs with a host-side callable where the runner ran the test cleanly."""
    for test in result.tests:
        if test.verdict != "AC" or test.expected is None:
            continue
        try:
            accepted = bool(checker(test.input, test.expected, test.stdout))
        except Exception as error:  # a broken checker is the user's bug: report it, don't crash the batch
            accepted = False
            test.message = f"checker raised {type(error).__name__}: {error}"
        if not accepted:
            test.verdict = "WA"
    if stop_on_first_failure:
        for index, test in enumerate(result.tests):
            if test.verdict != "AC":
                del result.tests[index + 1 :]
                break
    result.passed = sum(1 for t in result.tests if t.verdict == "AC")
    result.verdict = overall_verdict(result)
    return result


def overall_verdict(result: JudgeResult) -> str:
    """The first non-AC test decides; CE before any test; AC only when every test ran and passed."""
    if result.verdict == "CE":
        return "CE"
    for test in result.tests:
        if test.verdict != "AC":
            return test.verdict
    return "AC" if len(result.tests) == result.total else result.verdict
