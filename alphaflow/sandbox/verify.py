"""``alphaflow sandbox verify``: judge every reference solution of a dataset through the sandbox.

Correct solutions must be accepted and incorrect ones rejected; anything else means the dataset, its
limits or the sandbox cannot be trusted for a benchmark.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from alphaflow.problems import Problem
from alphaflow.sandbox.base import Sandbox
from alphaflow.sandbox.types import Limits, TokenChecker, normalize_language


@dataclass
class SolutionOutcome:
    problem: str
    index: int
    should_pass: bool  # from `solutions` (True) or `incorrect_solutions` (False)
    language: str
    verdict: str
    passed: int
    total: int
    message: str = ""

    @property
    def as_expected(self) -> bool:
        if self.verdict == "unsupported":
            return True  # counted apart, not a failure of the dataset
        if self.should_pass:
            return self.verdict == "AC"
        return self.verdict not in ("AC", "SE")  # a sandbox fault rejects nothing


@dataclass
class VerifyReport:
    problems: int = 0
    outcomes: list[SolutionOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        judged = [o for o in self.outcomes if o.verdict != "unsupported"]
        correct = [o for o in judged if o.should_pass]
        incorrect = [o for o in judged if not o.should_pass]
        return {
            "problems": self.problems,
            "correct": {"total": len(correct), "accepted": sum(o.verdict == "AC" for o in correct)},
            "incorrect": {"total": len(incorrect), "rejected": sum(o.as_expected for o in incorrect)},
            "verdicts": dict(Counter(o.verdict for o in judged)),
            "unsupported": sum(o.verdict == "unsupported" for o in self.outcomes),
            "unsupported_languages": dict(
                Counter(o.language for o in self.outcomes if o.verdict == "unsupported")
            ),
            "seconds": round(self.seconds, 2),
            "failures": [asdict(o) for o in self.outcomes if not o.as_expected],
        }

    @property
    def ok(self) -> bool:
        return all(o.as_expected for o in self.outcomes)


async def verify_problems(
    problems: Iterable[Problem],
    sandbox: Sandbox,
    *,
    time_s: float | None = None,
    memory_bytes: int | None = None,
    on_judged: Callable[[SolutionOutcome], None] | None = None,
    on_queued: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Judge every solution on all tests, concurrently (the sandbox bounds how many run at once)."""
    started = time.perf_counter()
    report = VerifyReport()
    jobs = []
    for problem in problems:
        report.problems += 1
        limits = Limits.for_problem(problem, time_s=time_s, memory_bytes=memory_bytes)
        for should_pass, solutions in ((True, problem.solutions), (False, problem.incorrect_solutions)):
            for index, solution in enumerate(solutions):
                jobs.append(_judge_one(sandbox, problem, index, solution, should_pass, limits, on_judged))
    if on_queued:
        on_queued(len(jobs))
    report.outcomes = list(await asyncio.gather(*jobs))
    report.seconds = time.perf_counter() - started
    return report


async def _judge_one(
    sandbox: Sandbox,
    problem: Problem,
    index: int,
    solution: Any,
    should_pass: bool,
    limits: Limits,
    on_judged: Callable[[SolutionOutcome], None] | None,
) -> SolutionOutcome:
    if normalize_language(solution.language) is None:
        outcome = SolutionOutcome(problem.name, index, should_pass, solution.language, "unsupported", 0, 0)
    else:
        result = await sandbox.judge(
            solution.code,
            language=solution.language,
            tests=problem.all_tests,
            limits=limits,
            checker=TokenChecker.for_problem(problem),
            stop_on_first_failure=True,  # the first failing test decides; no need to run the rest
        )
        first_failure = next((t for t in result.tests if t.verdict != "AC"), None)
        message = result.message or (first_failure.message if first_failure else "")
        outcome = SolutionOutcome(
            problem.name,
            index,
            should_pass,
            solution.language,
            result.verdict,
            result.passed,
            result.total,
            message[:300],
        )
    if on_judged:
        on_judged(outcome)
    return outcome
