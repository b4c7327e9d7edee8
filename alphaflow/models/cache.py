"""The response cache: SQLite on disk, one row per sample.

The key hashes the model (and endpoint), the messages, the sampling parameters and the **sample
index**, so n samples at temperature > 0 stay distinct: a request for n=3 from index 0 stores samples
0, 1, 2; a later n=5 reuses those three and asks the model for two more. WAL mode and a busy timeout
make it safe for several processes; a lock makes one connection safe for the threads of one process.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    logprobs TEXT,
    created REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS samples_model ON samples (model);
"""


def default_cache_path() -> Path:
    """``$ALPHAFLOW_CACHE``, else ``~/.cache/alphaflow/llm.sqlite``."""
    configured = os.environ.get("ALPHAFLOW_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "alphaflow" / "llm.sqlite"


@dataclass
class CachedSample:
    text: str
    logprobs: list[dict[str, Any]] | None


def sample_key(identity: str, messages: list[dict[str, Any]], params: dict[str, Any],
               sample_index: int) -> str:
    """The cache key of one sample: everything that shapes the answer, and which sample it is."""
    material = json.dumps({"model": identity, "messages": messages, "params": params, "sample": sample_index},
                          sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


class Cache:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.DatabaseError, OSError) as error:
            raise UserError(f"cache {self.path}: cannot be used ({error}); remove it, set ALPHAFLOW_CACHE "
                            "to another file, or run with --no-cache") from None

    def get_many(self, keys: list[str]) -> dict[str, CachedSample]:
        """The cached samples among ``keys`` (and count a hit on each)."""
        if not keys:
            return {}
        with self._lock:
            rows = self._db.execute(f"SELECT key, text, logprobs FROM samples WHERE key IN ({_marks(keys)})",
                                    keys).fetchall()
            if rows:
                found = [row[0] for row in rows]
                self._db.execute(f"UPDATE samples SET hits = hits + 1 WHERE key IN ({_marks(found)})", found)
        return {key: CachedSample(text, json.loads(logprobs) if logprobs else None)
                for key, text, logprobs in rows}

    def put_many(self, model: str, samples: dict[str, CachedSample]) -> None:
        now = time.time()
        rows = [(key, model, sample.text, _dump(sample.logprobs), now) for key, sample in samples.items()]
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO samples (key, model, text, logprobs, created) VALUES (?, ?, ?, ?, ?)",
                rows)

    def delete_many(self, keys: list[str]) -> int:
        """Forget these samples (an answer its step could not use); returns how many were removed."""
        if not keys:
            return 0
        with self._lock:
            return self._db.execute(f"DELETE FROM samples WHERE key IN ({_marks(keys)})", keys).rowcount

    def stats(self) -> dict[str, Any]:
        with self._lock:
            totals = self._db.execute("SELECT COUNT(*), COALESCE(SUM(hits), 0) FROM samples").fetchone()
            by_model = self._db.execute(
                "SELECT model, COUNT(*), COALESCE(SUM(hits), 0) FROM samples GROUP BY model ORDER BY model"
            ).fetchall()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {"path": str(self.path), "entries": totals[0], "size_bytes": size, "hits": totals[1],
                "by_model": [{"model": m, "entries": e, "hits": h} for m, e, h in by_model]}

    def clear(self, model: str | None = None) -> int:
        """Delete every entry (or one model's); returns how many were removed."""
        with self._lock:
            if model is None:
                removed = self._db.execute("DELETE FROM samples").rowcount
            else:
                removed = self._db.execute("DELETE FROM samples WHERE model = ?", (model,)).rowcount
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if model is None:
            with self._lock:
                self._db.execute("VACUUM")
        return removed

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _dump(logprobs: list[dict[str, Any]] | None) -> str | None:
    return None if logprobs is None else json.dumps(logprobs)


def _marks(values: list[str]) -> str:
    return ",".join("?" * len(values))
