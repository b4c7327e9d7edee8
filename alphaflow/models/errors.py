"""Errors of model calls: transient ones are retried, permanent ones are not."""

from __future__ import annotations

from alphaflow.errors import UserError


class ModelCallError(UserError):
    """A model call failed for good (after retries and fallbacks, or a non-retryable error)."""

    exit_code = 4

    def __init__(self, message: str, *, transient: bool = False, retry_after_s: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after_s = retry_after_s
        self.status = status
