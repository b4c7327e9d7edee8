"""Run a validated flow with asyncio.

Each step renders its templates against a *scope* (a dict: ``inputs``, ``model``, ``sample_index``,
earlier steps' results, iteration names), runs, and publishes its result under its id. Loop and map
iterations run in child scopes, so concurrent map iterations never see each other's results.
Every step writes ``step_start``/``step_end`` events to the trace, with its path
(``fix_public[2].fix``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from alphaflow.engine import spec as S
from alphaflow.engine.answers import AnswerError, extract_code, parse_yaml_answer
from alphaflow.engine.inputs import bind_inputs
from alphaflow.engine.loader import Flow, load_flow
from alphaflow.engine.templating import TemplateError
from alphaflow.errors import StepFailed, UserError
from alphaflow.trace import Trace

# Hidden scope key (not a valid Jinja name): the loop/map iteration indexes around a step, so identical
# prompts in different iterations get distinct sample indexes (the cache keys on them).
_ITERATIONS = "\0iterations"
_STRIDE = 1_000_000  # iteration indexes below this keep sample indexes distinct
# Hidden scope key: the retry attempt of the enclosing retried steps, encoded as one number (base 100:
# `retry.attempts` is at most 100). llm calls send it as the request's `attempt` (part of the cache
# key), so a retry makes new calls instead of replaying cached answers.
_ATTEMPT = "\0attempt"
_NESTED_BASE = 1 << 40  # sample indexes of calls inside iterations start here, above any run's own


def sample_base(run_sample_index: int, iterations: tuple[int, ...], samples: int) -> int:
    """The first sample index of an llm call: ``run_sample_index * samples`` outside iterations; inside
    them an injective code of (run sample index, iteration indexes, depth) above ``_NESTED_BASE``."""
    if not iterations:
        return run_sample_index * samples
    unit = run_sample_index
    for index in iterations:
        unit = unit * _STRIDE + index
    return (_NESTED_BASE + unit * 64 + len(iterations)) * samples


@dataclass
class RunContext:
    """What a run needs from outside the flow file.

    ``sandbox`` is an open sandbox, or ``sandbox_factory`` returns an async context manager that
    opens one; the engine enters it on the first ``sandbox`` step and closes it when the run ends.
    """

    router: Any = None  # alphaflow.models.ModelRouter (or anything with ``async complete(request)``)
    sandbox: Any = None
    sandbox_factory: Callable[[], AbstractAsyncContextManager[Any]] | None = None
    trace: Trace = field(default_factory=lambda: Trace(None))
    model: str | None = None  # wins over the flow's `model:`
    sample_index: int = 0
    search_path: list[Path] = field(default_factory=list)


@dataclass
class StepRecord:
    kind: str
    status: str  # ok | skipped | failed | continued
    duration_s: float
    attempts: int = 1
    error: str | None = None


@dataclass
class FlowResult:
    outputs: dict[str, Any]
    steps: dict[str, StepRecord]
    cost_usd: float | None  # None when some call's price is unknown
    calls: int
    prompt_tokens: int
    completion_tokens: int
    errors: list[str]  # failures of steps with on_error: continue
    duration_s: float
    dropped_samples: list[str] = field(default_factory=list)  # "path: why" per sample left out of n

    def to_dict(self) -> dict[str, Any]:
        return {
            "outputs": self.outputs,
            "cost_usd": self.cost_usd,
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "errors": self.errors,
            "dropped_samples": self.dropped_samples,
            "duration_s": round(self.duration_s, 4),
            "steps": {path: vars(record) for path, record in self.steps.items()},
        }


async def run_flow(
    flow_or_path: Flow | str | Path,
    inputs: dict[str, Any] | None = None,
    context: RunContext | None = None,
) -> FlowResult:
    """Run a flow (a loaded ``Flow``, a path or a built-in name) and return its outputs and records."""
    context = context or RunContext()
    flow = flow_or_path if isinstance(flow_or_path, Flow) else load_flow(flow_or_path, context.search_path)
    run = _Run(context)
    started = time.perf_counter()
    context.trace.write("flow_start", flow=flow.name, path=str(flow.path), sample_index=context.sample_index)
    status = "failed"
    try:
        outputs = await run.flow(flow, inputs or {}, prefix="")
        status = "ok"
    except asyncio.CancelledError:
        status = "cancelled"
        raise
    except UserError as error:
        # What the run did before it stopped (budget reached, a failed step): for the CLI's report.
        error.partial = run.result({}, started)  # type: ignore[attr-defined]
        raise
    finally:
        await run.close()
        context.trace.write(
            "flow_end", flow=flow.name, status=status, duration_s=round(time.perf_counter() - started, 6)
        )
    return run.result(outputs, started)


def _summary(value: Any, limit: int = 300) -> Any:
    """A short form of a value for the trace's input summaries."""
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}... ({len(value)} chars)"
    if isinstance(value, dict):
        return {key: _summary(item, limit) for key, item in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        items = [_summary(item, limit) for item in value[:10]]
        return items if len(value) <= 10 else [*items, f"... ({len(value)} items)"]
    return value


class _Run:
    """The state of one top-level run (shared by the flows it calls)."""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.trace = context.trace
        # Summaries of inputs and prompts are built only when something reads the events: a file, or a
        # Trace subclass (a live progress display). Events themselves are always written.
        self.detailed = not (type(context.trace) is Trace and context.trace.path is None)
        self.records: dict[str, StepRecord] = {}
        self.errors: list[str] = []
        self.dropped_samples: list[str] = []
        self.cost = 0.0
        self.unknown_cost = False
        self.calls = self.prompt_tokens = self.completion_tokens = 0
        self._sandbox = context.sandbox
        self._sandbox_lock = asyncio.Lock()
        self._exit_stack = contextlib.AsyncExitStack()

    def result(self, outputs: dict[str, Any], started: float) -> FlowResult:
        return FlowResult(
            outputs=outputs,
            steps=self.records,
            cost_usd=None if self.unknown_cost else round(self.cost, 8),
            calls=self.calls,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            errors=self.errors,
            duration_s=time.perf_counter() - started,
            dropped_samples=self.dropped_samples,
        )

    async def close(self) -> None:
        # Shielded: closing the sandbox must finish even while the run is being cancelled.
        await asyncio.shield(self._exit_stack.aclose())

    async def sandbox(self) -> Any:
        if self._sandbox is not None:
            return self._sandbox
        async with self._sandbox_lock:
            if self._sandbox is None:
                if self.context.sandbox_factory is None:
                    from alphaflow.sandbox import open_sandbox

                    factory: Callable[[], Any] = open_sandbox
                else:
                    factory = self.context.sandbox_factory
                # opening pings the Docker engine and inspects the image (blocking, up to seconds):
                # off the event loop, so running model calls and steps keep going
                opened = await asyncio.to_thread(factory)
                self._sandbox = await self._exit_stack.enter_async_context(opened)
        return self._sandbox

    # -- flows and step lists ------------------------------------------------------------------
    async def flow(self, flow: Flow, given: dict[str, Any], prefix: str, attempt: int = 0) -> dict[str, Any]:
        where = f"flow '{flow.name}'" + (f" (called by step '{prefix.rstrip('.')}')" if prefix else "")
        try:
            bound = bind_inputs(flow.spec, given, where=where)
        except UserError as error:
            if not prefix:
                raise  # the caller's inputs: a mistake to fix
            raise StepFailed(prefix.rstrip("."), str(error)) from None  # data passed by the calling step
        model = self.context.model or flow.spec.model
        scope: dict[str, Any] = {
            "inputs": bound,
            "model": model,
            "sample_index": self.context.sample_index,
            _ITERATIONS: (),
        }
        if attempt:
            scope[_ATTEMPT] = attempt
        await self.steps(flow, flow.spec.steps, scope, prefix)
        try:
            return flow.templates.render(dict(flow.spec.outputs), scope)
        except TemplateError as error:
            raise StepFailed(f"{prefix}outputs", str(error)) from None

    async def steps(self, flow: Flow, steps: list[S.AnyStep], scope: dict[str, Any], prefix: str) -> None:
        for step in steps:
            scope[step.id] = await self.step(flow, step, scope, prefix + step.id)

    async def step(self, flow: Flow, step: S.AnyStep, scope: dict[str, Any], path: str) -> Any:
        started = time.perf_counter()
        self.trace.write("step_start", path=path, kind=step.kind)
        if step.when is not None:
            try:
                wanted = bool(flow.templates.evaluate(step.when, scope))
            except TemplateError as error:
                return self._failed(step, path, f"when: {error}", started, 1)
            if not wanted:
                self._end(step, path, "skipped", started, 1, None, {"when": step.when})
                return None
        attempts = step.retry.attempts if step.retry else 1
        for attempt in range(1, attempts + 1):
            info: dict[str, Any] = {}
            run_scope = scope
            if step.retry is not None and (attempt > 1 or scope.get(_ATTEMPT)):
                run_scope = {**scope, _ATTEMPT: scope.get(_ATTEMPT, 0) * 100 + attempt - 1}
            try:
                result = await self._execute(flow, step, run_scope, path, info)
            except StepFailed as error:
                failure = error.reason if error.path == path else str(error)
            except UserError as error:
                if not _is_model_failure(error):
                    raise  # budget reached, missing key, bad configuration: stop the run
                failure = str(error)  # the model failed after its retries: a step failure
            except (TemplateError, AnswerError) as error:
                failure = str(error)
            except Exception as error:  # the step's own failure (model error, glue exception, ...)
                failure = f"{type(error).__name__}: {error}"
            else:
                self._end(step, path, "ok", started, attempt, None, info, result)
                return result
            if attempt < attempts:
                self.trace.write("step_retry", path=path, attempt=attempt, error=failure)
                assert step.retry is not None
                await asyncio.sleep(step.retry.backoff_s * (2 ** (attempt - 1)))
        return self._failed(step, path, failure, started, attempts, info)

    def _failed(
        self,
        step: S.AnyStep,
        path: str,
        message: str,
        started: float,
        attempts: int,
        info: dict | None = None,
    ) -> None:
        if step.on_error == "continue":
            self._end(step, path, "continued", started, attempts, message, info or {})
            self.errors.append(f"{path}: {message}")
            return None
        self._end(step, path, "failed", started, attempts, message, info or {})
        raise StepFailed(path, message)

    def _end(
        self,
        step: S.AnyStep,
        path: str,
        status: str,
        started: float,
        attempts: int,
        error: str | None,
        info: dict[str, Any],
        result: Any = None,
    ) -> None:
        duration = time.perf_counter() - started
        self.records[path] = StepRecord(step.kind, status, duration, attempts, error)
        self.trace.write(
            "step_end",
            path=path,
            kind=step.kind,
            status=status,
            duration_s=round(duration, 6),
            attempts=attempts,
            error=error,
            output=result,
            **info,
        )

    async def _execute(
        self, flow: Flow, step: S.AnyStep, scope: dict[str, Any], path: str, info: dict
    ) -> Any:
        if isinstance(step, S.LlmStep):
            return await self._llm(flow, step, scope, path, info)
        if isinstance(step, S.PythonStep):
            return await self._python(flow, step, scope, info)
        if isinstance(step, S.SandboxStep):
            return await self._sandbox_step(flow, step, scope, info)
        if isinstance(step, S.LoopStep):
            return await self._loop(flow, step, scope, path, info)
        if isinstance(step, S.MapStep):
            return await self._map(flow, step, scope, path, info)
        if isinstance(step, S.FlowStep):
            given = flow.templates.render(step.inputs, scope)
            if self.detailed:
                info["inputs"] = _summary(given)
            called = flow.calls[step.id]
            return await self.flow(called, given, prefix=f"{path}.", attempt=scope.get(_ATTEMPT, 0))
        raise AssertionError(f"unknown step kind {step.kind}")

    # -- python --------------------------------------------------------------------------------
    async def _python(self, flow: Flow, step: S.PythonStep, scope: dict[str, Any], info: dict) -> Any:
        kwargs = flow.templates.render(step.args, scope)
        if self.detailed:
            info["inputs"] = _summary(kwargs)
        result = flow.functions[step.function](**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    # -- sandbox -------------------------------------------------------------------------------
    async def _sandbox_step(self, flow: Flow, step: S.SandboxStep, scope: dict[str, Any], info: dict) -> Any:
        from alphaflow.sandbox import Limits, TokenChecker

        render = flow.templates.render
        code = render(step.code, scope)
        language = render(step.language, scope)
        tests = render(step.tests, scope)
        if not isinstance(code, str):
            raise TemplateError(f"code must render to a string, got {type(code).__name__}")
        if not isinstance(tests, list):
            raise TemplateError(f"tests must render to a list, got {type(tests).__name__}")
        problem = scope["inputs"].get("problem") if isinstance(scope["inputs"].get("problem"), dict) else {}
        limits_given = render(step.limits.model_dump(exclude_none=True), scope) if step.limits else {}
        limits = Limits(
            time_s=float(limits_given.get("time_s") or problem.get("time_limit_s") or Limits.time_s),
            memory_bytes=int(
                limits_given.get("memory_bytes") or problem.get("memory_limit_bytes") or Limits.memory_bytes
            ),
        )
        stop = render(step.stop_on_first_failure, scope)
        if self.detailed:
            info["inputs"] = {"language": language, "tests": len(tests), "code": _summary(code, 2000)}
        sandbox = await self.sandbox()
        result = await sandbox.judge(
            code,
            language=str(language),
            tests=tests,
            limits=limits,
            checker=TokenChecker.for_problem(problem),  # the problem's case_insensitive field
            stop_on_first_failure=bool(stop),
        )
        if getattr(result, "cached", False):
            info["cached"] = True  # judged earlier in this run (JudgementCache): no sandbox exec
        if getattr(result, "cached_tests", 0):
            info["cached_tests"] = result.cached_tests  # of its tests, this many judged earlier
        return result.to_dict() if hasattr(result, "to_dict") else result

    # -- loop ----------------------------------------------------------------------------------
    async def _loop(self, flow: Flow, step: S.LoopStep, scope: dict[str, Any], path: str, info: dict) -> Any:
        render = flow.templates.render
        max_iterations = _number(render(step.max_iterations, scope), "max_iterations", int, minimum=1)
        state = render(step.state, scope)
        if not isinstance(state, dict):
            raise TemplateError(f"state must be a mapping, got {type(state).__name__}")
        iteration = 0
        converged = False
        while True:
            inner = {
                **scope,
                "state": state,
                "iteration": iteration,
                _ITERATIONS: (*scope[_ITERATIONS], iteration),
            }
            if step.until is not None and flow.templates.evaluate(step.until, inner):
                converged = True
                break
            if iteration >= max_iterations:
                break
            await self.steps(flow, step.steps, inner, f"{path}[{iteration}].")
            update = render(step.update, inner)
            if isinstance(step.update, str):
                if not isinstance(update, dict):
                    raise TemplateError(f"update must render to a mapping, got {type(update).__name__}")
                state = update
            else:
                state = {**state, **update}
            iteration += 1
        return {"state": state, "iterations": iteration, "converged": converged}

    # -- map -----------------------------------------------------------------------------------
    async def _map(self, flow: Flow, step: S.MapStep, scope: dict[str, Any], path: str, info: dict) -> Any:
        templates = flow.templates
        if step.over is not None:
            items = templates.evaluate(step.over, scope)
            if isinstance(items, dict):
                items = list(items.items())
            if not isinstance(items, list | tuple | range):
                raise TemplateError(f"over must evaluate to a list, got {type(items).__name__}")
            items = list(items)
        else:
            count = step.count if isinstance(step.count, int) else templates.evaluate(str(step.count), scope)
            items = list(range(_number(count, "count", int, minimum=0)))
        concurrency = _number(templates.render(step.concurrency, scope), "concurrency", int, minimum=1)
        if self.detailed:
            info["inputs"] = {"items": len(items), "concurrency": concurrency}
        semaphore = asyncio.Semaphore(concurrency)
        results: list[Any] = [None] * len(items)
        self.trace.write("map_start", path=path, items=len(items))  # for live progress: the total

        async def iteration(index: int, item: Any) -> None:
            async with semaphore:
                inner = {**scope, step.as_: item, "index": index, _ITERATIONS: (*scope[_ITERATIONS], index)}
                try:
                    await self.steps(flow, step.steps, inner, f"{path}[{index}].")
                except BaseException:
                    self.trace.write("map_item_end", path=path, index=index, status="failed")
                    raise
                self.trace.write("map_item_end", path=path, index=index, status="ok")
                if step.result is None:
                    results[index] = {body.id: inner[body.id] for body in step.steps}
                else:
                    results[index] = templates.render(step.result, inner)

        try:
            async with asyncio.TaskGroup() as group:
                for index, item in enumerate(items):
                    group.create_task(iteration(index, item))
        except BaseExceptionGroup as group_error:
            raise _first_error(group_error) from None
        return results

    # -- llm -----------------------------------------------------------------------------------
    async def _llm(self, flow: Flow, step: S.LlmStep, scope: dict[str, Any], path: str, info: dict) -> Any:
        from alphaflow.models import CompletionRequest

        render = flow.templates.render
        model = render(step.model, scope) if step.model else scope.get("model")
        if not model:
            raise UserError(
                f"step '{path}': no model (pass --model, or set `model:` in the flow or the step)"
            )
        if self.context.router is None:
            raise UserError(f"step '{path}' calls a model but the run has no model router")
        messages: list[dict[str, str]] = []
        if step.system is not None:
            messages.append({"role": "system", "content": str(render(step.system, scope))})
        user = step.user if step.user is not None else flow.prompt_files[step.id]
        messages.append({"role": "user", "content": str(render(user, scope))})
        samples = _number(render(step.samples, scope), "samples", int, minimum=1)
        params = {
            "temperature": _optional_number(render(step.temperature, scope), "temperature", float),
            "max_tokens": _optional_number(render(step.max_tokens, scope), "max_tokens", int),
            "top_p": _optional_number(render(step.top_p, scope), "top_p", float),
        }
        first_index = sample_base(self.context.sample_index, scope[_ITERATIONS], samples)
        language = render(step.output.language, scope) if step.output.language else None
        if self.detailed:
            info.update(model=model, prompt=messages, samples=samples, sample_index=first_index)
        attempt = scope.get(_ATTEMPT, 0)
        request = CompletionRequest(
            model=model,
            messages=messages,
            n=samples,
            sample_index=first_index,
            step=path,
            logprobs=step.logprobs,
            attempt=attempt,
            **params,
        )
        completion = await self._complete(request)
        texts = list(completion.texts)
        reasons = list(getattr(completion, "finish_reasons", None) or [])
        if self.detailed:
            info["response"] = texts
        async def parse(text: str, index: int) -> Any:
            asked = [replace(request, n=1, sample_index=index)]
            offset = index - first_index
            reason = reasons[offset] if offset < len(reasons) else None
            try:
                return await self._parse(step, path, messages, text, asked, language, reason)
            except AnswerError:
                # an answer the step could not use is never served from the cache again (reruns,
                # --resume --retry-errors): forget it, and every re-ask's answer
                forget = getattr(self.context.router, "forget", None)
                for made in asked if forget is not None else ():
                    await forget(made)
                raise

        logprobs = getattr(completion, "logprobs", None)
        if samples == 1:
            value: Any = await parse(texts[0], first_index)
        else:
            kept = await self._samples(path, texts, first_index, parse, info, reasons, request.max_tokens)
            value = list(kept.values())
            if logprobs is not None:  # still one block per value
                logprobs = [logprobs[offset] for offset in kept]
        if step.logprobs:
            value = {"value": value, "logprobs": logprobs}
        return value

    async def _samples(
        self,
        path: str,
        texts: list[str],
        first_index: int,
        parse: Callable[[str, int], Any],
        info: dict,
        reasons: list[str | None],
        max_tokens: int | None,
    ) -> dict[int, Any]:
        """The usable ones of n samples: one that came back empty (or null) or stayed unusable after
        its re-asks is dropped and counted (``dropped_samples`` in the trace and the run's result),
        and the others go on; only when none is usable does the step fail. Returns {offset: value}."""
        values: dict[int, Any] = {}
        dropped: list[str] = []
        for offset, text in enumerate(texts):
            where = f"sample {offset + 1} of {len(texts)}"
            if not (text or "").strip():
                reason = reasons[offset] if offset < len(reasons) else None
                dropped.append(f"{where} came back empty{cut_note(reason, max_tokens)}")
                continue
            try:
                values[offset] = await parse(text, first_index + offset)
            except AnswerError as error:
                dropped.append(f"{where}: {error}")
        if dropped:
            info["dropped_samples"] = dropped
            self.dropped_samples += [f"{path}: {message}" for message in dropped]
        if not values:
            raise AnswerError(f"all {len(texts)} samples unusable; first: {dropped[0]}")
        return values

    async def _parse(
        self,
        step: S.LlmStep,
        path: str,
        messages: list[dict[str, str]],
        text: str,
        asked: list[Any],
        language: str | None,
        finish_reason: str | None = None,
    ) -> Any:
        """The parsed answer, re-asking with the parse error up to ``repair_attempts`` times. ``asked``
        holds the sample's request; each re-ask's request is appended (to forget them on failure).
        ``finish_reason`` is why the model stopped; an answer cut at max_tokens says so in the error."""
        output = step.output
        if output.format == "text":
            return text
        history = list(messages)
        for attempt in range(step.repair_attempts + 1):
            try:
                if output.format == "code":
                    return extract_code(text, language)
                return parse_yaml_answer(text, output.keys)
            except AnswerError as error:
                if attempt == step.repair_attempts:
                    asks = f" after {step.repair_attempts} re-ask(s)" if step.repair_attempts else ""
                    cut = cut_note(finish_reason, asked[-1].max_tokens)
                    raise AnswerError(f"unusable {output.format} answer{asks}: {error}{cut}") from None
                history += [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": _reask_prompt(step, str(error))},
                ]
                self.trace.write("step_reask", path=path, attempt=attempt + 1, error=str(error))
                reask = replace(asked[0], messages=list(history), logprobs=False)
                asked.append(reask)
                completion = await self._complete(reask)
                text = completion.texts[0]
                finish_reason = (getattr(completion, "finish_reasons", None) or [None])[0]
        raise AssertionError("unreachable")

    async def _complete(self, request: Any) -> Any:
        """One model call, counted in the run's totals; a failed call whose served requests were billed
        (the router attaches their ``usage`` to the error) is counted too."""
        try:
            completion = await self.context.router.complete(request)
        except Exception as error:
            served = getattr(error, "usage", None)
            if isinstance(served, dict) and (served.get("prompt_tokens") or served.get("completion_tokens")):
                self._account(SimpleNamespace(**served, cached=False))
            raise
        self._account(completion)
        return completion

    def _account(self, completion: Any) -> None:
        self.calls += 1
        self.prompt_tokens += int(getattr(completion, "prompt_tokens", 0) or 0)
        self.completion_tokens += int(getattr(completion, "completion_tokens", 0) or 0)
        cost = getattr(completion, "cost_usd", None)
        if cost is None:
            if not getattr(completion, "cached", False):
                self.unknown_cost = True
        else:
            self.cost += float(cost)


def cut_note(finish_reason: str | None, max_tokens: int | None) -> str:
    """`` (the answer was cut at max_tokens ...)`` for an answer that ran out of tokens, else ``""``:
    a parse error on a cut answer is the limit's doing, not the model's format."""
    if finish_reason != "length":
        return ""
    limit = f"={max_tokens}" if max_tokens is not None else ""
    return f" (the answer was cut at max_tokens{limit}: finish_reason length; raise the step's max_tokens)"


def _reask_prompt(step: S.LlmStep, error: str) -> str:
    if step.output.format == "code":
        return (
            f"I could not use that answer: {error}. Reply with the complete program in one fenced code block."
        )
    keys = ", ".join(step.output.keys or [])
    shape = f" with exactly the keys: {keys}" if keys else ""
    return (
        f"I could not parse that answer: {error}.\n"
        f"Reply again with only one YAML block{shape}. Write multi-line or colon-containing values as "
        f"block scalars (key: |-)."
    )


def _number(value: Any, name: str, kind: type, minimum: float | None = None) -> Any:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(value)
        if kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        raise TemplateError(
            f"{name} must be {'an integer' if kind is int else 'a number'}, got {value!r}"
        ) from None
    if minimum is not None and number < minimum:
        raise TemplateError(f"{name} must be at least {minimum}, got {number}")
    return number


def _optional_number(value: Any, name: str, kind: type) -> Any:
    return None if value is None else _number(value, name, kind)


def _is_model_failure(error: UserError) -> bool:
    from alphaflow.models.errors import ModelCallError

    return isinstance(error, ModelCallError)


def _first_error(group: BaseExceptionGroup) -> BaseException:
    """The first real error of a task group (cancellations of the siblings are noise)."""
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first_error(error)
        if not isinstance(error, asyncio.CancelledError):
            return error
    return group.exceptions[0]
