"""Tiny randomly initialised checkpoints for the training tests (no download, no network).

``tiny_causal_lm(path)`` writes a 2-layer Llama-architecture causal LM with a byte-level BPE
tokenizer trained here on a few strings, a pad token and a chat template; ``tiny_reward_base(path)``
writes the same architecture with a sequence-classification head (``num_labels=1``). Both load with
``from_pretrained`` like any Hugging Face checkpoint.

Also a command, for CPU dry runs of the training loop::

    python tests/tiny_train_models.py /tmp/tiny-lm            # causal LM
    python tests/tiny_train_models.py /tmp/tiny-rm --reward   # reward-model base
"""

from __future__ import annotations

import sys
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL = ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
CORPUS = [
    "Explain tides. The moon pulls the sea; the water rises and falls twice a day.",
    "Name a prime. Seven is a prime number: it has no divisor but one and itself.",
    "Write a haiku. Old pond, a frog jumps in, the sound of water.",
    "def solve(): n = int(input()); print(n * 2)",
    "Score: 5 Winner: A Winner: B answer good bad short long helpful",
]


def build_tokenizer(vocab_size: int = 384):
    """A byte-level BPE tokenizer (every string encodes; no unknown token) with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="<|end|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _config(tokenizer, **overrides):
    from transformers import LlamaConfig

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    settings.update(overrides)
    return LlamaConfig(**settings)


def tiny_causal_lm(path: str | Path, *, seed: int = 0) -> Path:
    """Write a random tiny causal LM + tokenizer to ``path``; return the path."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    model = LlamaForCausalLM(_config(tokenizer))
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def tiny_reward_base(path: str | Path, *, seed: int = 0, **overrides) -> Path:
    """Write a random tiny sequence-classification model (``num_labels=1``) + tokenizer to ``path``.

    ``overrides`` change the config (e.g. ``hidden_size=48``) to build a mismatching model.
    """
    import torch
    from transformers import LlamaForSequenceClassification

    path = Path(path)
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(_config(tokenizer, num_labels=1, **overrides))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: python tests/tiny_train_models.py DIR [--reward]")
    build = tiny_reward_base if "--reward" in sys.argv[2:] else tiny_causal_lm
    print(build(sys.argv[1]))
