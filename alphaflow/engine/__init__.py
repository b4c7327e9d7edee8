"""The flow engine: spec, loader and validation, templating, and the asyncio runner.

from alphaflow.engine import load_flow, validate_flow, run_flow, RunContext
flow = load_flow("flows/direct.yaml")      # or a built-in name; FlowError lists file:line:col problems
result = await run_flow(flow, inputs={...}, context=RunContext(router=..., trace=..., model="..."))
result.outputs
"""

from importlib import import_module
from typing import Any

# Imported on first use (PEP 562), so the CLI's start-up does not pay for pydantic and Jinja.
_EXPORTS = {
    "Flow": "loader", "FlowError": "loader", "find_flow_file": "loader", "load_flow": "loader",
    "validate_flow": "loader", "Problem": "positions", "FlowResult": "runner", "RunContext": "runner",
    "StepFailed": "runner", "StepRecord": "runner", "run_flow": "runner",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'alphaflow.engine' has no attribute {name!r}")
    return getattr(import_module(f"alphaflow.engine.{_EXPORTS[name]}"), name)


__all__ = [
    "Flow",
    "FlowError",
    "FlowResult",
    "Problem",
    "RunContext",
    "StepFailed",
    "StepRecord",
    "find_flow_file",
    "load_flow",
    "run_flow",
    "validate_flow",
]
