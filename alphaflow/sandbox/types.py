"""The sandbox's value types: limits, per-test results and a solution's judgement."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from alphaflow.errors import SandboxFault  # noqa: F401  (re-exported: the class lives in alphaflow.errors)
from alphaflow.sandbox.runner import protocol as runner_protocol

Verdict = Literal["AC", "WA", "TLE", "MLE", "RE", "CE", "OLE", "SE", "unsupported"]
# The runner's verdicts, less "skipped" (a test not run is left out of a JudgeResult).
VERDICTS: tuple[str, ...] = tuple(v for v in runner_protocol.VERDICTS if v != "skipped")

# Languages the image can run, with the spellings people use for them.
LANGUAGE_ALIASES: dict[str, str] = {
    "python": "python",
    "python3": "python",
    "py": "python",
    "py3": "python",
    "cpp": "cpp",
    "c++": "cpp",
    "cpp17": "cpp",
    "cxx": "cpp",
}

DEFAULT_TIME_S = runner_protocol.DEFAULT_TIME_S
DEFAULT_MEMORY_BYTES = runner_protocol.DEFAULT_MEMORY_BYTES
DEFAULT_OUTPUT_BYTES = runner_protocol.DEFAULT_OUTPUT_BYTES
DEFAULT_COMPILE_TIME_S = runner_protocol.DEFAULT_COMPILE_TIME_S
DEFAULT_WALL_FACTOR = runner_protocol.DEFAULT_WALL_FACTOR
DEFAULT_FLOAT_TOL = runner_protocol.DEFAULT_FLOAT_TOL
# How much of each test's stdout/stderr comes back for reports and fix prompts.
DEFAULT_KEEP_BYTES = 4096
# Inputs and expected outputs shown in ``JudgeResult.to_dict()``.
SHOWN_TEXT_CHARS = 2000

# A host-side checker: (input, expected, actual) -> accepted?
CheckerCallable = Callable[[str, str, str], bool]


def normalize_language(language: str) -> str | None:
    """The runner's name for ``language``, or None when the image cannot run it."""
    return LANGUAGE_ALIASES.get(language.strip().lower())


@dataclass(frozen=True)
class Limits:
    """Per-test limits, enforced inside the sandbox by the runner."""

    time_s: float = DEFAULT_TIME_S  # CPU time per test
    memory_bytes: int = DEFAULT_MEMORY_BYTES  # peak resident memory per test (used, not reserved)
    output_bytes: int = DEFAULT_OUTPUT_BYTES  # stdout (and stderr) per test; more is OLE
    compile_time_s: float = DEFAULT_COMPILE_TIME_S
    wall_factor: float = DEFAULT_WALL_FACTOR  # wall-clock backstop = time_s * wall_factor

    def __post_init__(self) -> None:
        if self.time_s <= 0 or self.memory_bytes <= 0 or self.output_bytes <= 0:
            raise ValueError(f"limits must be positive: {self}")
        if self.compile_time_s <= 0 or self.wall_factor < 1:
            raise ValueError(f"compile_time_s must be positive and wall_factor >= 1: {self}")

    @classmethod
    def for_problem(
        cls, problem: Any, time_s: float | None = None, memory_bytes: int | None = None, **overrides: Any
    ) -> Limits:
        """The problem's limits, with explicit overrides winning and defaults filling gaps."""
        problem_time = getattr(problem, "time_limit_s", None) if problem is not None else None
        problem_memory = getattr(problem, "memory_limit_bytes", None) if problem is not None else None
        return cls(
            time_s=float(time_s or problem_time or DEFAULT_TIME_S),
            memory_bytes=int(memory_bytes or problem_memory or DEFAULT_MEMORY_BYTES),
            **overrides,
        )

    def to_protocol(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TestResult:
    __test__ = False  # not a pytest class, despite the name

    verdict: str
    cpu_s: float = 0.0
    wall_s: float = 0.0
    memory_kb: int = 0
    kind: str = "public"
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: int | None = None
    stdout_truncated: bool = False
    message: str = ""
    input: str = ""
    expected: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input"] = _shorten(self.input)
        data["expected"] = None if self.expected is None else _shorten(self.expected)
        return data


def host_info() -> dict[str, Any]:
    return {"hostname": platform.node(), "python": platform.python_version(), "machine": platform.machine()}


@dataclass
class JudgeResult:
    verdict: str
    passed: int
    total: int
    tests: list[TestResult] = field(default_factory=list)
    compile_output: str = ""
    compile_s: float = 0.0
    backend: str = ""
    language: str = ""
    limits: Limits | None = None
    seconds: float = 0.0  # wall time of the whole judgement, host side
    attempts: int = 1  # > 1 when a sandbox fault was retried
    message: str = ""
    host: dict[str, Any] = field(default_factory=host_info)
    runner: dict[str, Any] = field(default_factory=dict)
    # What the backend enforced, e.g. {"network": "none", ...}; the local backend fills it in.
    isolation: dict[str, str] = field(default_factory=dict)
    cached: bool = False  # a copy of an earlier identical judgement (JudgementCache)
    cached_tests: int = 0  # test results reused from earlier judgements of the same program
    # How outputs were compared, as the runner reports it: kind, float_tol, case_sensitive.
    checker: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.verdict == "AC"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "passed": self.passed,
            "total": self.total,
            "tests": [t.to_dict() for t in self.tests],
            "compile_output": self.compile_output,
            "compile_s": self.compile_s,
            "backend": self.backend,
            "language": self.language,
            "limits": None if self.limits is None else asdict(self.limits),
            "seconds": round(self.seconds, 4),
            "attempts": self.attempts,
            "message": self.message,
            "host": self.host,
            "runner": self.runner,
            "isolation": self.isolation,
            "checker": self.checker,
        }


