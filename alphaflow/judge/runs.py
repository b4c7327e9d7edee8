"""Running the judge flows: the self-rewarding iterations and the evaluation pipelines.

Both take an open model router (``alphaflow.models``) and a trace; the code task also opens the
sandbox. Results go to files under ``out`` and come back as plain dicts for the CLI to print.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.judge.evaluate import EVAL_KINDS, EvalKind, aggregate, kind_of_results
from alphaflow.judge.self_reward import SelfRewardPlan, flow_inputs, write_iteration
from alphaflow.trace import Trace

# An executor for independent flow runs: (flow_ref, [(unit key, inputs)], model) -> replies in order,
# each {"result": FlowResult} or {"error": str}; alphaflow.executors.ray_flows.run_flows_ray is one.
FlowExecutor = Callable[..., Awaitable[list[dict[str, Any]]]]


async def run_self_reward(
    plan: SelfRewardPlan,
    router: Any,
    trace: Trace,
    *,
    sandbox_factory: Callable[[], Any] | None = None,
    on_iteration: Callable[[int, dict[str, Any]], None] | None = None,
    first_iteration: int = 1,
    executor: FlowExecutor | None = None,
) -> list[dict[str, Any]]:
    """Run every iteration; return each iteration's statistics (also written to ``stats.json``).

    ``first_iteration`` numbers the first actor's iteration (the training loop runs one at a time).
    With ``executor``, an iteration's problems (code task) or prompts (text task without
    ``new_prompts``) run as separate units there and their records are merged in order.
    """
    from alphaflow.engine import RunContext, load_flow, run_flow

    flow = load_flow(plan.flow_ref)
    plan.out.mkdir(parents=True, exist_ok=True)
    all_stats = []
    for number, actor in enumerate(plan.actors, start=first_iteration):
        context = RunContext(router=router, sandbox_factory=sandbox_factory, trace=trace, model=actor)
        trace.write("self_reward_iteration", iteration=number, actor=actor, judge=plan.judge_model or actor)
        if executor is None:
            result = await run_flow(flow, flow_inputs(plan, number), context)
            outputs, errors, cost_usd = result.outputs, list(result.errors), result.cost_usd
            dropped = list(result.dropped_samples)
        else:
            replies = await executor(str(flow.path), split_units(plan, number), model=actor)
            outputs, errors, dropped, cost_usd = merge_replies(replies)
        stats = write_iteration(
            plan.out / f"iteration_{number}", outputs, actor=actor, judge=plan.judge_model or actor
        )
        stats["step_errors"] = errors
        stats["dropped_samples"] = dropped
        stats["first_failure"] = next(iter([*errors, *dropped]), None)
        stats["cost_usd"] = cost_usd
        (plan.out / f"iteration_{number}" / "stats.json").write_text(
            json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        all_stats.append(stats)
        if on_iteration:
            on_iteration(number, stats)
    summary = {"flow": plan.flow_ref, "iterations": all_stats}
    (plan.out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return all_stats


def split_units(plan: SelfRewardPlan, iteration: int) -> list[tuple[str, dict[str, Any]]]:
    """An iteration as independent units: one per problem or prompt (self-instruction needs them all)."""
    inputs = flow_inputs(plan, iteration)
    if plan.is_code:
        return [
            (f"{iteration}:{index}", {**inputs, "problems": [problem]})
            for index, problem in enumerate(plan.problems)
        ]
    if plan.new_prompts:
        return [(f"{iteration}:all", inputs)]
    return [
        (f"{iteration}:{index}", {**inputs, "prompts": [prompt]}) for index, prompt in enumerate(plan.prompts)
    ]


def merge_replies(
    replies: list[dict[str, Any]],
) -> tuple[dict[str, Any], list[str], list[str], float | None]:
    """The units' outputs as one iteration's: records and generated prompts in order, errors, dropped
    samples, cost."""
    outputs: dict[str, Any] = {"prompts": [], "generated_prompts": []}
    errors: list[str] = []
    dropped: list[str] = []
    cost: float | None = 0.0
    for reply in replies:
        if "error" in reply:
            errors.append(reply["error"])
            continue
        result = reply["result"]
        outputs["prompts"].extend(result.outputs.get("prompts") or [])
        outputs["generated_prompts"].extend(result.outputs.get("generated_prompts") or [])
        errors.extend(result.errors)
        dropped.extend(getattr(result, "dropped_samples", []))
        cost = None if cost is None or result.cost_usd is None else cost + result.cost_usd
    return outputs, errors, dropped, cost


def eval_kind(flow: str) -> tuple[str, EvalKind | None]:
    """The flow file to run and its built-in kind (``None`` for a custom flow file)."""
    from alphaflow.resources import flows_dir

    if flow in EVAL_KINDS:
        return str(flows_dir() / EVAL_KINDS[flow].flow), EVAL_KINDS[flow]
    for name, kind in EVAL_KINDS.items():
        if flow in (f"eval_{name}", f"eval/{name}"):
            return str(flows_dir() / kind.flow), kind
    if not Path(flow).is_file():
        known = ", ".join(EVAL_KINDS)
        raise UserError(f"FLOW {flow!r}: not a built-in eval flow ({known}) and no such file")
    return flow, None


async def run_eval(
    flow_ref: str,
    items: Sequence[dict[str, Any]],
    judges: Sequence[str],
    router: Any,
    trace: Trace,
    *,
    model: str | None,
    kind: EvalKind | None,
    concurrency: int = 4,
    executor: FlowExecutor | None = None,
) -> dict[str, Any]:
    """Run the eval flow once per item (all judges inside); return per-item records and the aggregate.

    With ``executor`` (e.g. the Ray executor), each item is a unit run there instead of here.
    """
    from alphaflow.engine import RunContext, StepFailed, load_flow, run_flow

    flow = load_flow(flow_ref)
    context = RunContext(router=router, trace=trace, model=model)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        async with semaphore:
            try:
                result = await run_flow(flow, {"item": item, "judges": list(judges)}, context)
            except StepFailed as error:  # this item is lost (recorded), the others go on
                return {"id": item["id"], "error": str(error), "judges": {}}
        return eval_record(item, judges, result)

    if executor is None:
        records = list(await asyncio.gather(*(one(item) for item in items)))
    else:  # each item a unit on the executor (a Ray cluster)
        units = [(str(item["id"]), {"item": item, "judges": list(judges)}) for item in items]
        replies = await executor(str(flow.path), units, model=model)
        records = [
            eval_record(item, judges, reply["result"])
            if "result" in reply
            else {"id": item["id"], "error": reply["error"], "judges": {}}
            for item, reply in zip(items, replies, strict=True)
        ]
    if kind is not None:
        field, categorical = kind.field, kind.categorical
    else:
        field, categorical = kind_of_results([r for rec in records for r in rec["judges"].values()])
    summary = aggregate(records, judges, field=field, categorical=categorical)
    summary["failed_items"] = [{"id": r["id"], "error": r["error"]} for r in records if "error" in r]
    summary["dropped_samples"] = sum(len(r.get("dropped_samples", [])) for r in records)
    failures = [
        f"item {r['id']!r}: {message}"
        for r in records
        for message in ([r["error"]] if "error" in r else [])
        + r.get("step_errors", [])
        + r.get("dropped_samples", [])
    ]
    summary["failures"] = len(failures)
    summary["first_failure"] = failures[0] if failures else None
    for record, mean in zip(records, summary["item_means"], strict=True):
        record["mean_of_judges"] = mean
    return {"records": records, "summary": summary}


def eval_record(item: dict[str, Any], judges: Sequence[str], result: Any) -> dict[str, Any]:
    """One item's record from its flow result: each judge's result, the other outputs, step errors."""
    outputs = result.outputs
    per_judge = outputs.get("judges") or []
    record: dict[str, Any] = {"id": item["id"], "judges": dict(zip(judges, per_judge, strict=False))}
    for name, value in outputs.items():
        if name != "judges":
            record[name] = value
    if result.errors:
        record["step_errors"] = list(result.errors)
    if getattr(result, "dropped_samples", None):  # main's FlowResult.dropped_samples
        record["dropped_samples"] = list(result.dropped_samples)
    return record
