"""Retry timing: exponential backoff with jitter, honouring a server's Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4  # retries after the first attempt, per model
    base_s: float = 0.5
    max_s: float = 30.0  # no single wait is longer, Retry-After included

    def delay(self, retry: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        backoff = min(self.max_s, self.base_s * 2 ** (retry - 1))
        backoff *= random.uniform(0.5, 1.0)  # jitter: concurrent callers do not retry in lockstep
        if retry_after_s is not None:
            return min(self.max_s, max(retry_after_s, backoff))
        return backoff
