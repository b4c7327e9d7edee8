"""The model router: cache, budget, limits, retries and fallbacks around a backend, all traced.

    router = build_router("openai/gpt-4o-mini", cache_path=default_cache_path(), max_cost_usd=2.0)
    completion = await router.complete(CompletionRequest(model=None, messages=[...], n=3, step="code"))
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.models import openai_backend, reward_model
from alphaflow.models.budget import Budget
from alphaflow.models.cache import Cache, CachedSample, sample_key
from alphaflow.models.errors import EmptyAnswer, ModelCallError
from alphaflow.models.hf.dispatch import LocalModels
from alphaflow.models.keys import missing_key_error
from alphaflow.models.limits import ModelLimits
from alphaflow.models.pricing import Pricing
from alphaflow.models.retry import RetryPolicy
from alphaflow.models.scripted import ScriptedModels, is_scripted
from alphaflow.models.types import Backend, BackendResult, Completion, CompletionRequest, Target
from alphaflow.trace import Trace

DUMMY_KEY = "sk-no-key-needed"  # OpenAI-compatible local servers (vLLM, llama.cpp) accept any key


# Where a model name goes: "PREFIX/rest" is served by the backend this table builds for PREFIX (once per
# router, on first use; the backend gets "rest" as the target's backend_model). Every other model goes to
# litellm (`scripted:` models and, with --openai-direct, OpenAI-compatible endpoints to the OpenAI SDK).
# A new backend (an in-process HF model, a reward model, ...) adds one line here: "prefix": factory,
# where the factory imports its heavy libraries itself and returns an object with
# `async generate(request, target, *, n, timeout_s) -> BackendResult` (see types.Backend).
BACKEND_FACTORIES: dict[str, Callable[[], Backend]] = {}


@dataclass
class Usage:
    """What a run spent, for summaries (``router.usage``)."""

    calls: int = 0  # completions returned
    provider_calls: int = 0  # requests sent, retries included
    cached_samples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0  # the known part
    unknown_cost_calls: int = 0  # calls to models without a known price (not counted in cost_usd)
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ModelRouter:
    def __init__(self, model_default: str | None = None, *, api_base: str | None = None,
                 fallbacks: Sequence[str] = (), concurrency: int = 8, rpm: float | None = None,
                 max_retries: int = 4, timeout_s: float = 120.0, cache: Cache | None = None,
                 budget: Budget | None = None, trace: Trace | None = None,
                 prices: dict[str, tuple[float, float]] | None = None, backoff_base_s: float = 0.5,
                 backoff_max_s: float = 30.0, backends: dict[str, Backend] | None = None,
                 openai_direct: bool | None = None) -> None:
        if max_retries < 0:
            raise UserError(f"--max-retries must be >= 0, not {max_retries}")
        if timeout_s <= 0:
            raise UserError(f"--timeout must be positive, not {timeout_s}")
        if rpm is not None and rpm <= 0:
            raise UserError(f"--rpm must be positive, not {rpm}")
        if concurrency < 1:
            raise UserError(f"--concurrency must be at least 1, not {concurrency}")
        # "prefix" -> backend for models named "prefix/..." (e.g. an in-process "hf" backend);
        # every other model goes to litellm
        self._backends = dict(backends or {})
        if "litellm" not in self._backends:
            from alphaflow.models.litellm_backend import LiteLLMBackend

            self._backends["litellm"] = LiteLLMBackend()
        # None: scripted models (our own server, where litellm adds only CPU) go through the OpenAI SDK,
        # everything else through litellm; True: also openai/ and hosted_vllm/ behind --api-base.
        self.openai_direct = openai_direct
        if openai_direct is not False:
            self._backends.setdefault(openai_backend.NAME, openai_backend.OpenAICompatibleBackend())
        self.model_default = model_default
        self.api_base = api_base
        self.fallbacks = list(fallbacks)
        self.timeout_s = float(timeout_s)
        self.cache = cache
        self.budget = budget
        self.trace = trace or Trace(None)
        self.pricing = Pricing(prices)
        self.retry = RetryPolicy(max_retries=max_retries, base_s=backoff_base_s, max_s=backoff_max_s)
        self.limits = ModelLimits(concurrency, rpm)
        self.usage = Usage()
        self._scripted = ScriptedModels()
        self._local = LocalModels()  # hf:, proxy:, vllm:
        self._targets: dict[str, Target] = {}
        self._resolving: dict[str, asyncio.Lock] = {}

    # --- public ---------------------------------------------------------------------------------
    async def complete(self, request: CompletionRequest) -> Completion:
        model = request.model or self.model_default
        if not model:
            raise UserError("no model given: pass --model (for example --model openai/gpt-4o-mini) "
                            "or set 'model' in the flow")
        _check_request(request)
        started = time.monotonic()
        targets = [await self._target_off_loop(name) for name in [model, *self.fallbacks]]
        primary = targets[0]
        params = _cache_params(request)
        indexes = list(range(request.sample_index, request.sample_index + request.n))
        keys = {i: sample_key(primary.cache_identity, request.messages, params, i) for i in indexes}
        # SQLite (30 s busy timeout under contention) runs off the event loop
        found = await asyncio.to_thread(self.cache.get_many, list(keys.values())) if self.cache else {}
        missing = [i for i in indexes if keys[i] not in found]
        event: dict[str, Any] = {"step": request.step, "model": model, "messages": request.messages,
                                 "n": request.n, "sample_index": request.sample_index,
                                 "params": params, "cached_samples": request.n - len(missing)}
        parts: list[_Part] = []
        if missing:
            # A provider without native `n` gets one request per sample; each request passes the
            # budget, the concurrency and rpm limits, retries and the accounting on its own.
            groups = [missing] if len(missing) == 1 or self._native_n(primary) else [[i] for i in missing]
            outcomes = await asyncio.gather(
                *(self._call_part(request, targets, params, group, parts) for group in groups),
                return_exceptions=True)
            # One empty sample (content: null) among n separate requests is kept as "" for the engine
            # to drop and count; the others go on. Only when every sample is empty is it an error.
            empty = {i for group, outcome in zip(groups, outcomes, strict=True)
                     if isinstance(outcome, EmptyAnswer) for i in group}
            failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)
                        and not (isinstance(outcome, EmptyAnswer) and len(empty) < len(missing))]
            if failures:
                # the siblings that succeeded are kept: cached and counted above, never forgotten
                error = next((f for f in failures if not isinstance(f, asyncio.CancelledError)), failures[0])
                error.usage = _part_usage(parts)  # type: ignore[attr-defined]  # what the served ones cost
                self.usage.errors += 1
                self.trace.write("model_call", **event, error=str(error), error_type=type(error).__name__,
                                 attempts=sum(getattr(f, "attempts", 0) or 0 for f in failures)
                                 + sum(part.attempts for part in parts),
                                 completed_samples=sum(len(part.indexes) for part in parts),
                                 **_part_usage(parts), latency_s=round(time.monotonic() - started, 4))
                raise error
        fresh = {i: (part, j) for part in parts for j, i in enumerate(part.indexes)}
        if not missing:
            empty = set()
        texts = ["" if i in empty else _text_of(*fresh[i]) if i in fresh else found[keys[i]].text
                 for i in indexes]
        logprobs = None
        if request.logprobs:
            logprobs = [
                None if i in empty else _logprobs_of(*fresh[i]) if i in fresh else found[keys[i]].logprobs
                for i in indexes
            ]
        finish_reasons = [_finish_reason_of(*fresh[i]) if i in fresh else None for i in indexes]
        usage = _part_usage(parts)
        completion = Completion(
            texts=texts, prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"],
            cost_usd=usage["cost_usd"], latency_s=time.monotonic() - started, cached=not missing,
            model=parts[0].target.name if parts else primary.name, logprobs=logprobs,
            cached_samples=request.n - len(missing), attempts=sum(part.attempts for part in parts),
            finish_reasons=finish_reasons)
        self._count(completion)
        self.trace.write("model_call", **event, answered_by=completion.model, texts=texts,
                         prompt_tokens=completion.prompt_tokens,
                         completion_tokens=completion.completion_tokens,
                         cost_usd=completion.cost_usd, price_known=completion.cost_usd is not None,
                         latency_s=round(completion.latency_s, 4), cached=completion.cached,
                         requests=len(parts), attempts=completion.attempts, error=None,
                         finish_reasons=finish_reasons)
        return completion

    def warm_up(self, model: str | None = None) -> None:
        """Prepare ``model``'s client (default: the router's model) before the first calls: the
        backend's lazy imports and one-off set-up, with no request sent and nothing billed or traced.
        Blocking (run it in a thread, beside the first calls); never raises."""
        try:
            target = self.target(model or self.model_default or "")
        except Exception:  # e.g. a missing key: the first real call says so
            return
        warm_up = getattr(self._backends.get(target.backend), "warm_up", None)
        if warm_up is not None:
            warm_up(target)

    async def forget(self, request: CompletionRequest) -> int:
        """Remove the request's samples from the cache (under the model and its fallbacks), so an
        answer its step could not use is never served again; returns how many were removed."""
        if self.cache is None:
            return 0
        model = request.model or self.model_default
        if not model:
            return 0
        params = _cache_params(request)
        keys = [sample_key(self.target(name).cache_identity, request.messages, params, i)
                for name in [model, *self.fallbacks]
                for i in range(request.sample_index, request.sample_index + request.n)]
        removed = await asyncio.to_thread(self.cache.delete_many, keys)
        self.trace.write("cache_forget", step=request.step, model=model, sample_index=request.sample_index,
                         n=request.n, removed=removed)
        return removed

    async def _target_off_loop(self, model: str) -> Target:
        """``target(model)``; the first time, in a thread, one at a time per model: resolving may
        start a server (``vllm:`` waits minutes for it) and must not stall the other units."""
        target = self._targets.get(model)
        if target is not None:
            return target
        lock = self._resolving.setdefault(model, asyncio.Lock())
        async with lock:
            if model not in self._targets:
                return await asyncio.to_thread(self.target, model)
            return self._targets[model]

    def target(self, model: str) -> Target:
        """Where ``model`` is sent; checks its API key once, before its first call."""
        if model not in self._targets:
            if is_scripted(model):
                target = self._scripted.target(model)
                if self.openai_direct is not False:
                    target = replace(target, backend=openai_backend.NAME)
            elif self._local.handles(model):
                target = self._local.target(model, self._backends)
            elif reward_model.is_reward_model(model):  # rm:PATH, rm-ensemble:A,B: reward models as judges
                target = reward_model.target(model)
                self._backends.setdefault(reward_model.BACKEND, reward_model.RewardModelBackend())
            elif self.openai_direct and self.api_base and model.split("/", 1)[0] in openai_backend.PROVIDERS:
                target = replace(self._plain_target(model), backend=openai_backend.NAME)
            elif "/" in model and model.split("/", 1)[0] in {*self._backends, *BACKEND_FACTORIES}:
                prefix = model.split("/", 1)[0]
                if prefix not in self._backends:
                    self._backends[prefix] = BACKEND_FACTORIES[prefix]()
                target = Target(name=model, backend_model=model.split("/", 1)[1], cache_identity=model,
                                price_model=model, backend=prefix)
            else:
                target = self._plain_target(model)
                error = missing_key_error(target)
                if error is not None:
                    raise error
            self._targets[model] = target
        return self._targets[model]

    def close(self) -> None:
        self._scripted.close()
        self._local.close()
        if self.cache is not None:
            self.cache.close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> ModelRouter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # --- internals ------------------------------------------------------------------------------
    def _plain_target(self, model: str) -> Target:
        provider = model.split("/", 1)[0] if "/" in model else ""
        api_key = None
        if self.api_base and provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            api_key = DUMMY_KEY
        return Target(name=model, backend_model=model, api_base=self.api_base, api_key=api_key,
                      cache_identity=f"{model}|{self.api_base or ''}", price_model=model)

    def _native_n(self, target: Target) -> bool:
        """Whether the target's backend sends n samples in one request (a backend may say it cannot
        with ``native_n(target) -> bool``; without that method it can)."""
        native_n = getattr(self._backends[target.backend], "native_n", None)
        return True if native_n is None else bool(native_n(target))

    async def _call_part(self, request: CompletionRequest, targets: list[Target], params: dict[str, Any],
                         indexes: list[int], parts: list[_Part]) -> None:
        """One provider request for the samples ``indexes``; on success its samples are cached and its
        tokens and cost counted at once (so a failing or cancelled sibling cannot lose them)."""
        one = replace(request, n=len(indexes), sample_index=indexes[0])
        result, target, attempts, cost = await self._call(one, targets, len(indexes))
        part = _Part(indexes, result, target, attempts, cost)
        parts.append(part)
        self.usage.prompt_tokens += result.prompt_tokens
        self.usage.completion_tokens += result.completion_tokens
        if cost is None:
            self.usage.unknown_cost_calls += 1
        else:
            self.usage.cost_usd += cost
        if self.cache:
            fresh = {sample_key(target.cache_identity, request.messages, params, i):
                     CachedSample(text, result.logprobs[j] if result.logprobs else None)
                     for j, (i, text) in enumerate(zip(indexes, result.texts, strict=True))}
            await asyncio.to_thread(self.cache.put_many, target.name, fresh)

    async def _call(self, request: CompletionRequest, targets: list[Target],
                    n: int) -> tuple[BackendResult, Target, int, float | None]:
        """Each target in order, each with bounded retries; the budget is checked before every request."""
        failures: list[str] = []
        attempts = 0
        for target in targets:
            tries = 0
            while True:
                reservation = 0.0
                if self.budget is not None:
                    worst = self.pricing.worst_case(target, request.messages, n, request.max_tokens)
                    reservation = self.budget.reserve(target.name, worst)
                attempts += 1
                tries += 1
                self.usage.provider_calls += 1
                try:
                    async with self.limits.slot(target.name):
                        result = await self._backends[target.backend].generate(
                            request, target, n=n, timeout_s=self.timeout_s)
                except ModelCallError as error:
                    if self.budget is not None:
                        self.budget.release(reservation)
                    if error.transient and tries <= self.retry.max_retries:
                        wait_s = self.retry.delay(tries, error.retry_after_s)
                        self.trace.write("model_retry", step=request.step, model=target.name, attempt=tries,
                                         error=str(error), wait_s=round(wait_s, 3))
                        await asyncio.sleep(wait_s)
                        continue
                    failures.append(f"{target.name} failed after {tries} attempt{'s' * (tries > 1)}: {error}")
                    break
                except BaseException:  # cancelled: nothing was billed that we can know of
                    if self.budget is not None:
                        self.budget.release(reservation)
                    raise
                cost = self.pricing.cost(target, result.prompt_tokens, result.completion_tokens)
                if self.budget is not None:
                    self.budget.settle(reservation, cost)
                return result, target, attempts, cost
        error = ModelCallError("model call failed: " + "; then ".join(failures))
        error.attempts = attempts  # type: ignore[attr-defined]
        raise error

    def _count(self, completion: Completion) -> None:
        """Count a returned completion (its tokens and cost were counted per request)."""
        self.usage.calls += 1
        self.usage.cached_samples += completion.cached_samples


@dataclass
class _Part:
    """One provider request's share of a completion: which samples it answered, and what it cost."""

    indexes: list[int]
    result: BackendResult
    target: Target
    attempts: int
    cost: float | None


