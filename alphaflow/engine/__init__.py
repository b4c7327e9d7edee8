"""The flow engine: spec, loader and validation, templating, and the asyncio runner.

from alphaflow.engine import load_flow, validate_flow, run_flow, RunContext
flow = load_flow("flows/direct.yaml")      # or a built-in name; FlowError lists file:line:col problems
result = await run_flow(flow, inputs={...}, context=RunContext(router=..., trace=..., model="..."))
result.outputs
"""

from alphaflow.engine.loader import Flow, FlowError, find_flow_file, load_flow, validate_flow
from alphaflow.engine.positions import Problem
from alphaflow.engine.runner import FlowResult, RunContext, StepFailed, StepRecord, run_flow

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
