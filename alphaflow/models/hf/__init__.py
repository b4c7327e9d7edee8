"""Local models: ``hf:`` (in process, batched), ``proxy:`` (proxy-tuned decoding) and ``vllm:`` (a
managed ``vllm serve``). Model strings and options: ``docs/local-models.md``.

Importing this package imports no torch; ``score`` and the backend import it on first use.

    from alphaflow.models.hf import score
    results = score("hf:/ckpt", [[{"role": "user", "content": "Is 2+2=4? Yes or No."}]], ["Yes"])
    results[0].logprob          # natural log of p("Yes" | prompt), summed over its tokens
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from alphaflow.models.hf.spec import HFSpec, LoadOptions, ProxySpec, VLLMSpec, is_local, parse

if TYPE_CHECKING:
    from alphaflow.models.hf.decode import ScoreResult


def score(
    model: str, prompts: Sequence[str | Sequence[dict[str, Any]]], responses: Sequence[str]
) -> list[ScoreResult]:
    """Log-likelihood of each response after its prompt under an ``hf:`` or ``proxy:`` model, batched.

    ``prompts[i]`` is raw text or chat messages (then the chat template is applied with the assistant
    turn opened); ``responses[i]`` is text. Returns one ``ScoreResult`` per pair (``logprob``: natural
    log, summed over the response's tokens; ``token_logprobs``; ``tokens``; ``mean_logprob``).
    Raises ``UserError`` for a bad model string, a missing extra, or lists of different lengths.
    """
    from alphaflow.models.hf.engine import engine_for

    return engine_for(model).score(prompts, responses)


__all__ = ["HFSpec", "LoadOptions", "ProxySpec", "VLLMSpec", "is_local", "parse", "score"]