def _part_usage(parts: list[_Part]) -> dict[str, Any]:
    costs = [part.cost for part in parts]
    return {"prompt_tokens": sum(part.result.prompt_tokens for part in parts),
            "completion_tokens": sum(part.result.completion_tokens for part in parts),
            "cost_usd": None if None in costs else float(sum(c for c in costs if c is not None))}


def _text_of(part: _Part, j: int) -> str:
    return part.result.texts[j]


def _finish_reason_of(part: _Part, j: int) -> str | None:
    reasons = part.result.finish_reasons
    return reasons[j] if reasons and j < len(reasons) else None


def _logprobs_of(part: _Part, j: int) -> list[dict[str, Any]] | None:
    return part.result.logprobs[j] if part.result.logprobs else None


def _check_request(request: CompletionRequest) -> None:
    secret = sorted({"api_key", "api_base", "base_url", "extra_headers", "headers"} & set(request.extra))
    if secret:
        raise UserError(f"model parameter {secret[0]!r} cannot be set per call: keys come from the "
                        "environment and the endpoint from --api-base")
    if request.n < 1:
        raise UserError(f"samples (n) must be at least 1, not {request.n}")
    if request.sample_index < 0:
        raise UserError(f"sample_index must be >= 0, not {request.sample_index}")
    if request.attempt < 0:
        raise UserError(f"attempt must be >= 0, not {request.attempt}")
    if not request.messages:
        raise UserError("a model call needs at least one message")


