"""``alphaflow trace show FILE --html OUT``: a self-contained page that lets a person follow a run.

The flow is drawn as a nested timeline (loops and maps as groups with numbered iterations, each step
with a bar for when it ran and how long); each step opens to what it did: an ``llm`` step's rendered
prompt beside its answer (code highlighted, the parsed YAML), tokens, cost and cache hits; a
``sandbox`` step's code, verdict and per-test table; a ``python`` step's inputs and result. Errors are
listed first, each linked to its step. No script, font or stylesheet is fetched: the page works offline.
Templating is Jinja2 (autoescaped), highlighting Pygments.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from alphaflow.engine.trace_tree import (
    RunTree,
    StepNode,
    build_tree,
    human_bytes,
    human_seconds,
    run_facts,
    short_value,
)

_TEMPLATE = Path(__file__).with_name("trace_page.html.j2")
_FENCED = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_LEXERS = {"py": "python", "python3": "python", "c++": "cpp", "yml": "yaml", "": "text"}


def render_trace_html(events: list[dict[str, Any]], title: str) -> str:
    """The page for a trace's events (``alphaflow.trace.read_trace``); every value is escaped."""
    from markupsafe import Markup

    tree = build_tree(events)
    total = tree.duration_s or 1e-9
    origin = tree.started or 0.0

    def bar(node: StepNode) -> dict[str, float]:
        left = max(((node.start or origin) - origin) / total * 100, 0.0)
        width = max(node.duration_s / total * 100, 0.3)
        return {"left": round(min(left, 99.7), 2), "width": round(min(width, 100 - min(left, 99.7)), 2)}

    environment = _environment()
    environment.globals.update(
        bar=bar,
        seconds=human_seconds,
        mib=human_bytes,
        short=short_value,
        highlight=lambda code, language="python": Markup(_highlight(str(code), language)),
        answer=lambda text: Markup(_answer_html(str(text))),
        as_yaml=_as_yaml,
        clock=lambda ts: dt.datetime.fromtimestamp(ts).strftime("%H:%M:%S") if ts else "-",
        messages=_messages,
        sandbox_view=_sandbox_view,
    )
    return environment.get_template(_TEMPLATE.name).render(
        title=title,
        tree=tree,
        facts=run_facts(tree),
        css=_css(),
        summary=_summary(tree),
        failures=tree.failures(),
    )


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATE.parent)),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,  # trace events are data: a missing field renders empty
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def _css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="friendly").get_style_defs(".hl")


def _highlight(code: str, language: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    name = _LEXERS.get(language.lower(), language.lower())
    try:
        lexer = get_lexer_by_name(name)
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    return highlight(code, lexer, HtmlFormatter(cssclass="hl"))


def _answer_html(text: str) -> str:
    """A model answer: prose as pre-wrapped text, each fenced block highlighted in its language."""
    from markupsafe import escape

    parts: list[str] = []
    position = 0
    for match in _FENCED.finditer(text):
        prose = text[position : match.start()]
        if prose.strip():
            parts.append(f"<pre class='prose'>{escape(prose.strip(chr(10)))}</pre>")
        parts.append(_highlight(match.group(2), match.group(1)))
        position = match.end()
    rest = text[position:]
    if rest.strip() or not parts:
        parts.append(f"<pre class='prose'>{escape(rest.strip(chr(10)))}</pre>")
    return "".join(parts)


def _as_yaml(value: Any) -> str:
    from alphaflow.testing.stub import dump_yaml

    try:
        return dump_yaml(value).rstrip("\n")
    except Exception:  # a value YAML cannot represent: show it as JSON
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _messages(node: StepNode) -> list[dict[str, str]]:
    """The prompt messages of an llm step (from its step_end event, else its first model call)."""
    event = node.end_event or {}
    messages = event.get("prompt") or (node.calls[0].get("messages") if node.calls else None) or []
    shown = []
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, list):
                content = "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
            shown.append({"role": str(message.get("role", "?")), "content": str(content or "")})
    return shown


def _sandbox_view(node: StepNode) -> dict[str, Any]:
    event = node.end_event or {}
    output = event.get("output") if isinstance(event.get("output"), dict) else {}
    inputs = event.get("inputs") if isinstance(event.get("inputs"), dict) else {}
    tests = [test for test in output.get("tests") or [] if isinstance(test, dict)]
    return {
        "code": inputs.get("code") or "",
        "language": str(inputs.get("language") or "python"),
        "verdict": output.get("verdict"),
        "passed": output.get("passed"),
        "total": output.get("total"),
        "message": output.get("message") or output.get("compile_output") or "",
        "cached": bool(event.get("cached") or output.get("cached")),
        "tests": tests,
    }


def _summary(tree: RunTree) -> dict[str, Any]:
    nodes = tree.root.walk()
    calls = [call for node in nodes for call in node.calls]
    costs = [call.get("cost_usd") for call in calls]
    known = [float(c) for c in costs if isinstance(c, int | float)]
    unknown = sum(1 for call in calls if call.get("cost_usd") is None and not call.get("cached"))
    return {
        "calls": len(calls),
        "cached": sum(1 for call in calls if call.get("cached")),
        "prompt_tokens": sum(int(call.get("prompt_tokens") or 0) for call in calls),
        "completion_tokens": sum(int(call.get("completion_tokens") or 0) for call in calls),
        "cost": f"${sum(known):.4f}" + (f" + {unknown} call(s) of unknown price" if unknown else ""),
        "steps": len(nodes) - 1,
    }
