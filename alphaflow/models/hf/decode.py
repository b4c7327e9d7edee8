"""Batched decoding and scoring over one or several causal LMs, each with its own left-padded KV cache.

One decoding step: every model takes the last token of each row, the logits are combined (one model:
as they are; proxy tuning: base + alpha * (expert - anti)), and each row picks its next token with its
own sampling settings. Rows of a batch are independent: left padding with explicit position ids and
an attention mask, so a row decodes (up to float rounding) as it would alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alphaflow.models.hf.loading import LoadedModel

Combine = Callable[[list[Any]], Any]  # per-model logits [B, V_k] -> combined logits [B, V]


@dataclass(frozen=True)
class Row:
    """One sample to generate. ``prompts`` holds the prompt's token ids once per model."""

    prompts: tuple[list[int], ...]
    max_new_tokens: int
    temperature: float = 1.0  # <= 0: greedy
    top_p: float = 1.0
    seed: int = 0  # seeds this row's own random generator, so a row samples the same in any batch
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # None: none; 0: the chosen token's; k: also the k most likely tokens
    ignore_eos: bool = False


@dataclass
class RowResult:
    token_ids: list[int]
    text: str
    finish_reason: str  # "stop" (EOS or a stop string) or "length" (max_new_tokens reached)
    logprobs: list[dict[str, Any]] | None = None  # OpenAI shape: [{token, logprob, top_logprobs}]


@dataclass(frozen=True)
class ScoreRow:
    prompts: tuple[list[int], ...]
    response: list[int]


@dataclass
class ScoreResult:
    """The log-likelihood of a response given its prompt (natural log, summed over its tokens)."""

    logprob: float
    token_logprobs: list[float] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return len(self.token_logprobs)

    @property
    def mean_logprob(self) -> float:
        return self.logprob / self.tokens if self.tokens else 0.0


