"""Tiny randomly initialised causal LMs and a tokenizer built here: no download, no network.

    path = tiny_model(tmp_path / "m", seed=0)              # a directory hf:PATH loads
    model = f"hf:{path}?device=cpu&dtype=float32"

The tokenizer is a byte-level BPE trained on a few strings (any text encodes; the digits 1-5 are
single tokens, so G-Eval weighting has score tokens), saved as a ``PreTrainedTokenizerFast`` with a
ChatML-style chat template. Models are Llama- or Qwen2-shaped with a 2-layer, 32-wide trunk.
Used by the local-model tests and the training tests; needs the ``local`` extra.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

SPECIALS = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TRAINING_TEXT = [
    "def solve(n):\n    return sum(range(n + 1))\n",
    "Read the problem, then write a Python program that reads stdin and prints the answer.",
    "Score the answer from 1 to 5. Yes or No? The answer is correct and complete.",
    "for i in range(10): print(i * i)  # squares 0 1 4 9 16 25",
    "You are a helpful assistant. Think step by step about the tests and the edge cases.",
]


@cache
def _trained_tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(TRAINING_TEXT * 4, trainer=trainer)
    return tokenizer.to_str()


def single_thread() -> None:
    """One torch CPU thread: tiny models gain nothing from intra-op threads, and on a shared CPU the
    threads' contention makes each forward pass many times slower."""
    import torch

    torch.set_num_threads(1)


def build_tokenizer(vocab_size: int = 300, chat_template: bool = True):  # noqa: ANN201
    """A ``PreTrainedTokenizerFast`` (pad ``<pad>``, bos ``<s>``, eos ``<|im_end|>``)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_tokenizer_json(vocab_size)),
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="<|im_end|>",
        unk_token=None,
    )
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_model(
    tokenizer,
    *,
    arch: str = "llama",
    seed: int = 0,
    hidden: int = 32,
    layers: int = 2,  # noqa: ANN001,ANN201
    extra_logits: int = 0,
    init_range: float = 0.2,
):
    """A random causal LM for ``tokenizer``'s vocabulary (plus ``extra_logits`` padding rows)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_class, model_class = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    }[arch]
    config = config_class(
        vocab_size=len(tokenizer) + extra_logits,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        initializer_range=init_range,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return model_class(config).eval()


def favour(model, tokenizer, texts: list[str], strength: float = 1.0) -> None:  # noqa: ANN001
    """Make ``texts`` (single tokens) the likeliest next tokens after any input, in varying proportions.

    Every input embedding gets a large constant in dimension 0, which the residual stream carries to
    the last layer; the output rows of the favoured tokens read that dimension. A judge built this way
    answers with score tokens, so G-Eval's weighting has something to weigh.
    """
    import torch

    ids = [tokenizer.convert_tokens_to_ids(text) for text in texts]
    with torch.no_grad():
        model.get_input_embeddings().weight[:, 0] = 50.0
        head = model.get_output_embeddings().weight
        head[:, 0] = 0.0
        head[ids, 0] = strength


def tiny_model(
    directory: str | Path,
    *,
    arch: str = "llama",
    seed: int = 0,
    chat_template: bool = True,
    vocab_size: int = 300,
    extra_logits: int = 0,
    favoured: list[str] | None = None,
) -> Path:
    """Build and save a tiny model with its tokenizer in ``directory``; the directory."""
    directory = Path(directory)
    single_thread()
    tokenizer = build_tokenizer(vocab_size, chat_template)
    model = build_model(tokenizer, arch=arch, seed=seed, extra_logits=extra_logits)
    if favoured:
        favour(model, tokenizer, favoured)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
