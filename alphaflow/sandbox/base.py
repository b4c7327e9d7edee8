"""The sandbox interface every backend implements, and the judging logic they share."""

from __future__ import annotations

import posixpath
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from alphaflow.sandbox.protocol import (
    apply_host_checker,
    build_request,
    checker_record,
    checker_spec,
    parse_response,
)
from alphaflow.sandbox.types import (
    DEFAULT_KEEP_BYTES,
    Checker,
    JudgeResult,
    Limits,
    RunResult,
    SandboxFault,
    normalize_language,
    normalize_tests,
)

# Attempts per solution: a sandbox fault is retried once on a fresh sandbox, then reported as SE.
SANDBOX_ATTEMPTS = 2
# Slack on top of the runner's own limits before the host gives up on an exec.
HOST_TIMEOUT_SLACK_S = 30.0


class Sandbox(ABC):
    """Judge solutions, run commands, read and write files in an isolated work directory."""

    backend: str = ""

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:  # noqa: B027 - most backends need no preparation
        """Prepare the backend (the docker pool starts its first container here)."""

    @abstractmethod
    async def close(self) -> None:
        """Release everything the sandbox holds."""

    @abstractmethod
    async def _exec_runner(self, request: bytes, timeout_s: float) -> bytes:
        """Run the runner once with ``request`` on stdin; its stdout, or ``SandboxFault``."""

    @abstractmethod
    async def run(self, cmd: Sequence[str], stdin: bytes = b"", timeout_s: float = 10.0) -> RunResult:
        """Run a command in the work directory with a wall-clock timeout."""

    @abstractmethod
    async def write_file(self, path: str, data: bytes | str) -> None:
        """Write a file relative to the work directory."""

    @abstractmethod
    async def read_file(self, path: str) -> bytes:
        """Read a file relative to the work directory."""

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
        """Judge one solution against ``tests``; the verdict is the first non-AC test's."""
        started = time.perf_counter()
        normalised_tests = normalize_tests(tests)
        limits = limits or Limits()
        runner_language = normalize_language(language)
        if runner_language is None:
            return JudgeResult(
                verdict="unsupported",
                passed=0,
                total=len(normalised_tests),
                backend=self.backend,
                language=language,
                limits=limits,
                message=f"language {language!r} is not supported by the sandbox (python, cpp)",
                checker=checker_record(checker),
            )
        request = build_request(
            source=code,
            language=runner_language,
            tests=normalised_tests,
            limits=limits,
            checker=checker,
            stop_on_first_failure=stop_on_first_failure,
            keep_bytes=keep_bytes,
        )
        timeout_s = host_timeout(limits, len(normalised_tests))
        faults: list[str] = []
        result: JudgeResult | None = None
        for _attempt in range(SANDBOX_ATTEMPTS):
            try:
                raw = await self._exec_runner(request, timeout_s)
                result = parse_response(raw, normalised_tests)
                break
            except SandboxFault as fault:
                faults.append(str(fault))
        if result is None:
            result = JudgeResult(
                verdict="SE",
                passed=0,
                total=len(normalised_tests),
                message="; ".join(faults),
            )
        elif checker_spec(checker)["kind"] == "none":
            result = apply_host_checker(result, checker, stop_on_first_failure)
        if checker_spec(checker)["kind"] == "none" or not result.checker:
            result.checker = checker_record(checker)
        result.backend = self.backend
        result.language = runner_language
        result.limits = limits
        result.attempts = len(faults) + (0 if result.verdict == "SE" else 1)
        if faults and result.verdict != "SE":
            result.message = f"retried after a sandbox fault: {faults[0]}"
        result.seconds = time.perf_counter() - started
        return result


def host_timeout(limits: Limits, test_count: int) -> float:
    """The last-resort host deadline for one runner exec; the runner's own limits come first."""
    per_test = limits.time_s * limits.wall_factor + 1.0
    return limits.compile_time_s + per_test * test_count + HOST_TIMEOUT_SLACK_S


def relative_work_path(path: str) -> str:
    """``path`` normalised inside the work directory; absolute paths and ``..`` escapes are refused."""
    normalised = posixpath.normpath(path)
    if not path or posixpath.isabs(normalised) or normalised == ".." or normalised.startswith("../"):
        raise ValueError(f"sandbox paths must stay inside the work directory: {path!r}")
    return normalised
