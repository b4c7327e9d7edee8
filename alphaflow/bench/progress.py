"""The live progress bar of a benchmark run: units done, ETA, solved so far, cost so far (on stderr)."""

from __future__ import annotations

from typing import Any

from alphaflow.bench.runner import RunCounts
from alphaflow.bench.store import UnitResult


def format_cost(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


class BenchProgress:
    """A rich progress bar; ``quiet`` (for ``--json``) shows nothing."""

    def __init__(self, total: int, already_done: int = 0, *, quiet: bool = False) -> None:
        self._progress: Any = None
        self._task: Any = None
        if quiet:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from alphaflow.console import Console

        self._progress = Progress(
            TextColumn("[bold]bench[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "solved {task.fields[solved]}  cost {task.fields[cost]}  errors {task.fields[errors]}"
                "  not judged {task.fields[faults]}"
            ),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(
            "units",
            total=total + already_done,
            completed=already_done,
            solved=0,
            cost="$0",
            errors=0,
            faults=0,
        )

    def __enter__(self) -> BenchProgress:
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress:
            self._progress.stop()

    def update(self, result: UnitResult, counts: RunCounts) -> None:
        if not self._progress:
            return
        self._progress.update(
            self._task,
            advance=1,
            solved=counts.solved,
            cost=format_cost(counts.cost_usd),
            errors=counts.errors,
            faults=counts.faults,
        )
