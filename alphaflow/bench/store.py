"""A benchmark run on disk: ``RUN_DIR/meta.json`` and the append-only ``RUN_DIR/results.jsonl``.

Each finished unit becomes one JSON line, written with flush + fsync before the next unit is counted,
so a run killed at any moment loses nothing that finished. Reading never crashes on a damaged file: a
torn or corrupt line is skipped with a warning naming ``file:line``. Before appending after a torn
last line, a newline is written so the fragment cannot swallow the next record.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError

META_FILE = "meta.json"
RESULTS_FILE = "results.jsonl"

Warn = Callable[[str], None]


def warn_to_stderr(message: str) -> None:
    print(f"alphaflow: warning: {message}", file=sys.stderr)


@dataclass
class UnitResult:
    """What one unit (problem x sample) produced and how it was judged."""

    key: str
    problem: str
    sample_index: int
    code: str | None = None
    language: str = "python"
    public: dict[str, Any] | None = None  # {verdict, passed, total} on the public tests
    evaluation: dict[str, Any] | None = None  # {verdict, passed, total, ...} on private + generated tests
    solved: bool = False  # accepted on every evaluation test
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # None: some call's price unknown (never 0 for unknown)
    model_calls: int = 0
    wall_s: float = 0.0
    error: str | None = None
    # why the unit could not be judged, when that is not the solution's doing: "sandbox" (verdict SE),
    # "model" (the model call failed after retries), "harness" (anything else); such units are left
    # out of pass@k and reported apart. None: a judged sample (a flow that gave no code counts as wrong).
    fault: str | None = None
    difficulty: int | str | None = None
    tags: list[str] = field(default_factory=list)
    finished_at: float = 0.0

    @property
    def verdict(self) -> str:
        """The evaluation verdict, or ``error`` when the unit produced nothing to judge."""
        if self.evaluation and self.evaluation.get("verdict"):
            return str(self.evaluation["verdict"])
        return "error" if self.error else "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UnitResult:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        for required in ("key", "problem", "sample_index"):
            if required not in known:
                raise ValueError(f"missing field {required!r}")
        result = cls(**known)
        if "fault" not in data and result.verdict == "SE":  # written before faults were recorded
            result.fault = "sandbox"
        return result

    @property
    def judged(self) -> bool:
        """True when the unit counts in pass@k: it was judged, or the flow failed to give code."""
        return self.fault is None


class RunStore:
    """The files of one run directory. Appends are serialised, flushed and fsynced."""

    def __init__(self, run_dir: str | Path, *, warn: Warn = warn_to_stderr) -> None:
        self.run_dir = Path(run_dir)
        self.meta_path = self.run_dir / META_FILE
        self.results_path = self.run_dir / RESULTS_FILE
        self.warn = warn
        self._lock = threading.Lock()
        self._handle: Any = None

    # --- metadata -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.meta_path.exists() or self.results_path.exists()

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace meta.json atomically (a crash leaves the old or the new file, never half of one)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        temporary = self.meta_path.with_suffix(".json.tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=2, sort_keys=True, default=str)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.meta_path)

    def read_meta(self) -> dict[str, Any]:
        if not self.meta_path.exists():
            raise UserError(f"{self.run_dir}: not a benchmark run directory (no {META_FILE})")
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise UserError(f"{self.meta_path}:{error.lineno}: corrupt run metadata: {error.msg}") from None
        if not isinstance(meta, dict):
            raise UserError(f"{self.meta_path}:1: corrupt run metadata: not a JSON object")
        return meta

    # --- results --------------------------------------------------------------------------------
    def append(self, result: UnitResult) -> None:
        line = json.dumps(result.to_dict(), ensure_ascii=False, default=str)
        with self._lock:
            handle = self._open_for_append()
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _open_for_append(self) -> Any:
        if self._handle is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            torn = _ends_without_newline(self.results_path)
            self._handle = self.results_path.open("a", encoding="utf-8")
            if torn:  # a killed writer left half a line: end it so the next record stands alone
                self._handle.write("\n")
        return self._handle

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def read_results(self) -> list[UnitResult]:
        """Every readable record, one per unit key (the last written wins); bad lines are skipped."""
        if not self.results_path.exists():
            return []
        by_key: dict[str, UnitResult] = {}
        with self.results_path.open(encoding="utf-8", errors="replace") as handle:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    if not isinstance(data, dict):
                        raise ValueError("not a JSON object")
                    result = UnitResult.from_dict(data)
                except (ValueError, TypeError) as error:
                    reason = "torn or corrupt line" if isinstance(error, json.JSONDecodeError) else str(error)
                    self.warn(f"{self.results_path}:{line_number}: skipped unreadable result ({reason})")
                    continue
                by_key[result.key] = result
        return list(by_key.values())

    def completed_keys(self) -> set[str]:
        return {result.key for result in self.read_results()}

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_without_newline(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"
