"""A backend for OpenAI-compatible endpoints (vLLM, llama.cpp, the scripted server): the OpenAI SDK
called directly, the same request litellm would send without litellm's per-call bookkeeping (cost
lookups, logging payloads), which costs several milliseconds of CPU a call. Used by default for
``scripted:`` models (unless ``openai_direct=False``), and with ``openai_direct=True`` for
``openai/...`` and ``hosted_vllm/...`` models behind ``--api-base``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alphaflow.models.errors import ModelCallError
from alphaflow.models.litellm_backend import (
    STEP_HEADER,
    classify,
    finish_reasons_of,
    logprobs_of,
    retry_unreachable_once,
    sample_texts,
)
from alphaflow.models.types import BackendResult, CompletionRequest, Target

NAME = "openai-sdk"  # the backend's key in the router (no model string starts with it)
PROVIDERS = {"openai": "OPENAI_API_KEY", "hosted_vllm": "HOSTED_VLLM_API_KEY"}
DUMMY_KEY = "sk-no-key-needed"


class OpenAICompatibleBackend:
    def __init__(self) -> None:
        self._clients: dict[tuple[str, str, int], Any] = {}  # (endpoint, key, event loop) -> client

    def _client(self, target: Target, timeout_s: float) -> Any:
        import openai

        provider = target.backend_model.split("/", 1)[0]
        key = target.api_key or os.environ.get(PROVIDERS.get(provider, "OPENAI_API_KEY")) or DUMMY_KEY
        # an httpx client belongs to the event loop it first ran on
        slot = (str(target.api_base), key, id(asyncio.get_running_loop()))
        if slot not in self._clients:
            self._clients[slot] = openai.AsyncOpenAI(base_url=target.api_base, api_key=key, max_retries=0,
                                                     timeout=timeout_s)
        return self._clients[slot]

    async def generate(self, request: CompletionRequest, target: Target, *, n: int,
                       timeout_s: float) -> BackendResult:
        kwargs: dict[str, Any] = {**request.extra, "model": target.backend_model.split("/", 1)[1],
                                  "messages": request.messages, "timeout": timeout_s}
        for name in ("temperature", "max_tokens", "top_p"):
            if getattr(request, name) is not None:
                kwargs[name] = getattr(request, name)
        if n > 1:
            kwargs["n"] = n
        if request.logprobs:
            kwargs["logprobs"] = True
            if not isinstance(request.logprobs, bool):
                kwargs["top_logprobs"] = int(request.logprobs)
        if request.step:
            kwargs["extra_headers"] = {STEP_HEADER: request.step}
        async def attempt() -> Any:
            try:
                async with asyncio.timeout(timeout_s + 5):  # a backstop, as in the litellm backend
                    return await self._client(target, timeout_s).chat.completions.create(**kwargs)
            except TimeoutError:
                raise ModelCallError(f"timed out after {timeout_s:g} s", transient=True) from None
            except Exception as error:
                raise classify(error, target.api_base) from None

        response = await retry_unreachable_once(attempt)
        choices = list(response.choices or [])
        if len(choices) < n:
            raise ModelCallError(f"malformed response: {len(choices)} choices for n={n}", transient=True)
        texts = sample_texts(choices[:n])
        usage = response.usage
        if usage is None:
            raise ModelCallError("the endpoint sent no usage (token counts); use the litellm backend")
        logprobs = [logprobs_of(choice) for choice in choices[:n]] if request.logprobs else None
        return BackendResult(texts, int(usage.prompt_tokens), int(usage.completion_tokens or 0), logprobs,
                             finish_reasons_of(choices[:n]))