@dataclass
class RunResult:
    """The outcome of ``Sandbox.run``: one command with a wall-clock timeout."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    wall_s: float


@dataclass(frozen=True)
class ProgramChecker:
    """A checker program run by the runner: it gets the input, expected and actual output."""

    source: str
    language: str = "python"


@dataclass(frozen=True)
class TokenChecker:
    """The runner's token comparison with explicit settings (the default when ``checker`` is None)."""

    float_tol: float = DEFAULT_FLOAT_TOL
    case_sensitive: bool = True

    @classmethod
    def for_problem(cls, problem: Any, case_insensitive: bool | None = None) -> TokenChecker:
        """The checker a problem asks for: case-insensitive when ``case_insensitive`` is True, or
        when it is None and the problem (a ``Problem`` or its ``for_flow()`` dict) says so; the
        float tolerance the problem names (its statement's), else the default."""
        if isinstance(problem, Mapping):
            tolerance = problem.get("float_tol")
            stated_any_case = bool(problem.get("case_insensitive"))
        else:
            tolerance = getattr(problem, "answer_tolerance", None)
            stated_any_case = bool(getattr(problem, "answers_any_case", False))
        if case_insensitive is None:
            case_insensitive = stated_any_case
        float_tol = float(tolerance) if tolerance else DEFAULT_FLOAT_TOL
        return cls(float_tol=float_tol, case_sensitive=not case_insensitive)


# What ``judge(checker=...)`` accepts: None (default token comparison), token settings, a host-side
# callable, or a checker program.
Checker = CheckerCallable | ProgramChecker | TokenChecker | None


def _shorten(text: str, limit: int = SHOWN_TEXT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more chars]"


def normalize_tests(tests: Iterable[Any]) -> list[dict[str, Any]]:
    """Normalise ``TestCase`` objects or dicts to ``{"input", "output", "kind"}``."""
    normalised = []
    for index, test in enumerate(tests):
        if isinstance(test, Mapping):
            if "input" not in test:
                raise ValueError(f"test {index} has no 'input'")
            normalised.append(
                {
                    "input": str(test["input"]),
                    "output": None if test.get("output") is None else str(test["output"]),
                    "kind": str(test.get("kind") or "public"),
                }
            )
        else:
            output = getattr(test, "output", None)
            normalised.append(
                {
                    "input": str(test.input),
                    "output": None if output is None else str(output),
                    "kind": str(getattr(test, "kind", "public")),
                }
            )
    return normalised
