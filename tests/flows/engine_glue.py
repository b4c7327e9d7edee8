"""Step functions that the engine's test flows call (``kind: python``, ``functions: [engine_glue]``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from alphaflow.step_functions import step_function

IN_FLIGHT = {"now": 0, "max": 0}
CALLS: dict[str, int] = {}


@step_function
def add(a: Any, b: Any) -> Any:
    return a + b


@step_function
def echo(**values: Any) -> dict[str, Any]:
    return values


@step_function
async def slow_square(x: int, delay_s: float = 0.02) -> int:
    """Counts how many run at once, so tests can check a map's concurrency bound."""
    IN_FLIGHT["now"] += 1
    IN_FLIGHT["max"] = max(IN_FLIGHT["max"], IN_FLIGHT["now"])
    try:
        await asyncio.sleep(delay_s)
    finally:
        IN_FLIGHT["now"] -= 1
    return x * x


@step_function
def flaky(key: str, failures: int) -> str:
    """Fails ``failures`` times for ``key``, then succeeds."""
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] <= failures:
        raise RuntimeError(f"flaky failure {CALLS[key]}")
    return f"ok after {CALLS[key]}"


@step_function
def boom(message: str = "boom") -> None:
    raise ValueError(message)


@step_function
def dumps(obj: Any) -> str:
    return json.dumps(obj)


@step_function
async def sleep(delay: float) -> None:
    await asyncio.sleep(delay)


def reset() -> None:
    IN_FLIGHT.update(now=0, max=0)
    CALLS.clear()
