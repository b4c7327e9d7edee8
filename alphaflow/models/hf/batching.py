"""The queue that gathers rows from concurrent requests into batches for one engine.

A batch runs when ``max_batch`` rows are waiting, or ``wait_ms`` after the first row arrived, whichever
comes first; while a batch runs on the engine's thread, new rows gather for the next one (the same
shape as inspect_ai's local provider: batch = what is waiting, flushed after a short idle).
"""

from __future__ import annotations

import asyncio
from typing import Any

from alphaflow.models.hf.decode import Row, RowResult
from alphaflow.models.hf.engine import Engine


class BatchQueue:
    """One per engine and event loop (futures belong to a loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending: list[tuple[Row, asyncio.Future[RowResult]]] = []
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self.batches: list[int] = []  # the size of each batch run, for tests and benchmarks

    async def submit(self, rows: list[Row]) -> list[RowResult]:
        """The results of ``rows``, in order. Cancelling the caller drops rows not yet started."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[RowResult]] = [loop.create_future() for _ in rows]
        self._pending.extend(zip(rows, futures, strict=True))
        self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._run())
        return list(await asyncio.gather(*futures))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            deadline = loop.time() + self.engine.options.wait_ms / 1000
            while len(self._pending) < self.engine.max_batch and loop.time() < deadline:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), deadline - loop.time())
                except TimeoutError:
                    break
            size = self.engine.max_batch
            taken, self._pending = self._pending[:size], self._pending[size:]
            batch = [(row, future) for row, future in taken if not future.done()]  # done: cancelled
            if not batch:
                continue
            self.batches.append(len(batch))
            try:
                results: Any = await loop.run_in_executor(
                    self.engine.executor, self.engine.generate, [row for row, _ in batch]
                )
            except Exception as error:  # every request of the batch gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):  # that row alone failed (out of memory)
                    future.set_exception(result)
                else:
                    future.set_result(result)
