"""``--set key=value``: flow input overrides, typed by the flow's input declarations."""

from __future__ import annotations

from typing import Any

import yaml

from alphaflow.errors import UserError

# Inputs that solve itself provides; setting them with --set would bypass the problem parser.
RESERVED = {"problem": "give the problem as the PROBLEM argument", "language": "use --language"}

_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "object": (dict,),
}


def parse_overrides(pairs: list[str], declared: dict[str, Any], flow_name: str) -> dict[str, Any]:
    """``["num_ai_tests=4", ...]`` -> ``{"num_ai_tests": 4}``; ``declared`` maps input name -> spec
    (anything with a ``type`` attribute)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--set {pair}: expected KEY=VALUE (for example --set num_ai_tests=4)")
        if name in RESERVED:
            raise UserError(f"--set {name}: {RESERVED[name]}")
        if name not in declared:
            known = ", ".join(sorted(n for n in declared if n not in RESERVED)) or "none"
            raise UserError(f"--set {name}: flow '{flow_name}' has no input '{name}' (inputs: {known})")
        values[name] = _typed(name, text, getattr(declared[name], "type", "any"))
    return values


def _typed(name: str, text: str, kind: str) -> Any:
    if kind == "string":
        return text
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    if kind == "any":
        return value
    if kind == "boolean" and isinstance(value, str) and value.lower() in ("on", "off"):
        value = value.lower() == "on"
    allowed = _TYPES.get(kind)
    if allowed and (not isinstance(value, allowed) or (kind != "boolean" and isinstance(value, bool))):
        raise UserError(f"--set {name}={text}: '{name}' is a {kind}")
    return value
