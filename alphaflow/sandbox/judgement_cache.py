"""A judgement cache inside one run: the same (code, language, tests, limits, checker) is judged once.

AlphaCodium-style flows judge the same program on the same tests several times (the initial code,
then the public-test and AI-test rounds, then the benchmark's own judgement), and each judgement
pays a sandbox exec. ``JudgementCache`` wraps any ``Sandbox``: the first ``judge`` call with a given
key runs on the wrapped sandbox; later calls with the same key (and calls made while the first is in
flight) get a copy of that result with ``cached=True`` and ``seconds=0``. The engine puts
``cached: true`` on the sandbox step's ``step_end`` trace event.

What is not cached: judgements with a host-side checker callable (a function has no stable key),
sandbox faults (``SE``: the next call should try again), and ``run``/``write_file``/``read_file``
(commands with side effects). Verdicts are deterministic only up to timing: a solution near its time
limit may get AC once and TLE once; a cache pins the first answer for the rest of the run.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from alphaflow.sandbox.base import Sandbox
from alphaflow.sandbox.protocol import checker_spec
from alphaflow.sandbox.types import (
    DEFAULT_KEEP_BYTES,
    Checker,
    JudgeResult,
    Limits,
    RunResult,
    normalize_language,
    normalize_tests,
)

# What is kept (least recently used goes first): a judgement with its per-test output is a few KB to
# a few MB (hundreds of generated tests), and a run rarely re-asks for anything but recent programs.
DEFAULT_MAX_ENTRIES = 2048
DEFAULT_MAX_BYTES = 128 << 20


def judgement_key(
    code: str,
    language: str,
    tests: Iterable[Any],
    limits: Limits | None,
    checker: Checker,
    stop_on_first_failure: bool,
    keep_bytes: int,
) -> str | None:
    """A SHA-256 hex digest naming one judgement, or ``None`` when it cannot be cached."""
    spec = checker_spec(checker)
    if spec["kind"] == "none":  # a host-side callable: no stable identity
        return None
    payload = [
        code,
        normalize_language(language) or language,
        normalize_tests(tests),
        asdict(limits or Limits()),
        spec,
        bool(stop_on_first_failure),
        int(keep_bytes),
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


class JudgementCache(Sandbox):
    """``Sandbox`` wrapper that judges each distinct judgement once; ``hits``/``misses`` count calls.

    ``inner`` is opened and closed with the wrapper (``async with JudgementCache(open_sandbox())``).
    """

    def __init__(
        self, inner: Sandbox, *, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, asyncio.Future[JudgeResult]] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._bytes = 0

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        self._entries.clear()
        self._sizes.clear()
        self._bytes = 0
        await self.inner.close()

    async def judge(
        self,
        code: str,
        language: str = "python",
        tests: Iterable[Any] = (),
        limits: Limits | None = None,
        checker: Checker = None,
        stop_on_first_failure: bool = False,
        keep_bytes: int = DEFAULT_KEEP_BYTES,
    ) -> JudgeResult:
        tests = list(tests)
        key = judgement_key(code, language, tests, limits, checker, stop_on_first_failure, keep_bytes)
        if key is None:
            return await self.inner.judge(
                code, language, tests, limits, checker, stop_on_first_failure, keep_bytes
            )
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            try:
                return _as_cached(await asyncio.shield(entry))
            except asyncio.CancelledError:
                if not entry.cancelled():
                    raise  # this caller was cancelled
                self.hits -= 1  # the first judgement failed: judge again
                return await self.judge(
                    code, language, tests, limits, checker, stop_on_first_failure, keep_bytes
                )
        self.misses += 1
        entry = asyncio.get_running_loop().create_future()
        self._entries[key] = entry
        try:
            result = await self.inner.judge(
                code, language, tests, limits, checker, stop_on_first_failure, keep_bytes
            )
        except BaseException:
            self._entries.pop(key, None)
            entry.cancel()  # callers waiting on it judge again themselves
            raise
        entry.set_result(result)
        if result.verdict == "SE":
            self._entries.pop(key, None)  # a sandbox fault is no answer about the code
        elif key in self._entries:
            self._sizes[key] = _size(result)
            self._bytes += self._sizes[key]
            while len(self._entries) > 1 and (
                len(self._entries) > self.max_entries or self._bytes > self.max_bytes
            ):
                oldest, _ = self._entries.popitem(last=False)
                self._bytes -= self._sizes.pop(oldest, 0)
        return result

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        return await self.inner._exec_runner(request, timeout_s)

    async def run(self, cmd: Sequence[str], stdin: bytes = b"", timeout_s: float = 10.0) -> RunResult:
        return await self.inner.run(cmd, stdin=stdin, timeout_s=timeout_s)

    async def write_file(self, path: str, data: bytes | str) -> None:
        await self.inner.write_file(path, data)

    async def read_file(self, path: str) -> bytes:
        return await self.inner.read_file(path)


def _size(result: JudgeResult) -> int:
    """Roughly the bytes a result holds: its tests' texts dominate."""
    texts = sum(len(t.stdout) + len(t.stderr) + len(t.input) + len(t.expected or "") for t in result.tests)
    return 1024 + texts + len(result.compile_output)


def _as_cached(result: JudgeResult) -> JudgeResult:
    """A copy the caller may change freely, marked as coming from the cache."""
    copied = copy.deepcopy(result)
    copied.cached = True
    copied.seconds = 0.0
    return copied
