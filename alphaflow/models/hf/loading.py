"""Loading Hugging Face causal LMs once per process, and the one-line error without the extra."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.models.hf.spec import LoadOptions

EXTRA_HINT = "pip install 'alphaflow[local]'"

_lock = threading.Lock()
_loaded: dict[tuple[str, str, str, bool], LoadedModel] = {}


def require_torch(model: str) -> tuple[Any, Any]:
    """``(torch, transformers)``, or a one-line ``UserError`` naming the extra when they are missing."""
    try:
        import torch
        import transformers
    except ImportError as error:
        raise UserError(
            f"model {model!r} runs in process and needs torch and transformers "
            f"({error.name or error} is missing): {EXTRA_HINT}"
        ) from None
    return torch, transformers


@dataclass
class LoadedModel:
    """A causal LM and its tokenizer on one device, in eval mode."""

    name: str  # the path or hub id it was loaded from
    model: Any  # transformers PreTrainedModel
    tokenizer: Any  # transformers PreTrainedTokenizerBase
    device: Any  # torch.device
    cache_arg: str  # the forward() keyword of the KV cache: "cache" (transformers 5) or "past_key_values"
    takes_positions: bool  # forward() accepts position_ids (left padding needs them)

    @property
    def logit_width(self) -> int:
        """Columns of the logits (the output embedding's rows; may exceed the tokenizer's size)."""
        return int(self.model.get_output_embeddings().weight.shape[0])

    @property
    def pad_id(self) -> int:
        tok = self.tokenizer
        for value in (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id):
            if value is not None:
                return int(value)
        return 0

    @property
    def eos_ids(self) -> frozenset[int]:
        """Every id that ends a generation: the tokenizer's EOS and the generation config's list."""
        ids: set[int] = set()
        for value in (
            getattr(self.model.generation_config, "eos_token_id", None),
            self.tokenizer.eos_token_id,
        ):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list | tuple):
                ids.update(int(v) for v in value)
        return frozenset(ids)


def load(name: str, options: LoadOptions, *, model_string: str) -> LoadedModel:
    """The model at ``name`` (a directory or hub id), loaded once per process and shared after that.

    Raises ``UserError`` (one line) when the extra is missing or the model cannot be loaded.
    """
    torch, _ = require_torch(model_string)
    device = resolve_device(torch, options.device, model_string)
    dtype = resolve_dtype(torch, options.dtype, device)
    key = (_identity(name), str(device), str(dtype).removeprefix("torch."), options.trust_remote_code)
    with _lock:  # two event loops or threads asking at once load it once
        if key not in _loaded:
            _loaded[key] = _load(name, options, device, dtype, model_string)
        return _loaded[key]


def _load(name: str, options: LoadOptions, device: Any, dtype: Any, model_string: str) -> LoadedModel:
    import inspect

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per shard is noise in a run's output
    trust = options.trust_remote_code
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype, trust_remote_code=trust)
    except (OSError, ValueError, KeyError) as error:
        first = " ".join(str(error).split())[:300]
        raise UserError(f"model {model_string!r}: cannot load {name!r}: {first}") from None
    model.to(device)
    model.eval()
    params = inspect.signature(model.forward).parameters
    cache_arg = "cache" if "cache" in params else "past_key_values"
    return LoadedModel(name, model, tokenizer, device, cache_arg, "position_ids" in params)


def resolve_device(torch: Any, device: str, model_string: str) -> Any:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise UserError(
            f"model {model_string!r}: unknown device {device!r} (cpu, cuda, cuda:N, mps)"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"model {model_string!r}: device {device!r} asked for, but torch sees no CUDA GPU")
    return resolved


def resolve_dtype(torch: Any, dtype: str, device: Any) -> Any:
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _identity(name: str) -> str:
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def checkpoint_identity(name: str) -> str:
    """A cache identity that changes when the checkpoint's files change (a model retrained in place)."""
    path = Path(name).expanduser()
    if not path.is_dir():
        return name  # a hub id: its revision is the hub's business
    import hashlib

    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return f"{path.resolve()}@{digest.hexdigest()[:16]}"
