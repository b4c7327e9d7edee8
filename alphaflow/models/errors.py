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
