"""A judgement cache inside one run: the same (code, language, tests, limits, checker) is judged once.

AlphaCodium-style flows judge the same program on the same tests several times (the initial code,
then the public-test and AI-test rounds, then the benchmark's own judgement), and each judgement
pays a sandbox exec. ``JudgementCache`` wraps any ``Sandbox``: the first ``judge`` call with a given
key runs on the wrapped sandbox; later calls with the same key (and calls made while the first is in
flight) get a copy of that result with ``cached=True`` and ``seconds=0``. The engine puts
``cached: true`` on the sandbox step's ``step_end`` trace event.

A test's result depends only on the program (code, language, limits, checker, kept bytes) and the
test's own input and expected output, so the cache also remembers results **per test**: a judgement
whose tests were partly judged before with the same program runs only the others (the AI-test rounds
re-judge the public tests as anchors) and is merged in test order with the verdict a full run gives —
the first non-AC test's, stopping there under ``stop_on_first_failure``. Its ``cached_tests`` says how
many results were reused (the engine puts it on ``step_end``); all of them: ``cached=True``.

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
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from alphaflow.sandbox.base import Sandbox
from alphaflow.sandbox.protocol import checker_spec
from alphaflow.sandbox.types import (
    DEFAULT_KEEP_BYTES,
    Checker,
    JudgeResult,
    Limits,
    RunResult,
    TestResult,
    normalize_language,
    normalize_tests,
)

# What is kept (least recently used goes first): a judgement with its per-test output is a few KB to
# a few MB (hundreds of generated tests), and a run rarely re-asks for anything but recent programs.
DEFAULT_MAX_ENTRIES = 2048
DEFAULT_MAX_BYTES = 128 << 20
TESTS_PER_ENTRY = 64  # per-test results kept by default: this many per judgement kept


def program_key(
    code: str, language: str, limits: Limits | None, checker: Checker, keep_bytes: int
) -> str | None:
    """A SHA-256 hex digest naming everything but the tests that decides a test's result, or ``None``
    when it cannot be cached (a host-side checker callable)."""
    spec = checker_spec(checker)
    if spec["kind"] == "none":
        return None
    payload = [
        code,
        normalize_language(language) or language,
        asdict(limits or Limits()),
        spec,
        int(keep_bytes),
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def key_of_test(program: str, test: dict[str, Any]) -> str:
    """One test of one program: its input and expected output (its ``kind`` changes no result)."""
    payload = [program, test["input"], test["output"]]
    return hashlib.sha256(json.dumps(payload).encode("utf-8")).hexdigest()


@dataclass
class _TestEntry:
    """A remembered test result and what its judgement said about the program as a whole."""

    result: TestResult
    program: dict[str, Any]  # compile_output, compile_s, runner, checker, isolation


def judgement_key(program: str, tests: list[dict[str, Any]], stop_on_first_failure: bool) -> str:
    """A SHA-256 hex digest naming one judgement: ``program_key``'s, the normalised tests (their
    kinds included) and whether it stops at the first failure."""
    payload = [program, tests, bool(stop_on_first_failure)]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


class JudgementCache(Sandbox):
    """``Sandbox`` wrapper that judges each distinct judgement once; ``hits``/``misses`` count calls.

    ``inner`` is opened and closed with the wrapper (``async with JudgementCache(open_sandbox())``).
    """

    def __init__(
        self,
        inner: Sandbox,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_tests: int | None = None,
    ) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.max_entries = max_entries
        self.max_bytes = max_bytes  # for the judgements, and again for the per-test results
        self.max_tests = max_tests if max_tests is not None else max_entries * TESTS_PER_ENTRY
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, asyncio.Future[JudgeResult]] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._bytes = 0
        self._tests: OrderedDict[str, _TestEntry] = OrderedDict()
        self._test_bytes = 0
        self.tests_reused = 0  # test results taken from earlier judgements instead of run again

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        self._entries.clear()
        self._sizes.clear()
        self._bytes = 0
        self._tests.clear()
        self._test_bytes = 0
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
        program = program_key(code, language, limits, checker, keep_bytes)
        if program is None:  # a host-side checker callable: nothing names the judgement
            return await self.inner.judge(
                code, language, tests, limits, checker, stop_on_first_failure, keep_bytes
            )
        normalised = normalize_tests(tests)
        key = judgement_key(program, normalised, stop_on_first_failure)
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
            result = await self._judge_unknown(
                code, language, tests, limits, checker, stop_on_first_failure, keep_bytes, program, normalised
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

    async def _judge_unknown(
        self,
        code: str,
        language: str,
        tests: list[Any],
        limits: Limits | None,
        checker: Checker,
        stop_on_first_failure: bool,
        keep_bytes: int,
        program: str,
        normalised: list[dict[str, Any]],
    ) -> JudgeResult:
        """A judgement not in the cache: only the tests this program has not met yet are run.
        ``program`` is its ``program_key``, ``normalised`` its tests as ``normalize_tests`` gives them."""
        started = time.perf_counter()
        keys = [key_of_test(program, test) for test in normalised]
        known = [self._tests.get(key) for key in keys]
        needed = _tests_to_run(known, stop_on_first_failure)
        if len(needed) == len(tests):  # nothing reusable: the plain judgement
            result = await self.inner.judge(
                code, language, tests, limits, checker, stop_on_first_failure, keep_bytes
            )
            self._remember_tests(keys, result)
            return result
        ran: JudgeResult | None = None
        if needed:
            ran = await self.inner.judge(
                code, language, [tests[i] for i in needed], limits, checker, stop_on_first_failure, keep_bytes
            )
            if ran.verdict == "SE" or (not ran.tests and ran.verdict != "AC"):
                ran.total = len(tests)  # a fault or a compile error is the judgement's answer as a whole
                return ran
            self._remember_tests([keys[i] for i in needed], ran)
        merged = _merge(normalised, known, needed, ran, stop_on_first_failure)
        if merged is None:  # cannot happen when every test result is a pure function; judge afresh
            return await self.inner.judge(
                code, language, tests, limits, checker, stop_on_first_failure, keep_bytes
            )
        reused = sum(1 for entry in known if entry is not None)
        self.tests_reused += reused
        if ran is None:  # answered without a run: a hit after all
            self.hits, self.misses = self.hits + 1, self.misses - 1
        for key in keys:
            if key in self._tests:
                self._tests.move_to_end(key)
        program_info = _program_info(ran) if ran is not None else next(e for e in known if e).program
        result = JudgeResult(
            verdict=next((test.verdict for test in merged if test.verdict != "AC"), "AC"),
            passed=sum(1 for test in merged if test.verdict == "AC"),
            total=len(tests),
            tests=merged,
            compile_output=program_info["compile_output"],
            compile_s=program_info["compile_s"],
            backend=self.backend,
            language=normalize_language(language) or language,
            limits=limits or Limits(),
            attempts=ran.attempts if ran is not None else program_info["attempts"],
            message=ran.message if ran is not None else "",
            runner=dict(program_info["runner"]),
            isolation=dict(program_info["isolation"]),
            checker=dict(program_info["checker"]),
            cached=ran is None,
            cached_tests=reused,
        )
        result.seconds = time.perf_counter() - started
        return result

    def _remember_tests(self, keys: list[str], result: JudgeResult) -> None:
        """Keep each test result of a judgement (in test order; tests after a stop were not run)."""
        if result.verdict == "SE":
            return
        program = _program_info(result)
        for key, test in zip(keys, result.tests, strict=False):
            if key not in self._tests:
                entry = _TestEntry(copy.deepcopy(test), program)
                self._tests[key] = entry
                self._test_bytes += _test_size(test)
        while len(self._tests) > 1 and (
            len(self._tests) > self.max_tests or self._test_bytes > self.max_bytes
        ):
            _, oldest = self._tests.popitem(last=False)
            self._test_bytes -= _test_size(oldest.result)

    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        return await self.inner._exec_runner(request, timeout_s)

    async def run(self, cmd: Sequence[str], stdin: bytes = b"", timeout_s: float = 10.0) -> RunResult:
        return await self.inner.run(cmd, stdin=stdin, timeout_s=timeout_s)

    async def write_file(self, path: str, data: bytes | str) -> None:
        await self.inner.write_file(path, data)

    async def read_file(self, path: str) -> bytes:
        return await self.inner.read_file(path)


def _program_info(result: JudgeResult) -> dict[str, Any]:
    """What a judgement says about the program rather than about one test."""
    return {
        "compile_output": result.compile_output,
        "compile_s": result.compile_s,
        "runner": result.runner,
        "isolation": result.isolation,
        "checker": result.checker,
        "attempts": result.attempts,
    }


def _tests_to_run(known: list[_TestEntry | None], stop_on_first_failure: bool) -> list[int]:
    """Indexes of the tests that must run: the unknown ones, and under ``stop_on_first_failure``
    only those before the first known failure (a full run would stop there)."""
    needed = []
    for index, entry in enumerate(known):
        if entry is None:
            needed.append(index)
        elif stop_on_first_failure and entry.result.verdict != "AC":
            break
    return needed


def _merge(
    tests: list[dict[str, Any]],
    known: list[_TestEntry | None],
    needed: list[int],
    ran: JudgeResult | None,
    stop_on_first_failure: bool,
) -> list[TestResult] | None:
    """Test results in test order, as one run over every test would list them; ``None`` when a
    test before the stopping point has no result (never, if results are what a run gives)."""
    fresh = dict(zip(needed, ran.tests, strict=False)) if ran is not None else {}
    merged: list[TestResult] = []
    for index, test in enumerate(tests):
        entry = known[index]
        result = copy.deepcopy(entry.result) if entry is not None else fresh.get(index)
        if result is None:
            return None
        result.kind = test["kind"]  # the same test may be public in one judgement and AI in another
        merged.append(result)
        if stop_on_first_failure and result.verdict != "AC":
            break
    return merged


def _test_size(test: TestResult) -> int:
    return 256 + len(test.stdout) + len(test.stderr) + len(test.input) + len(test.expected or "")


def _size(result: JudgeResult) -> int:
    """Roughly the bytes a result holds: its tests' texts dominate."""
    return 1024 + sum(_test_size(t) for t in result.tests) + len(result.compile_output)


def _as_cached(result: JudgeResult) -> JudgeResult:
    """A copy the caller may change freely, marked as coming from the cache."""
    copied = copy.deepcopy(result)
    copied.cached = True
    copied.seconds = 0.0
    return copied
