"""An engine per local model string: its model(s), prompt encoding, batched generation and scoring.

``hf:`` strings get one model; ``proxy:`` strings get three (base, expert, anti-expert) whose logits
are combined at each step. Every engine runs its model work on one worker thread of its own, so the
event loop never blocks and two batches never share the device at once.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from alphaflow.errors import UserError
from alphaflow.models.errors import ModelCallError
from alphaflow.models.hf import decode as D
from alphaflow.models.hf.loading import LoadedModel, load, require_torch
from alphaflow.models.hf.spec import HFSpec, LoadOptions, ProxySpec, parse

Prompt = str | Sequence[dict[str, Any]]  # raw text, or chat messages [{role, content}]

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class Engine:
    """Loaded model(s) behind one model string.

    ``chat[k]`` says whether model ``k`` gets the chat template (when its tokenizer has one); the
    others get the messages' contents joined by blank lines. Output text is decoded with ``tokenizer``.
    """

    def __init__(
        self, name: str, models: list[LoadedModel], options: LoadOptions, chat: list[bool], combine: D.Combine
    ) -> None:
        self.name, self.models, self.options, self.chat = name, models, options, chat
        self.combine = combine
        self.max_batch = options.max_batch  # halved for good after an out-of-memory error
        self.tokenizer = models[0].tokenizer
        self.eos_ids = frozenset().union(*(lm.eos_ids for lm in models))
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alphaflow-local")
        self.out_of_memory_splits = 0

    # --- prompts ----------------------------------------------------------------------------------
    def encode(self, prompt: Prompt) -> tuple[list[int], ...]:
        """The prompt's token ids for each model (chat template where ``chat[k]``)."""
        return tuple(_encode(lm, prompt, chat) for lm, chat in zip(self.models, self.chat, strict=True))

    def encode_response(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # --- work (runs on the engine's thread) ---------------------------------------------------------
    def generate(self, rows: Sequence[D.Row]) -> list[D.RowResult | ModelCallError]:
        """Every row, longest prompts first, in batches of at most ``max_batch``. A row that runs out
        of memory on its own gets a ``ModelCallError`` in its place; the other rows still run."""
        return self._in_batches(
            rows,
            lambda row: len(row.prompts[0]),
            lambda batch: D.decode(self.models, self.combine, self.tokenizer, batch, self.eos_ids),
        )

    def score_rows(self, rows: Sequence[D.ScoreRow]) -> list[D.ScoreResult]:
        """Raises the first row's ``ModelCallError`` when a row does not fit in memory on its own."""
        results = self._in_batches(
            rows,
            lambda row: len(row.prompts[0]) + len(row.response),
            lambda batch: D.score(self.models, self.combine, batch),
        )
        for result in results:
            if isinstance(result, ModelCallError):
                raise result
        return results

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[D.ScoreResult]:
        """Log-likelihood of each response after its prompt (natural log, summed over the response's
        tokens), batched. A chat prompt gets the chat template with the assistant turn opened.

        Raises ``UserError`` when the two lists differ in length.
        """
        if len(prompts) != len(responses):
            raise UserError(f"score: {len(prompts)} prompts but {len(responses)} responses")
        rows = [
            D.ScoreRow(self.encode(p), self.encode_response(r))
            for p, r in zip(prompts, responses, strict=True)
        ]
        return self.executor.submit(self.score_rows, rows).result()

    def _in_batches(
        self, items: Sequence[Any], length: Callable[[Any], int], run: Callable[[list[Any]], list[Any]]
    ) -> list[Any]:
        """Run ``items`` sorted longest first (out-of-memory shows early); on out-of-memory halve the
        batch, for good, and retry (as lm-evaluation-harness does)."""
        torch, _ = require_torch(self.name)
        oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
        order = sorted(range(len(items)), key=lambda i: -length(items[i]))
        chunks = deque(order[i : i + self.max_batch] for i in range(0, len(order), self.max_batch))
        results: list[Any] = [None] * len(items)
        while chunks:
            chunk = chunks.popleft()
            try:
                out = run([items[i] for i in chunk])
            except oom:
                _release_memory(torch)
                if len(chunk) == 1:
                    tokens = length(items[chunk[0]])
                    results[chunk[0]] = ModelCallError(
                        f"{self.name}: out of memory on one row of {tokens} tokens"
                    )
                    continue
                self.max_batch = min(self.max_batch, (len(chunk) + 1) // 2)
                self.out_of_memory_splits += 1
                left = chunk + [i for rest in chunks for i in rest]
                chunks = deque(left[i : i + self.max_batch] for i in range(0, len(left), self.max_batch))
                continue
            for i, result in zip(chunk, out, strict=True):
                results[i] = result
        return results


def engine_for(model: str) -> Engine:
    """The process-wide engine of an ``hf:`` or ``proxy:`` model string (loaded on first use)."""
    with _engines_lock:
        if model not in _engines:
            spec = parse(model)
            if isinstance(spec, HFSpec):
                _engines[model] = _single(model, spec)
            elif isinstance(spec, ProxySpec):
                _engines[model] = _proxy(model, spec)
            else:
                raise UserError(f"model {model!r} is not an in-process model (hf: or proxy:)")
        return _engines[model]


def _single(model: str, spec: HFSpec) -> Engine:
    lm = load(spec.model, spec.options, model_string=model)
    return Engine(model, [lm], spec.options, [True], lambda logits: logits[0])


def _proxy(model: str, spec: ProxySpec) -> Engine:
    """Proxy tuning (Liu et al. 2024, arXiv 2401.08565, §2): at each step
    ``logits_base + alpha * (logits_expert - logits_anti)``. The vocabulary is the base's: the
    expert's and anti-expert's logits are cut to the base's width (their extra columns are padding),
    and their tokenizers must give every token the base's id. The expert gets the chat template."""
    base, expert, anti = (
        load(name, spec.options, model_string=model) for name in (spec.base, spec.expert, spec.anti)
    )
    _check_vocabularies(model, {"base": base, "expert": expert, "anti": anti})
    width, alpha, device = base.logit_width, spec.alpha, base.device

    def combine(logits: list[Any]) -> Any:
        b, e, a = logits
        return b[..., :width] + alpha * (e[..., :width].to(device) - a[..., :width].to(device))

    return Engine(model, [base, expert, anti], spec.options, [False, True, False], combine)


def _check_vocabularies(model: str, models: dict[str, LoadedModel]) -> None:
    base = models["base"]
    width = base.logit_width
    base_vocab = {token: i for token, i in base.tokenizer.get_vocab().items() if i < width}
    for role, lm in models.items():
        vocab = {token: i for token, i in lm.tokenizer.get_vocab().items() if i < width}
        if lm.logit_width < width or vocab != base_vocab:
            sizes = ", ".join(
                f"{r} {m.name} has {len(m.tokenizer)} tokens ({m.logit_width} logits)"
                for r, m in models.items()
            )
            raise UserError(
                f"model {model!r}: proxy tuning needs one shared vocabulary, but {role} "
                f"differs from base: {sizes}"
            )


def _encode(lm: LoadedModel, prompt: Prompt, chat: bool) -> list[int]:
    tokenizer = lm.tokenizer
    if isinstance(prompt, str):
        text, special = prompt, True
    elif chat and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(list(prompt), add_generation_prompt=True, tokenize=False)
        special = False  # the template writes its own special tokens
    else:
        text, special = "\n\n".join(_content(m) for m in prompt), True
    ids = list(tokenizer(text, add_special_tokens=special)["input_ids"])
    return ids or [lm.pad_id if tokenizer.bos_token_id is None else int(tokenizer.bos_token_id)]


def _content(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def _release_memory(torch: Any) -> None:
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
