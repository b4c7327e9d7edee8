"""The run trace: one JSON object per line, appended as events happen.

Every step and model call of a run is written here (step path, inputs, prompt, response, parsed
output, tokens, cost, latency, cache hit, error). Lines are flushed as written, so a trace survives a
killed run. Secrets never reach it: values of secret-looking environment variables are redacted from
every line before it is written.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

_SECRET_NAME = re.compile(r"(API_KEY|_TOKEN|SECRET|PASSWORD|_KEY$)", re.IGNORECASE)
REDACTED = "[redacted]"


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look like secrets (long enough to matter)."""
    environ = dict(os.environ if environ is None else environ)
    values = {value for name, value in environ.items() if _SECRET_NAME.search(name) and len(value) >= 8}
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class Trace:
    """Append-only JSON-lines trace. ``Trace(None)`` records nothing (same interface)."""

    def __init__(self, path: str | Path | None, *, run_id: str | None = None) -> None:
        self.path = Path(path) if path else None
        self.run_id = run_id
        self._lock = threading.Lock()
        self._secrets = secret_values()
        self._handle = None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        if self._handle is None:
            return
        record = {"ts": round(time.time(), 6), "event": event, **fields}
        if self.run_id:
            record["run_id"] = self.run_id
        line = redact(json.dumps(record, ensure_ascii=False, default=_jsonable), self._secrets)
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def __enter__(self) -> Trace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(value: Any) -> Any:
    for attribute in ("to_dict", "model_dump"):
        if hasattr(value, attribute):
            return getattr(value, attribute)()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    """All readable events of a trace; a torn last line (killed run) is skipped."""
    events = []
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events
