"""``alphaflow flows list`` and ``flows show``: the built-in flows, and one flow's step graph as a tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rich.markup import escape as e
from rich.tree import Tree

from alphaflow.engine import spec as S
from alphaflow.engine.loader import Flow
from alphaflow.engine.resolve import iter_flow_files
from alphaflow.engine.templating import JINJA_GLOBALS, TemplateError, references
from alphaflow.resources import flows_dir


def builtin_flows(directory: Path | None = None) -> list[tuple[str, str, Path]]:
    """``(name, description, path)`` of every flow file under ``flows/``."""
    directory = directory or flows_dir()
    found = []
    for path in iter_flow_files(directory):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            data = None
        if not isinstance(data, dict) or "steps" not in data:
            continue  # not a flow (a prompt or data file)
        name = str(data.get("name") or path.stem)
        description = " ".join(str(data.get("description") or "").split())
        found.append((name, description, path))
    return found


def reads(value: Any, *, expression: bool = False) -> set[str]:
    """The names a template value reads (dotted to two levels: ``inputs.problem``, ``judge.verdict``)."""
    names: set[str] = set()
    if isinstance(value, dict):
        for item in value.values():
            names |= reads(item)
    elif isinstance(value, list):
        for item in value:
            names |= reads(item)
    elif isinstance(value, str):
        try:
            refs = references(value, expression=expression)
        except TemplateError:
            return names
        for ref in refs:
            if ref.root in JINJA_GLOBALS:
                continue
            parts = ref.dotted.split(".")
            names.add(".".join(parts[:2]) if parts[0] == "inputs" else parts[0])
    return names


def _step_reads(flow: Flow, step: S.AnyStep) -> set[str]:
    fields = step.model_dump(
        by_alias=True, exclude={"id", "kind", "description", "retry", "on_error", "steps"}
    )
    names = set()
    for key, value in fields.items():
        names |= reads(value, expression=key in ("when", "until", "over", "count"))
    if isinstance(step, S.LlmStep) and step.prompt_file:
        names |= reads(flow.prompt_files.get(step.id, ""))
    # A loop/map lists what it reads from outside; its own iteration names and body steps are inside.
    inside = {body.id for body in S.body_of(step)}
    if isinstance(step, S.LoopStep):
        inside |= {"state", "iteration"}
    elif isinstance(step, S.MapStep):
        inside |= {step.as_, "index"}
    return names - inside


def _label(flow: Flow, step: S.AnyStep) -> str:
    label = f"[bold]{step.id}[/bold] [cyan]{step.kind}[/cyan]"
    if isinstance(step, S.LlmStep):
        label += f" -> {step.output.format}"
        if step.samples != 1:
            label += e(f" x{step.samples}")
    elif isinstance(step, S.PythonStep):
        label += e(f" {step.function}")
    elif isinstance(step, S.FlowStep):
        label += e(f" {step.flow}")
    elif isinstance(step, S.LoopStep):
        label += e(f" (max {step.max_iterations}" + (f", until {step.until}" if step.until else "") + ")")
    elif isinstance(step, S.MapStep):
        source = f"over {step.over}" if step.over else f"count {step.count}"
        label += e(f" ({source} as {step.as_}, concurrency {step.concurrency})")
    if step.when:
        label += f" [yellow]when {e(step.when)}[/yellow]"
    names = sorted(_step_reads(flow, step))
    if names:
        label += f" [dim]reads {e(', '.join(names))}[/dim]"
    return label


def _add_steps(tree: Tree, flow: Flow, steps: list[S.AnyStep]) -> None:
    for step in steps:
        branch = tree.add(_label(flow, step))
        body = S.body_of(step)
        if body:
            _add_steps(branch, flow, body)
        called = flow.calls.get(step.id) if isinstance(step, S.FlowStep) else None
        if called is not None:  # validated flows have no cycles, so this ends
            _add_steps(branch.add(f"[dim]flow {e(called.name)}[/dim]"), called, called.spec.steps)


def flow_tree(flow: Flow) -> Tree:
    tree = Tree(f"[bold]{e(flow.name)}[/bold] [dim]{e(str(flow.path))}[/dim]")
    if flow.spec.description:
        tree.add(e(" ".join(flow.spec.description.split())))
    if flow.spec.inputs:
        inputs = tree.add("[bold]inputs[/bold]")
        for name, declared in flow.spec.inputs.items():
            default = "" if declared.required else f" = {declared.default!r}"
            inputs.add(e(f"{name}: {declared.type}{default}"))
    _add_steps(tree.add("[bold]steps[/bold]"), flow, flow.spec.steps)
    if flow.spec.outputs:
        outputs = tree.add("[bold]outputs[/bold]")
        for name, value in flow.spec.outputs.items():
            names = sorted(reads(value))
            outputs.add(f"{e(name)} [dim]reads {e(', '.join(names) or '-')}[/dim]")
    return tree
