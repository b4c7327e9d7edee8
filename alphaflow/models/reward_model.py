"""Reward models as judges: ``rm:PATH`` and ``rm-ensemble:A,B,C`` model strings.

A reward model gives a (prompt, response) pair one number; it does not write text. It plugs into
every judge flow as a model backend whose "completion" of a judge prompt is a judgement in the
format the flow already reads:

- the backend finds the request and the response in the judge prompt's tagged blocks, which the
  built-in judge prompts use: ``<request>``/``<question>``/``<problem>`` for the prompt and
  ``<answer>``/``<program ...>`` for the response (a custom judge prompt follows the same tags);
- a scoring prompt gets ``Reward: r`` and ``Score: s`` with ``s = 1 + 4 * sigmoid(r)`` - inside the
  additive 0-5 scale of the self-rewarding judge and the 1-5 rubric scale, and monotone in ``r``,
  so the best and worst candidates of a prompt are those with the highest and lowest reward;
- a pairwise prompt (``<answer_A>``, ``<answer_B>``) gets both rewards and ``Winner: A|B|tie``;
- a reference (correct/incorrect) prompt is refused: a reward is no verdict on correctness.

The scores are deterministic: the ``n`` samples of one call are the same text. ``rm-ensemble:``
scores with each model and averages the rewards (prediction ensembling); ``rm:DIR`` on a WARM
merge (``alphaflow judge warm``) is one model. Torch and transformers are imported on first use.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.models.types import BackendResult, CompletionRequest, Target

PREFIXES = ("rm:", "rm-ensemble:")
BACKEND = "reward_model"
EXTRA_HINT = "pip install 'alphaflow[local]'"

_PROMPT_TAGS = ("request", "question", "problem")
_RESPONSE_TAGS = ("answer", "program")


def is_reward_model(model: str) -> bool:
    return model.startswith(PREFIXES)


def paths_of(model: str) -> list[Path]:
    """The checkpoint directories a ``rm:`` / ``rm-ensemble:`` string names (``UserError`` if none exist)."""
    prefix = next(p for p in PREFIXES if model.startswith(p))
    raw = model[len(prefix) :]
    parts = [part.strip() for part in (raw.split(",") if prefix == "rm-ensemble:" else [raw])]
    if not all(parts):
        raise UserError(f"model {model!r}: give checkpoint directories, e.g. rm:PATH or rm-ensemble:A,B,C")
    paths = [Path(part).expanduser() for part in parts]
    for path in paths:
        if not (path / "config.json").is_file():
            raise UserError(f"model {model!r}: {path} is not a model checkpoint directory (no config.json)")
    return paths


def target(model: str) -> Target:
    """The router's target for a reward-model string; the cache identity changes with the weights."""
    paths = paths_of(model)
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(path.glob("*.safetensors")) + [path / "config.json"]:
            stat = file.stat()
            digest.update(f"{file.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return Target(
        name=model,
        backend_model=",".join(str(p) for p in paths),
        cache_identity=f"{model}|{digest.hexdigest()[:16]}",
        free=True,
        backend=BACKEND,
    )


def sigmoid_score(reward: float) -> float:
    """A reward on the judges' 1-5 scale: ``1 + 4 * sigmoid(reward)`` (monotone, never outside 1-5)."""
    return 1.0 + 4.0 / (1.0 + math.exp(-max(-60.0, min(60.0, reward))))


