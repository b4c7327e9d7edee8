"""The model router: cache, budget, limits, retries and fallbacks around a backend, all traced.

    router = build_router("openai/gpt-4o-mini", cache_path=default_cache_path(), max_cost_usd=2.0)
    completion = await router.complete(CompletionRequest(model=None, messages=[...], n=3, step="code"))
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alphaflow.errors import BudgetExceeded, UserError
from alphaflow.models import openai_backend, reward_model
from alphaflow.models.budget import Budget
from alphaflow.models.cache import Cache, CachedSample, sample_key
from alphaflow.models.errors import ModelCallError
from alphaflow.models.keys import missing_key_error
from alphaflow.models.limits import ModelLimits
from alphaflow.models.pricing import Pricing
from alphaflow.models.retry import RetryPolicy
from alphaflow.models.scripted import ScriptedModels, is_scripted
from alphaflow.models.types import Backend, BackendResult, Completion, CompletionRequest, Target
from alphaflow.trace import Trace

DUMMY_KEY = "sk-no-key-needed"  # OpenAI-compatible local servers (vLLM, llama.cpp) accept any key


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
        self._targets: dict[str, Target] = {}

    # --- public ---------------------------------------------------------------------------------
    async def complete(self, request: CompletionRequest) -> Completion:
        model = request.model or self.model_default
        if not model:
            raise UserError("no model given: pass --model (for example --model openai/gpt-4o-mini) "
                            "or set 'model' in the flow")
        _check_request(request)
        started = time.monotonic()
        targets = [self.target(name) for name in [model, *self.fallbacks]]
        primary = targets[0]
        params = _cache_params(request)
        indexes = list(range(request.sample_index, request.sample_index + request.n))
        keys = {i: sample_key(primary.cache_identity, request.messages, params, i) for i in indexes}
        found = self.cache.get_many(list(keys.values())) if self.cache else {}
        missing = [i for i in indexes if keys[i] not in found]
        event: dict[str, Any] = {"step": request.step, "model": model, "messages": request.messages,
                                 "n": request.n, "sample_index": request.sample_index,
                                 "params": params, "cached_samples": request.n - len(missing)}
        answered_by, attempts, cost = primary, 0, 0.0
        result = BackendResult([], 0, 0, None)
        if missing:
            try:
                result, answered_by, attempts, cost = await self._call(request, targets, len(missing))
            except (ModelCallError, BudgetExceeded, UserError) as error:
                self.usage.errors += 1
                self.trace.write("model_call", **event, error=str(error), error_type=type(error).__name__,
                                 attempts=getattr(error, "attempts", None),
                                 latency_s=round(time.monotonic() - started, 4))
                raise
            if self.cache:
                fresh = {sample_key(answered_by.cache_identity, request.messages, params, i):
                         CachedSample(text, result.logprobs[j] if result.logprobs else None)
                         for j, (i, text) in enumerate(zip(missing, result.texts, strict=True))}
                self.cache.put_many(answered_by.name, fresh)
        new = dict(zip(missing, range(len(missing)), strict=True))
        texts = [result.texts[new[i]] if i in new else found[keys[i]].text for i in indexes]
        logprobs = None
        if request.logprobs:
            logprobs = [(result.logprobs[new[i]] if result.logprobs else None) if i in new
                        else found[keys[i]].logprobs for i in indexes]
        completion = Completion(
            texts=texts, prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
            cost_usd=cost, latency_s=time.monotonic() - started, cached=not missing,
            model=answered_by.name, logprobs=logprobs, cached_samples=request.n - len(missing),
            attempts=attempts)
        self._count(completion)
        self.trace.write("model_call", **event, answered_by=completion.model, texts=texts,
                         prompt_tokens=completion.prompt_tokens,
                         completion_tokens=completion.completion_tokens,
                         cost_usd=completion.cost_usd, price_known=completion.cost_usd is not None,
                         latency_s=round(completion.latency_s, 4), cached=completion.cached,
                         attempts=attempts, error=None)
        return completion

    def target(self, model: str) -> Target:
        """Where ``model`` is sent; checks its API key once, before its first call."""
        if model not in self._targets:
            if is_scripted(model):
                target = self._scripted.target(model)
                if self.openai_direct is not False:
                    target = replace(target, backend=openai_backend.NAME)
            elif reward_model.is_reward_model(model):  # rm:PATH, rm-ensemble:A,B: reward models as judges
                target = reward_model.target(model)
                self._backends.setdefault(reward_model.BACKEND, reward_model.RewardModelBackend())
            elif self.openai_direct and self.api_base and model.split("/", 1)[0] in openai_backend.PROVIDERS:
                target = replace(self._plain_target(model), backend=openai_backend.NAME)
            elif model.split("/", 1)[0] in self._backends:
                prefix = model.split("/", 1)[0]
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
        self.usage.calls += 1
        self.usage.cached_samples += completion.cached_samples
        self.usage.prompt_tokens += completion.prompt_tokens
        self.usage.completion_tokens += completion.completion_tokens
        if completion.cost_usd is None:
            self.usage.unknown_cost_calls += 1
        else:
            self.usage.cost_usd += completion.cost_usd


def _check_request(request: CompletionRequest) -> None:
    secret = sorted({"api_key", "api_base", "base_url", "extra_headers", "headers"} & set(request.extra))
    if secret:
        raise UserError(f"model parameter {secret[0]!r} cannot be set per call: keys come from the "
                        "environment and the endpoint from --api-base")
    if request.n < 1:
        raise UserError(f"samples (n) must be at least 1, not {request.n}")
    if request.sample_index < 0:
        raise UserError(f"sample_index must be >= 0, not {request.sample_index}")
    if not request.messages:
        raise UserError("a model call needs at least one message")


def _cache_params(request: CompletionRequest) -> dict[str, Any]:
    return {"temperature": request.temperature, "max_tokens": request.max_tokens, "top_p": request.top_p,
            "logprobs": request.logprobs, "extra": request.extra}


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
