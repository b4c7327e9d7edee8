"""What produces a unit's code: a flow run through the engine, or the dataset's reference solution.

A solver turns (unit, problem) into an ``Attempt``: the final code plus what it cost. Judging on the
evaluation tests happens afterwards in the runner, so no solver can see those tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alphaflow.bench.units import Unit
from alphaflow.problems import Problem, Solution

# Reference solutions in these languages can be judged by the sandbox image.
GOLD_LANGUAGES = ("python", "cpp")


@dataclass
class Attempt:
    code: str | None
    language: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    model_calls: int = 0
    error: str | None = None
    fault: str | None = None  # UnitResult.fault: set when the error is not the solution's doing


class Solver(Protocol):
    async def solve(self, unit: Unit, problem: Problem) -> Attempt: ...

    async def warm_up(self) -> None:
        """One-off set-up (a model client's), run beside the first units; never raises."""

    async def close(self) -> None: ...


def gold_solutions(problem: Problem) -> list[Solution]:
    return [solution for solution in problem.solutions if solution.language in GOLD_LANGUAGES]


class GoldSolver:
    """Sample i is the problem's i-th reference solution in a language the sandbox runs."""

    async def solve(self, unit: Unit, problem: Problem) -> Attempt:
        solutions = gold_solutions(problem)
        if unit.sample_index >= len(solutions):
            languages = sorted({solution.language for solution in problem.solutions}) or ["none"]
            return Attempt(
                code=None,
                language=unit.language,
                fault="harness",
                error=f"no reference solution #{unit.sample_index} in {'/'.join(GOLD_LANGUAGES)} "
                f"(the problem has {len(solutions)}; languages: {', '.join(languages)})",
            )
        solution = solutions[unit.sample_index]
        return Attempt(code=solution.code, language=solution.language)

    async def warm_up(self) -> None:
        return None

    async def close(self) -> None:
        return None
