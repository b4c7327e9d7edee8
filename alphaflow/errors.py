"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations


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


class BudgetExceeded(UserError):
    """The run's ``--max-cost`` would be exceeded by the next model call."""

    exit_code = 3
