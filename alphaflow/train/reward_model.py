"""Training M reward models from one base (TRL's ``RewardTrainer``, a sequence-classification head).

A reward model maps (prompt, response) to one number, trained on preference pairs with the
Bradley-Terry loss ``-log sigmoid(r(chosen) - r(rejected))`` (Ouyang et al. 2022, arXiv 2203.02155,
§3.5). For WARM (Ramé et al. 2024, arXiv 2401.12187, §3) the M models must share their
initialisation: the classification head is created once (``DIR/init``), then every model is
fine-tuned from that same ``init`` with its own seed (data order) and learning rate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.train.data import as_records, has_chat_template
from alphaflow.train.dpo import load_tokenizer, prepare_training
from alphaflow.train.options import TrainOptions
from alphaflow.train.progress import (
    LOG_FILE,
    last_metric,
    progress_callback,
    train_checked,
    write_summary,
)

PROVENANCE_FILE = "alphaflow_reward_model.json"  # base, shared init and its digest, seed, learning rate


def weights_digest(directory: Path) -> str:
    """SHA-256 over the checkpoint's ``*.safetensors`` files (in name order): identifies an init."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.safetensors")):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def build_init(base: Path, out: Path, *, seed: int) -> Path:
    """``base`` (a causal LM or a classifier) with a one-output classification head, saved to ``out``."""
    import torch
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(seed)  # the new head's random init
    tokenizer = load_tokenizer(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-pad token
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def train_reward_models(
    pairs_path: str | Path,
    base: str | Path,
    out: str | Path,
    *,
    count: int = 3,
    learning_rates: Sequence[float] = (),
    options: TrainOptions | None = None,
    echo: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Train ``count`` reward models into ``out/rm_0 .. rm_{count-1}``; return their summaries.

    Model ``i`` uses seed ``options.seed + i`` and learning rate ``learning_rates[i % len]`` (or
    ``options.learning_rate``). Each directory is a checkpoint ``rm:DIR`` loads, with its
    ``train_log.jsonl``, ``train_summary.json`` (final accuracy and margin on the training batches)
    and ``alphaflow_reward_model.json`` (the shared init's digest, which ``warm`` checks).
    Raises ``UserError`` for a bad pairs file, a missing base, ``count < 1`` or a diverged loss.
    """
    options = options or TrainOptions(learning_rate=1e-5)
    options.check()
    if count < 1:
        raise UserError(f"--seeds must be at least 1, not {count}")
    if any(rate <= 0 for rate in learning_rates):
        raise UserError("--learning-rates: every learning rate must be positive")
    pairs, base, out = prepare_training(pairs_path, base, "--base", out)
    init = build_init(base, out / "init", seed=options.seed)
    init_digest = weights_digest(init)
    summaries = []
    for index in range(count):
        rate = learning_rates[index % len(learning_rates)] if learning_rates else options.learning_rate
        seed = options.seed + index
        directory = out / f"rm_{index}"
        summary = _train_one(pairs, pairs_path, init, directory, options, rate, seed, f"rm_{index}", echo)
        provenance = {
            "base": str(base),
            "init": str(init),
            "init_sha256": init_digest,
            "seed": seed,
            "learning_rate": rate,
        }
        (directory / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        summaries.append(summary)
    return summaries


def _train_one(
    pairs: list,
    pairs_path: str | Path,
    init: Path,
    out: Path,
    options: TrainOptions,
    rate: float,
    seed: int,
    label: str,
    echo: Callable[[str], None] | None,
) -> dict[str, Any]:
    import dataclasses
    import time

    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    run = dataclasses.replace(options, learning_rate=rate, seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(init)
    dataset = Dataset.from_list(as_records(pairs, conversational=has_chat_template(tokenizer)))
    model = AutoModelForSequenceClassification.from_pretrained(init)
    config = RewardConfig(**run.trainer_kwargs(str(out)))
    started = time.monotonic()
    trainer = RewardTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=run.lora_config("SEQ_CLS"),
        callbacks=[progress_callback(out / LOG_FILE, label, echo)],
    )
    result, records, used = train_checked(
        trainer,
        out / LOG_FILE,
        nothing_fits=f"{pairs_path}: every pair is longer than max_length={run.max_length} tokens",
        diverged=lambda step, name: (
            f"{label} diverged: {name} is not finite at step {step}; lower the learning rate"
        ),
    )
    trained = trainer.model.merge_and_unload() if run.lora else trainer.model
    trained.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary = {
        "method": "reward_model",
        "source": "Bradley-Terry reward model (TRL RewardTrainer)",
        "pairs_file": str(pairs_path),
        "pairs": len(pairs),
        "pairs_used": used,
        "init": str(init),
        "options": run.to_dict(),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "final_accuracy": last_metric(records, "accuracy"),
        "final_margin": last_metric(records, "margin"),
        "runtime_s": round(time.monotonic() - started, 2),
        "checkpoint": str(out),
    }
    write_summary(out, summary)
    return summary
