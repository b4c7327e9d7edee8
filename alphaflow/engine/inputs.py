"""A flow's inputs: type checks, defaults, and turning ``--input k=v`` strings into typed values."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def parse_assignments(pairs: Sequence[str], spec: FlowSpec | None = None, *, flag: str = "--input",
                      reserved: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The one parser of ``KEY=VALUE`` flow inputs (``--input``/``--set`` on run, solve and bench).

    With the flow's ``spec``, each value is parsed by its input's declared type and an undeclared name
    is an error; without it (the flow is not loaded yet), values are read as YAML. ``@FILE`` reads a
    YAML/JSON file. ``reserved`` maps names the command sets itself to the hint shown for them.
    Raises ``UserError`` naming the flag.
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"{flag} {pair!r}: expected KEY=VALUE (for example {flag} num_ai_tests=4)")
        if reserved and name in reserved:
            raise UserError(f"{flag} {name}: {reserved[name]}")
        values[name] = parse_cli_value(spec, name, text, flag=flag)
    return values


def parse_cli_value(spec: FlowSpec | None, name: str, text: str, *, flag: str = "--input") -> Any:
    """``--input name=text``: parse by the declared type (YAML without a spec); ``@FILE`` reads a
    YAML/JSON file."""
    if spec is not None and name not in spec.inputs:
        declared = ", ".join(spec.inputs) or "none"
        raise UserError(f"{flag} {name}: flow '{spec.name}' has no input '{name}' (inputs: {declared})")
    kind = spec.inputs[name].type if spec is not None else "any"
    if text.startswith("@"):
        return read_data_file(Path(text[1:]), flag=f"{flag} {name}")
    if kind == "string":
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        if kind == "any":
            return text
        raise UserError(f"{flag} {name}: cannot parse '{text}' as {kind}") from None
    if kind == "any":
        return value
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if not TYPE_CHECKS[kind](value):
        raise UserError(f"{flag} {name}: '{text}' is not a valid {kind}")
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
