"""The closed self-rewarding loop (Yuan et al. 2024, arXiv 2401.10020, §2-3): generate, judge,
build pairs, train M_{t+1} with DPO, compare M_{t+1} with M_t on held-out prompts, repeat.

Iteration ``t`` writes ``OUT/iteration_t/``: the self-reward files (``dpo.jsonl``,
``candidates.jsonl``, ``stats.json``), the trained checkpoint ``model/`` (M_{t+1}: its
``train_log.jsonl`` and ``train_summary.json`` inside), ``heldout.jsonl`` (both models' answers and
the judge's verdicts) and ``loop_stats.json`` (the row of the side-by-side table). Each stage is
skipped when its files exist, so a killed run resumes where it stopped.

Who generates: with ``--model hf:PATH`` the actor of iteration ``t`` is ``hf:`` of the latest
checkpoint (M_1 = PATH), and the actor judges itself unless ``--judge-model`` is given. With any
other model (a served endpoint, ``scripted:FILE``) that model generates in every iteration and
``--train-base PATH`` names the local checkpoint trained: M_1 = PATH, then each new checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.judge.self_reward import SelfRewardPlan, summary_lines
from alphaflow.train.dpo import check_checkpoint, load_tokenizer, train_dpo
from alphaflow.train.options import TrainOptions
from alphaflow.train.progress import SUMMARY_FILE

HF_PREFIX = "hf:"
LOOP_STATS = "loop_stats.json"
HELDOUT_FILE = "heldout.jsonl"


@dataclass
class LoopSettings:
    """The training side of the loop (the generation side is the ``SelfRewardPlan``)."""

    train_base: Path | None  # M_1's checkpoint; None: taken from --model hf:PATH
    options: TrainOptions
    heldout: list[str]  # prompts never answered for training; M_{t+1} vs M_t is judged on them
    eval_judge: str  # the fixed judge of the held-out comparison
    max_new_tokens: int = 128  # held-out answers (greedy)


def split_heldout(prompts: Sequence[str], fraction: float = 0.2) -> tuple[list[str], list[str]]:
    """``(train, heldout)``: the last ``ceil(fraction * n)`` prompts are held out (none when n < 2)."""
    if len(prompts) < 2:
        return list(prompts), []
    count = max(1, math.ceil(len(prompts) * fraction))
    return list(prompts[:-count]), list(prompts[-count:])


def first_base(plan: SelfRewardPlan, train_base: Path | None) -> Path:
    if train_base is not None:
        return check_checkpoint(train_base, "--train-base")
    actor = plan.actors[0]
    if actor.startswith(HF_PREFIX):
        return check_checkpoint(actor[len(HF_PREFIX) :], "--model")
    raise UserError(
        "--train needs a local checkpoint to train: --model hf:PATH, or --train-base PATH "
        f"(with --model {actor} generating)"
    )


async def run_loop(
    plan: SelfRewardPlan,
    settings: LoopSettings,
    router: Any,
    trace: Any,
    *,
    sandbox_factory: Callable[[], Any] | None = None,
    echo: Callable[[str], None] | None = print,
) -> list[dict[str, Any]]:
    """Run ``len(plan.actors)`` iterations of generate -> judge -> DPO -> held-out comparison.

    Returns one row per iteration (also ``OUT/iteration_t/loop_stats.json`` and, all together,
    ``OUT/loop_summary.json``). Raises ``UserError`` when an iteration yields no pair to train on.
    """
    from alphaflow.judge.runs import run_self_reward

    say = echo or (lambda _line: None)
    generator = plan.actors[0]
    base = first_base(plan, settings.train_base)
    rows: list[dict[str, Any]] = []
    for number in range(1, len(plan.actors) + 1):
        directory = plan.out / f"iteration_{number}"
        checkpoint = directory / "model"
        done = directory / LOOP_STATS
        if done.is_file() and (checkpoint / SUMMARY_FILE).is_file():
            row = json.loads(done.read_text(encoding="utf-8"))
            say(f"iteration {number}: done before (resumed from {done})")
            rows.append(row)
            base = checkpoint
            continue
        actor = f"{HF_PREFIX}{base}" if generator.startswith(HF_PREFIX) else generator
        if (directory / "stats.json").is_file() and (directory / "dpo.jsonl").is_file():
            stats = json.loads((directory / "stats.json").read_text(encoding="utf-8"))
            say(f"iteration {number}: pairs from {directory} (resumed)")
        else:
            one = replace(plan, actors=[actor])
            (stats,) = await run_self_reward(
                one,
                router,
                trace,
                sandbox_factory=sandbox_factory,
                first_iteration=number,
                on_iteration=lambda n, s: say("\n".join(summary_lines(s, n))),
            )
        if not stats.get("pairs"):
            raise UserError(
                f"{directory / 'stats.json'}: iteration {number} produced no preference pairs "
                f"(ties {stats.get('ties')}, failed prompts {stats.get('failed_prompts')}): "
                "nothing to train on"
            )
        if (checkpoint / SUMMARY_FILE).is_file():
            training = json.loads((checkpoint / SUMMARY_FILE).read_text(encoding="utf-8"))
        else:
            say(f"iteration {number}: DPO on {stats['pairs']} pairs, {base} -> {checkpoint}")
            training = await asyncio.to_thread(
                train_dpo, directory / "dpo.jsonl", base, checkpoint, settings.options, echo=echo
            )
        heldout = await compare_on_heldout(
            base, checkpoint, settings, router, trace, directory / HELDOUT_FILE
        )
        row = {
            "iteration": number,
            "actor": actor,
            "judge": stats.get("judge"),
            "trained_from": str(base),
            "checkpoint": str(checkpoint),
            "pairs": stats.get("pairs"),
            "tie_rate": stats.get("tie_rate"),
            "mean_self_score": stats.get("mean_score"),
            "dpo_loss": training.get("final_loss"),
            "dpo_reward_margin": training.get("final_reward_margin"),
            **heldout,
        }
        done.write_text(json.dumps(row, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        rows.append(row)
        base = checkpoint
    (plan.out / "loop_summary.json").write_text(
        json.dumps({"iterations": rows}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return rows


async def compare_on_heldout(
    before: Path, after: Path, settings: LoopSettings, router: Any, trace: Any, path: Path
) -> dict[str, Any]:
    """Pairwise judgement of ``after`` (M_{t+1}, answer B) against ``before`` (M_t, answer A).

    Both answer each held-out prompt greedily; the ``eval_judge`` runs the pairwise flow (each
    comparison in both orders, a disagreement is a tie). Returns wins/losses/ties of M_{t+1} and
    its win rate ``(wins + ties / 2) / judged`` (``None`` when nothing was judged).
    """
    from alphaflow.judge.evaluate import EVAL_KINDS
    from alphaflow.judge.runs import eval_kind, run_eval

    empty = {"heldout_prompts": 0, "wins": 0, "losses": 0, "ties": 0, "unjudged": 0, "win_rate": None}
    if not settings.heldout:
        return empty
    answers_a = await asyncio.to_thread(greedy_answers, before, settings.heldout, settings.max_new_tokens)
    answers_b = await asyncio.to_thread(greedy_answers, after, settings.heldout, settings.max_new_tokens)
    items = [
        {"id": f"heldout_{i}", "prompt": prompt, "response_a": a, "response_b": b}
        for i, (prompt, a, b) in enumerate(zip(settings.heldout, answers_a, answers_b, strict=True))
    ]
    flow, _ = eval_kind("pairwise")
    result = await run_eval(
        flow, items, [settings.eval_judge], router, trace, model=None, kind=EVAL_KINDS["pairwise"]
    )
    with path.open("w", encoding="utf-8") as handle:
        for item, record in zip(items, result["records"], strict=True):
            handle.write(
                json.dumps(
                    {**item, "verdict": record["judges"].get(settings.eval_judge)},
                    ensure_ascii=False,
                    default=str,
                )
                + "\n"
            )
    winners = [
        (record["judges"].get(settings.eval_judge) or {}).get("winner") for record in result["records"]
    ]
    wins, losses, ties = winners.count("B"), winners.count("A"), winners.count("tie")
    judged = wins + losses + ties
    return {
        "heldout_prompts": len(items),
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "unjudged": len(items) - judged,
        "win_rate": (wins + ties / 2) / judged if judged else None,
    }


def greedy_answers(path: Path, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 8) -> list[str]:
    """Greedy answers of the checkpoint at ``path`` (chat template when it has one), batched."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start : start + batch_size])
        if getattr(tokenizer, "chat_template", None):
            conversations = [[{"role": "user", "content": p}] for p in batch]
            encoded = tokenizer.apply_chat_template(
                conversations, add_generation_prompt=True, padding=True, return_tensors="pt", return_dict=True
            )
        else:
            encoded = tokenizer(batch, padding=True, return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(
                **encoded, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        new = output[:, encoded["input_ids"].shape[1] :]
        answers.extend(text.strip() for text in tokenizer.batch_decode(new, skip_special_tokens=True))
    return answers


def table_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The iterations side by side: pairs, tie rate, mean self-score, DPO figures, held-out result."""

    def fmt(value: Any, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    header = [
        "iteration",
        "pairs",
        "tie rate",
        "self-score",
        "DPO loss",
        "margin",
        "held-out W/L/T",
        "win rate",
    ]
    body = [
        [
            str(row["iteration"]),
            str(row["pairs"]),
            fmt(row["tie_rate"], ".0%"),
            fmt(row["mean_self_score"], ".2f"),
            fmt(row["dpo_loss"], ".4f"),
            fmt(row["dpo_reward_margin"], ".4f"),
            f"{row['wins']}/{row['losses']}/{row['ties']}" if row["heldout_prompts"] else "none",
            fmt(row["win_rate"], ".0%"),
        ]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in [header, *body]]
