"""``--set key=value``: flow input overrides, typed by the flow's input declarations."""

from __future__ import annotations

from typing import Any

from alphaflow.engine.inputs import parse_assignments

# Inputs that solve itself provides; setting them with --set would bypass the problem parser.
RESERVED = {"problem": "give the problem as the PROBLEM argument", "language": "use --language"}


def parse_overrides(pairs: list[str], spec: Any, flag: str = "--set") -> dict[str, Any]:
    """``["num_ai_tests=4", ...]`` -> ``{"num_ai_tests": 4}``, typed by the flow ``spec``'s inputs
    (the one ``KEY=VALUE`` parser: ``alphaflow.engine.inputs.parse_assignments``)."""
    return parse_assignments(pairs, spec, flag=flag, reserved=RESERVED)