class _Stream:
    """One model's view of a batch: left-padded prompts, the attention mask, positions and KV cache."""

    def __init__(self, torch: Any, lm: LoadedModel, sequences: Sequence[list[int]]) -> None:
        self.torch, self.lm = torch, lm
        width = max(len(seq) for seq in sequences)
        ids = torch.full((len(sequences), width), lm.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, seq in enumerate(sequences):
            if seq:
                ids[i, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
                mask[i, width - len(seq) :] = 1
        self.ids, self.mask = ids.to(lm.device), mask.to(lm.device)
        self.positions = (self.mask.cumsum(-1) - 1).clamp(min=0)
        self.next_position = self.positions[:, -1:] + 1
        self.cache: Any = None

    def prefill(self, keep: int = 1) -> Any:
        """Logits of the last ``keep`` positions, float32: ``[B, keep, V]``."""
        return self._forward(self.ids, self.positions, keep)

    def step(self, tokens: Any) -> Any:
        """Feed one token per row; the next logits ``[B, V]``."""
        torch = self.torch
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        positions, self.next_position = self.next_position, self.next_position + 1
        return self._forward(tokens.to(self.lm.device)[:, None], positions, 1)[:, -1]

    def _forward(self, ids: Any, positions: Any, keep: int) -> Any:
        kwargs: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": self.mask,
            "use_cache": True,
            "logits_to_keep": keep,
        }
        if self.lm.takes_positions:
            kwargs["position_ids"] = positions
        if self.cache is not None:
            kwargs[self.lm.cache_arg] = self.cache
        out = self.lm.model(**kwargs)
        cache = out.get("cache")
        self.cache = cache if cache is not None else out.get("past_key_values")
        return out.logits.float()


class _Sampler:
    """Greedy rows take the argmax; sampled rows draw from temperature/top-p with their own generator."""

    def __init__(self, torch: Any, rows: Sequence[Row], device: Any) -> None:
        self.torch = torch
        self.sampled = [i for i, row in enumerate(rows) if row.temperature > 0]
        self.index = torch.tensor(self.sampled, dtype=torch.long, device=device)
        self.temperature = torch.tensor([rows[i].temperature for i in self.sampled], device=device)[:, None]
        self.top_p = torch.tensor([rows[i].top_p for i in self.sampled], device=device)[:, None]
        self.nucleus = any(rows[i].top_p < 1.0 for i in self.sampled)
        self.generators = []
        for i in self.sampled:
            generator = torch.Generator(device=device)
            generator.manual_seed(rows[i].seed)
            self.generators.append(generator)

    def pick(self, logits: Any) -> Any:
        torch = self.torch
        tokens = logits.argmax(dim=-1)
        if not self.sampled:
            return tokens
        probs = torch.softmax(logits[self.index] / self.temperature, dim=-1)
        if self.nucleus:  # keep the smallest set of most likely tokens whose mass reaches top_p
            ordered, order = probs.sort(dim=-1, descending=True)
            before = ordered.cumsum(dim=-1) - ordered
            ordered = ordered.masked_fill(before >= self.top_p, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, ordered)
        for j, generator in enumerate(self.generators):
            tokens[self.sampled[j]] = torch.multinomial(probs[j], 1, generator=generator)[0]
        return tokens


class _TokenText:
    """The text of single token ids (as an OpenAI server reports tokens in logprobs), memoised."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer, self.memo = tokenizer, {}

    def __call__(self, token_id: int) -> str:
        if token_id not in self.memo:
            self.memo[token_id] = self.tokenizer.decode([token_id])
        return self.memo[token_id]


def decode(
    models: Sequence[LoadedModel],
    combine: Combine,
    tokenizer: Any,
    rows: Sequence[Row],
    eos_ids: frozenset[int],
) -> list[RowResult]:
    """Generate every row of one batch. Shapes: each row's ``prompts[k]`` feeds ``models[k]``."""
    import torch

    with torch.inference_mode():
        streams = [_Stream(torch, lm, [row.prompts[k] for row in rows]) for k, lm in enumerate(models)]
        logits = combine([stream.prefill()[:, -1] for stream in streams])
        sampler = _Sampler(torch, rows, logits.device)
        want_top = max((row.logprobs for row in rows if row.logprobs is not None), default=None)
        token_text = _TokenText(tokenizer)
        generated: list[list[int]] = [[] for _ in rows]
        logprobs: list[list[dict[str, Any]]] = [[] for _ in rows]
        finish: list[str | None] = [None] * len(rows)
        texts: list[str | None] = [None] * len(rows)
        pad = models[0].pad_id
        for _ in range(max(row.max_new_tokens for row in rows)):
            tokens = sampler.pick(logits)
            chosen = tokens.tolist()
            if want_top is not None:
                log_probs = torch.log_softmax(logits, dim=-1)
                picked = log_probs.gather(-1, tokens[:, None])[:, 0].tolist()
                if want_top:
                    top_values, top_ids = (t.tolist() for t in log_probs.topk(want_top, dim=-1))
            for i, row in enumerate(rows):
                if finish[i] is not None:
                    continue
                token = chosen[i]
                if token in eos_ids and not row.ignore_eos:
                    finish[i] = "stop"  # EOS ends the text and is not part of it
                    continue
                generated[i].append(token)
                if row.logprobs is not None:
                    top = (
                        list(zip(top_ids[i], top_values[i], strict=True))[: row.logprobs]
                        if row.logprobs
                        else []
                    )
                    logprobs[i].append(
                        {
                            "token": token_text(token),
                            "logprob": picked[i],
                            "top_logprobs": [{"token": token_text(t), "logprob": v} for t, v in top],
                        }
                    )
                if row.stop:
                    text = tokenizer.decode(generated[i], skip_special_tokens=True)
                    cut = _first_stop(text, row.stop)
                    if cut is not None:
                        finish[i], texts[i] = "stop", text[:cut]
                        continue
                if len(generated[i]) >= row.max_new_tokens:
                    finish[i] = "length"
            if all(reason is not None for reason in finish):
                break
            # finished rows run along on padding (their outputs are dropped)
            finished = torch.tensor([reason is not None for reason in finish], device=tokens.device)
            tokens = tokens.masked_fill(finished, pad)
            logits = combine([stream.step(tokens) for stream in streams])
    results = []
    for i, row in enumerate(rows):
        text = texts[i] if texts[i] is not None else tokenizer.decode(generated[i], skip_special_tokens=True)
        results.append(
            RowResult(
                generated[i], text, finish[i] or "length", logprobs[i] if row.logprobs is not None else None
            )
        )
    return results


def score(models: Sequence[LoadedModel], combine: Combine, rows: Sequence[ScoreRow]) -> list[ScoreResult]:
    """Log-likelihood of each row's response after its prompt, in one forward pass per model.

    Left padding puts every response at the end, so the logits of the last ``R + 1`` positions
    (``R`` the longest response) predict every response token.
    """
    import torch

    longest = max(len(row.response) for row in rows)
    if longest == 0:
        return [ScoreResult(0.0, []) for _ in rows]
    with torch.inference_mode():
        per_model = []
        for k, lm in enumerate(models):
            stream = _Stream(torch, lm, [row.prompts[k] + row.response for row in rows])
            per_model.append(stream.prefill(keep=longest + 1)[:, :-1])  # [B, R, V_k]
        batch, length = per_model[0].shape[:2]
        logits = combine([m.reshape(batch * length, -1) for m in per_model]).reshape(batch, length, -1)
        log_probs = torch.log_softmax(logits, dim=-1)
        results = []
        for i, row in enumerate(rows):
            if not row.response:
                results.append(ScoreResult(0.0, []))
                continue
            ids = torch.tensor(row.response, device=log_probs.device)
            values = log_probs[i, length - len(row.response) :].gather(-1, ids[:, None])[:, 0].tolist()
            results.append(ScoreResult(float(sum(values)), values))
    return results


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [text.find(stop) for stop in stops if stop and stop in text]
    return min(found) if found else None
