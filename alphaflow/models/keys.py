"""API keys come from the environment only; a missing one is a one-line error before the first call."""

from __future__ import annotations

import os

from alphaflow.errors import UserError
from alphaflow.models.types import Target

# litellm lists these as "missing" although the provider works without them (a local default).
_OPTIONAL = {"OLLAMA_API_BASE"}


def missing_key_error(target: Target) -> UserError | None:
    """The error to raise when the target names a provider litellm does not know, or its provider
    needs environment variables that are not set; None when the target can be called."""
    from alphaflow.models.litellm_backend import import_litellm

    unknown = unknown_provider_error(target)
    if unknown is not None:
        return unknown
    if target.api_key is not None:  # a local server with a dummy key
        return None

    try:
        report = import_litellm().validate_environment(model=target.backend_model, api_base=target.api_base)
    except Exception:  # litellm cannot tell for this provider: let the call say what is wrong
        return None
    missing = [name for name in report.get("missing_keys", []) if name not in _OPTIONAL
               and not os.environ.get(name) and not (target.api_base and name.endswith("_API_BASE"))]
    if not missing:
        return None
    names = " and ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    return UserError(f"{names} {verb} not set (needed by model {target.name})")


def unknown_provider_error(target: Target) -> UserError | None:
    """A one-line error when litellm cannot tell which provider serves ``target`` (checked before any
    call: the flow must not start with a model name that cannot work)."""
    from alphaflow.models.litellm_backend import import_litellm

    try:
        import_litellm().get_llm_provider(model=target.backend_model, api_base=target.api_base)
    except Exception:
        provider = target.name.split("/", 1)[0] if "/" in target.name else None
        what = f"unknown provider {provider!r}" if provider else "no provider"
        return UserError(
            f"model {target.name!r} (--model, --fallback or the flow's model:): {what}; write PROVIDER/MODEL "
            "with a litellm provider (openai/, anthropic/, ollama/, hosted_vllm/ ...) or scripted:FILE"
        )
    return None
