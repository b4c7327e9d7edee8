"""The gate's Markdown summary: one table row per requirement, then the failing units.

Written to ``OUT/summary.md`` always, appended to ``$GITHUB_STEP_SUMMARY`` when set, and to
``--summary FILE`` when given; the sticky PR comment posts the same text.
"""

from __future__ import annotations

import os
from pathlib import Path

from alphaflow.ci.gate import GateResult, fmt

STATUS_ICONS = {"passed": "✅ pass", "failed": "❌ fail", "regressed": "📉 regression", "error": "⚠️ error"}
MAX_FAILING_UNITS = 10


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _link(path: str, out: Path, base_url: str | None) -> str:
    """A report path relative to the gate's folder, as a link when the reports are published."""
    try:
        relative = Path(path).resolve().relative_to(out.resolve().parent)
    except ValueError:
        relative = Path(path)
    if base_url:
        return f"[{relative.name}]({base_url.rstrip('/')}/{relative.as_posix()})"
    return f"`{relative.as_posix()}`"


def render_summary(result: GateResult, *, report_url: str | None = None, run_url: str | None = None) -> str:
    """The Markdown text: a headline, the table of checks, reasons, failing units and report links.

    ``report_url`` is where the gate's parent folder is published (reports become links); ``run_url``
    is the CI run whose artifacts hold them (GitHub Actions: the workflow run page).
    """
    failed = [c for c in result.checks if not c.passed]
    headline = (
        f"## alphaflow ci gate: ✅ all {len(result.checks)} checks hold"
        if not failed
        else f"## alphaflow ci gate: ❌ {len(failed)} of {len(result.checks)} checks fail"
    )
    facts = [f"config `{Path(result.config).name}`"]
    if result.model:
        facts.append(f"model `{result.model}`")
    if result.baseline:
        facts.append(f"baseline `{Path(result.baseline).name}`")
    lines = [headline, "", " · ".join(facts), ""]
    lines += [
        "| check | metric | requirement | value | baseline | status |",
        "|---|---|---|---|---|---|",
    ]
    for verdict in result.checks:
        status = STATUS_ICONS.get(verdict.status, verdict.status)
        for requirement in verdict.requirements:
            rule = requirement.requirement
            bound = "all" if rule.bound is None else f"{rule.bound:g}"
            value = fmt(requirement.value)
            if rule.bound is None and requirement.total is not None:
                value += f" of {requirement.total:g}"
            if verdict.repeat > 1:
                value += f" (held {requirement.holds_in}/{verdict.repeat}, min {verdict.needed})"
            row_status = status
            if requirement.holds_in < verdict.needed:
                row_status = STATUS_ICONS["failed"]
            elif requirement.regressed:
                row_status = STATUS_ICONS["regressed"]
            elif verdict.status in ("failed", "regressed"):
                row_status = "✅ pass"
            lines.append(
                "| "
                + " | ".join(
                    _cell(text)
                    for text in (
                        verdict.run.name,
                        rule.metric,
                        "all" if rule.bound is None else f"{rule.op} {bound}",
                        value,
                        fmt(requirement.baseline) if result.baseline else "-",
                        row_status,
                    )
                )
                + " |"
            )
    lines.append("")
    for verdict in result.checks:
        if verdict.reasons:
            lines.append(f"**{verdict.run.name}**: " + "; ".join(verdict.reasons))
            lines.append("")
        failing = [unit for unit in verdict.run.units if not unit.passed]
        if failing:
            lines.append(f"<details><summary>{verdict.run.name}: {len(failing)} failing unit(s)</summary>\n")
            for unit in failing[:MAX_FAILING_UNITS]:
                run = f" (repeat {unit.repetition + 1})" if verdict.repeat > 1 else ""
                lines.append(f"- `{_cell(unit.name)}`{run}: {_cell(unit.message)}")
            if len(failing) > MAX_FAILING_UNITS:
                lines.append(f"- ... and {len(failing) - MAX_FAILING_UNITS} more (see the JUnit file)")
            lines.append("\n</details>\n")
    reports = [(v.run.name, path) for v in result.checks for path in v.run.reports]
    if reports:
        lines.append(
            "Reports: " + ", ".join(f"{name} {_link(path, result.out, report_url)}" for name, path in reports)
        )
        lines.append("")
    if run_url:
        lines.append(f"JUnit, reports and traces: the artifacts of [this run]({run_url}).")
        lines.append("")
    return "\n".join(lines)


def write_summary(text: str, out: Path, summary_file: str | None) -> list[Path]:
    """``OUT/summary.md``, plus ``$GITHUB_STEP_SUMMARY`` (appended) and ``--summary FILE``."""
    written = [out / "summary.md"]
    written[0].write_text(text, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
        written.append(Path(step_summary))
    if summary_file:
        target = Path(summary_file)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
