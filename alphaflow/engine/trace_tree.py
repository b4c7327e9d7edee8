"""A run trace as a tree of steps: what ``trace show`` prints and the HTML viewer draws.

Step paths carry the nesting (see ``engine/runner.py``): ``fix_public[2].analyse_public`` is the step
``analyse_public`` of iteration 2 of the loop (or item 2 of the map) ``fix_public``; ``caller.child``
is a step of the flow that the flow step ``caller`` ran. Each node gathers its ``step_end`` event, its
start time and the ``model_call`` events made for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_ITERATION = re.compile(r"^(?P<parent>.*)\[(?P<index>\d+)\]$")


@dataclass
class StepNode:
    """One step run (or, for ``loop``/``map``, the whole group); times in seconds since the epoch."""

    path: str
    start: float | None = None
    end_event: dict[str, Any] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)  # model_call events of this step
    children: list[StepNode] = field(default_factory=list)  # a flow step's steps
    iterations: dict[int, list[StepNode]] = field(default_factory=dict)  # loop/map: index -> steps

    @property
    def id(self) -> str:
        return self.path.rpartition(".")[2] or "(run)"

    @property
    def kind(self) -> str:
        return str((self.end_event or {}).get("kind") or ("group" if self.iterations else "?"))

    @property
    def status(self) -> str:
        return str((self.end_event or {}).get("status") or "running")

    @property
    def duration_s(self) -> float:
        return _number((self.end_event or {}).get("duration_s"))

    @property
    def error(self) -> str | None:
        error = (self.end_event or {}).get("error")
        return str(error) if error else None

    @property
    def anchor(self) -> str:
        return "step-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.path)

    def walk(self) -> list[StepNode]:
        """This node and every node below it, in run order."""
        nodes = [self]
        for child in self.ordered_children():
            nodes += child.walk()
        return nodes

    def ordered_children(self) -> list[StepNode]:
        children = list(self.children)
        for index in sorted(self.iterations):
            children += self.iterations[index]
        return children

    @property
    def tokens(self) -> tuple[int, int]:
        prompt = sum(int(_number(call.get("prompt_tokens"))) for call in self.calls)
        completion = sum(int(_number(call.get("completion_tokens"))) for call in self.calls)
        return prompt, completion

    @property
    def cost_usd(self) -> float | None:
        costs = [call.get("cost_usd") for call in self.calls]
        known = [float(cost) for cost in costs if isinstance(cost, int | float)]
        return sum(known) if known or not costs else None

    @property
    def cached(self) -> bool:
        return bool(self.calls) and all(call.get("cached") for call in self.calls)

    @property
    def cut(self) -> int:
        """Answers of this step cut at max_tokens (finish reason ``length``): a likely parse error's cause."""
        return sum(reason == "length" for call in self.calls for reason in call.get("finish_reasons") or [])


@dataclass
class RunTree:
    """The whole run: the root's children are the flow's top-level steps."""

    root: StepNode
    started: float | None
    ended: float | None
    header: dict[str, Any]  # solve_start / flow_start fields worth showing
    result: dict[str, Any]  # solve_end / flow_end fields

    @property
    def duration_s(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return max(self.ended - self.started, 0.0)

    def failures(self) -> list[StepNode]:
        return [node for node in self.root.walk() if node.error]


def build_tree(events: list[dict[str, Any]]) -> RunTree:
    """Arrange trace events into a ``RunTree`` (events of unknown kinds are ignored)."""
    root = StepNode(path="")
    nodes: dict[str, StepNode] = {"": root}

    def node(path: str) -> StepNode:
        if path not in nodes:
            nodes[path] = StepNode(path=path)
            parent_path, _, _ = path.rpartition(".")
            container(parent_path).append(nodes[path])
        return nodes[path]

    def container(path: str) -> list[StepNode]:
        match = _ITERATION.match(path)
        if match:
            owner = node(match.group("parent"))
            return owner.iterations.setdefault(int(match.group("index")), [])
        return node(path).children if path else root.children

    header: dict[str, Any] = {}
    result: dict[str, Any] = {}
    times = [_number(event.get("ts")) for event in events if event.get("ts") is not None]
    for event in events:
        kind = event.get("event")
        path = event.get("path")
        if kind == "step_start" and isinstance(path, str):
            node(path).start = _number(event.get("ts"))
        elif kind == "step_end" and isinstance(path, str):
            step = node(path)
            step.end_event = event
            if step.start is None:
                step.start = _number(event.get("ts")) - _number(event.get("duration_s"))
        elif kind == "model_call" and isinstance(event.get("step"), str):
            node(event["step"]).calls.append(event)
        elif kind in ("solve_start", "flow_start") or (isinstance(kind, str) and kind.endswith("_start")):
            header.update({k: v for k, v in event.items() if k not in ("ts", "event")})
        elif isinstance(kind, str) and kind.endswith("_end"):
            result.update({k: v for k, v in event.items() if k not in ("ts", "event")})
    return RunTree(
        root=root,
        started=min(times) if times else None,
        ended=max(times) if times else None,
        header=header,
        result=result,
    )


def run_facts(tree: RunTree) -> list[tuple[str, str]]:
    """The run's header and result as (label, readable text) pairs: times human, money in dollars."""
    facts: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, value in {**tree.header, **tree.result}.items():
        if value is None or key in ("path", "sample_index") or key in seen:
            continue
        seen.add(key)
        if key.endswith("_s") and isinstance(value, int | float):
            label, text = key[:-2], human_seconds(float(value))
        elif key.endswith("_usd") and isinstance(value, int | float):
            label, text = key[:-4], f"${value:.4f}"
        else:
            label, text = key, short_value(value)
        facts.append((label.replace("_", " "), text))
    return facts


def human_seconds(seconds: float | None) -> str:
    """``0.4 ms``, ``340 ms``, ``4.25 s``, ``2 min 05 s``."""
    if seconds is None:
        return "-"
    if seconds < 0.001:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def human_bytes(kilobytes: float | None) -> str:
    """Memory in MiB everywhere (``7.1 MiB``), from the judge's KiB figures."""
    if kilobytes is None:
        return "-"
    return f"{kilobytes / 1024:.1f} MiB"


def short_value(value: Any, limit: int = 80) -> str:
    """One readable line for a header value: ``WA 1/2`` for a verdict dict, never a raw dict."""
    if isinstance(value, dict) and "verdict" in value:
        passed, total = value.get("passed"), value.get("total")
        return f"{value['verdict']} {passed}/{total}" if total is not None else str(value["verdict"])
    if isinstance(value, dict):
        text = ", ".join(f"{k} {short_value(v, 30)}" for k, v in value.items())
    elif isinstance(value, list):
        text = ", ".join(short_value(v, 30) for v in value)
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0
