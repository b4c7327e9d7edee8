"""A flow's inputs: type checks, defaults, and turning ``--input k=v`` strings into typed values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from alphaflow.engine.spec import FlowSpec
from alphaflow.errors import UserError

TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, dict),
    "any": lambda v: True,
}


def _as_plain(value: Any) -> Any:
    """Objects with ``for_flow()`` (a Problem) or ``to_dict()`` become plain data."""
    for attribute in ("for_flow", "to_dict", "model_dump"):
        method = getattr(value, attribute, None)
        if callable(method):
            return method()
    return value


def bind_inputs(spec: FlowSpec, given: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """Check the given inputs against the declaration and fill defaults. ``where`` names the flow."""
    unknown = sorted(set(given) - set(spec.inputs))
    if unknown:
        declared = ", ".join(spec.inputs) or "none"
        raise UserError(f"{where}: unknown input '{unknown[0]}' (inputs: {declared})")
    bound: dict[str, Any] = {}
    for name, declared in spec.inputs.items():
        if name in given:
            value = _as_plain(given[name])
        elif declared.required:
            raise UserError(f"{where}: missing required input '{name}' ({declared.type})")
        else:
            value = declared.default
        if value is not None and not TYPE_CHECKS[declared.type](value):
            raise UserError(
                f"{where}: input '{name}' must be of type {declared.type}, got {type(value).__name__}"
            )
        bound[name] = list(value) if isinstance(value, tuple) else value
    return bound


def parse_cli_value(spec: FlowSpec, name: str, text: str) -> Any:
    """``--input name=text``: parse by the declared type; ``@FILE`` reads a YAML/JSON file."""
    if name not in spec.inputs:
        declared = ", ".join(spec.inputs) or "none"
        raise UserError(f"--input {name}: flow '{spec.name}' has no input '{name}' (inputs: {declared})")
    kind = spec.inputs[name].type
    if text.startswith("@"):
        return read_data_file(Path(text[1:]), flag=f"--input {name}")
    if kind == "string":
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        if kind == "any":
            return text
        raise UserError(f"--input {name}: cannot parse '{text}' as {kind}") from None
    if kind == "any":
        return value
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if not TYPE_CHECKS[kind](value):
        raise UserError(f"--input {name}: '{text}' is not a valid {kind}")
    return value


def read_data_file(path: Path, *, flag: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{flag}: cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    try:
        return yaml.safe_load(text)  # JSON is YAML
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else 1
        raise UserError(f"{flag}: {path}:{line}: not valid YAML/JSON: {error.problem}") from None
