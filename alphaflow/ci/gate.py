"""``alphaflow ci gate``: run every check, hold it to its requirements and to the baseline.

A check holds when at least ``min_pass`` of its ``repeat`` runs meet every requirement, and no
required metric fell more than ``max_drop`` below the baseline run's value. The gate's result is
``OUT/gate.json`` (the same object ``--json`` prints); a later gate reads it back as ``--baseline``.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphaflow.ci.checks import CheckRun, GateSettings, run_check
from alphaflow.ci.config import LoadedConfig
from alphaflow.ci.requirements import Requirement
from alphaflow.errors import UserError

GATE_FILE = "gate.json"


@dataclass
class RequirementResult:
    requirement: Requirement
    value: float | None  # the mean over repeats
    total: float | None  # what "all" stands for
    holds_in: int  # repeats in which it held
    baseline: float | None = None
    regressed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.requirement.to_dict(),
            "value": self.value,
            "total": self.total,
            "holds_in": self.holds_in,
            "baseline": self.baseline,
            "regressed": self.regressed,
        }


@dataclass
class CheckVerdict:
    """A check's outcome: ``status`` is ``passed``, ``failed`` (a requirement), ``regressed`` or ``error``."""

    run: CheckRun
    line: int
    repeat: int
    needed: int
    held_repeats: int
    requirements: list[RequirementResult]
    max_drop: float | None
    status: str = "passed"
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.run.name,
            "kind": self.run.kind,
            "status": self.status,
            "passed": self.passed,
            "reasons": self.reasons,
            "line": self.line,
            "repeat": self.repeat,
            "min_pass": self.needed,
            "held_repeats": self.held_repeats,
            "max_drop": self.max_drop,
            "requirements": [r.to_dict() for r in self.requirements],
            "metrics": mean_metrics(self.run.repetitions),
            "units": {"total": len(self.run.units), "failed": sum(not u.passed for u in self.run.units)},
            **self.run.to_dict(),
        }


@dataclass
class GateResult:
    config: str
    out: Path
    checks: list[CheckVerdict]
    baseline: str | None = None
    model: str | None = None  # the model every check used (--model, else the config's), when one

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "config": self.config,
            "out": str(self.out),
            "baseline": self.baseline,
            "model": self.model,
            "checks": [check.to_dict() for check in self.checks],
        }


def mean_metrics(repetitions: list[dict[str, float | None]]) -> dict[str, float | None]:
    """Each metric's mean over the repeats (``None`` when some repeat could not measure it)."""
    names: list[str] = []
    for metrics in repetitions:
        names += [name for name in metrics if name not in names]
    means: dict[str, float | None] = {}
    for name in names:
        values = [metrics.get(name) for metrics in repetitions]
        means[name] = None if any(v is None for v in values) else sum(values) / len(values)  # type: ignore[arg-type]
    return means


def load_baseline(path: str) -> dict[str, dict[str, float | None]]:
    """``{check name: {metric: value}}`` from a gate's run directory or its ``gate.json``."""
    source = Path(path)
    if source.is_dir():
        source = source / GATE_FILE
    if not source.is_file():
        raise UserError(
            f"--baseline {path}: no {GATE_FILE} there (give a gate's --out directory or its JSON)"
        )
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"--baseline {source}: not a gate result ({error})") from None
    checks = data.get("checks") if isinstance(data, dict) else None
    if not isinstance(checks, list):
        raise UserError(f"--baseline {source}: not a gate result (no 'checks' list)")
    baseline: dict[str, dict[str, float | None]] = {}
    for check in checks:
        if (
            isinstance(check, dict)
            and isinstance(check.get("name"), str)
            and isinstance(check.get("metrics"), dict)
        ):
            baseline[check["name"]] = check["metrics"]
    return baseline


def judge_check(
    run: CheckRun, check: Any, line: int, baseline: dict[str, float | None] | None
) -> CheckVerdict:
    """Hold one check's runs to its requirements, its ``min_pass`` and its ``max_drop``."""
    requirements = check.requirements()
    means = mean_metrics(run.repetitions)
    held_repeats = 0
    results = [RequirementResult(r, means.get(r.metric), _total(r, run), 0) for r in requirements]
    for metrics in run.repetitions:
        all_hold = True
        for result in results:
            if result.requirement.holds(metrics.get(result.requirement.metric), result.total):
                result.holds_in += 1
            else:
                all_hold = False
        held_repeats += int(all_hold)
    verdict = CheckVerdict(
        run, line, check.repeat, check.needed_passes, held_repeats, results, check.max_drop
    )
    if held_repeats < check.needed_passes:
        verdict.status = "failed"
        for result in results:
            if result.holds_in < check.needed_passes:
                verdict.reasons.append(
                    f"{result.requirement.text} not met: {fmt(result.value)}"
                    + (
                        f" (held in {result.holds_in} of {check.repeat} runs, {check.needed_passes} needed)"
                        if check.repeat > 1
                        else ""
                    )
                )
    for result in results:
        if baseline is None:
            break
        result.baseline = baseline.get(result.requirement.metric)
        if check.max_drop is None or not result.requirement.higher_is_better:
            continue
        if result.baseline is not None and result.value is not None:
            drop = result.baseline - result.value
            if drop > check.max_drop + 1e-12:
                result.regressed = True
                if verdict.status == "passed":
                    verdict.status = "regressed"
                verdict.reasons.append(
                    f"{result.requirement.metric} fell from {fmt(result.baseline)} to {fmt(result.value)} "
                    f"(max_drop {check.max_drop:g})"
                )
    if run.error:
        verdict.status = "error" if verdict.status == "passed" or not run.repetitions else verdict.status
        verdict.reasons.append(run.error)
    if not run.units and verdict.status == "passed":  # nothing ran: never a pass
        verdict.status = "error"
        verdict.reasons.append("no unit finished")
    return verdict


def _total(requirement: Requirement, run: CheckRun) -> float | None:
    from alphaflow.ci.requirements import COUNT_METRICS

    name = COUNT_METRICS.get(requirement.metric)
    return run.totals.get(name) if name else None


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    return f"{value:.4g}"


def _cancel_on_sigterm() -> None:
    """SIGTERM (a cancelled CI job) cancels the gate like Ctrl-C: finished units stay on disk."""
    task = asyncio.current_task()
    try:
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signal support
        pass


async def run_gate(loaded: LoadedConfig, settings: GateSettings, baseline_path: str | None) -> GateResult:
    """Run every check in order; write ``OUT/gate.json``. Raises only for usage/config errors."""
    baseline = load_baseline(baseline_path) if baseline_path else None
    settings.out.mkdir(parents=True, exist_ok=True)
    _cancel_on_sigterm()
    verdicts: list[CheckVerdict] = []
    for index, check in enumerate(loaded.config.checks):
        if settings.announce:
            print(f"alphaflow ci: check {check.name} ({check.kind}) ...", file=sys.stderr, flush=True)
        run = await run_check(check, loaded, settings)
        verdict = judge_check(
            run, check, loaded.check_line(index), None if baseline is None else baseline.get(check.name, {})
        )
        verdicts.append(verdict)
    model = settings.model or loaded.resolve_model(loaded.config.model)
    result = GateResult(str(loaded.path), settings.out, verdicts, baseline_path, model)
    (settings.out / GATE_FILE).write_text(
        json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    return result
