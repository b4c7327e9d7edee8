"""Live progress for ``judge`` and ``eval``: units done of total, rate, ETA, failures and spend.

It reads the run's trace events as they are written (``ObservedTrace``), so it needs no hooks in the
flows: an eval unit is one item (one ``flow_end`` per item run), a self-rewarding unit is one prompt
(an item of the flow's prompt map: ``map_start`` gives the total, ``map_item_end`` each one done).
Shown on standard error with rich while a terminal is attached; silent under ``--json`` or when
standard error is not a terminal (logs and CI output stay clean).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alphaflow.trace import Trace


class ObservedTrace(Trace):
    """A trace that also hands every event to ``listener(event, fields)`` (even with no file)."""

    def __init__(
        self, path: str | Path | None, listener: Callable[[str, dict[str, Any]], None], **kwargs: Any
    ):
        super().__init__(path, **kwargs)
        self._listener = listener

    def write(self, event: str, **fields: Any) -> None:
        super().write(event, **fields)
        self._listener(event, fields)


class JudgeProgress:
    """A progress bar over units; ``unit_maps`` names the map steps whose items are the units (the
    self-rewarding prompts), else every run of the flow (``flow_end``) is one unit (an eval item)."""

    def __init__(
        self, label: str, *, total: int | None = None, unit_maps: tuple[str, ...] = (), quiet: bool = False
    ) -> None:
        self.label = label
        self.unit_maps = unit_maps
        self.total = total
        self.done = 0
        self.failed_units = 0
        self.failed_steps = 0
        self.calls = 0
        self.failed_calls = 0
        self.cost_usd = 0.0
        self.unknown_cost_calls = 0
        self._lock = threading.Lock()
        self._progress: Any = None
        self._task: Any = None
        self.quiet = quiet or not sys.stderr.isatty()

    # --- events ------------------------------------------------------------------------------------
    def handle(self, event: str, fields: dict[str, Any]) -> None:
        with self._lock:
            if event == "model_call":
                self._call(fields)
            elif event == "step_end" and fields.get("status") in ("failed", "continued"):
                self.failed_steps += 1
            elif self.unit_maps and event == "map_start" and fields.get("path") in self.unit_maps:
                self.total = (self.total or 0) + int(fields.get("items") or 0)
            elif self.unit_maps and event == "map_item_end" and fields.get("path") in self.unit_maps:
                self._unit_done(fields.get("status") == "ok")
            elif not self.unit_maps and event == "flow_end":
                self._unit_done(fields.get("status") == "ok")
            else:
                return
        self._refresh()

    def _call(self, fields: dict[str, Any]) -> None:
        self.calls += 1
        if fields.get("error"):
            self.failed_calls += 1
            return
        cost = fields.get("cost_usd")
        if isinstance(cost, int | float):
            self.cost_usd += float(cost)
        elif not fields.get("cached"):
            self.unknown_cost_calls += 1

    def _unit_done(self, ok: bool) -> None:
        self.done += 1
        self.failed_units += not ok

    # --- display -----------------------------------------------------------------------------------
    def status_text(self) -> str:
        spend = f"${self.cost_usd:.4f}" + (
            f" + {self.unknown_cost_calls} unpriced" if self.unknown_cost_calls else ""
        )
        failures = self.failed_units + self.failed_steps + self.failed_calls
        return f"calls {self.calls} · failures {failures} · spend {spend}"

    def __enter__(self) -> JudgeProgress:
        if self.quiet:
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from alphaflow.console import Console

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn(f"[bold]{self.label}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(self.label, total=self.total, rate="", status=self.status_text())
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._refresh()
            self._progress.stop()

    def _refresh(self) -> None:
        if self._progress is None:
            return
        task = self._progress.tasks[0]
        elapsed = task.elapsed or 0.0
        rate = f"{self.done / elapsed:.2f}/s" if elapsed > 0 and self.done else ""
        self._progress.update(
            self._task, total=self.total, completed=self.done, rate=rate, status=self.status_text()
        )
