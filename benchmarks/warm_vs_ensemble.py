"""WARM vs prediction ensembling vs the best single reward model, on a synthetic preference task.

The task (generated here, seeded): a response is a bag of 6-12 words from a 64-word vocabulary;
its hidden true reward is the sum of the words' hidden weights (standard normal). Training pairs
draw words mostly from the first 40 words, with ``--noise`` of the labels flipped; the shifted test
set draws mostly from words 24-63 (words the models saw rarely or never), with clean labels; an
in-distribution test set is drawn like the training set, also clean.

M reward models are trained with ``alphaflow judge train-rm``'s code (TRL's RewardTrainer) from one
shared initialisation of a tiny random Llama-architecture model (CPU-sized), with different seeds
(data order) and learning rates. Reported: preference accuracy (share of test pairs where the model
gives the truly better response the higher reward) of each single model, of prediction ensembling
(mean reward, ``rm-ensemble:``), and of WARM (Ramé et al. 2024, arXiv 2401.12187, §3: the mean of
the weights, ``alphaflow judge warm``), all in one run. The paper's claim: WARM >= ensembling > single.

    python benchmarks/warm_vs_ensemble.py [--json] [--models 4] [--train-pairs 768] [--epochs 3]

"best single" is the single model with the best accuracy on that test set (an oracle pick, the
most favourable figure for a single model); "single (mean)" is the average single model.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VOCAB = [f"w{i}" for i in range(64)]
TRAIN_WORDS, SHIFTED_WORDS = range(0, 40), range(24, 64)
PROMPT = "rate"


def sample_response(rng: random.Random, words: range, spill: float = 0.1) -> list[str]:
    """6-12 words, each from ``words`` except with probability ``spill`` from the whole vocabulary."""
    length = rng.randint(6, 12)
    return [
        VOCAB[rng.choice(words) if rng.random() > spill else rng.randrange(len(VOCAB))] for _ in range(length)
    ]


def make_pairs(
    rng: random.Random, weights: dict[str, float], count: int, words: range, noise: float
) -> list[dict[str, Any]]:
    """``count`` preference pairs; ``noise`` of them with the label flipped (ties are redrawn)."""
    pairs = []
    while len(pairs) < count:
        a, b = sample_response(rng, words), sample_response(rng, words)
        reward_a, reward_b = sum(weights[w] for w in a), sum(weights[w] for w in b)
        if abs(reward_a - reward_b) < 1e-9:
            continue
        chosen, rejected = (a, b) if reward_a > reward_b else (b, a)
        if rng.random() < noise:
            chosen, rejected = rejected, chosen
        pairs.append(
            {"prompt": PROMPT, "chosen": " " + " ".join(chosen), "rejected": " " + " ".join(rejected)}
        )
    return pairs


def build_base(path: Path, seed: int) -> Path:
    """A tiny random causal LM with a word-level tokenizer over the task's vocabulary (no chat template)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab = {token: index for index, token in enumerate([*specials, PROMPT, *VOCAB])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def accuracy(rewards_chosen: list[float], rewards_rejected: list[float]) -> float:
    return sum(c > r for c, r in zip(rewards_chosen, rewards_rejected, strict=True)) / len(rewards_chosen)


def evaluate(paths: list[Path], test: list[dict[str, Any]]) -> float:
    """Preference accuracy of the mean reward of ``paths`` (one path: that model) on ``test``."""
    from alphaflow.models.reward_model import ensemble_scores

    chosen = ensemble_scores(paths, [(p["prompt"], p["chosen"]) for p in test])
    rejected = ensemble_scores(paths, [(p["prompt"], p["rejected"]) for p in test])
    return accuracy(chosen, rejected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=4, help="reward models M (default 4)")
    parser.add_argument("--train-pairs", type=int, default=768)
    parser.add_argument("--test-pairs", type=int, default=1024)
    parser.add_argument("--noise", type=float, default=0.25, help="share of training labels flipped")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--learning-rates", default="1e-3,3e-3", help="cycled over the models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)

    from alphaflow.train.options import TrainOptions
    from alphaflow.train.reward_model import train_reward_models
    from alphaflow.train.warm import warm_average

    rng = random.Random(args.seed)
    weights = {word: rng.gauss(0.0, 1.0) for word in VOCAB}
    train = make_pairs(rng, weights, args.train_pairs, TRAIN_WORDS, args.noise)
    test_id = make_pairs(rng, weights, args.test_pairs, TRAIN_WORDS, 0.0)
    test_ood = make_pairs(rng, weights, args.test_pairs, SHIFTED_WORDS, 0.0)
    rates = [float(r) for r in args.learning_rates.split(",")]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="warm-bench-") as tmp:
        root = Path(tmp)
        pairs_file = root / "train.jsonl"
        pairs_file.write_text("".join(json.dumps(p) + "\n" for p in train), encoding="utf-8")
        base = build_base(root / "base", args.seed)
        options = TrainOptions(
            epochs=args.epochs,
            batch_size=16,
            max_length=64,
            seed=args.seed,
            log_every=10,
            learning_rate=rates[0],
            device="cpu",
        )
        summaries = train_reward_models(
            pairs_file,
            base,
            root / "rms",
            count=args.models,
            learning_rates=rates,
            options=options,
            echo=None,
        )
        paths = [Path(s["checkpoint"]) for s in summaries]
        warm_average(paths, root / "warm")
        train_s = time.monotonic() - started
        result: dict[str, Any] = {
            "benchmark": "warm_vs_ensemble",
            "models": args.models,
            "train_pairs": args.train_pairs,
            "test_pairs": args.test_pairs,
            "label_noise": args.noise,
            "epochs": args.epochs,
            "learning_rates": rates,
        }
        for name, test in (("shifted", test_ood), ("in_distribution", test_id)):
            singles = [evaluate([path], test) for path in paths]
            result[name] = {
                "single": singles,
                "single_mean": sum(singles) / len(singles),
                "single_best": max(singles),
                "ensemble": evaluate(paths, test),
                "warm": evaluate([root / "warm"], test),
                "init": evaluate([root / "rms" / "init"], test),  # untrained head: chance level
            }
            figures = result[name]
            figures["warm_over_ensemble"] = figures["warm"] / figures["ensemble"]
            figures["warm_over_best_single"] = figures["warm"] / figures["single_best"]
        result["train_s"] = round(train_s, 1)
        result["total_s"] = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.models} reward models, {args.train_pairs} training pairs ({args.noise:.0%} labels flipped), "
        f"{args.test_pairs} clean test pairs per set; trained in {result['train_s']} s"
    )
    print(
        f"{'test set':<16}{'init':>7}{'single (mean)':>15}{'best single':>13}{'ensemble':>10}{'WARM':>8}"
        f"{'WARM/ens':>10}"
    )
    for name in ("shifted", "in_distribution"):
        f = result[name]
        print(
            f"{name:<16}{f['init']:>7.3f}{f['single_mean']:>15.3f}{f['single_best']:>13.3f}"
            f"{f['ensemble']:>10.3f}{f['warm']:>8.3f}{f['warm_over_ensemble']:>10.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
