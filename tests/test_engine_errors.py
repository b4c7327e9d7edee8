"""One exceptions module holds the error hierarchy; the old import places still work."""

from __future__ import annotations

import alphaflow.errors as errors


def test_the_hierarchy_lives_in_alphaflow_errors_and_is_re_exported():
    from alphaflow.engine import FlowError, StepFailed
    from alphaflow.models import BudgetExceeded, ModelCallError
    from alphaflow.sandbox.types import SandboxFault

    assert FlowError is errors.FlowError and StepFailed is errors.StepFailed
    assert BudgetExceeded is errors.BudgetExceeded and ModelCallError is errors.ModelCallError
    assert SandboxFault is errors.SandboxFault and errors.ModelError is errors.ModelCallError
    for user_error in (FlowError, StepFailed, BudgetExceeded, ModelCallError):
        assert issubclass(user_error, errors.UserError)
    # the exit codes the CLI documents
    assert (errors.UserError.exit_code, StepFailed.exit_code, BudgetExceeded.exit_code,
            ModelCallError.exit_code) == (2, 1, 3, 4)
    assert str(FlowError(["a.yaml:1:1 x", "a.yaml:2:1 y"])) == "a.yaml:1:1 x\na.yaml:2:1 y"
