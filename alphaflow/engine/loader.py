"""Load a flow by path or name: validate it whole, then compile its templates once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphaflow.engine import spec as S
from alphaflow.engine.positions import Problem
from alphaflow.engine.resolve import default_search_path, resolve_flow
from alphaflow.engine.templating import TemplateCache
from alphaflow.engine.validate import Validator
from alphaflow.errors import FlowError, UserError
from alphaflow.step_functions.registry import load_cli_modules


@dataclass
class Flow:
    """A validated flow, ready to run."""

    spec: S.FlowSpec
    path: Path
    templates: TemplateCache
    search_path: list[Path]
    prompt_files: dict[str, str] = field(default_factory=dict)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)  # registered step functions
    calls: dict[str, Flow] = field(default_factory=dict)  # flow-step id -> the called flow

    @property
    def name(self) -> str:
        return self.spec.name


def find_flow_file(name_or_path: str | Path, search_path: Iterable[Path] | None = None) -> Path:
    directories = default_search_path(search_path or ())
    found = resolve_flow(str(name_or_path), relative_to=None, search_path=directories)
    if found is None:
        raise UserError(
            f"flow '{name_or_path}' not found (not a file, and no flow of that name in "
            f"{', '.join(str(d) for d in directories)})"
        )
    return found


def validate_flow(path: str | Path, search_path: Iterable[Path] | None = None,
                  functions: Sequence[str] = ()) -> list[Problem]:
    """Every problem of a flow file and of the flows it calls (empty when it is valid).

    ``functions``: modules (names or ``.py`` paths) whose step functions the flow may call besides
    the built-ins, as given with ``--functions``; ``UserError`` when one cannot be imported.
    """
    validator = Validator(default_search_path(search_path or ()), load_cli_modules(functions))
    return validator.all_problems(Path(path))


def load_flow(name_or_path: str | Path, search_path: Iterable[Path] | None = None,
              functions: Sequence[str] = ()) -> Flow:
    """Validate and load a flow; raise ``FlowError`` listing every problem (file:line:col).
    ``functions`` as for ``validate_flow``."""
    path = find_flow_file(name_or_path, search_path)
    validator = Validator(default_search_path(search_path or ()), load_cli_modules(functions))
    problems = validator.all_problems(path)
    if problems:
        raise FlowError(problems)
    return _build(path.resolve(), validator, {})


def _build(path: Path, validator: Validator, built: dict[Path, Flow]) -> Flow:
    if path in built:
        return built[path]
    checked = validator.done[path]
    assert checked.spec is not None  # validated without problems
    templates = TemplateCache()
    for source, is_expression in checked.template_sources:
        if is_expression:
            templates.expression(source)
        else:
            templates.renderer(source)
    flow = Flow(checked.spec, path, templates, validator.search_path, dict(checked.prompt_files),
                dict(checked.functions))
    built[path] = flow
    for step_id, called in checked.calls.items():
        flow.calls[step_id] = _build(called, validator, built)
    return flow


def iter_steps(steps: Iterable[S.AnyStep]) -> Iterable[S.AnyStep]:
    for step in steps:
        yield step
        yield from iter_steps(S.body_of(step))
