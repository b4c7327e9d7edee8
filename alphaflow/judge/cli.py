"""Commands: ``alphaflow judge self-reward`` and ``alphaflow eval``.

Heavy imports (litellm through the model layer, docker through the sandbox) happen inside the
command functions so that ``alphaflow --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.train.cli import add_training_options, register_training_commands

SANDBOX_BACKENDS = ("auto", "docker", "local")
TASKS = ("text", "codecontests")


def register(subparsers: argparse._SubParsersAction) -> None:
    judge = subparsers.add_parser("judge", help="self-rewarding judge loops (DPO preference data)")
    judge_sub = judge.add_subparsers(dest="judge_command", metavar="COMMAND", required=True)
    self_reward = judge_sub.add_parser(
        "self-reward",
        help="run self-rewarding iterations: candidates, LLM-as-a-judge scores, DPO pairs",
        description="Each iteration: the actor answers every prompt 4 times, the judge grades each "
        "answer 3 times (additive 5-point prompt), best vs worst form a DPO pair. Writes "
        "OUT/iteration_N/{dpo.jsonl,candidates.jsonl,stats.json}.",
        epilog="exit codes: 0 the iterations ran (ties and some unreadable judgements are results); 1 "
        "nothing to learn from: every prompt failed, or no candidate got a readable judgement (the first "
        "failure is printed); 2 bad arguments or input files; 3 --max-cost "
        "reached; 4 a model call failed for good outside a prompt",
    )
    source = self_reward.add_argument_group("what to answer")
    source.add_argument("--prompts", metavar="FILE", help='seed prompts, JSON lines {"prompt": ...}')
    source.add_argument(
        "--task",
        choices=TASKS,
        default="text",
        help="codecontests: candidates are programs, rewarded by sandbox evidence",
    )
    source.add_argument(
        "--data", metavar="FILE.jsonl", help="problems (CodeContests layout) for --task codecontests"
    )
    source.add_argument("--limit", type=int, metavar="N", help="use the first N prompts/problems only")
    self_reward.add_argument(
        "--model", "-m", required=True, help="the actor (M1): litellm string or scripted:FILE"
    )
    self_reward.add_argument("--judge-model", help="a separate judge (default: the actor judges itself)")
    self_reward.add_argument("--iterations", type=int, default=1, help="iterations to run (default 1)")
    self_reward.add_argument(
        "--next-model",
        action="append",
        default=[],
        metavar="M",
        help="the actor of the next iteration (M2, M3, ...); once per later iteration",
    )
    self_reward.add_argument("--out", required=True, metavar="DIR", help="where the iterations are written")
    self_reward.add_argument(
        "--new-prompts",
        type=int,
        default=0,
        metavar="K",
        help="self-instruction: write K new prompts few-shot from the seeds, answer those",
    )
    self_reward.add_argument(
        "--include-seeds", action="store_true", help="with --new-prompts, answer the seeds too"
    )
    self_reward.add_argument(
        "--weights",
        default="",
        metavar="public=W,generated=W,judge=W",
        help="code reward weights (default public=0.5,generated=0.3,judge=0.2)",
    )
    self_reward.add_argument("--language", default="python", help="code task: the candidates' language")
    self_reward.add_argument("--flow", help="a custom flow file instead of the built-in one")
    _add_run_options(self_reward)
    self_reward.add_argument(
        "--sandbox", choices=SANDBOX_BACKENDS, default="auto", help="code task: sandbox backend"
    )
    self_reward.set_defaults(func=self_reward_command)
    add_training_options(self_reward)  # --train: the closed loop (alphaflow.train)
    register_training_commands(judge_sub)  # train-dpo, train-rm, warm

    evaluate = subparsers.add_parser(
        "eval",
        help="LLM-as-a-judge evaluation: rubric, pairwise or reference-based, with CIs and agreement",
        description="FLOW is rubric, pairwise, reference or a flow file. Writes OUT/items.jsonl, "
        "OUT/summary.json, OUT/report.md and OUT/report.html when --out is given.",
        epilog="exit codes: 0 at least one item was judged; 1 no item got a readable judgement (the "
        "first failure is printed); 2 bad arguments or input files; 3 --max-cost reached",
    )
    evaluate.add_argument("flow", metavar="FLOW", help="rubric | pairwise | reference | path/to/flow.yaml")
    evaluate.add_argument("--data", required=True, metavar="FILE.jsonl", help="the items to evaluate")
    evaluate.add_argument("--model", "-m", help="answers items that have no response; the default judge")
    evaluate.add_argument(
        "--judge-model",
        action="append",
        default=[],
        metavar="J",
        help="a judge (repeat for several: mean and agreement are reported)",
    )
    evaluate.add_argument("--out", metavar="DIR", help="write per-item results and reports here")
    evaluate.add_argument(
        "--concurrency",
        "--items-concurrency",
        dest="items_concurrency",
        type=int,
        default=4,
        metavar="N",
        help="items evaluated at once (default 4); model requests are bounded by --model-concurrency",
    )
    _add_run_options(evaluate)
    evaluate.set_defaults(func=eval_command)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    from alphaflow.models.cli import add_router_options

    add_router_options(parser)
    parser.add_argument(
        "--trace", metavar="FILE", help="the run's events, JSON lines (default OUT/trace.jsonl)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    from alphaflow.executors import add_executor_options

    add_executor_options(parser)


def _flow_executor(args: argparse.Namespace, trace: Any, sandbox: str | None = None) -> Any:
    """``None`` for the local executor; for ``--executor ray``, the callable that runs units there."""
    from alphaflow.executors import check_executor

    check_executor(args.executor, args.ray_address)
    if args.executor != "ray":
        return None
    import functools

    from alphaflow.executors.ray_flows import run_flows_ray

    return functools.partial(
        run_flows_ray,
        make_router=functools.partial(_router, args),  # the same router options on every node
        trace=trace,
        # eval: items at once; self-reward (no units flag): as many units as requests per model
        concurrency=getattr(args, "items_concurrency", None) or args.model_concurrency or 8,
        max_cost_usd=args.max_cost,
        sandbox_backend=sandbox,
        ray_address=args.ray_address,
    )


def _router(args: argparse.Namespace, trace: Any, model: str | None) -> Any:
    from alphaflow.models import build_router
    from alphaflow.models.cli import router_options

    router = build_router(model, trace=trace, **router_options(args))
    judges = args.judge_model if isinstance(args.judge_model, list) else [args.judge_model]
    for name in {model, *judges} - {None}:
        router.target(name)  # an unknown provider or a missing key: one line before any call
    return router


# -- judge self-reward -----------------------------------------------------------------------------
def self_reward_command(args: argparse.Namespace) -> int:
    from alphaflow.judge.code_reward import RewardWeights
    from alphaflow.judge.data import load_prompts
    from alphaflow.judge.self_reward import SelfRewardPlan, actors_for, nothing_succeeded, summary_lines

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, not {args.limit}")
    if args.new_prompts < 0:
        raise UserError(f"--new-prompts must be >= 0, not {args.new_prompts}")
    plan = SelfRewardPlan(
        out=Path(args.out),
        actors=actors_for(args.model, args.next_model, args.iterations),
        judge_model=args.judge_model,
        flow=args.flow,
        new_prompts=args.new_prompts,
        include_seeds=args.include_seeds,
        weights=RewardWeights.parse(args.weights) if args.weights else RewardWeights(),
        language=args.language,
    )
    if args.task == "codecontests":
        if not args.data:
            raise UserError(
                "--task codecontests needs --data FILE.jsonl (problems in the CodeContests layout)"
            )
        if args.prompts:
            raise UserError("--prompts is for the text task; with --task codecontests give --data")
        if args.new_prompts:
            raise UserError("--new-prompts is for the text task (problems are not self-instructed)")
        from alphaflow.problems import load_jsonl

        problems = load_jsonl(args.data)[: args.limit]
        if not problems:
            raise UserError(f"{args.data}:1: no problems in the file")
        plan.problems = [problem.for_flow() for problem in problems]  # never private tests
    else:
        if not args.prompts:
            raise UserError(
                'give --prompts FILE (JSON lines of {"prompt": ...}), or --task codecontests --data'
            )
        if args.data:
            raise UserError("--data is for --task codecontests; the text task reads --prompts")
        plan.prompts = load_prompts(args.prompts)[: args.limit]
    if args.train:
        from alphaflow.train.cli import run_training_loop

        return run_training_loop(args, plan, _router, _open_sandbox)

    def report(number: int, stats: dict[str, Any]) -> None:
        if not args.json:
            print("\n".join(summary_lines(stats, number)), flush=True)

    from alphaflow.judge.progress import JudgeProgress, ObservedTrace

    progress = JudgeProgress("self-reward prompts", unit_maps=("per_prompt", "per_problem"), quiet=args.json)

    async def main() -> list[dict[str, Any]]:
        from alphaflow.judge.runs import run_self_reward

        with ObservedTrace(args.trace or plan.out / "trace.jsonl", progress.handle) as trace, progress:
            router = _router(args, trace, args.model)
            try:
                return await run_self_reward(
                    plan,
                    router,
                    trace,
                    sandbox_factory=lambda: _open_sandbox(args.sandbox),
                    on_iteration=report,
                    executor=_flow_executor(args, trace, args.sandbox if plan.is_code else None),
                )
            finally:
                router.close()

    all_stats = asyncio.run(main())
    if args.json:
        print(json.dumps({"out": str(plan.out), "iterations": all_stats}, ensure_ascii=False))
    else:
        print(f"written: {plan.out}/iteration_*/dpo.jsonl (TRL format), candidates.jsonl, stats.json")
    if nothing_succeeded(all_stats):
        first = next((s["first_failure"] for s in all_stats if s.get("first_failure")), "no prompt to answer")
        what = (
            "every prompt failed"
            if all(s["failed_prompts"] == s["prompts"] for s in all_stats)
            else "no candidate got a readable judgement (nothing to build pairs from)"
        )
        print(f"alphaflow: error: {what}; first: {first}", file=sys.stderr)
        return 1
    return 0


def _open_sandbox(backend: str) -> Any:
    from alphaflow.sandbox import open_sandbox

    return open_sandbox(backend=backend)


# -- eval ------------------------------------------------------------------------------------------
def eval_command(args: argparse.Namespace) -> int:
    from alphaflow.judge.data import load_items
    from alphaflow.judge.report import eval_report, print_terminal, to_html, to_markdown
    from alphaflow.judge.runs import eval_kind, run_eval

    flow_path, kind = eval_kind(args.flow)
    judges = list(args.judge_model) or ([args.model] if args.model else [])
    if not judges:
        raise UserError("give --judge-model J (repeatable) or --model M (which then also judges)")
    if len(set(judges)) != len(judges):
        raise UserError("--judge-model: the same judge is named twice")
    if args.items_concurrency < 1:
        raise UserError(f"--items-concurrency must be at least 1, not {args.items_concurrency}")
    if kind is not None:
        items = load_items(args.data, kind.required, kind.optional)
        response_field = kind.response_output
        if not args.model and any(item.get(response_field) is None for item in items):
            missing = next(item["id"] for item in items if item.get(response_field) is None)
            raise UserError(
                f"{args.data}: item {missing!r} has no {response_field!r}: give --model to answer it"
            )
    else:
        items = load_items(args.data, (), ())
    out = Path(args.out) if args.out else None

    from alphaflow.judge.progress import JudgeProgress, ObservedTrace

    progress = JudgeProgress(f"eval {args.flow}", total=len(items), quiet=args.json)

    async def main() -> dict[str, Any]:
        trace_path = args.trace or (out / "trace.jsonl" if out else None)
        with ObservedTrace(trace_path, progress.handle) as trace, progress:
            router = _router(args, trace, args.model)
            try:
                return await run_eval(
                    flow_path,
                    items,
                    judges,
                    router,
                    trace,
                    model=args.model,
                    kind=kind,
                    concurrency=args.items_concurrency,
                    executor=_flow_executor(args, trace),
                )
            finally:
                router.close()

    result = asyncio.run(main())
    summary = result["summary"]
    metric = kind.metric if kind else f"mean {summary['field']}"
    report = eval_report(
        args.flow, metric, summary, data=str(args.data), model=args.model, records=result["records"]
    )
    if out:
        out.mkdir(parents=True, exist_ok=True)
        with (out / "items.jsonl").open("w", encoding="utf-8") as handle:
            for record in result["records"]:
                handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        public = {k: v for k, v in summary.items() if k != "item_means"}
        (out / "summary.json").write_text(
            json.dumps(public, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (out / "report.md").write_text(to_markdown(report), encoding="utf-8")
        (out / "report.html").write_text(to_html(report), encoding="utf-8")
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "item_means"}, ensure_ascii=False))
    else:
        print_terminal(report)
        if summary["failures"]:
            print(
                f"failures: {len(summary['failed_items'])} failed item(s), {summary['failures']} in all "
                f"({summary['dropped_samples']} dropped sample(s)); first: {summary['first_failure']}"
            )
        if out:
            print(f"written: {out}/items.jsonl, summary.json, report.md, report.html")
    if not any(figure["judged"] for figure in summary["judges"].values()):
        first = summary["first_failure"] or "every judgement was unreadable"
        print(f"alphaflow: error: no item got a readable judgement; first failure: {first}", file=sys.stderr)
        return 1
    return 0
