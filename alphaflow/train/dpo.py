"""DPO training of the next model on the self-rewarding preference pairs (TRL's ``DPOTrainer``).

Direct Preference Optimization (Rafailov et al. 2023, arXiv 2305.18290, eq. 7); in the
self-rewarding loop (Yuan et al. 2024, arXiv 2401.10020, §2.3) M_{t+1} is M_t trained with DPO on
the pairs M_t generated and judged. The output directory is a complete Hugging Face checkpoint
(weights merged when LoRA is used, tokenizer, generation config), so ``hf:DIR`` loads it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.train.data import as_records, has_chat_template, load_pairs, require_local
from alphaflow.train.options import TrainOptions
from alphaflow.train.progress import (
    LOG_FILE,
    last_metric,
    progress_callback,
    quiet_libraries,
    train_checked,
    write_summary,
)


def check_checkpoint(path: str | Path, flag: str) -> Path:
    """A local Hugging Face checkpoint directory (with ``config.json``), else ``UserError``."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise UserError(f"{flag} {path}: not a model checkpoint directory (no config.json)")
    return path


def prepare_training(
    pairs_path: str | Path, checkpoint: str | Path, flag: str, out: str | Path
) -> tuple[list[Any], Path, Path]:
    """What every training command checks and sets up first: the pairs (``file:line`` errors), the
    checkpoint named by ``flag``, the ``local`` extra, the output folder; returns (pairs, checkpoint,
    out). Raises ``UserError`` for any of them."""
    pairs = load_pairs(pairs_path)
    checkpoint = check_checkpoint(checkpoint, flag)
    require_local("torch", "transformers", "trl", "datasets")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    quiet_libraries()
    return pairs, checkpoint, out


def load_tokenizer(path: str | Path, **kwargs: Any) -> Any:
    """The checkpoint's tokenizer, with the end-of-sequence token as padding when it has none
    (the small causal LMs trained here often ship without a pad token)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def train_dpo(
    pairs_path: str | Path,
    model_path: str | Path,
    out: str | Path,
    options: TrainOptions | None = None,
    *,
    echo: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Train ``model_path`` with DPO on the pairs file; write the checkpoint and logs to ``out``.

    Returns the summary (also ``out/train_summary.json``): pairs, steps, final loss, reward margin
    and accuracy (TRL's ``rewards/margins``, ``rewards/accuracies``: the implicit DPO reward
    beta * log(pi/pi_ref) of chosen minus rejected), runtime. Every logged step is in
    ``out/train_log.jsonl``. Raises ``UserError`` for a bad pairs file (``file:line``), a missing
    checkpoint, a missing ``local`` extra, and a loss that became NaN or infinite.
    """
    options = options or TrainOptions()
    options.check()
    pairs, model_path, out = prepare_training(pairs_path, model_path, "--model", out)

    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    tokenizer = load_tokenizer(model_path)
    conversational = has_chat_template(tokenizer)
    dataset = Dataset.from_list(as_records(pairs, conversational=conversational))
    model = AutoModelForCausalLM.from_pretrained(model_path)
    config = DPOConfig(beta=options.beta, **options.trainer_kwargs(str(out)))
    started = time.monotonic()
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=options.lora_config("CAUSAL_LM"),
        callbacks=[progress_callback(out / LOG_FILE, "dpo", echo)],
    )
    result, records, used = train_checked(
        trainer,
        out / LOG_FILE,
        nothing_fits=f"{pairs_path}: every prompt is longer than max_length={options.max_length} tokens",
        diverged=lambda step, name: (
            f"DPO diverged: {name} is not finite at step {step} (see {out / LOG_FILE}); "
            "lower learning_rate or raise beta"
        ),
    )
    trained = trainer.model
    if options.lora:
        trained = trained.merge_and_unload()  # a plain checkpoint: hf:DIR needs no peft
    trained.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary = {
        "method": "dpo",
        "source": "Rafailov et al. 2023, arXiv 2305.18290 (TRL DPOTrainer)",
        "pairs_file": str(pairs_path),
        "pairs": len(pairs),
        "pairs_used": used,
        "base_model": str(model_path),
        "conversational": conversational,
        "options": options.to_dict(),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "final_loss": last_metric(records, "loss"),
        "final_reward_margin": last_metric(records, "rewards/margins"),
        "final_reward_accuracy": last_metric(records, "rewards/accuracies"),
        "runtime_s": round(time.monotonic() - started, 2),
        "checkpoint": str(out),
    }
    write_summary(out, summary)
    return summary
