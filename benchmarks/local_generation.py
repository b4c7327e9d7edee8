"""Local generation throughput: a naive loop of ``model.generate`` vs the batched ``hf:`` backend.

The same prompts (default 64 prompts of 512 random token ids, 256 new tokens each, sampling at
temperature 1) go (a) one at a time through ``model.generate`` and (b) as 64 concurrent requests
into the ``hf:`` backend's batch queue (batching, left padding, KV cache, per-row sampling), in one
run. Both generate exactly
``--new-tokens`` tokens per prompt (EOS ignored). Prints tokens/s of each and the ratio; ``--json``
prints one JSON line. Target on an H100/H200 with ``--config qwen2-0.5b``: >= 50x.

No weights are downloaded: the model has random weights of the chosen shape. Prompts are token ids,
so both sides see exactly the same tokens (the router and chat templating, skipped here, cost
well under a millisecond a request).

    python benchmarks/local_generation.py --config qwen2-0.5b --device cuda --json          # GPU
    python benchmarks/local_generation.py --tiny --prompt-tokens 64 --new-tokens 32 --json  # CPU
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PAD = 2
# Qwen2-0.5B's shape (its published config.json): random weights of this shape stand in for it.
CONFIGS: dict[str, dict[str, Any]] = {
    "qwen2-0.5b": dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        max_position_embeddings=32768,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=2000,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
    ),
}


def build(directory: Path, shape: str, dtype: str) -> None:
    """Save a random Qwen2-architecture model of ``shape`` and a word-level tokenizer (the backend
    decodes its outputs with it) to ``directory``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    config = Qwen2Config(**CONFIGS[shape], bos_token_id=0, eos_token_id=1, pad_token_id=PAD)
    vocab = {"<s>": 0, "</s>": 1, "<pad>": 2, **{f"w{i}": i for i in range(3, config.vocab_size)}}
    words = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(getattr(torch, dtype))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def prompts(count: int, length: int, vocab_size: int) -> list[list[int]]:
    """Random token ids (no special tokens): every prompt is exactly ``length`` tokens."""
    rng = random.Random(0)
    return [[rng.randrange(3, vocab_size) for _ in range(length)] for _ in range(count)]


def naive(
    directory: Path, prompts: list[list[int]], new_tokens: int, device: str, dtype: str
) -> tuple[float, int]:
    """(seconds, tokens) for ``model.generate`` one prompt at a time."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(directory, dtype=getattr(torch, dtype)).to(device).eval()
    settings = dict(
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        pad_token_id=PAD,
    )
    with torch.inference_mode():
        model.generate(
            torch.tensor([prompts[0]], device=device), max_new_tokens=2, do_sample=True, pad_token_id=PAD
        )  # warm up
    _sync(torch, device)
    tokens, started = 0, time.perf_counter()
    for ids in prompts:
        inputs = torch.tensor([ids], device=device)
        with torch.inference_mode():
            output = model.generate(inputs, attention_mask=torch.ones_like(inputs), **settings)
        tokens += output.shape[1] - inputs.shape[1]
    _sync(torch, device)
    return time.perf_counter() - started, tokens


async def batched(model: str, prompts: list[list[int]], new_tokens: int) -> tuple[float, int, list[int]]:
    """(seconds, tokens, batch sizes) for every prompt at once through the backend's batch queue,
    each prompt submitted as its own request (as concurrent flow steps do)."""
    from alphaflow.models.hf.backend import LocalBackend
    from alphaflow.models.hf.decode import Row

    backend = LocalBackend()
    engine = await backend.engine(model)
    queue = backend.queue(engine)

    def row(ids: list[int], tokens: int) -> Row:
        return Row((ids,), max_new_tokens=tokens, temperature=1.0, seed=len(ids), ignore_eos=True)

    await queue.submit([row(prompts[0], 2)])  # warm up
    started = time.perf_counter()
    done = await asyncio.gather(*[queue.submit([row(ids, new_tokens)]) for ids in prompts])
    seconds = time.perf_counter() - started
    return seconds, sum(len(r.token_ids) for [r] in done), queue.batches[1:]


def _sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--config", choices=sorted(CONFIGS), default="qwen2-0.5b", help="model shape")
    shape.add_argument(
        "--tiny", action="store_const", const="tiny", dest="config", help="a tiny model, for CPU"
    )
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument(
        "--naive-prompts",
        type=int,
        default=None,
        help="time the naive loop on the first K prompts only (its tokens/s is a rate)",
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16 (default: bf16 on GPU)")
    parser.add_argument(
        "--max-batch", type=int, default=None, help="the backend's max_batch (default --prompts)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    texts = prompts(args.prompts, args.prompt_tokens, CONFIGS[args.config]["vocab_size"])
    with tempfile.TemporaryDirectory(prefix="alphaflow-bench-") as tmp:
        directory = Path(tmp)
        build(directory, args.config, dtype)
        naive_s, naive_tokens = naive(
            directory, texts[: args.naive_prompts or len(texts)], args.new_tokens, device, dtype
        )
        model = (
            f"hf:{directory}?device={device}&dtype={dtype}&max_batch={args.max_batch or len(texts)}"
            f"&max_new_tokens={args.new_tokens}&wait_ms=20"
        )
        batched_s, batched_tokens, batches = asyncio.run(batched(model, texts, args.new_tokens))
    naive_rate, batched_rate = naive_tokens / naive_s, batched_tokens / batched_s
    figures = {
        "benchmark": "local_generation",
        "config": args.config,
        "device": device,
        "dtype": dtype,
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "threads": torch.get_num_threads(),
        "prompts": args.prompts,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "naive_prompts": args.naive_prompts or args.prompts,
        "naive_s": round(naive_s, 3),
        "naive_tokens": naive_tokens,
        "naive_tok_s": round(naive_rate, 1),
        "batched_s": round(batched_s, 3),
        "batched_tokens": batched_tokens,
        "batched_tok_s": round(batched_rate, 1),
        "batches": batches,
        "ratio": round(batched_rate / naive_rate, 2),
    }
    out = sys.stderr if args.json else sys.stdout
    sizes = ", ".join(map(str, batches))
    print(
        f"naive model.generate, one prompt at a time: {naive_tokens} tokens in {naive_s:.2f} s = "
        f"{naive_rate:.1f} tok/s",
        file=out,
    )
    print(
        f"hf: backend, batched ({sizes}): {batched_tokens} tokens in {batched_s:.2f} s = "
        f"{batched_rate:.1f} tok/s",
        file=out,
    )
    print(f"ratio: {figures['ratio']}x", file=out)
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
