"""Errors of model calls: transient ones are retried, permanent ones are not.

The classes live in ``alphaflow.errors`` (the one error hierarchy); they are re-exported here.
"""

from __future__ import annotations

from alphaflow.errors import EmptyAnswer, EndpointUnreachable, ModelCallError

__all__ = ["EmptyAnswer", "EndpointUnreachable", "ModelCallError"]
