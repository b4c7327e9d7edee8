"""WARM: weight-averaged reward models (Ramé et al. 2024, arXiv 2401.12187, §3).

M reward models fine-tuned from one shared initialisation stay linearly mode-connected, so the
element-wise weighted mean of their weights, ``theta = sum_i lambda_i * theta_i`` with
``sum_i lambda_i = 1`` (§3, eq. 1), is itself a reward model - one model's inference cost, with the
robustness of an ensemble. The models must agree on architecture, parameter names, shapes and base;
anything else is refused with the first mismatch named.

Weights are read and written as safetensors, shard by shard (the first model's layout), and the
mean is computed in float64 then cast back to each tensor's dtype.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.train.reward_model import PROVENANCE_FILE

# config keys that do not change what the weights mean
_CONFIG_IGNORED = {
    "_name_or_path",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "id2label",
    "label2id",
    "use_cache",
}
WARM_FILE = "warm.json"
_NOT_COPIED = {PROVENANCE_FILE, WARM_FILE, "train_log.jsonl", "train_summary.json"}  # about one model only


def _weight_files(path: Path) -> list[Path]:
    if not (path / "config.json").is_file():
        raise UserError(f"--reward-models {path}: not a model checkpoint directory (no config.json)")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        if any(path.glob("*.bin")):
            raise UserError(
                f"--reward-models {path}: weights in .bin files; save with safetensors "
                "(save_pretrained(..., safe_serialization=True))"
            )
        raise UserError(f"--reward-models {path}: no *.safetensors weights")
    return files


def _shapes(files: Sequence[Path]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Tensor name -> (dtype, shape), from the safetensors headers (no tensor is loaded)."""
    from safetensors import safe_open

    found: dict[str, tuple[str, tuple[int, ...]]] = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            for name in handle.keys():
                piece = handle.get_slice(name)
                found[name] = (str(piece.get_dtype()), tuple(piece.get_shape()))
    return found


def _config(path: Path) -> dict[str, Any]:
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return {key: value for key, value in config.items() if key not in _CONFIG_IGNORED}


def check_compatible(paths: Sequence[Path]) -> None:
    """Refuse models WARM cannot average; the ``UserError`` names the first mismatch.

    Checked against the first model: the parameter names and each tensor's shape and dtype (in
    name order, so the error names the first mismatching tensor), the config (architecture), and -
    when both carry ``alphaflow_reward_model.json`` from ``train-rm`` - the digest of the shared
    initialisation (the "same base" condition of §3).
    """
    reference, others = paths[0], paths[1:]
    ref_config, ref_shapes = _config(reference), _shapes(_weight_files(reference))
    ref_base = _base_digest(reference)
    for path in others:
        shapes = _shapes(_weight_files(path))
        for name in sorted(set(ref_shapes) | set(shapes)):
            if name not in shapes:
                raise UserError(
                    f"--reward-models {path}: tensor {name!r} is missing (present in {reference})"
                )
            if name not in ref_shapes:
                raise UserError(f"--reward-models {path}: tensor {name!r} is not in {reference}")
            if shapes[name] != ref_shapes[name]:
                (dtype, shape), (ref_dtype, ref_shape) = shapes[name], ref_shapes[name]
                raise UserError(
                    f"--reward-models {path}: tensor {name!r} is {dtype}{list(shape)}, "
                    f"but {ref_dtype}{list(ref_shape)} in {reference}"
                )
        config = _config(path)
        for key in sorted(set(ref_config) | set(config)):
            if ref_config.get(key) != config.get(key):
                raise UserError(
                    f"--reward-models {path}: config {key!r} is {config.get(key)!r}, "
                    f"but {ref_config.get(key)!r} in {reference}: not the same architecture"
                )
        base = _base_digest(path)
        if ref_base and base and base != ref_base:
            raise UserError(
                f"--reward-models {path}: fine-tuned from another initialisation than {reference} "
                f"({PROVENANCE_FILE} init_sha256 differs); WARM needs one shared base"
            )


