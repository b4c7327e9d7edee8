"""Where the router sends ``hf:``, ``proxy:`` and ``vllm:`` model strings (imports no torch)."""

from __future__ import annotations

from typing import Any

from alphaflow.models import openai_backend
from alphaflow.models.hf.spec import HFSpec, LoadOptions, VLLMSpec, is_local, parse
from alphaflow.models.types import Target

DUMMY_KEY = "sk-no-key-needed"  # vllm serve without --api-key accepts any key


class LocalModels:
    """Targets for local model strings; owns the vLLM servers it starts (stopped by ``close``)."""

    def __init__(self) -> None:
        self._servers: list[Any] = []

    @staticmethod
    def handles(model: str) -> bool:
        return is_local(model)

    def target(self, model: str, backends: dict[str, Any]) -> Target:
        """The model's target; registers the in-process backend in ``backends`` on first use.

        Raises ``UserError`` for a bad model string, a missing ``alphaflow[local]`` extra, or a vLLM
        server that does not start."""
        spec = parse(model)
        if isinstance(spec, VLLMSpec):
            from alphaflow.models.hf.vllm import VLLMServer

            server = VLLMServer(spec, model)
            base_url = server.start()
            self._servers.append(server)
            backend = openai_backend.NAME if openai_backend.NAME in backends else "litellm"
            return Target(
                name=model,
                backend_model=f"openai/{server.served_name}",
                api_base=base_url,
                api_key=DUMMY_KEY,
                cache_identity=f"vllm:{spec.model}|{' '.join(spec.serve_args)}",
                free=True,
                backend=backend,
            )
        from alphaflow.models.hf.backend import NAME, LocalBackend
        from alphaflow.models.hf.loading import checkpoint_identity, require_torch

        require_torch(model)  # the one-line error naming the extra, before the first call
        backends.setdefault(NAME, LocalBackend())
        if isinstance(spec, HFSpec):
            identity = f"hf:{checkpoint_identity(spec.model)}"
        else:
            paths = "|".join(checkpoint_identity(p) for p in (spec.base, spec.expert, spec.anti))
            identity = f"proxy:{paths}|alpha={spec.alpha}"
        return Target(
            name=model,
            backend_model=model,
            cache_identity=f"{identity}|{_numerics(spec.options)}",
            free=True,
            backend=NAME,
        )

    def close(self) -> None:
        for server in self._servers:
            server.stop()
        self._servers.clear()


def _numerics(options: LoadOptions) -> str:
    """What changes the numbers a model computes (so the cache keeps them apart)."""
    return f"device={options.device}|dtype={options.dtype}"
