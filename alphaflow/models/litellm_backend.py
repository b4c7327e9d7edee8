"""The litellm backend: every provider string litellm knows, called with ``litellm.acompletion``.

litellm is imported lazily (it takes seconds) with its local price map (no network at import), its
banners and logging silenced, and its own retries off: the router owns retries.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, TypeVar

from alphaflow.models.errors import EmptyAnswer, EndpointUnreachable, ModelCallError
from alphaflow.models.types import BackendResult, CompletionRequest, Target

STEP_HEADER = "X-Alphaflow-Step"
UNREACHABLE_RETRY_S = 0.5  # one quick second try when nothing listens (a server still starting)
_litellm: ModuleType | None = None
T = TypeVar("T")


def import_litellm() -> ModuleType:
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "CRITICAL")
        import litellm

        litellm.suppress_debug_info = True
        litellm.set_verbose = False
        litellm.num_retries = 0
        litellm.telemetry = False
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        _litellm = litellm
    return _litellm


class LiteLLMBackend:
    def native_n(self, target: Target) -> bool:
        """Whether the provider takes ``n``; when it does not, the router sends one request per sample
        (each through its budget, limits and accounting)."""
        return _supports_n(import_litellm(), target.backend_model)

    async def generate(self, request: CompletionRequest, target: Target, *, n: int,
                       timeout_s: float) -> BackendResult:
        litellm = import_litellm()
        kwargs = _call_arguments(request, target, timeout_s)
        return await self._call(litellm, kwargs, n, timeout_s)

    def warm_up(self, target: Target) -> None:
        """Run litellm's response path once for ``target`` without a request (``mock_response``).

        litellm builds its pydantic response models and imports provider modules lazily, on the first
        answer: about 0.3 s of CPU that would otherwise land on the event loop just as the first
        answers of every unit in flight arrive. Blocking; call it from a thread. Never raises.
        """
        request = CompletionRequest(model=target.name, messages=[{"role": "user", "content": "warm-up"}])
        kwargs = _call_arguments(request, target, timeout_s=5.0)
        kwargs["api_key"] = kwargs.get("api_key") or "sk-warm-up-no-request-is-sent"
        try:
            import_litellm().completion(**kwargs, mock_response="warm")
        except Exception:  # an optimisation only: the real first call reports any real problem
            pass

    async def _call(self, litellm: ModuleType, kwargs: dict[str, Any], n: int,
                    timeout_s: float) -> BackendResult:
        if n > 1:
            kwargs = {**kwargs, "n": n}
        async def attempt() -> Any:
            try:
                # a backstop in case a provider client ignores its timeout
                async with asyncio.timeout(timeout_s + 5):
                    return await litellm.acompletion(**kwargs)
            except ModelCallError:
                raise
            except TimeoutError:
                raise ModelCallError(f"timed out after {timeout_s:g} s", transient=True) from None
            except Exception as error:
                raise classify(error, kwargs.get("api_base")) from None

        response = await retry_unreachable_once(attempt)
        return _result(litellm, response, kwargs, n)


async def retry_unreachable_once(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, tried a second time after ``UNREACHABLE_RETRY_S`` if nothing answered at the
    endpoint; the second ``EndpointUnreachable`` goes to the caller."""
    try:
        return await call()
    except EndpointUnreachable:
        await asyncio.sleep(UNREACHABLE_RETRY_S)
    return await call()


def _call_arguments(request: CompletionRequest, target: Target, timeout_s: float) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        **request.extra,
        "model": target.backend_model,
        "messages": request.messages,
        "timeout": timeout_s,
        "num_retries": 0,
        "max_retries": 0,  # the OpenAI client's own retries
    }
    for name in ("temperature", "max_tokens", "top_p"):
        value = getattr(request, name)
        if value is not None:
            kwargs[name] = value
    if request.logprobs:
        kwargs["logprobs"] = True
        if not isinstance(request.logprobs, bool):
            kwargs["top_logprobs"] = int(request.logprobs)
    if target.api_base:
        kwargs["api_base"] = target.api_base
        # lets an OpenAI-compatible test server (alphaflow.testing) answer by step
        if request.step:
            kwargs["extra_headers"] = {**kwargs.get("extra_headers", {}), STEP_HEADER: request.step}
    if target.api_key:
        kwargs["api_key"] = target.api_key
    return kwargs


def _supports_n(litellm: ModuleType, model: str) -> bool:
    try:
        params = litellm.get_supported_openai_params(model=model) or []
    except Exception:
        return True
    return "n" in params


def _result(litellm: ModuleType, response: Any, kwargs: dict[str, Any], n: int) -> BackendResult:
    choices = list(getattr(response, "choices", None) or [])
    if len(choices) < n:
        raise ModelCallError(f"malformed response: {len(choices)} choices for n={n}", transient=True)
    texts = sample_texts(choices[:n])
    usage = getattr(response, "usage", None)
    if usage is not None and usage.prompt_tokens is not None:
        prompt_tokens, completion_tokens = int(usage.prompt_tokens), int(usage.completion_tokens or 0)
    else:  # a server without usage fields: count with the model's tokenizer
        prompt_tokens = litellm.token_counter(model=kwargs["model"], messages=kwargs["messages"])
        completion_tokens = sum(litellm.token_counter(model=kwargs["model"], text=text) for text in texts)
    logprobs = None
    if kwargs.get("logprobs"):
        logprobs = [logprobs_of(choice) for choice in choices[:n]]
    return BackendResult(texts, prompt_tokens, completion_tokens, logprobs, finish_reasons_of(choices[:n]))


