"""``alphaflow scripted template FLOW``: a scripted-model file with one rule per ``llm`` step.

Each rule matches its step's path (steps inside ``loop``/``map`` steps run as ``parent[i].child``,
matched here as ``parent*.child``; steps of a called flow as ``caller.child``) and answers with a
placeholder in the format the step declares (``output: {format: code|yaml|text}``), listing the keys
a YAML answer must have. Edit the answers, then run the flow with ``--model scripted:FILE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from alphaflow.engine import spec as S
from alphaflow.engine.loader import Flow
from alphaflow.testing.script import ScriptedRequest
from alphaflow.testing.stub import ECHO_PROGRAMS, dump_yaml, stub_answer, yaml_shape


@dataclass(frozen=True)
class LlmStepInfo:
    """One ``llm`` step as the scripted server sees it: its path pattern and its answer format."""

    pattern: str  # an fnmatch pattern over the step path sent in the X-Alphaflow-Step header
    step: S.LlmStep
    prompt: str  # the step's prompt template (user text or prompt file), unrendered

    @property
    def placeholder(self) -> str:
        output = self.step.output
        if output.format == "yaml":
            keys = output.keys or ["answer"]
            shown = yaml_shape(self.prompt)  # the example block the prompt shows, when it has the keys
            shaped = shown if shown and set(keys) <= set(shown) else {key: "..." for key in keys}
            body = dump_yaml(shaped)
            return f"```yaml\n{body}```\n"
        if output.format == "code":
            language = "cpp" if (output.language or "").strip().lower() in ("cpp", "c++") else "python"
            return f"```{language}\n{ECHO_PROGRAMS[language]}```\n"
        # a text answer: what the stub model would say to this prompt (a Score: line for a judge, ...)
        request = ScriptedRequest(
            messages=[{"role": "user", "content": self.prompt}], model="", step=None, body={}
        )
        return stub_answer(request)


def llm_steps(flow: Flow, prefix: str = "") -> Iterator[LlmStepInfo]:
    """Every ``llm`` step of ``flow`` and of the flows it calls, in the order they are written."""
    yield from _walk(flow, flow.spec.steps, prefix)


def _walk(flow: Flow, steps: list[S.AnyStep], prefix: str) -> Iterator[LlmStepInfo]:
    for step in steps:
        if isinstance(step, S.LlmStep):
            yield LlmStepInfo(pattern=f"{prefix}{step.id}", step=step, prompt=_prompt_text(flow, step))
        elif isinstance(step, S.LoopStep | S.MapStep):
            yield from _walk(flow, list(step.steps), f"{prefix}{step.id}*.")
        elif isinstance(step, S.FlowStep) and step.id in flow.calls:
            called = flow.calls[step.id]
            yield from _walk(called, called.spec.steps, f"{prefix}{step.id}.")


def _prompt_text(flow: Flow, step: S.LlmStep) -> str:
    if step.user is not None:
        return step.user
    try:
        return (flow.path.parent / str(step.prompt_file)).read_text(encoding="utf-8")
    except OSError:
        return ""


def render_template(flow: Flow) -> str:
    """The scripted-model YAML for ``flow``: a commented rule per llm step, ready to edit."""
    lines = [
        f"# Scripted answers for the flow '{flow.spec.name}' ({flow.path}).",
        "# One rule per llm step; rules are tried in order and the first match answers.",
        "# `response` is one answer; use `responses: [...]` for a different answer per call or sample.",
        "# Run with: alphaflow run FLOW --model scripted:THIS_FILE (format: docs/models.md)",
        "rules:",
    ]
    for info in llm_steps(flow):
        step = info.step
        lines.append(f"  - step: {_quoted(info.pattern)}")
        what = step.description or f"the {step.output.format} answer of step {step.id}"
        lines.append(f"    # {what}")
        if step.output.format == "yaml":
            lines.append(f"    # a YAML answer with the keys: {', '.join(step.output.keys or ['(any)'])}")
        elif step.output.format == "code":
            lines.append(f"    # a fenced code block in {step.output.language or 'the asked language'}")
        if isinstance(step.samples, int) and step.samples > 1:
            lines.append(f"    # the step asks for {step.samples} samples: `responses` can give each one")
        lines.append("    response: |")
        lines.extend(f"      {line}" if line else "" for line in info.placeholder.splitlines())
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
