"""Validate a flow file and report every problem as ``file:line:col yaml.path: message``.

Two passes over the same positioned YAML data:
1. structure — the pydantic spec (unknown keys, wrong types, missing fields, unknown kinds);
2. meaning — on the raw data, so it still runs when pass 1 found problems: duplicate and reserved
   ids, every template's free names against what is defined at that point, ``python`` steps that
   name no registered step function or give it the wrong arguments, missing ``prompt_file``s, and
   ``kind: flow`` calls (missing flows, wrong inputs, cycles).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from alphaflow.engine import spec as S
from alphaflow.engine.positions import (
    Path_,
    Position,
    Problem,
    SourceMap,
    YamlSyntaxError,
    format_path,
    load_with_positions,
    schema_error_message,
)
from alphaflow.engine.resolve import resolve_flow
from alphaflow.engine.templating import JINJA_GLOBALS, TemplateError, references
from alphaflow.step_functions.registry import StepFunctions

GLOBAL_NAMES = ("inputs", "model", "sample_index")
# Names a step id may not take: they would shadow the run's names or iteration names.
RESERVED_IDS = frozenset(
    {*GLOBAL_NAMES, "state", "iteration", "item", "index", "loop", "self", *JINJA_GLOBALS}
)

_KIND_MODELS: dict[str, type[BaseModel]] = {
    "llm": S.LlmStep,
    "sandbox": S.SandboxStep,
    "python": S.PythonStep,
    "loop": S.LoopStep,
    "map": S.MapStep,
    "flow": S.FlowStep,
}
_NESTED_MODELS: dict[str, type[BaseModel]] = {
    "retry": S.Retry,
    "output": S.OutputFormat,
    "limits": S.SandboxLimits,
}


@dataclass
class CheckedFlow:
    """The outcome of validating one file."""

    path: Path
    spec: S.FlowSpec | None
    problems: list[Problem]
    prompt_files: dict[str, str] = field(default_factory=dict)  # step id -> template text
    calls: dict[str, Path] = field(default_factory=dict)  # flow-step id -> called file
    template_sources: list[tuple[str, bool]] = field(default_factory=list)  # (source, is_expression)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)  # step function name -> callable


class Validator:
    """Validates flow files; shares results across files so each is checked once and cycles show."""

    def __init__(self, search_path: Iterable[Path] = (), functions: Sequence[str] = ()) -> None:
        """``functions``: module names already imported from ``--functions`` (``load_cli_modules``);
        their step functions are callable from every flow this validator checks."""
        self.search_path = list(search_path)
        self.function_modules = list(functions)
        self.done: dict[Path, CheckedFlow] = {}
        self._in_progress: list[Path] = []

    def check(self, path: Path) -> CheckedFlow:
        path = path.resolve()
        if path in self.done:
            return self.done[path]
        self._in_progress.append(path)
        try:
            checked = _FileCheck(self, path).run()
        finally:
            self._in_progress.pop()
        self.done[path] = checked
        return checked

    def all_problems(self, path: Path) -> list[Problem]:
        """Problems of ``path`` and of every flow it calls (each once)."""
        self.check(path)
        seen: set[Path] = set()
        result: list[Problem] = []
        stack = [path.resolve()]
        while stack:
            current = stack.pop()
            if current in seen or current not in self.done:
                continue
            seen.add(current)
            checked = self.done[current]
            result.extend(checked.problems)
            stack.extend(checked.calls.values())
        return result


def _body_marker(step_id: str) -> str:
    return f"\0body:{step_id}"


def display_name(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _FileCheck:
    def __init__(self, validator: Validator, path: Path) -> None:
        self.validator = validator
        self.path = path
        self.file = display_name(path)
        self.problems: list[Problem] = []
        self.source_map = SourceMap()
        self.lines: list[str] = []
        self.data: Any = None
        self.result = CheckedFlow(path, None, self.problems)
        self.step_owner: dict[str, str | None] = {}  # step id -> id of the loop/map whose body holds it
        self.input_names: set[str] | None = None
        self.step_functions: StepFunctions | None = None  # set by _check_functions_header

    # -- reporting ---------------------------------------------------------------------------
    def add(self, position: Position, path: Path_, message: str, file: str | None = None) -> None:
        self.problems.append(Problem(file or self.file, position, format_path(path), message))

    # -- the passes ----------------------------------------------------------------------------
    def run(self) -> CheckedFlow:
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            self.add(Position(1, 1), (), f"not UTF-8 text (byte {error.start})")
            return self.result
        except OSError as error:
            self.add(Position(1, 1), (), f"cannot read: {error.strerror or error}")
            return self.result
        self.lines = text.splitlines()
        try:
            self.data, self.source_map = load_with_positions(text)
        except YamlSyntaxError as error:
            self.add(error.position, (), error.message)
            return self.result
        if not isinstance(self.data, dict):
            self.add(Position(1, 1), (), "a flow file must be a YAML mapping (name, inputs, steps, outputs)")
            return self.result
        self.check_structure()
        self.check_meaning()
        self.problems.sort(key=lambda p: (p.file != self.file, p.position.line, p.position.col))
        return self.result

    def check_structure(self) -> None:
        try:
            self.result.spec = S.FlowSpec.model_validate(self.data)
        except ValidationError as error:
            self._report_pydantic(error)

    def _report_pydantic(self, error: ValidationError) -> None:
        grouped: dict[tuple[Path_, str], list[str]] = {}
        positions: dict[tuple[Path_, str], Position] = {}
        for item in error.errors(include_url=False):
            path, missing = self._data_path(item["loc"])
            kind = item["type"]
            message = self._message(item, path)
            if kind == "union_tag_invalid":
                path = (*path, "kind")
            if kind == "missing" or missing:
                position = self.source_map.value(path[:-1])
            elif kind == "extra_forbidden":
                position = self.source_map.key(path)
            else:
                position = self.source_map.value(path)
            key = (path, "union" if kind not in ("missing", "extra_forbidden") else kind)
            grouped.setdefault(key, [])
            if message not in grouped[key]:
                grouped[key].append(message)
            positions[key] = position
        for key, messages in grouped.items():
            self.add(positions[key], key[0], "; ".join(messages))

    def _data_path(self, loc: tuple[Any, ...]) -> tuple[Path_, bool]:
        """Map a pydantic error location onto the YAML path (dropping union tags and type labels)."""
        path: list[str | int] = []
        current: Any = self.data
        for part in loc:
            if isinstance(current, dict):
                if part in current:
                    path.append(part)
                    current = current[part]
                elif current.get("kind") == part:
                    continue  # the discriminated union's tag
                else:
                    path.append(part)
                    return tuple(path), True
            elif isinstance(current, list) and isinstance(part, int) and part < len(current):
                path.append(part)
                current = current[part]
            else:
                break  # a type label of a union member (``str``, ``list[any]``)
        return tuple(path), False

    def _message(self, item: dict[str, Any], path: Path_) -> str:
        def allowed() -> list[str]:
            model = self._model_at(path[:-1])
            fields = model.model_fields.items() if model else []
            return [f.alias or name for name, f in fields if name != "required"]

        shared = schema_error_message(item, path[-1] if path else "", allowed, "step", S.STEP_KINDS)
        if shared is not None:
            return shared
        kind = item["type"]
        if kind == "string_pattern_mismatch" and path and path[-1] == "id":
            return f"'{item['input']}' is not a valid id (letters, digits and _, not starting with a digit)"
        if kind == "string_pattern_mismatch" and path == ("name",):
            return f"flow name '{item['input']}' may only use letters, digits and _ . / -"
        if kind == "string_pattern_mismatch" and path and path[-1] == "as":
            return f"'{item['input']}' is not a valid name (letters, digits and _, not starting with a digit)"
        if kind == "string_pattern_mismatch" and path and path[-1] == "function":
            return f"'{item['input']}' is not of the form package.module:function"
        message = item["msg"]
        return message.removeprefix("Value error, ")

    def _model_at(self, path: Path_) -> type[BaseModel] | None:
        if path == ():
            return S.FlowSpec
        node: Any = self.data
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        if isinstance(node, dict) and node.get("kind") in _KIND_MODELS and isinstance(path[-1], int):
            return _KIND_MODELS[node["kind"]]
        if len(path) == 2 and path[0] == "inputs":
            return S.InputSpec
        return _NESTED_MODELS.get(str(path[-1]))

    # -- pass 2: meaning ----------------------------------------------------------------------
    def check_meaning(self) -> None:
        self._check_functions_header()
        inputs = self.data.get("inputs")
        if isinstance(inputs, dict):
            self.input_names = {str(name) for name in inputs}
            self._check_input_defaults(inputs)
        steps = self.data.get("steps")
        if not isinstance(steps, list):
            return
        self._collect_ids(steps, ("steps",), owner=None, seen={})
        defined = {name: "global" for name in GLOBAL_NAMES}
        after = self._check_steps(steps, ("steps",), defined)
        outputs = self.data.get("outputs")
        if isinstance(outputs, dict):
            self._check_template(outputs, ("outputs",), after)

    def _check_input_defaults(self, inputs: dict[str, Any]) -> None:
        from alphaflow.engine.inputs import TYPE_CHECKS

        for name, declared in inputs.items():
            if not isinstance(declared, dict) or "default" not in declared:
                continue
            check = TYPE_CHECKS.get(declared.get("type", "any"))
            default = declared["default"]
            if check and default is not None and not check(default):
                path = ("inputs", name, "default")
                self.add(
                    self.source_map.value(path),
                    path,
                    f"default {default!r} is not of type {declared['type']}",
                )

    def _collect_ids(self, steps: list[Any], base: Path_, owner: str | None, seen: dict[str, Path_]) -> None:
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            path = (*base, index)
            step_id = step.get("id")
            if isinstance(step_id, str):
                id_path = (*path, "id")
                if step_id in seen:
                    first = self.source_map.value(seen[step_id])
                    self.add(
                        self.source_map.value(id_path),
                        id_path,
                        f"duplicate step id '{step_id}' (first defined at line {first.line})",
                    )
                else:
                    seen[step_id] = id_path
                    self.step_owner[step_id] = owner
                if step_id in RESERVED_IDS:
                    self.add(
                        self.source_map.value(id_path), id_path, f"step id '{step_id}' is a reserved name"
                    )
            body = step.get("steps")
            if step.get("kind") in ("loop", "map") and isinstance(body, list):
                self._collect_ids(body, (*path, "steps"), step_id if isinstance(step_id, str) else None, seen)

    def _check_steps(self, steps: list[Any], base: Path_, defined: dict[str, str]) -> dict[str, str]:
        """Check each step against the names defined before it; return the names defined after."""
        scope = dict(defined)
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            path = (*base, index)
            self._check_step(step, path, scope)
            step_id = step.get("id")
            if isinstance(step_id, str) and step_id not in RESERVED_IDS:
                scope[step_id] = "step"
        return scope

    def _check_step(self, step: dict[str, Any], path: Path_, scope: dict[str, str]) -> None:
        kind = step.get("kind")
        if isinstance(step.get("when"), str):
            self._check_template(step["when"], (*path, "when"), scope, expression=True)
        if kind == "llm":
            for key in ("model", "system", "user", "temperature", "max_tokens", "top_p", "samples"):
                self._check_template(step.get(key), (*path, key), scope)
            output = step.get("output")
            if isinstance(output, dict):
                self._check_template(output.get("language"), (*path, "output", "language"), scope)
            if isinstance(step.get("prompt_file"), str):
                self._check_prompt_file(step, path, scope)
        elif kind == "sandbox":
            for key in ("code", "language", "tests", "limits", "stop_on_first_failure"):
                self._check_template(step.get(key), (*path, key), scope)
        elif kind == "python":
            self._check_template(step.get("args"), (*path, "args"), scope)
            if isinstance(step.get("function"), str):
                self._check_function(step, path)
        elif kind == "flow":
            self._check_template(step.get("inputs"), (*path, "inputs"), scope)
            if isinstance(step.get("flow"), str):
                self._check_flow_call(step, path)
        elif kind == "loop":
            self._check_template(step.get("max_iterations"), (*path, "max_iterations"), scope)
            self._check_template(step.get("state"), (*path, "state"), scope)
            inner = {**scope, "state": "loop state", "iteration": "loop iteration"}
            if isinstance(step.get("id"), str):
                inner[_body_marker(step["id"])] = "body"  # its body's steps are visible inside it
            if isinstance(step.get("until"), str):
                self._check_template(step["until"], (*path, "until"), inner, expression=True)
            body = step.get("steps")
            after = self._check_steps(body, (*path, "steps"), inner) if isinstance(body, list) else inner
            self._check_template(step.get("update"), (*path, "update"), after)
        elif kind == "map":
            if isinstance(step.get("over"), str):
                self._check_template(step["over"], (*path, "over"), scope, expression=True)
            if isinstance(step.get("count"), str):
                self._check_template(step["count"], (*path, "count"), scope, expression=True)
            self._check_template(step.get("concurrency"), (*path, "concurrency"), scope)
            name = step.get("as", "item")
            inner = {**scope, "index": "map index"}
            if isinstance(step.get("id"), str):
                inner[_body_marker(step["id"])] = "body"
            if isinstance(name, str):
                inner[name] = "map item"
            body = step.get("steps")
            after = self._check_steps(body, (*path, "steps"), inner) if isinstance(body, list) else inner
            self._check_template(step.get("result"), (*path, "result"), after)

    # -- step functions (kind: python) ------------------------------------------------------------
    def _check_functions_header(self) -> None:
        """Import the modules the flow's ``functions:`` names (relative to the flow's folder)."""
        from alphaflow.step_functions.registry import FunctionSourceError, import_functions_module

        modules = list(self.validator.function_modules)
        header = self.data.get("functions")
        if isinstance(header, list):
            for index, spec in enumerate(header):
                if not isinstance(spec, str):
                    continue  # a type error, reported by the structure pass
                try:
                    modules.append(import_functions_module(spec, relative_to=self.path.parent))
                except FunctionSourceError as error:
                    self.add(self.source_map.value(("functions", index)), ("functions", index), str(error))
        self.step_functions = StepFunctions(modules)

    def _check_function(self, step: dict[str, Any], path: Path_) -> None:
        """The step names a step function this flow may call, and its ``args`` fit its signature."""
        name = step["function"]
        field_path = (*path, "function")
        assert self.step_functions is not None
        entry = self.step_functions.get(name)
        if entry is None:
            self.add(self.source_map.value(field_path), field_path, self.step_functions.not_found(name))
            return
        self.result.functions[name] = entry.function
        args = step.get("args", {})
        if not isinstance(args, dict):
            return  # a type error, reported by the structure pass
        unknown, missing = entry.argument_problems(str(key) for key in args)
        takes = ", ".join(entry.argument_names()) or "none"
        for key in unknown:
            arg_path = (*path, "args", key)
            self.add(
                self.source_map.key(arg_path),
                arg_path,
                f"step function '{name}' has no argument '{key}' (arguments: {takes})",
            )
        for key in missing:
            self.add(
                self.source_map.value(field_path),
                field_path,
                f"step function '{name}' needs argument '{key}' (give it in `args`)",
            )

    # -- templates -----------------------------------------------------------------------------
    def _check_template(
        self,
        value: Any,
        path: Path_,
        scope: dict[str, str],
        *,
        expression: bool = False,
        file: str | None = None,
        origin: Position | None = None,
    ) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self._check_template(item, (*path, key), scope)
            return
        if isinstance(value, list):
            for index, item in enumerate(value):
                self._check_template(item, (*path, index), scope)
            return
        if not isinstance(value, str):
            return
        self.result.template_sources.append((value, expression))
        try:
            refs = references(value, expression=expression)
        except TemplateError as error:
            self.add(origin or self.source_map.value(path), path, str(error), file)
            return
        for ref in refs:
            message = self._undefined(ref.root, ref.dotted, scope)
            if message:
                position = origin or self._template_line(path, ref.lineno, expression)
                if origin is not None:
                    position = Position(ref.lineno, 1)
                self.add(position, path, message, file)

    def _undefined(self, root: str, dotted: str, scope: dict[str, str]) -> str | None:
        if root in JINJA_GLOBALS:
            return None
        if root in scope:
            if root == "inputs" and self.input_names is not None and "." in dotted:
                name = dotted.split(".")[1]
                if name not in self.input_names:
                    declared = ", ".join(sorted(self.input_names)) or "none"
                    return f"undefined input '{name}' (declared inputs: {declared})"
            return None
        if root in self.step_owner:
            owner = self.step_owner[root]
            if owner is not None and _body_marker(owner) not in scope:
                return f"'{root}' is a step inside '{owner}' and is not visible here"
            return f"'{root}' is used before it is defined (steps run in order)"
        return f"undefined name '{dotted}'"

    def _template_line(self, path: Path_, lineno: int, expression: bool) -> Position:
        start = self.source_map.value(path)
        if expression or lineno <= 1 and path not in self.source_map.block_scalars:
            return start
        if path in self.source_map.block_scalars:
            line = start.line + lineno  # block text starts on the line after `|`
            if 0 < line <= len(self.lines):
                text = self.lines[line - 1]
                return Position(line, len(text) - len(text.lstrip()) + 1)
        return start

    def _check_prompt_file(self, step: dict[str, Any], path: Path_, scope: dict[str, str]) -> None:
        field_path = (*path, "prompt_file")
        prompt_path = (self.path.parent / step["prompt_file"]).resolve()
        if not prompt_path.is_file():
            self.add(self.source_map.value(field_path), field_path, f"prompt file not found: {prompt_path}")
            return
        try:
            text = prompt_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            self.add(self.source_map.value(field_path), field_path, f"cannot read prompt file: {error}")
            return
        if isinstance(step.get("id"), str):
            self.result.prompt_files[step["id"]] = text
        self._check_template(text, field_path, scope, file=display_name(prompt_path), origin=Position(1, 1))

    # -- kind: flow ----------------------------------------------------------------------------
    def _check_flow_call(self, step: dict[str, Any], path: Path_) -> None:
        field_path = (*path, "flow")
        position = self.source_map.value(field_path)
        reference = step["flow"]
        target = resolve_flow(reference, relative_to=self.path.parent, search_path=self.validator.search_path)
        if target is None:
            self.add(position, field_path, f"flow '{reference}' not found (by path or name)")
            return
        if isinstance(step.get("id"), str):
            self.result.calls[step["id"]] = target
        if target in self.validator._in_progress:
            chain = self.validator._in_progress[self.validator._in_progress.index(target) :]
            names = " -> ".join(display_name(p) for p in [*chain, target])
            self.add(position, field_path, f"flow cycle: {names}")
            return
        called = self.validator.check(target)
        if called.spec is None:
            if not called.problems:
                return
            if any("flow cycle" in p.message for p in called.problems):
                self.add(position, field_path, f"flow '{reference}' is part of a flow cycle")
            return
        given = step.get("inputs") if isinstance(step.get("inputs"), dict) else {}
        for name in given:
            if name not in called.spec.inputs:
                input_path = (*path, "inputs", name)
                declared = ", ".join(called.spec.inputs) or "none"
                self.add(
                    self.source_map.key(input_path),
                    input_path,
                    f"flow '{called.spec.name}' has no input '{name}' (inputs: {declared})",
                )
        for name, declared_input in called.spec.inputs.items():
            if declared_input.required and name not in given:
                self.add(position, field_path, f"flow '{called.spec.name}' needs input '{name}'")
