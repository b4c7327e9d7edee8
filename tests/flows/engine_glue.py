"""Python functions that the engine's test flows call (``kind: python``)."""

from __future__ import annotations

import asyncio
from typing import Any

IN_FLIGHT = {"now": 0, "max": 0}
CALLS: dict[str, int] = {}


def add(a: Any, b: Any) -> Any:
    return a + b


def echo(**values: Any) -> dict[str, Any]:
    return values


async def slow_square(x: int, delay_s: float = 0.02) -> int:
    """Counts how many run at once, so tests can check a map's concurrency bound."""
    IN_FLIGHT["now"] += 1
    IN_FLIGHT["max"] = max(IN_FLIGHT["max"], IN_FLIGHT["now"])
    try:
        await asyncio.sleep(delay_s)
    finally:
        IN_FLIGHT["now"] -= 1
    return x * x


def flaky(key: str, failures: int) -> str:
    """Fails ``failures`` times for ``key``, then succeeds."""
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] <= failures:
        raise RuntimeError(f"flaky failure {CALLS[key]}")
    return f"ok after {CALLS[key]}"


def boom(message: str = "boom") -> None:
    raise ValueError(message)


def reset() -> None:
    IN_FLIGHT.update(now=0, max=0)
    CALLS.clear()
