"""``alphaflow ci fix``: a verified patch for failing tests.

1. Copy the repository (``alphaflow.ci.workspace``), run ``--setup-command`` in the copy (network on,
   secrets off), run the tests in the sandbox (network off): the baseline.
2. Nothing fails: exit 0, no patch. Otherwise run the fix flow (``flows/ci_fix.yaml``) on the failures.
3. Verify independently of the flow: run the tests once more on the copy with the final edits. The
   patch is *verified* when the command exits 0, every baseline failure now passes and every baseline
   pass still passes. Write the diff and a Markdown explanation; ``--apply`` writes a verified patch
   into the working tree. Exit 0 only for a verified patch.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphaflow.ci.workspace import copy_repo, run_setup, run_tests, safe_relative
from alphaflow.errors import UserError


@dataclass
class FixRequest:
    repo: Path
    test_command: str
    out: Path
    model: str | None
    patch: Path | None = None
    explanation: Path | None = None
    apply: bool = False
    sandbox: str = "docker"
    image: str | None = None
    setup_command: str | None = None
    timeout_s: float = 300.0
    max_rounds: int = 4
    flow: str = "ci_fix"
    api_base: str | None = None
    max_cost: float | None = None
    router: dict[str, Any] = field(default_factory=dict)


@dataclass
class FixOutcome:
    status: str  # "green" (nothing to fix) | "verified" | "unverified"
    baseline: dict[str, Any]
    final: dict[str, Any] | None = None
    patch: str = ""
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)
    patch_path: str | None = None
    explanation_path: str | None = None
    applied: bool = False
    cost_usd: float | None = 0.0
    calls: int = 0
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.status in ("green", "verified") else 1

    def to_dict(self) -> dict[str, Any]:
        def short(run: dict[str, Any] | None) -> dict[str, Any] | None:
            return (
                None
                if run is None
                else {k: run[k] for k in ("exit_code", "passed", "failed", "green") if k in run}
            )

        return {
            "status": self.status,
            "verified": self.status == "verified",
            "baseline": short(self.baseline),
            "final": short(self.final),
            "files": self.files,
            "patch": self.patch_path,
            "explanation": self.explanation_path,
            "applied": self.applied,
            "notes": self.notes,
            "reasons": self.reasons,
            "cost_usd": self.cost_usd,
            "calls": self.calls,
            "seconds": round(self.seconds, 2),
        }


def verify(baseline: dict[str, Any], final: dict[str, Any]) -> list[str]:
    """Why ``final`` is not a verified fix of ``baseline`` (empty when it is)."""
    reasons = []
    still = [name for name in baseline["failed"] if final["tests"].get(name) != "passed"]
    broken = [name for name in baseline["passed"] if final["tests"].get(name) != "passed"]
    if still:
        reasons.append(f"still failing: {', '.join(still[:10])}")
    if broken:
        reasons.append(f"broken by the patch: {', '.join(broken[:10])}")
    if final["exit_code"] != 0:
        reasons.append(f"the test command exits with {final['exit_code']}")
    return reasons


def explanation_markdown(request: FixRequest, outcome: FixOutcome) -> str:
    """The Markdown explanation that goes beside the patch (and into a PR body)."""
    lines = ["## alphaflow ci fix", ""]
    verdict = {
        "green": "✅ every test already passes: nothing to fix",
        "verified": "✅ verified: the patch makes the failing tests pass and breaks none",
        "unverified": "❌ no verified patch",
    }[outcome.status]
    lines += [verdict, "", f"Test command: `{request.test_command}`", ""]
    if outcome.baseline["failed"]:
        lines.append("Failing before: " + ", ".join(f"`{n}`" for n in outcome.baseline["failed"]))
    if outcome.final is not None:
        lines.append("Failing after: " + (", ".join(f"`{n}`" for n in outcome.final["failed"]) or "none"))
    lines.append("")
    for reason in outcome.reasons:
        lines.append(f"- {reason}")
    if outcome.explanations:
        lines += ["", "### What the patch changes", ""]
        lines += [text.strip() + "\n" for text in outcome.explanations]
    if outcome.notes:
        lines += ["", "### Rounds", ""]
        lines += [f"{i}. {note}" for i, note in enumerate(outcome.notes, start=1)]
    if outcome.patch:
        lines += ["", "### Patch", "", "```diff", outcome.patch.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


async def run_fix(request: FixRequest) -> FixOutcome:
    """Steps 1-3 above; raises ``UserError`` for usage mistakes (no model, bad repo, failing set-up)."""
    from alphaflow.engine import RunContext, load_flow, run_flow
    from alphaflow.models import build_router
    from alphaflow.trace import Trace

    started = time.monotonic()
    flow = load_flow(request.flow)  # a FlowError before anything runs
    request.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="alphaflow-fix-") as temporary:
        copy = Path(temporary) / "repo"
        copy_repo(request.repo, copy)
        if request.setup_command:
            run_setup(request.setup_command, copy, request.timeout_s)
        workspace = {
            "copy": str(copy),
            "test_command": request.test_command,
            "sandbox": request.sandbox,
            "image": request.image,
            "timeout_s": request.timeout_s,
        }
        baseline = await run_tests(workspace)
        outcome = FixOutcome(status="green", baseline=baseline)
        if baseline["green"]:
            outcome.seconds = time.monotonic() - started
            return outcome
        if not request.model:
            raise UserError("--model is required to fix failing tests (or set ALPHAFLOW_MODEL)")
        with Trace(request.out / "trace.jsonl") as trace:
            router = build_router(
                request.model,
                api_base=request.api_base,
                max_cost_usd=request.max_cost,
                trace=trace,
                cache_path=None,
                **request.router,
            )
            router.target(request.model)
            try:
                context = RunContext(router=router, trace=trace, model=request.model)
                inputs = {"workspace": workspace, "baseline": baseline, "max_rounds": request.max_rounds}
                result = await run_flow(flow, inputs=inputs, context=context)
            finally:
                outcome.cost_usd, outcome.calls = router.usage.cost_usd, router.usage.calls
                router.close()
        outputs = result.outputs
        overrides = {safe_relative(k): str(v) for k, v in dict(outputs.get("overrides") or {}).items()}
        outcome.patch = str(outputs.get("patch") or "")
        outcome.files = sorted(overrides)
        outcome.notes = [str(n) for n in outputs.get("notes") or []]
        outcome.explanations = [str(e) for e in outputs.get("explanations") or []]
        outcome.final = await run_tests(workspace, overrides) if overrides else baseline
        outcome.reasons = verify(baseline, outcome.final) if overrides else ["no edit was kept"]
        outcome.status = "verified" if not outcome.reasons and outcome.patch else "unverified"
        if request.apply and outcome.status == "verified":
            for name, text in overrides.items():
                target = request.repo / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            outcome.applied = True
    outcome.seconds = time.monotonic() - started
    return outcome


def run_fix_command(request: FixRequest, *, as_json: bool) -> int:
    """Run, write the patch and the explanation, print the outcome; returns the exit status."""
    from alphaflow.ci import github

    outcome = asyncio.run(run_fix(request))
    patch_path = request.patch or request.out / "fix.patch"
    explanation_path = request.explanation or request.out / "fix.md"
    for path in (patch_path, explanation_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    if outcome.patch and outcome.status == "verified":  # only a verified patch is handed on
        patch_path.write_text(outcome.patch, encoding="utf-8")
        outcome.patch_path = str(patch_path)
    explanation_path.write_text(explanation_markdown(request, outcome), encoding="utf-8")
    outcome.explanation_path = str(explanation_path)
    (request.out / "fix.json").write_text(json.dumps(outcome.to_dict(), indent=2) + "\n", encoding="utf-8")
    github.set_outputs(
        {
            "fixed": "true" if outcome.status in ("green", "verified") else "false",
            "status": outcome.status,
            "patch-file": outcome.patch_path or "",
            "explanation-file": str(explanation_path),
        }
    )
    if as_json:
        print(json.dumps(outcome.to_dict(), ensure_ascii=False))
    else:
        base = outcome.baseline
        print(f"tests before: {len(base['passed'])} passed, {len(base['failed'])} failed")
        if outcome.final is not None:
            print(
                f"tests after:  {len(outcome.final['passed'])} passed, {len(outcome.final['failed'])} failed"
            )
        for note in outcome.notes:
            print(f"  - {note}")
        message = {
            "green": "nothing to fix: every test passes",
            "verified": f"verified patch: {outcome.patch_path}" + (" (applied)" if outcome.applied else ""),
            "unverified": "no verified patch: " + "; ".join(outcome.reasons),
        }[outcome.status]
        print(message)
        print(f"explanation: {explanation_path}")
    if outcome.status == "unverified" and github.in_actions():
        print(
            github.annotation("error", "; ".join(outcome.reasons), title="alphaflow ci fix"), file=sys.stderr
        )
    return outcome.exit_code
