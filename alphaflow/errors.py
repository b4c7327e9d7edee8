"""alphaflow's error hierarchy, in one place.

Errors a user can fix reach them as one line (``alphaflow: error: ...``) and an exit code, never as a
traceback::

    UserError                 a mistake the user can fix (bad file, flag, key); exit 2
    ├── FlowError             a flow file that does not validate (every problem, file:line:col)
    ├── StepFailed            a flow step failed and its on_error is `fail`; exit 1
    ├── BudgetExceeded        the next model call could pass --max-cost; exit 3
    └── ModelCallError        a model call failed for good (after retries and fallbacks); exit 4
        ├── EndpointUnreachable   nothing answers at the URL (connection refused, unknown host)
        └── EmptyAnswer           the model answered with no text (content: null)
    SandboxFault              the sandbox itself failed (not the judged program): verdict SE

The classes are re-exported where they were first defined (``alphaflow.engine.FlowError``,
``alphaflow.models.errors.ModelCallError``, ``alphaflow.sandbox.types.SandboxFault``, ...), so either
import works. Internal errors that never reach the user as such (``TemplateError``, ``AnswerError``)
stay beside the code that raises them; the engine turns them into ``StepFailed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class UserError(Exception):
    """A mistake the user can fix (bad file, bad flag, missing key).

    The CLI prints ``str(error)`` on one line and exits with ``exit_code``. The message should name
    the file and line, the field, or the flag/environment variable involved.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class FlowError(UserError):
    """A flow that does not validate; ``str()`` is every problem, one per line (``file:line:col ...``).

    ``problems`` holds the ``alphaflow.engine.positions.Problem`` objects.
    """

    def __init__(self, problems: Sequence[Any]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class StepFailed(UserError):
    """A step failed and its ``on_error`` is ``fail``: the flow stops with this error."""

    exit_code = 1

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"step '{path}' failed: {message}")
        self.path = path
        self.reason = message


class BudgetExceeded(UserError):
    """The run's ``--max-cost`` would be exceeded by the next model call."""

    exit_code = 3


class ModelCallError(UserError):
    """A model call failed for good (after retries and fallbacks, or a non-retryable error).

    ``transient`` says whether the router may retry it (429, 5xx, timeouts); ``retry_after_s`` is the
    server's Retry-After; ``status`` the HTTP status when there was one.
    """

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        retry_after_s: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after_s = retry_after_s
        self.status = status


ModelError = ModelCallError  # the short name


class EndpointUnreachable(ModelCallError):
    """Nothing answers at the endpoint (connection refused, unknown host). Not transient: the
    backend tries once more after a short pause (a server that is just starting), then reports the
    URL instead of spending the router's retries on a server that is not there."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot connect to {url} ({reason}); is the server running, is --api-base right?")
        self.url = url


class EmptyAnswer(ModelCallError):
    """The model answered with no text at all (``content: null``, e.g. cut by a length or content
    filter). Among n samples such a sample is kept as ``""`` for the engine to drop and count."""


class SandboxFault(Exception):
    """The sandbox itself failed (exec error, dead container, unreadable runner output): verdict SE."""
