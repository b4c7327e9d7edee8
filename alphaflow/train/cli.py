"""Commands ``alphaflow judge train-dpo | train-rm | warm`` and the ``--train`` options of
``alphaflow judge self-reward``. Torch, transformers and TRL are imported inside the commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError


def _add_options(parser: argparse.ArgumentParser, *, learning_rate: float, dpo: bool) -> None:
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=learning_rate,
        metavar="LR",
        help=f"(default {learning_rate:g})",
    )
    parser.add_argument("--epochs", type=float, default=1.0, help="passes over the pairs (default 1)")
    parser.add_argument(
        "--max-steps", type=int, default=-1, metavar="N", help="stop after N steps (over --epochs)"
    )
    parser.add_argument("--batch-size", type=int, default=4, help="pairs per step (default 4)")
    parser.add_argument(
        "--max-length",
        type=int,
        default=1024,
        metavar="TOKENS",
        help="prompt + response tokens; longer pairs are truncated (DPO) or dropped (RM)",
    )
    if dpo:
        parser.add_argument(
            "--beta",
            type=float,
            default=0.1,
            help="DPO beta: how far the model may move from the reference (default 0.1)",
        )
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft); merged on save")
    parser.add_argument("--lora-r", type=int, default=16, metavar="R", help="LoRA rank (default 16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _options(args: argparse.Namespace) -> Any:
    from alphaflow.train.options import TrainOptions

    options = TrainOptions(
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        max_length=args.max_length,
        beta=getattr(args, "beta", 0.1),
        lora=args.lora,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        seed=args.seed,
        device=args.device,
    )
    options.check(flag="training option")
    return options


def register_training_commands(judge_subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-dpo``, ``train-rm`` and ``warm`` to the ``judge`` group."""
    dpo = judge_subparsers.add_parser(
        "train-dpo",
        help="train a model with DPO on preference pairs (TRL); writes a checkpoint hf:DIR loads",
        description="DPO (TRL's DPOTrainer) on the TRL-format pairs alphaflow writes "
        "(OUT/iteration_N/dpo.jsonl). Writes DIR: the checkpoint (merged weights with --lora), "
        "train_log.jsonl (every logged step) and train_summary.json (loss, reward margin).",
    )
    dpo.add_argument("--pairs", required=True, metavar="FILE", help="JSON lines {prompt, chosen, rejected}")
    dpo.add_argument("--model", required=True, metavar="PATH", help="the checkpoint to train (M_t)")
    dpo.add_argument("--out", required=True, metavar="DIR", help="where M_{t+1} is written")
    _add_options(dpo, learning_rate=1e-6, dpo=True)
    dpo.set_defaults(func=train_dpo_command)

    rm = judge_subparsers.add_parser(
        "train-rm",
        help="train M reward models from one base (TRL reward trainer), for rm:, rm-ensemble: and warm",
        description="Bradley-Terry reward models with a sequence-classification head, all fine-tuned "
        "from one shared initialisation (DIR/init) with different seeds and learning rates: "
        "DIR/rm_0 .. rm_{M-1}.",
    )
    rm.add_argument("--pairs", required=True, metavar="FILE", help="JSON lines {prompt, chosen, rejected}")
    rm.add_argument("--base", required=True, metavar="PATH", help="the base checkpoint (a causal LM)")
    rm.add_argument("--seeds", type=int, default=3, metavar="M", help="how many reward models (default 3)")
    rm.add_argument(
        "--learning-rates",
        default="",
        metavar="LR,LR,...",
        help="one per model in turn (default: --learning-rate for all)",
    )
    rm.add_argument("--out", required=True, metavar="DIR")
    _add_options(rm, learning_rate=1e-5, dpo=False)
    rm.set_defaults(func=train_rm_command)

    warm = judge_subparsers.add_parser(
        "warm",
        help="WARM: average the weights of reward models fine-tuned from one base (arXiv 2401.12187)",
        description="Element-wise weighted mean of the reward models' weights; refuses models that "
        "differ in architecture, parameter names, shapes or base. rm:OUT then judges like any reward model.",
    )
    warm.add_argument("--reward-models", nargs="+", required=True, metavar="DIR")
    warm.add_argument("--weights", nargs="+", type=float, metavar="W", help="one per model (scaled to sum 1)")
    warm.add_argument("--out", required=True, metavar="MERGED")
    warm.add_argument("--json", action="store_true", help="print one JSON object")
    warm.set_defaults(func=warm_command)


def train_dpo_command(args: argparse.Namespace) -> int:
    from alphaflow.train.dpo import train_dpo

    summary = train_dpo(args.pairs, args.model, args.out, _options(args), echo=None if args.json else print)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, default=str))
    else:
        print(
            f"trained {summary['steps']} steps on {summary['pairs_used']} pairs: "
            f"loss {summary['final_loss']:.4f}, reward margin {summary['final_reward_margin']:.4f}; "
            f"written: {args.out} (load with hf:{args.out})"
        )
    return 0


