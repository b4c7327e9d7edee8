"""One solve run: the flow on the problem, then the final code judged on public and private tests.

The flow receives ``problem.for_flow()`` (statement, public tests, limits). Private and generated
tests are used here only, after the flow has finished, for the evaluation table.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.problems import Problem
from alphaflow.solve.progress import RunProgress
from alphaflow.solve.report import SolveOutcome
from alphaflow.trace import Trace


class ProgressTrace(Trace):
    """A trace that also tells the live progress about every event (even when not writing a file)."""

    def __init__(self, path: str | Path | None, progress: RunProgress, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.progress = progress

    def write(self, event: str, **fields: Any) -> None:
        super().write(event, **fields)
        self.progress.handle(event, fields)


@dataclass
class SolveRequest:
    problem: Problem
    flow: Any  # a loaded alphaflow.engine Flow
    model: str
    language: str = "python"
    inputs: dict[str, Any] = field(default_factory=dict)  # --set overrides
    # build_router keyword arguments (alphaflow.models.cli.router_options: endpoint, fallbacks, prices,
    # budget, limits, retries, the response cache); empty: the router's defaults, no cache
    router_options: dict[str, Any] = field(default_factory=dict)
    sandbox_backend: str = "auto"
    trace_path: str | None = None


async def solve(request: SolveRequest, progress: RunProgress) -> SolveOutcome:
    from alphaflow.engine import RunContext, run_flow
    from alphaflow.models import build_router
    from alphaflow.sandbox import Limits, TokenChecker, open_sandbox

    problem = request.problem
    started = time.monotonic()
    limits = Limits.for_problem(problem)
    with ProgressTrace(request.trace_path, progress) as trace:
        trace.write(
            "solve_start",
            problem=problem.name,
            flow=request.flow.name,
            model=request.model,
            language=request.language,
            public_tests=len(problem.public_tests),
            evaluation_tests=len(problem.evaluation_tests),
        )
        router = build_router(request.model, trace=trace, **request.router_options)
        router.target(request.model)  # a missing API key is a one-line error before anything runs
        inputs = {**request.inputs, "problem": problem.for_flow()}
        if "language" in request.flow.spec.inputs:
            inputs["language"] = request.language
        # opening pings the Docker engine (blocking): off the event loop
        opened = await asyncio.to_thread(open_sandbox, backend=request.sandbox_backend)
        async with router, opened as sandbox:
            context = RunContext(router=router, sandbox=sandbox, trace=trace, model=request.model)
            try:
                result = await run_flow(request.flow, inputs=inputs, context=context)
            except UserError as error:
                raise _with_trace(error, request.trace_path) from None
            outputs = dict(result.outputs or {})
            code = outputs.get("code")
            if not isinstance(code, str):
                raise UserError(
                    f"flow '{request.flow.name}' has no 'code' output (outputs: "
                    f"{', '.join(outputs) or 'none'}); solve needs one"
                )
            progress.stage("final judgement")
            public = None
            if problem.public_tests:
                public = (
                    await sandbox.judge(
                        code,
                        language=request.language,
                        tests=problem.public_tests,
                        limits=limits,
                        checker=TokenChecker.for_problem(problem),
                    )
                ).to_dict()
            evaluation = None
            if problem.evaluation_tests:
                evaluation = (
                    await sandbox.judge(
                        code,
                        language=request.language,
                        tests=problem.evaluation_tests,
                        limits=limits,
                        checker=TokenChecker.for_problem(problem),
                    )
                ).to_dict()
        outcome = SolveOutcome(
            problem=problem.name,
            flow=request.flow.name,
            model=request.model,
            language=request.language,
            code=code,
            public=public,
            evaluation=evaluation,
            outputs=outputs,
            calls=router.usage.calls,
            prompt_tokens=router.usage.prompt_tokens,
            completion_tokens=router.usage.completion_tokens,
            cost_usd=router.usage.cost_usd,
            cost_unknown_calls=router.usage.unknown_cost_calls,
            seconds=time.monotonic() - started,
            trace_path=request.trace_path,
        )
        trace.write(
            "solve_end",
            public=_short(public),
            evaluation=_short(evaluation),
            calls=outcome.calls,
            cost_usd=outcome.cost_usd,
        )
    return outcome


def _short(judge: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if judge is None else {k: judge.get(k) for k in ("verdict", "passed", "total")}


def _with_trace(error: UserError, trace_path: str | None) -> UserError:
    """The same one-line error, saying where the trace of the failed run is (exit code kept)."""
    if not trace_path:
        return error
    first_line = (str(error).splitlines() or [type(error).__name__])[0]
    return UserError(f"{first_line} (trace kept: {trace_path})", exit_code=error.exit_code)
