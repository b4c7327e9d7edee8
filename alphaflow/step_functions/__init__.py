"""Step functions: the Python a flow's ``kind: python`` steps may call, registered by name.

One module per flow family (``alphacodium.py``, ``judging.py``); each function is registered with
``@step_function("<module>.<function>")`` and flows call it by that name. The rules (what a flow may
run, how to add your own): ``alphaflow.step_functions.registry`` and docs/flows.md.
"""

from alphaflow.step_functions.registry import StepFunction, StepFunctions, step_function

__all__ = ["StepFunction", "StepFunctions", "step_function"]
