"""Training settings shared by DPO and reward-model training, and their translation to TRL configs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from alphaflow.errors import UserError


@dataclass
class TrainOptions:
    """What a training run may change; defaults follow TRL (DPO: beta 0.1, learning rate 1e-6)."""

    learning_rate: float = 1e-6
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 4
    gradient_accumulation: int = 1
    max_length: int = 1024  # tokens of prompt + response
    beta: float = 0.1  # DPO only: how far the policy may move from the reference model
    lora: bool = False  # train a LoRA adapter (peft) and save merged weights
    lora_r: int = 16
    lora_alpha: int = 32
    seed: int = 0
    log_every: int = 1  # steps between logged records
    gradient_checkpointing: bool = False
    device: str = "auto"  # auto | cpu | cuda

    @classmethod
    def parse(cls, text: str, flag: str = "--train-options", **base: Any) -> TrainOptions:
        """``"beta=0.2,learning_rate=5e-6,lora=true"`` -> options; a bad key or value names ``flag``."""
        options = cls(**base)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, raw = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in fields:
                known = ", ".join(fields)
                raise UserError(f"{flag}: {part!r} is not KEY=VALUE with KEY one of {known}")
            setattr(options, key, _convert(raw.strip(), type(getattr(options, key)), f"{flag} {key}"))
        options.check(flag)
        return options

    def check(self, flag: str = "--train-options") -> None:
        if self.learning_rate <= 0:
            raise UserError(f"{flag}: learning_rate must be positive, not {self.learning_rate}")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise UserError(f"{flag}: epochs must be positive (or set max_steps), not {self.epochs}")
        for name in ("batch_size", "gradient_accumulation", "max_length", "log_every", "lora_r"):
            if getattr(self, name) < 1:
                raise UserError(f"{flag}: {name} must be at least 1, not {getattr(self, name)}")
        if self.beta <= 0:
            raise UserError(f"{flag}: beta must be positive, not {self.beta}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UserError(f"{flag}: device must be auto, cpu or cuda, not {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def trainer_kwargs(self, output_dir: str) -> dict[str, Any]:
        """Keyword arguments common to ``DPOConfig`` and ``RewardConfig`` (TrainingArguments)."""
        import torch

        cuda = self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available())
        if self.device == "cuda" and not torch.cuda.is_available():
            raise UserError("device=cuda, but torch sees no CUDA device (a CPU-only torch?)")
        return {
            "output_dir": output_dir,
            "learning_rate": self.learning_rate,
            "num_train_epochs": self.epochs,
            "max_steps": self.max_steps,
            "per_device_train_batch_size": self.batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation,
            "max_length": self.max_length,
            "seed": self.seed,
            "logging_steps": self.log_every,
            "gradient_checkpointing": self.gradient_checkpointing,
            "use_cpu": not cuda,
            "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
            "fp16": False,
            "save_strategy": "no",  # the checkpoint is written once, at the end (merged when LoRA)
            "report_to": "none",
            "disable_tqdm": True,  # progress goes through our callback, one line per logged step
            "dataloader_num_workers": 0,
        }

    def lora_config(self, task_type: str) -> Any:
        """A ``peft.LoraConfig`` on every linear layer, or ``None`` without ``lora``."""
        if not self.lora:
            return None
        from alphaflow.train.data import require_local

        require_local("peft")
        from peft import LoraConfig

        return LoraConfig(
            r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=0.0,
            target_modules="all-linear",
            task_type=task_type,
        )


def _convert(raw: str, kind: type, where: str) -> Any:
    try:
        if kind is bool:
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return lowered in ("true", "1", "yes")
        return kind(raw)
    except ValueError:
        raise UserError(f"{where}: {raw!r} is not a valid {kind.__name__}") from None
