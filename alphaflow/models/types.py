"""The narrow interface between callers (the engine) and model backends (litellm today, HF later)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class CompletionRequest:
    """One chat completion with ``n`` samples, numbered from ``sample_index`` (part of the cache key)."""

    model: str | None  # a litellm provider string or "scripted:SCRIPT.yaml"; None: the router's default
    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    n: int = 1
    sample_index: int = 0
    step: str | None = None  # the step path, for the trace and the scripted server
    logprobs: bool | int = False  # True, or how many top alternatives per token (top_logprobs)
    extra: dict[str, Any] = field(default_factory=dict)  # passed to the provider as is (stop, seed, ...)
    # the step's retry attempt (0 = first): part of the cache key, never sent, so a retry is a new call
    attempt: int = 0


@dataclass
class Completion:
    texts: list[str]  # len == n, in sample order
    prompt_tokens: int  # tokens billed by this call (0 when every sample came from the cache)
    completion_tokens: int
    cost_usd: float | None  # None: the model's price is unknown (never reported as 0)
    latency_s: float
    cached: bool  # True when every sample came from the cache (then cost_usd is 0.0)
    model: str  # the model that answered (a fallback may differ from the one asked for)
    logprobs: list[list[dict[str, Any]] | None] | None = None  # per sample: [{token, logprob, top_logprobs}]
    cached_samples: int = 0
    attempts: int = 0  # provider calls made, retries and fallbacks included
    # per sample, why the model stopped: "stop", "length" (cut at max_tokens), "content_filter", ...;
    # None where unknown (a sample served from the cache, a backend that does not say)
    finish_reasons: list[str | None] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.texts[0]


@dataclass
class BackendResult:
    """What a backend returns for one provider call."""

    texts: list[str]
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[list[dict[str, Any]] | None] | None = None
    finish_reasons: list[str | None] | None = None  # per sample ("stop", "length"), where the backend knows


@dataclass(frozen=True)
class Target:
    """Where a model name is sent: the backend's model id, endpoint and key, and the cache identity."""

    name: str  # what the user asked for (for messages and the trace)
    backend_model: str  # what the backend is called with
    api_base: str | None = None
    api_key: str | None = None  # only dummy keys for local servers; real keys stay in the environment
    cache_identity: str = ""
    price_model: str | None = None  # the name to price with; None with free=True means no cost
    free: bool = False  # a local scripted model: cost 0.0, known
    backend: str = "litellm"  # which of the router's backends serves it


class Backend(Protocol):
    """A model backend: one provider call with ``n`` samples, or a ModelCallError.

    A backend whose provider cannot return ``n`` samples in one request also defines
    ``native_n(target) -> bool`` (False for such targets); the router then calls ``generate`` once per
    sample with ``n=1``, each call passing the budget, the limits and the accounting on its own.
    """

    async def generate(self, request: CompletionRequest, target: Target, *, n: int,
                       timeout_s: float) -> BackendResult: ...
