"""What ``alphaflow solve`` prints at the end: the code, verdict tables, the cost; or one JSON object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from alphaflow.console import Console

MAX_TABLE_ROWS = 30
_VERDICT_STYLE = {"AC": "bold green", "WA": "bold red", "CE": "bold magenta", "SE": "bold yellow"}


@dataclass
class SolveOutcome:
    """Everything a finished solve run reports."""

    problem: str
    flow: str
    model: str
    language: str
    code: str
    public: dict[str, Any] | None  # judge result dict on the public tests (None: no public tests)
    evaluation: dict[str, Any] | None  # judge result dict on private+generated tests, if the problem has them
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    cost_unknown_calls: int = 0
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)
    trace_path: str | None = None
    out_path: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def public_passed(self) -> bool:
        """Exit status 0 needs code that passes every public test; a problem without public tests is
        held to its evaluation tests instead, and one with no tests at all was verified against
        nothing, so it is False (the report says why): no failure looks like success."""
        if not self.code.strip():
            return False
        for judged in (self.public, self.evaluation):
            if judged and judged.get("total"):
                return judged.get("verdict") == "AC"
        return False

    def to_json(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "flow": self.flow,
            "model": self.model,
            "language": self.language,
            "code": self.code,
            "public": _summary(self.public),
            "evaluation": _summary(self.evaluation),
            "solved_public": self.public_passed,
            "checked": any(j and j.get("total") for j in (self.public, self.evaluation)),
            "calls": self.calls,
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cost_usd": None if self.cost_unknown_calls else self.cost_usd,  # None: not fully known
            "cost_known_usd": self.cost_usd,
            "cost_unknown_calls": self.cost_unknown_calls,
            "seconds": round(self.seconds, 3),
            "outputs": {k: v for k, v in self.outputs.items() if k != "code"},
            "trace": self.trace_path,
            "out": self.out_path,
            "warnings": self.warnings,
        }


def _summary(judge: dict[str, Any] | None) -> dict[str, Any] | None:
    if judge is None:
        return None
    return {
        "verdict": judge.get("verdict"),
        "passed": judge.get("passed"),
        "total": judge.get("total"),
        "tests": [
            {key: test.get(key) for key in ("verdict", "kind", "cpu_s", "wall_s", "memory_kb")}
            for test in judge.get("tests") or []
        ],
    }


def verdict_table(judge: dict[str, Any], title: str) -> Table:
    """One row per test; a failing test shows what was expected beside what the program printed."""
    from alphaflow.engine.trace_tree import human_bytes, human_seconds

    tests = judge.get("tests") or []
    compare = any(test.get("verdict") == "WA" for test in tests)
    table = Table(title=title, title_justify="left", expand=False)
    columns = [("#", "right"), ("kind", "left"), ("verdict", "left"), ("cpu", "right"), ("memory", "right"),
               ("input", "left")]
    if compare:
        columns += [("expected", "left"), ("got", "left")]
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for index, test in enumerate(tests[:MAX_TABLE_ROWS], start=1):
        verdict = str(test.get("verdict"))
        row = [
            str(index),
            str(test.get("kind") or ""),
            f"[{_VERDICT_STYLE.get(verdict, 'bold red')}]{verdict}[/]",
            human_seconds(float(test.get("cpu_s") or 0)),
            human_bytes(test.get("memory_kb")),
            _preview(test.get("input")),
        ]
        if compare:
            wrong = verdict == "WA"
            row += [_preview(test.get(key)) if wrong else "" for key in ("expected", "stdout")]
        table.add_row(*row)
    if len(tests) > MAX_TABLE_ROWS:
        table.add_row("", "", f"... {len(tests) - MAX_TABLE_ROWS} more", *[""] * (len(columns) - 3))
    verdict = str(judge.get("verdict"))
    table.caption = (
        f"[{_VERDICT_STYLE.get(verdict, 'bold red')}]{verdict}[/]  "
        f"{judge.get('passed')}/{judge.get('total')} passed"
    )
    if verdict == "CE" and judge.get("compile_output"):
        table.caption += f"\n{str(judge['compile_output'])[:500]}"
    table.caption_justify = "left"
    return table


def _preview(text: Any, width: int = 24) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def cost_text(known_usd: float | None, unknown_calls: int, calls: int) -> str:
    """The cost so far; calls to models without a known price are never counted as free."""
    if known_usd is None or (unknown_calls and unknown_calls >= calls):
        return "unknown (no price known for this model)"
    text = f"${known_usd:.4f}"
    if unknown_calls:
        text += f" + {unknown_calls} calls of unknown price"
    return text


def cost_line(outcome: SolveOutcome) -> str:
    from alphaflow.engine.trace_tree import human_seconds

    cost = cost_text(outcome.cost_usd, outcome.cost_unknown_calls, outcome.calls)
    return (
        f"{outcome.calls} model calls, {outcome.prompt_tokens} prompt + {outcome.completion_tokens} "
        f"completion tokens, cost {cost}, {human_seconds(outcome.seconds)}"
    )


def render(outcome: SolveOutcome, console: Console) -> None:
    """The final report for people: code, public verdicts, evaluation verdicts, cost."""
    lexer = "cpp" if outcome.language == "cpp" else "python"
    title = f"{outcome.problem} — {outcome.flow} flow, {outcome.model}"
    if outcome.code.strip():
        console.print(
            Panel(
                Syntax(outcome.code, lexer, line_numbers=True, word_wrap=True),
                title=title,
                title_align="left",
            )
        )
    else:
        console.print(Panel("[bold red]the flow produced no code[/]", title=title, title_align="left"))
    parts: list[Any] = []
    if outcome.public and outcome.public.get("total"):
        parts.append(verdict_table(outcome.public, "Public tests (the flow saw these)"))
    else:
        checked = outcome.evaluation is not None and outcome.evaluation.get("total")
        parts.append(
            "[yellow]No public tests: the evaluation tests below decide the exit status.[/]"
            if checked
            else "[yellow]No public tests: the code was not checked against anything (exit status 1: "
            "nothing verified). Add examples to the statement, or judge it with alphaflow sandbox run.[/]"
        )
    if outcome.evaluation is not None:
        parts.append(verdict_table(outcome.evaluation, "Evaluation: private tests (never shown to the flow)"))
    console.print(Group(*parts))
    console.print(cost_line(outcome))
    if outcome.out_path:
        console.print(f"code saved to {outcome.out_path}")
    if outcome.trace_path:
        console.print(f"trace: {outcome.trace_path}")
