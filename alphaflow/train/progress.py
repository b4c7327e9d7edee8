"""Training progress: each logged step printed on one line and appended to ``DIR/train_log.jsonl``,
and the run's summary in ``DIR/train_summary.json``. Both files are written as training goes, so a
killed run leaves its log readable."""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOG_FILE = "train_log.jsonl"
SUMMARY_FILE = "train_summary.json"

# the metrics worth a column on the terminal, TRL's names -> short labels
SHOWN = {
    "loss": "loss",
    "rewards/margins": "margin",
    "rewards/accuracies": "acc",
    "margin": "margin",
    "accuracy": "acc",
}


def progress_callback(log_path: Path, label: str, echo: Callable[[str], None] | None = print) -> Any:
    """A ``transformers.TrainerCallback`` writing each ``on_log`` record (step, epoch, metrics)."""
    from transformers import TrainerCallback

    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("", encoding="utf-8")
    started = time.monotonic()

    class _Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - HF signature
            if not logs:
                return
            record = {
                "step": state.global_step,
                "max_steps": state.max_steps,
                "epoch": state.epoch,
                "elapsed_s": round(time.monotonic() - started, 2),
                **logs,
            }
            with log_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, default=float) + "\n")
            if echo is not None:
                shown = "  ".join(
                    f"{short} {logs[key]:.4f}"
                    for key, short in SHOWN.items()
                    if isinstance(logs.get(key), int | float)
                )
                if shown:  # the closing record (runtime, mean train_loss) goes to the log only
                    echo(f"{label} step {state.global_step}/{state.max_steps}  {shown}")

    return _Progress()


def quiet_libraries() -> None:
    """Silence the libraries' own progress bars and per-step dict prints: ours replace them."""
    from datasets.utils.logging import disable_progress_bar as datasets_quiet
    from transformers.utils.logging import disable_progress_bar as transformers_quiet
    from transformers.utils.logging import set_verbosity_error

    # transformers 5 renamed gradient_checkpointing, which TRL's configs still set: not the user's concern
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
    datasets_quiet()
    transformers_quiet()
    set_verbosity_error()  # e.g. the load report listing the new, randomly initialised reward head


def drop_printer(trainer: Any) -> None:
    """Remove the Trainer's ``PrinterCallback`` (it prints every log dict a second time)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def read_log(log_path: Path) -> list[dict[str, Any]]:
    if not log_path.is_file():
        return []
    return [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]


def last_metric(records: list[dict[str, Any]], *names: str) -> float | None:
    """The last logged value of the first of ``names`` found (training steps, not the final summary)."""
    for record in reversed(records):
        for name in names:
            value = record.get(name)
            if isinstance(value, int | float):
                return float(value)
    return None


def first_nonfinite(records: list[dict[str, Any]]) -> tuple[int, str] | None:
    """``(step, metric)`` of the first logged loss that is NaN or infinite, else ``None``."""
    for record in records:
        for name in ("loss", "train_loss"):
            value = record.get(name)
            if isinstance(value, int | float) and not math.isfinite(value):
                return record.get("step", 0), name
    return None


def write_summary(directory: Path, summary: dict[str, Any]) -> Path:
    path = directory / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def train_checked(
    trainer: Any, log_path: Path, *, nothing_fits: str, diverged: Callable[[int, str], str]
) -> tuple[Any, list, int]:
    """Train with the Trainer's printer off: ``(train output, log records, examples used)``.

    Raises ``UserError(nothing_fits)`` when no example is left to train on, and
    ``UserError(diverged(step, name))`` when a logged value is not finite."""
    from alphaflow.errors import UserError

    drop_printer(trainer)
    used = len(trainer.train_dataset)
    if used == 0:
        raise UserError(nothing_fits)
    result = trainer.train()
    records = read_log(log_path)
    bad = first_nonfinite(records)
    if bad is not None:
        raise UserError(diverged(*bad))
    return result, records, used
