"""Live progress of a solve run, fed by the run's trace events.

``RunProgress.handle(event, fields)`` sees every trace event (the engine's step events, the model
layer's call events); it keeps the current stage, the number of model calls, tokens and cost so far
(in all and per stage: a call counts for the stage its step belongs to), and the test pass counts of
each judging step. ``live_progress`` shows it with rich while the run lasts: an updating panel on a
terminal, otherwise one line per stage once it is over, with that stage's own figures.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from alphaflow.console import Console

SHOWN_JUDGEMENTS = 8


@dataclass
class Tally:
    """Model calls, tokens and cost of a run or of one of its stages."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    cost_unknown_calls: int = 0

    def add(self, fields: dict[str, Any]) -> None:
        """Count one ``model_call`` trace event (``prompt_tokens``, ``completion_tokens``, ``cost_usd``)."""
        self.calls += 1
        self.prompt_tokens += int(fields.get("prompt_tokens") or 0)
        self.completion_tokens += int(fields.get("completion_tokens") or 0)
        cost = fields.get("cost_usd")
        if fields.get("cached"):
            return
        if cost is None:
            self.cost_unknown_calls += 1
        elif self.cost_usd is not None:
            self.cost_usd += float(cost)

    def line(self) -> str:
        """``model calls 6 · tokens 2665 in / 600 out · cost $0.0123``."""
        from alphaflow.solve.report import cost_text

        cost = cost_text(self.cost_usd, self.cost_unknown_calls, self.calls)
        tokens = f"{self.prompt_tokens} in / {self.completion_tokens} out"
        return f"model calls {self.calls} · tokens {tokens} · cost {cost}"


@dataclass
class Judgement:
    step: str
    verdict: str
    passed: int
    total: int


class RunProgress:
    """What the run has done so far. Thread-safe: the trace may be written from worker threads."""

    def __init__(self, flow: str, problem: str, model: str) -> None:
        self.flow, self.problem, self.model = flow, problem, model
        self.current = "starting"
        self.total = Tally()
        self.judgements: list[Judgement] = []
        self.stage_log: list[str] = []  # top-level stages in the order they began, for non-terminal output
        self.stage_tallies: list[Tally] = []  # what each entry of stage_log spent, itself only
        self.cut_steps: list[str] = []  # steps whose answer was cut at max_tokens (finish reason length)
        self._lock = threading.Lock()
        self._listeners: list[Any] = []
        self._started = time.monotonic()
        self._spinner = Spinner("dots")  # one instance, so it animates between refreshes

    # --- events ---------------------------------------------------------------------------------
    def handle(self, event: str, fields: dict[str, Any]) -> None:
        with self._lock:
            if event in MODEL_CALL_EVENTS and not fields.get("error"):
                self._count_call(fields)
            elif event == "step_start" and fields.get("kind") not in ("python", "loop"):
                self._enter(str(fields.get("path") or "?"))
            elif event == "step_end" and fields.get("kind") == "sandbox":
                self._judgement(str(fields.get("path") or "?"), fields.get("output"))
        self._notify()

    def stage(self, name: str) -> None:
        with self._lock:
            self._enter(name)
        self._notify()

    def on_change(self, listener: Any) -> None:
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    def _enter(self, path: str) -> None:
        """``fix_public[1].analyse_public`` -> stage ``fix_public``, shown as round 2."""
        self.current = _readable(path)
        top = _top(path)
        if not self.stage_log or self.stage_log[-1] != top:
            self.stage_log.append(top)
            self.stage_tallies.append(Tally())

    def _count_call(self, fields: dict[str, Any]) -> None:
        self.total.add(fields)
        if "length" in (fields.get("finish_reasons") or []):
            self.cut_steps.append(str(fields.get("step") or "?"))
        if not self.stage_tallies:
            return
        # the stage of the call's step (steps of two stages may overlap), else the current one
        step = fields.get("step")
        top = _top(step) if isinstance(step, str) and step else None
        index = next((i for i in reversed(range(len(self.stage_log))) if self.stage_log[i] == top), -1)
        self.stage_tallies[index].add(fields)

    def _judgement(self, path: str, result: Any) -> None:
        if not isinstance(result, dict) or "passed" not in result or "total" not in result:
            return
        self.judgements.append(
            Judgement(
                _readable(path),
                str(result.get("verdict")),
                int(result.get("passed") or 0),
                int(result.get("total") or 0),
            )
        )

    # --- display --------------------------------------------------------------------------------
    def summary_line(self) -> str:
        """The whole run so far: ``model calls N · tokens P in / C out · cost $X``."""
        return self.total.line()

    def cut_warning(self) -> str | None:
        """A warning naming the steps whose answer was cut at max_tokens, or None when none was."""
        with self._lock:
            steps = list(dict.fromkeys(self.cut_steps))
        if not steps:
            return None
        named = ", ".join(steps[:5]) + (f" and {len(steps) - 5} more" if len(steps) > 5 else "")
        return (
            f"the model's answer was cut at max_tokens (finish_reason length) at step {named}: a parse "
            "error, a compile error or a wrong answer there may come from that; raise the step's max_tokens"
        )

    def stage_line(self, index: int) -> str:
        """``stage NAME · model calls N · ...``: the figures of ``stage_log[index]`` alone."""
        with self._lock:
            return f"stage {self.stage_log[index]} · {self.stage_tallies[index].line()}"

    def __rich__(self) -> Group:
        with self._lock:
            elapsed = f"  {time.monotonic() - self._started:.0f} s"
            self._spinner.update(
                text=Text.assemble(
                    (self.flow, "bold cyan"),
                    " on ",
                    (self.problem, "bold"),
                    f" with {self.model}",
                    (elapsed, "dim"),
                )
            )
            header = self._spinner
            own = f" · {self.stage_tallies[-1].calls if self.stage_tallies else 0} model calls in this stage"
            stage = Text.assemble(("stage ", "dim"), (self.current, "bold yellow"), (own, "dim"))
            parts: list[Any] = [header, stage, Text(f"so far: {self.summary_line()}", style="dim")]
            if self.judgements:
                parts.append(self._judged_table(self.judgements[-SHOWN_JUDGEMENTS:]))
            return Group(*parts)

    def judged_table(self) -> Table | None:
        """Every judging of the run (the live view shows the last few), or None when nothing was judged."""
        with self._lock:
            return self._judged_table(list(self.judgements)) if self.judgements else None

    @staticmethod
    def _judged_table(judgements: list[Judgement]) -> Table:
        table = Table(box=None, show_header=True, header_style="dim", pad_edge=False)
        table.add_column("judged by")
        table.add_column("tests", justify="right")
        table.add_column("verdict")
        for item in judgements:
            style = "green" if item.verdict == "AC" else "red"
            table.add_row(item.step, f"{item.passed}/{item.total}", Text(item.verdict, style=style))
        return table


