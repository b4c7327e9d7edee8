"""Per-model limits: a concurrency bound and a requests-per-minute token bucket (both async)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class RateLimiter:
    """Async token bucket: ``per_minute`` requests a minute, bursts of at most one second's worth."""

    def __init__(self, per_minute: float) -> None:
        if per_minute <= 0:
            raise ValueError("requests per minute must be positive")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:  # waiters are served in arrival order
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self.tokens) / self.rate)


class ModelLimits:
    """One semaphore and one rate limiter per model name, created on first use."""

    def __init__(self, concurrency: int, rpm: float | None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.rpm = rpm
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._limiters: dict[str, RateLimiter] = {}

    @asynccontextmanager
    async def slot(self, model: str) -> AsyncIterator[None]:
        """Hold one of the model's concurrency slots, taken after its rate limiter lets us through."""
        semaphore = self._semaphores.setdefault(model, asyncio.Semaphore(self.concurrency))
        async with semaphore:
            if self.rpm:
                await self._limiters.setdefault(model, RateLimiter(self.rpm)).acquire()
            yield
