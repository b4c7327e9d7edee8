"""The router's backend for ``hf:`` and ``proxy:`` models: requests become rows in a shared batch queue."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import weakref
from collections.abc import Sequence

from alphaflow.errors import UserError
from alphaflow.models.errors import ModelCallError
from alphaflow.models.hf.batching import BatchQueue
from alphaflow.models.hf.decode import Row, ScoreResult
from alphaflow.models.hf.engine import Engine, Prompt, engine_for
from alphaflow.models.types import BackendResult, CompletionRequest, Target

NAME = "hf"  # the backend's key in the router
EXTRA_PARAMETERS = ("stop", "seed", "ignore_eos")  # what `extra` may carry for a local model
# one queue per event loop and engine, so that every router on a loop batches together
_QUEUES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, BatchQueue]] = (
    weakref.WeakKeyDictionary()
)


class LocalBackend:
    """Implements ``alphaflow.models.types.Backend`` for in-process models.

    Sampling: ``temperature`` (None: 1.0, as the OpenAI API; 0: greedy), ``top_p``, ``max_tokens``
    (None, or more than the model string's ``max_new_tokens``: that), ``n``, and in ``extra``:
    ``stop`` (a string or a list), ``seed`` (sample ``i`` of a request draws from its own generator
    seeded with (seed, i), so it is the same in any batch), ``ignore_eos``. Logprobs are the model's
    (proxy tuning: the combined) log-softmax before temperature and top-p, in the OpenAI shape.
    """

    async def engine(self, model: str) -> Engine:
        """The model's engine, loaded off the event loop on first use."""
        return await asyncio.to_thread(engine_for, model)

    def queue(self, engine: Engine) -> BatchQueue:
        """The engine's batch queue on the running event loop (shared by every router on it)."""
        queues = _QUEUES.setdefault(asyncio.get_running_loop(), {})
        if engine.name not in queues:
            queues[engine.name] = BatchQueue(engine)
        return queues[engine.name]

    async def generate(
        self, request: CompletionRequest, target: Target, *, n: int, timeout_s: float
    ) -> BackendResult:
        # timeout_s does not apply: a batch on the device cannot be interrupted part way
        engine = await self.engine(target.backend_model)
        rows = rows_for(engine, request, n)
        try:
            results = await self.queue(engine).submit(rows)
        except (UserError, asyncio.CancelledError):
            raise
        except Exception as error:  # a failure inside the model: one line, not a traceback
            message = " ".join(str(error).split())[:300]
            raise ModelCallError(f"{engine.name}: {type(error).__name__}: {message}") from error
        return BackendResult(
            texts=[r.text for r in results],
            prompt_tokens=len(rows[0].prompts[0]),  # the prompt once, as OpenAI-compatible servers count
            completion_tokens=sum(len(r.token_ids) for r in results),
            logprobs=[r.logprobs for r in results] if request.logprobs else None,
            finish_reasons=[r.finish_reason for r in results],
        )

    async def score(
        self, model: str, prompts: Sequence[Prompt], responses: Sequence[str]
    ) -> list[ScoreResult]:
        """``Engine.score`` without blocking the event loop."""
        engine = await self.engine(model)
        return await asyncio.to_thread(engine.score, prompts, responses)


def rows_for(engine: Engine, request: CompletionRequest, n: int) -> list[Row]:
    """The ``n`` rows of a request; they share the prompt and differ in their seeds."""
    unknown = sorted(set(request.extra) - set(EXTRA_PARAMETERS))
    if unknown:
        raise UserError(
            f"model {engine.name!r} does not take the parameter {unknown[0]!r} "
            f"(a local model takes {', '.join(EXTRA_PARAMETERS)})"
        )
    stop = request.extra.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else tuple(str(s) for s in stop)
    prompts = engine.encode(request.messages)
    temperature = 1.0 if request.temperature is None else float(request.temperature)
    top_p = 1.0 if request.top_p is None else float(request.top_p)
    if not 0 < top_p <= 1:
        raise UserError(f"top_p must be in (0, 1], not {top_p}")
    # the model string's max_new_tokens is the default and the cap (a request may ask for fewer)
    max_new = min(request.max_tokens or engine.options.max_new_tokens, engine.options.max_new_tokens)
    logprobs = None if not request.logprobs else (0 if request.logprobs is True else int(request.logprobs))
    seed = request.extra.get("seed")
    # the router asks only for samples missing from the cache, which are the request's last ones
    first = request.sample_index + request.n - n
    rows = []
    for i in range(first, first + n):
        row_seed = _seed(seed, i) if seed is not None else secrets.randbits(63)
        rows.append(
            Row(
                prompts,
                max_new,
                temperature,
                top_p,
                row_seed,
                stop,
                logprobs,
                bool(request.extra.get("ignore_eos", False)),
            )
        )
    return rows


def _seed(seed: object, sample: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample}".encode()).digest()[:8], "big") >> 1