# The model layer's event for one completed call (see alphaflow/models).
MODEL_CALL_EVENTS = {"model_call"}
_ITERATION = re.compile(r"\[(\d+)\]")


def _top(path: str) -> str:
    """``fix_public[1].analyse_public`` -> ``fix_public``: the stage a step belongs to."""
    return _ITERATION.sub("", path.split(".")[0])


def _readable(path: str) -> str:
    """``fix_ai[3].ai_check`` -> ``fix_ai #4 › ai_check`` (1-based rounds, for people)."""
    return " › ".join(_ITERATION.sub(lambda m: f" #{int(m.group(1)) + 1}", part) for part in path.split("."))


@contextlib.contextmanager
def live_progress(progress: RunProgress, console: Console, *, enabled: bool = True) -> Iterator[None]:
    """Show ``progress`` while the block runs: a live panel on a terminal, stage lines otherwise."""
    if not enabled:
        yield
        return
    if console.is_terminal:
        try:
            with Live(progress, console=console, refresh_per_second=8, transient=True):
                yield
        finally:  # the live view goes; what was judged stays on screen (also after Ctrl-C)
            table = progress.judged_table()
            if table is not None:
                console.print(table)
            console.print(Text(progress.summary_line(), style="dim"))
        return
    printed = 0
    printing = threading.Lock()  # trace events arrive from worker threads too: each line once

    def print_finished_stages(*, last_too: bool = False) -> None:
        """A stage's line once the next one began (or the run ended): its own calls are all in."""
        nonlocal printed
        with printing:
            while printed < len(progress.stage_log) - (0 if last_too else 1):
                console.print(f"alphaflow: {progress.stage_line(printed)}", highlight=False, soft_wrap=True)
                printed += 1

    progress.on_change(print_finished_stages)
    try:
        yield
    finally:  # the last stage ends with the run (also after Ctrl-C or a failed step)
        print_finished_stages(last_too=True)
