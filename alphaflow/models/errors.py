"""Errors of model calls: transient ones are retried, permanent ones are not.

The class lives in ``alphaflow.errors`` (the one error hierarchy); it is re-exported here.
"""

from __future__ import annotations

from alphaflow.errors import ModelCallError

__all__ = ["ModelCallError"]