def train_rm_command(args: argparse.Namespace) -> int:
    from alphaflow.train.reward_model import train_reward_models

    rates = []
    for part in filter(None, (p.strip() for p in args.learning_rates.split(","))):
        try:
            rates.append(float(part))
        except ValueError:
            raise UserError(f"--learning-rates: {part!r} is not a number") from None
    summaries = train_reward_models(
        args.pairs,
        args.base,
        args.out,
        count=args.seeds,
        learning_rates=rates,
        options=_options(args),
        echo=None if args.json else print,
    )
    if args.json:
        print(json.dumps({"reward_models": summaries}, ensure_ascii=False, default=str))
        return 0
    for summary in summaries:
        accuracy = summary["final_accuracy"]
        print(
            f"{summary['checkpoint']}: seed {summary['options']['seed']}, learning rate "
            f"{summary['options']['learning_rate']:g}, {summary['steps']} steps, final batch accuracy "
            f"{'n/a' if accuracy is None else f'{accuracy:.2f}'}"
        )
    names = ",".join(s["checkpoint"] for s in summaries)
    print(
        f"judge with rm:{summaries[0]['checkpoint']}, rm-ensemble:{names}, or merge: alphaflow judge warm "
        f"--reward-models {' '.join(s['checkpoint'] for s in summaries)} --out {Path(args.out) / 'warm'}"
    )
    return 0


def warm_command(args: argparse.Namespace) -> int:
    from alphaflow.train.data import require_local

    require_local("torch", "safetensors")
    from alphaflow.train.warm import warm_average

    record = warm_average(args.reward_models, args.out, args.weights)
    if args.json:
        print(json.dumps(record, ensure_ascii=False))
    else:
        weights = ", ".join(f"{w:.3f}" for w in record["weights"])
        print(
            f"WARM: averaged {len(record['reward_models'])} reward models (weights {weights}); "
            f"written: {args.out} (judge with rm:{args.out})"
        )
    return 0


# -- judge self-reward --train ---------------------------------------------------------------------
def add_training_options(self_reward: argparse.ArgumentParser) -> None:
    """The ``--train`` flags of ``judge self-reward`` (the closed loop, ``alphaflow.train.loop``)."""
    group = self_reward.add_argument_group("closing the loop (--train)")
    group.add_argument(
        "--train",
        action="store_true",
        help="train M_{t+1} with DPO after each iteration and compare it with M_t",
    )
    group.add_argument(
        "--train-base",
        metavar="PATH",
        help="the local checkpoint M_1 to train when --model is not hf:PATH (served, scripted)",
    )
    group.add_argument(
        "--train-options",
        default="",
        metavar="K=V,...",
        help="DPO settings: learning_rate, epochs, max_steps, batch_size, max_length, beta, "
        "lora, ... "
        "(default beta=0.1, learning_rate=1e-6)",
    )
    group.add_argument(
        "--heldout-prompts",
        metavar="FILE",
        help="prompts for the M_{t+1} vs M_t comparison (default: the last 20%% of --prompts, "
        "held out of training)",
    )
    group.add_argument(
        "--eval-judge",
        metavar="MODEL",
        help="judge of the held-out comparison (default --judge-model, else --model)",
    )
    group.add_argument(
        "--heldout-max-tokens",
        type=int,
        default=128,
        metavar="N",
        help="new tokens per held-out answer (default 128)",
    )


def run_training_loop(args: argparse.Namespace, plan: Any, make_router: Any, open_sandbox: Any) -> int:
    """``judge self-reward --train``: check the flags, hold out prompts, run ``alphaflow.train.loop``."""
    import asyncio

    from alphaflow.judge.data import load_prompts
    from alphaflow.trace import Trace
    from alphaflow.train.data import require_local
    from alphaflow.train.loop import LoopSettings, run_loop, split_heldout, table_lines
    from alphaflow.train.options import TrainOptions

    if args.next_model:
        raise UserError("--next-model and --train exclude each other: with --train each M_{t+1} is trained")
    require_local("torch", "transformers", "trl", "datasets")
    options = TrainOptions.parse(args.train_options)
    if args.heldout_prompts:
        heldout = load_prompts(args.heldout_prompts)
    elif plan.is_code:
        kept, held = split_heldout(plan.problems)
        plan.problems, heldout = kept, [problem["description"] for problem in held]
    else:
        plan.prompts, heldout = split_heldout(plan.prompts)
    settings = LoopSettings(
        train_base=Path(args.train_base) if args.train_base else None,
        options=options,
        heldout=heldout,
        eval_judge=args.eval_judge or args.judge_model or args.model,
        max_new_tokens=args.heldout_max_tokens,
    )

    async def main() -> list[dict[str, Any]]:
        with Trace(args.trace or plan.out / "trace.jsonl") as trace:
            router = make_router(args, trace, args.model)
            try:
                return await run_loop(
                    plan,
                    settings,
                    router,
                    trace,
                    sandbox_factory=lambda: open_sandbox(args.sandbox),
                    echo=None if args.json else print,
                )
            finally:
                router.close()

    rows = asyncio.run(main())
    if args.json:
        print(json.dumps({"out": str(plan.out), "iterations": rows}, ensure_ascii=False))
    else:
        print("\n".join(table_lines(rows)))
        print(
            f"written: {plan.out}/iteration_*/ (dpo.jsonl, model/, heldout.jsonl, loop_stats.json), "
            f"{plan.out}/loop_summary.json"
        )
    return 0