def _cache_params(request: CompletionRequest) -> dict[str, Any]:
    params = {"temperature": request.temperature, "max_tokens": request.max_tokens, "top_p": request.top_p,
              "logprobs": request.logprobs, "extra": request.extra}
    if request.attempt:  # first attempts keep the keys they always had
        params["attempt"] = request.attempt
    return params


def build_router(model_default: str | None = None, api_base: str | None = None,
                 fallbacks: Sequence[str] = (), concurrency: int = 8, rpm: float | None = None,
                 max_retries: int = 4, timeout_s: float = 120.0, cache_path: str | Path | None = None,
                 max_cost_usd: float | None = None, trace: Trace | None = None,
                 prices: dict[str, tuple[float, float]] | None = None, backoff_base_s: float = 0.5,
                 backoff_max_s: float = 30.0, backends: dict[str, Backend] | None = None,
                 openai_direct: bool | None = None) -> ModelRouter:
    """A router from CLI-style settings. ``cache_path=None`` means no cache (``--no-cache``);
    pass ``default_cache_path()`` for the usual one."""
    return ModelRouter(
        model_default, api_base=api_base, fallbacks=fallbacks, concurrency=concurrency, rpm=rpm,
        max_retries=max_retries, timeout_s=timeout_s,
        cache=Cache(cache_path) if cache_path is not None else None,
        budget=Budget(max_cost_usd) if max_cost_usd is not None else None,
        trace=trace, prices=prices, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s,
        backends=backends, openai_direct=openai_direct)