# -- scoring ---------------------------------------------------------------------------------------
class RewardModel:
    """One loaded reward model (sequence classification, one output) and its tokenizer."""

    def __init__(self, path: Path, device: str | None = None) -> None:
        import importlib.util

        for name in ("torch", "transformers"):
            if importlib.util.find_spec(name) is None:
                raise UserError(f"rm: judges need {name!r}, which is not installed: {EXTRA_HINT}")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils.logging import disable_progress_bar

        disable_progress_bar()  # a judge's load needs no progress bar in the middle of a run's output

        self.path = path
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path).to(self.device).eval()
        if self.model.config.num_labels != 1:
            raise UserError(
                f"rm:{path}: a reward model has one output (num_labels=1), "
                f"this one has {self.model.config.num_labels}"
            )
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lock = threading.Lock()  # one forward pass at a time per model

    def token_ids(self, prompt: str, response: str) -> list[int]:
        """The tokens TRL's RewardTrainer trained on: the chat template over a user/assistant
        exchange when the tokenizer has one, else ``prompt + response + eos``."""
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
            encoded = self.tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)
            return list(encoded["input_ids"])
        return list(self.tokenizer(text=prompt + response + (self.tokenizer.eos_token or ""))["input_ids"])

    def score(self, pairs: Sequence[tuple[str, str]], batch_size: int = 16) -> list[float]:
        """Rewards for ``(prompt, response)`` pairs, in order (floats, unbounded)."""
        import torch

        rewards: list[float] = []
        pad = self.tokenizer.pad_token_id
        with self.lock, torch.inference_mode():
            for start in range(0, len(pairs), batch_size):
                batch = [self.token_ids(p, r) for p, r in pairs[start : start + batch_size]]
                width = max(len(ids) for ids in batch)
                ids = torch.tensor([x + [pad] * (width - len(x)) for x in batch], device=self.device)
                mask = torch.tensor(
                    [[1] * len(x) + [0] * (width - len(x)) for x in batch], device=self.device
                )
                logits = self.model(input_ids=ids, attention_mask=mask).logits
                rewards.extend(float(v) for v in logits[:, 0].float().cpu())
        return rewards


_LOADED: dict[Path, RewardModel] = {}
_LOADING = threading.Lock()


def load(path: Path) -> RewardModel:
    """The process-wide instance for ``path`` (loaded once, shared by every judge call)."""
    key = path.resolve()
    with _LOADING:
        if key not in _LOADED:
            _LOADED[key] = RewardModel(key)
        return _LOADED[key]


def ensemble_scores(paths: Sequence[Path], pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Prediction ensembling: the mean over models of each pair's reward (one model: its rewards)."""
    per_model = [load(path).score(pairs) for path in paths]
    return [sum(values) / len(values) for values in zip(*per_model, strict=True)]


# -- the judge-prompt protocol ---------------------------------------------------------------------
def _block(text: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}(?:\s[^>]*)?>\n?(.*?)\n?</{tag}>", text, re.DOTALL)
    return match[1] if match else None


def judgement(paths: Sequence[Path], messages: Sequence[dict[str, Any]], model: str) -> str:
    """The judgement text for one judge prompt (see the module docstring); ``UserError`` when the
    prompt has no tagged request/response or asks for a correctness verdict."""
    text = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") != "assistant")
    prompt = next((b for t in _PROMPT_TAGS if (b := _block(text, t)) is not None), None)
    if _block(text, "reference") is not None:
        raise UserError(
            f"{model}: a reward model gives scores, not correct/incorrect verdicts against a "
            "reference; use a generative judge for the reference flow"
        )
    first, second = _block(text, "answer_A"), _block(text, "answer_B")
    if prompt is not None and first is not None and second is not None:
        reward_a, reward_b = ensemble_scores(paths, [(prompt, first), (prompt, second)])
        winner = "tie" if abs(reward_a - reward_b) < 1e-6 else ("A" if reward_a > reward_b else "B")
        return f"Reward A: {reward_a:.6f}\nReward B: {reward_b:.6f}\nWinner: {winner}"
    response = next((b for t in _RESPONSE_TAGS if (b := _block(text, t)) is not None), None)
    if prompt is None or response is None:
        raise UserError(
            f"{model}: the judge prompt has no <request>...</request> and <answer>...</answer> "
            "blocks to score (a reward model scores a request and a response)"
        )
    (reward,) = ensemble_scores(paths, [(prompt, response)])
    return f"Reward: {reward:.6f}\nScore: {sigmoid_score(reward):.6f}"


class RewardModelBackend:
    """The router backend for ``rm:`` and ``rm-ensemble:`` targets (see the module docstring)."""

    async def generate(
        self, request: CompletionRequest, target: Target, *, n: int, timeout_s: float
    ) -> BackendResult:
        paths = [Path(p) for p in target.backend_model.split(",")]
        text = await asyncio.to_thread(judgement, paths, request.messages, target.name)
        return BackendResult(texts=[text] * n, prompt_tokens=0, completion_tokens=0)