def _base_digest(path: Path) -> str | None:
    file = path / PROVENANCE_FILE
    if not file.is_file():
        return None
    return json.loads(file.read_text(encoding="utf-8")).get("init_sha256")


def normalised(weights: Sequence[float] | None, count: int) -> list[float]:
    """``lambda_i``: uniform by default; given weights (>= 0, one per model) are scaled to sum 1."""
    if not weights:
        return [1.0 / count] * count
    if len(weights) != count:
        raise UserError(f"--weights: {len(weights)} weight(s) for {count} reward models; give one per model")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise UserError("--weights: every weight must be >= 0 and at least one > 0")
    total = float(sum(weights))
    return [w / total for w in weights]


def warm_average(
    models: Sequence[str | Path], out: str | Path, weights: Sequence[float] | None = None
) -> dict[str, Any]:
    """Write the weighted mean of ``models``' weights to ``out`` (a checkpoint ``rm:OUT`` loads).

    Non-weight files (config, tokenizer, chat template) are copied from the first model; ``warm.json``
    records the models and weights. Integer tensors (e.g. buffers) must be equal across models and
    are copied. Raises ``UserError`` for fewer than two models, incompatible models (naming the first
    mismatching config key or tensor), bad weights, or ``out`` being one of the inputs.
    """
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    paths = [Path(m) for m in models]
    if len(paths) < 2:
        raise UserError("--reward-models: give at least two reward models to average")
    lambdas = normalised(weights, len(paths))
    out = Path(out)
    if any(out.resolve() == p.resolve() for p in paths):
        raise UserError(f"--out {out}: is one of the --reward-models; write the merge elsewhere")
    check_compatible(paths)
    out.mkdir(parents=True, exist_ok=True)
    for item in paths[0].iterdir():  # config, tokenizer, index of shards, ...
        if item.is_file() and item.suffix != ".safetensors" and item.name not in _NOT_COPIED:
            shutil.copy2(item, out / item.name)
    for file in _weight_files(paths[0]):
        merged: dict[str, torch.Tensor] = {}
        with safe_open(str(file), framework="pt") as first:
            names = list(first.keys())
            metadata = first.metadata()
        handles = [safe_open(str(_shard_of(path, file.name)), framework="pt") for path in paths]
        for name in names:
            tensors = [_tensor(handle, path, name) for handle, path in zip(handles, paths, strict=True)]
            if tensors[0].is_floating_point():
                total = sum(lam * t.to(torch.float64) for lam, t in zip(lambdas, tensors, strict=True))
                merged[name] = total.to(tensors[0].dtype).contiguous()
            else:
                for path, tensor in zip(paths[1:], tensors[1:], strict=True):
                    if not torch.equal(tensor, tensors[0]):
                        raise UserError(
                            f"--reward-models {path}: integer tensor {name!r} differs from "
                            f"{paths[0]}; it cannot be averaged"
                        )
                merged[name] = tensors[0].contiguous()
        save_file(merged, str(out / file.name), metadata=metadata or {"format": "pt"})
    record = {
        "method": "WARM",
        "source": "Ramé et al. 2024, arXiv 2401.12187, §3",
        "reward_models": [str(p) for p in paths],
        "weights": lambdas,
        "out": str(out),
        "init_sha256": _base_digest(paths[0]),
    }
    (out / WARM_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def _shard_of(path: Path, name: str) -> Path:
    """The file holding shard ``name`` in ``path``; the same layout was checked by tensor names."""
    candidate = path / name
    if candidate.is_file():
        return candidate
    raise UserError(
        f"--reward-models {path}: no {name} (its weights are sharded differently from the first "
        "model's; re-save both with the same max_shard_size)"
    )


def _tensor(handle: Any, path: Path, name: str) -> Any:
    try:
        return handle.get_tensor(name)
    except Exception:  # safetensors raises its own error types for a missing key
        raise UserError(
            f"--reward-models {path}: tensor {name!r} is not in the same shard as in the "
            "first model; re-save both with the same max_shard_size"
        ) from None
