"""API keys come from the environment only; a missing one is a one-line error before the first call."""

from __future__ import annotations

import os

from alphaflow.errors import UserError
from alphaflow.models.types import Target

# litellm lists these as "missing" although the provider works without them (a local default).
_OPTIONAL = {"OLLAMA_API_BASE"}


def missing_key_error(target: Target) -> UserError | None:
    """The error to raise when the target's provider needs environment variables that are not set."""
    if target.api_key is not None:  # a local server with a dummy key
        return None
    from alphaflow.models.litellm_backend import import_litellm

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