def finish_reasons_of(choices: list[Any]) -> list[str | None]:
    """Why each choice ended (``stop``, ``length`` when cut at max_tokens, ...); None where not said."""
    return [str(reason) if (reason := getattr(choice, "finish_reason", None)) else None for choice in choices]


def sample_texts(choices: list[Any]) -> list[str]:
    """The text of each choice. A choice with no text (``content: null``, e.g. cut by a length or
    content filter) is ``""`` among several, for the engine to drop and count while the others go
    on; a ``ModelCallError`` naming the finish reason when no choice has text."""
    texts = [choice.message.content for choice in choices]
    if all(text is None for text in texts):
        reasons = sorted({str(getattr(choice, "finish_reason", None)) for choice in choices})
        raise EmptyAnswer(f"the model returned no text (finish_reason={', '.join(reasons)})")
    return [text or "" for text in texts]


def logprobs_of(choice: Any) -> list[dict[str, Any]] | None:
    data = getattr(choice, "logprobs", None)
    content = getattr(data, "content", None) if data is not None else None
    if content is None and isinstance(data, dict):
        content = data.get("content")
    if content is None:
        return None
    tokens = []
    for item in content:
        item = item if isinstance(item, dict) else item.model_dump()
        tokens.append({
            "token": item.get("token"), "logprob": item.get("logprob"),
            "top_logprobs": [{"token": t.get("token"), "logprob": t.get("logprob")}
                             for t in item.get("top_logprobs") or []],
        })
    return tokens


def classify(error: Exception, url: str | None = None) -> ModelCallError:
    """Map a provider/client exception to a transient (retried) or permanent ModelCallError.

    ``url`` is the endpoint asked (``--api-base``), named when nothing answers there; litellm reports
    a refused connection as a 500, so the exception's causes are searched for it first."""
    unreachable = _unreachable(error, url)
    if unreachable is not None:
        return unreachable
    status = getattr(error, "status_code", None)
    name = type(error).__name__
    message = _short(error)
    if isinstance(error, json.JSONDecodeError | ValueError) and status is None:
        return ModelCallError(f"malformed response: {message}", transient=True)
    if name in ("Timeout", "APITimeoutError") or status == 408:
        return ModelCallError(f"timed out: {message}", transient=True, status=status)
    if name in ("APIConnectionError",) and status in (None, 500):
        return ModelCallError(f"connection error: {message}", transient=True, status=status)
    if status == 429 or name == "RateLimitError":
        return ModelCallError(f"rate limited (429): {message}", transient=True, status=429,
                              retry_after_s=_retry_after(error))
    if isinstance(status, int) and status >= 500:
        return ModelCallError(f"server error ({status}): {message}", transient=True, status=status,
                              retry_after_s=_retry_after(error))
    if status == 401 or name == "AuthenticationError":
        return ModelCallError(f"authentication failed (401): {message}", status=401)
    if isinstance(status, int):
        return ModelCallError(f"request rejected ({status}): {message}", status=status)
    return ModelCallError(f"{name}: {message}")


def _unreachable(error: Exception, url: str | None) -> EndpointUnreachable | None:
    """An ``EndpointUnreachable`` when a cause of ``error`` is a refused connection or an unknown host."""
    seen: set[int] = set()
    cause: BaseException | None = error
    request_url = None
    reason = None
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        request = getattr(cause, "_request", None) or _safe_request(cause)
        if request_url is None and request is not None and getattr(request, "url", None) is not None:
            request_url = str(request.url)
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            reason = "connection refused"
        elif isinstance(cause, socket.gaierror):
            reason = "unknown host"
        elif reason is None and "All connection attempts failed" in str(cause):  # anyio, several addresses
            reason = "connection refused"
        cause = cause.__cause__ or cause.__context__
    if reason is None:
        return None
    return EndpointUnreachable(url or _endpoint(request_url) or "the provider's endpoint", reason)


def _safe_request(error: BaseException) -> Any:
    try:  # httpx errors raise on .request when none was attached
        return getattr(error, "request", None)
    except RuntimeError:
        return None


def _endpoint(request_url: str | None) -> str | None:
    """``https://host/v1`` from ``https://host/v1/chat/completions``."""
    if not request_url:
        return None
    return request_url.split("/chat/completions", 1)[0].split("/completions", 1)[0]


_CLASS_PREFIXES = re.compile(r"^(?:litellm\.)?(?:\w*(?:Error|Exception|Timeout)\s*[:-]\s*)+")


def _short(error: Exception) -> str:
    """The provider's message without litellm's repeated class-name prefixes, on one line."""
    text = " ".join(str(error).split())
    return _CLASS_PREFIXES.sub("", text)[:300] or type(error).__name__


def _retry_after(error: Exception) -> float | None:
    headers = getattr(error, "litellm_response_headers", None)
    response = getattr(error, "response", None)
    if headers is None and response is not None:
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:  # an HTTP date: not worth parsing, fall back to backoff
            continue
    return None
