"""Coding problems in the CodeContests field layout, and the JSON-lines loader.

One ``Problem`` type serves every source: the Hugging Face ``deepmind/code_contests`` rows, the local
JSON-lines copies in ``../shared/data/codecontests/``, and user-written problems. Private and generated
tests are evaluation data: flows receive ``problem.for_flow()``, which leaves them out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from alphaflow.errors import UserError

TestKind = Literal["public", "private", "generated"]

# When a statement says answers may be printed in any case, outputs are compared case-insensitively
# (as Codeforces' checkers do for "YES/NO in any case"). The rule: a sentence that ties printing,
# letters or answers to "in any case" / "in any register", or says "case-insensitive", or says
# upper- and lower-case are both accepted. ("In any case, ..." alone, an English idiom, does not count.)
ANY_CASE_RULE = re.compile(
    r"\b(?:print|printed|output|letters?|answers?|strings?|words?|yes|no)\b[^.\n]{0,80}?"
    r"\bin\s+any\s+(?:letter\s+)?(?:case|register)\b"
    r"|\bcase[-\s]insensitive(?:ly)?\b"
    r"|\bnot\s+case[-\s]sensitive\b"
    r"|\bcase\s+of\s+(?:the\s+)?(?:letters|characters)\s+(?:does\s+not|doesn't)\s+matter\b"
    r"|\b(?:print|output|answer)\w*\b[^.\n]{0,60}?\bin\s+(?:upper|lower)[-\s]?case\s+or\s+"
    r"(?:in\s+)?(?:upper|lower)[-\s]?case\b"
    r"|\b(?:upper|lower)[-\s]?case\b[^.\n]{0,40}?\b(?:lower|upper)[-\s]?case\b[^.\n]{0,60}?"
    r"\b(?:accepted|allowed|recogni[sz]ed|correct|considered)\b",
    re.IGNORECASE,
)


# "... absolute or relative error does not exceed 10^{-6}" (also 10^-6, 1e-6): the tolerance a
# statement names for real-valued answers.
TOLERANCE_RULE = re.compile(
    r"\b(?:absolute|relative)\s+(?:or\s+(?:absolute|relative)\s+)?error\b[^.\n]{0,160}?"
    r"(?:10\s*\^\s*\{?\s*[-\u2212]\s*(\d{1,2})\s*\}?|\b1(?:\.0*)?\s*[eE]\s*[-\u2212]\s*(\d{1,2})\b)",
    re.IGNORECASE,
)


def statement_tolerance(description: str) -> float | None:
    """The absolute-or-relative error a statement allows (``TOLERANCE_RULE``), or None if it names none."""
    found = TOLERANCE_RULE.search(description or "")
    return None if found is None else 10.0 ** -int(found.group(1) or found.group(2))


def statement_allows_any_case(description: str) -> bool:
    """Whether a statement lets answers be printed in any letter case (``ANY_CASE_RULE``)."""
    return bool(ANY_CASE_RULE.search(description or ""))


# Language codes of the HF dataset's `solutions.language` field.
LANGUAGE_CODES: dict[int, str] = {0: "unknown", 1: "python2", 2: "cpp", 3: "python", 4: "java"}


@dataclass(frozen=True)
class TestCase:
    input: str
    output: str
    kind: TestKind = "public"

    def to_dict(self) -> dict[str, str]:
        return {"input": self.input, "output": self.output, "kind": self.kind}


@dataclass(frozen=True)
class Solution:
    language: str  # "python", "cpp", "python2", "java", ...
    code: str


@dataclass
class Problem:
    name: str
    description: str
    public_tests: list[TestCase] = field(default_factory=list)
    private_tests: list[TestCase] = field(default_factory=list)
    generated_tests: list[TestCase] = field(default_factory=list)
    solutions: list[Solution] = field(default_factory=list)
    incorrect_solutions: list[Solution] = field(default_factory=list)
    time_limit_s: float | None = None
    memory_limit_bytes: int | None = None
    difficulty: int | str | None = None
    tags: list[str] = field(default_factory=list)
    source: str | int | None = None
    # Compare outputs case-insensitively: True/False set explicitly (a field of the problem, or
    # --case-insensitive), None decides from the statement (``statement_allows_any_case``).
    case_insensitive: bool | None = None
    # The error real-valued answers may have: set explicitly, or None for the statement's own
    # (``statement_tolerance``), else the checker's default.
    float_tol: float | None = None

    @property
    def answer_tolerance(self) -> float | None:
        """The absolute-or-relative error answers may have (explicit setting, else the statement)."""
        return self.float_tol if self.float_tol is not None else statement_tolerance(self.description)

    @property
    def answers_any_case(self) -> bool:
        """Whether outputs are compared case-insensitively (explicit setting, else the statement)."""
        if self.case_insensitive is not None:
            return self.case_insensitive
        return statement_allows_any_case(self.description)

    @property
    def evaluation_tests(self) -> list[TestCase]:
        """Tests the flow never sees: private first, then generated."""
        return [*self.private_tests, *self.generated_tests]

    @property
    def all_tests(self) -> list[TestCase]:
        return [*self.public_tests, *self.private_tests, *self.generated_tests]

    def for_flow(self) -> dict[str, Any]:
        """The problem as a flow input: statement, public tests and limits only."""
        return {
            "name": self.name,
            "description": self.description,
            "public_tests": [t.to_dict() for t in self.public_tests],
            "time_limit_s": self.time_limit_s,
            "memory_limit_bytes": self.memory_limit_bytes,
            "case_insensitive": self.answers_any_case,
            "float_tol": self.answer_tolerance,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_codecontests(cls, row: dict[str, Any]) -> Problem:
        """Build from a row in the HF ``deepmind/code_contests`` layout (missing fields allowed)."""
        if not isinstance(row, dict):
            raise ValueError("a problem must be a JSON object")
        if not row.get("name"):
            raise ValueError("missing field 'name'")
        time_limit = row.get("time_limit") or None
        time_limit_s = None
        if isinstance(time_limit, dict):
            time_limit_s = float(time_limit.get("seconds") or 0) + float(time_limit.get("nanos") or 0) / 1e9
            time_limit_s = time_limit_s or None
        elif isinstance(time_limit, int | float):
            time_limit_s = float(time_limit) or None
        return cls(
            name=str(row["name"]),
            description=str(row.get("description") or ""),
            public_tests=_tests(row.get("public_tests"), "public"),
            private_tests=_tests(row.get("private_tests"), "private"),
            generated_tests=_tests(row.get("generated_tests"), "generated"),
            solutions=_solutions(row.get("solutions")),
            incorrect_solutions=_solutions(row.get("incorrect_solutions")),
            time_limit_s=time_limit_s,
            memory_limit_bytes=int(row["memory_limit_bytes"]) if row.get("memory_limit_bytes") else None,
            difficulty=row.get("difficulty"),
            tags=list(row.get("cf_tags") or row.get("tags") or []),
            source=row.get("source"),
            case_insensitive=_optional_bool(row.get("case_insensitive"), "case_insensitive"),
            float_tol=float(row["float_tol"]) if row.get("float_tol") is not None else None,
        )


def _optional_bool(value: Any, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"field '{name}' must be true, false or null, not {value!r}")


def _tests(block: Any, kind: TestKind) -> list[TestCase]:
    if not block:
        return []
    if isinstance(block, list):  # already a list of {"input", "output"}
        return [TestCase(str(t["input"]), str(t["output"]), kind) for t in block]
    inputs, outputs = block.get("input") or [], block.get("output") or []
    if len(inputs) != len(outputs):
        raise ValueError(f"{kind}_tests has {len(inputs)} inputs but {len(outputs)} outputs")
    return [TestCase(str(i), str(o), kind) for i, o in zip(inputs, outputs, strict=True)]


def _solutions(block: Any) -> list[Solution]:
    if not block:
        return []
    languages, codes = block.get("language") or [], block.get("solution") or []
    return [
        Solution(LANGUAGE_CODES.get(lang, str(lang)) if isinstance(lang, int) else str(lang), code)
        for lang, code in zip(languages, codes, strict=False)
    ]


def iter_jsonl(path: str | Path) -> Iterator[Problem]:
    """Yield the problems of a CodeContests JSON-lines file; a bad line is an error naming file:line."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield Problem.from_codecontests(json.loads(line))
            except (ValueError, KeyError, TypeError) as error:
                raise UserError(f"{path}:{line_number}: malformed problem: {error}") from None


def load_jsonl(path: str | Path) -> list[Problem]:
    return list(iter_jsonl(path))


def find_problem(path: str | Path, name: str) -> Problem:
    """The problem called ``name`` in a JSON-lines file; an unknown name lists near matches."""
    names = []
    for problem in iter_jsonl(path):
        if problem.name == name:
            return problem
        names.append(problem.name)
    close = [n for n in names if name.lower() in n.lower()][:5]
    hint = f" (did you mean: {', '.join(close)})" if close else f" ({len(names)} problems in the file)"
    raise UserError(f"{path}: no problem named {name!r}{hint}")
