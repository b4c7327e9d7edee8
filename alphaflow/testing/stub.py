"""``--model stub``: a built-in model that gives well-formed placeholder answers to any flow step.

A dry run with the stub needs no script: it reads each request the way a careful model would and
answers in the format the prompt asks for —

- a judge's ``Score: <n>`` line, a pairwise ``Winner: A|B|tie`` line, a ``Verdict: correct|incorrect``
  line, a ``Task:`` line for self-instruction, or a bare number for a rubric score;
- a YAML block shaped like the example block the prompt shows (the same keys and nesting, with the
  example's placeholder values), or like the block the prompt asks to correct;
- a program in the asked language that echoes its standard input to its standard output;
- otherwise a short text.

The answers are placeholders: they make every step of every built-in flow run end to end (so
``solve``, ``bench``, ``judge`` and ``eval`` can be tried offline on any input), not solve anything.
For answers of your own, write a script (``alphaflow scripted template FLOW`` starts one).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from alphaflow.testing.script import Rule, Script, ScriptedRequest

STUB_MODEL = "stub"

ECHO_PROGRAMS = {
    "python": "import sys\n\nsys.stdout.write(sys.stdin.read())\n",
    "cpp": (
        "#include <iostream>\n#include <iterator>\n#include <string>\n\n"
        "int main() {\n"
        "    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());\n"
        "    std::cout << all;\n"
        "    return 0;\n"
        "}\n"
    ),
}
_FENCE_TAG = {"python": "python", "cpp": "cpp"}

# A fence opener with a language tag: ```yaml, ```python, ```cpp, ```c++, ```py (the last one a
# prompt shows is the format it asks for: examples and quoted material come before the instruction).
_TAGGED_FENCE = re.compile(r"```[ \t]*(yaml|yml|python3?|py|cpp|c\+\+)\b", re.IGNORECASE)
_YAML_BLOCK = re.compile(r"```[ \t]*ya?ml[ \t]*\r?\n(.*?)\r?\n[ \t]*```", re.IGNORECASE | re.DOTALL)
_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:", re.MULTILINE)
_CPP_WORD = re.compile(r"\b(?:c\+\+|cpp)(?:\b|(?=\s))", re.IGNORECASE)
_PYTHON_WORD = re.compile(r"\bpython3?\b", re.IGNORECASE)
_CODE_WORDS = re.compile(r"\b(program|code block|source code|fenced)\b", re.IGNORECASE)
_RUBRIC_SCALE = re.compile(
    r"\b(?:score|rating|digit|number)\b[^.\n]{0,40}?\b1\s*(?:to|-|–)\s*([2-9]|10)\b", re.IGNORECASE
)
# Instructions close a prompt; quoted material (an answer under review, a program) comes before them.
_INSTRUCTION_TAIL = 600


def stub_answer(request: ScriptedRequest) -> str:
    """The placeholder answer for one request (see the module docstring for the rules)."""
    prompt = request.last_user
    everything = request.all_text
    sample = request.choice_index + request.rule_call
    if "Score: <" in prompt:
        return f"A placeholder judgement from the stub model.\nScore: {3 + sample % 2}"
    if "Winner: A" in prompt and "Winner: B" in prompt:
        return "A placeholder comparison from the stub model.\nWinner: A"
    if "Verdict: correct" in prompt:
        return "A placeholder check from the stub model.\nVerdict: correct"
    if re.search(r"starting with \W?Task:", prompt):
        return f"Task: Placeholder request number {sample + 1} from the stub model."
    scale = _RUBRIC_SCALE.search(prompt[-_INSTRUCTION_TAIL:])
    if scale:
        return str((int(scale.group(1)) + 1) // 2)
    tags = _TAGGED_FENCE.findall(prompt)
    if tags:
        tag = tags[-1].lower()
        if tag in ("yaml", "yml"):
            return _yaml_answer(prompt)
        return _code_answer("cpp" if tag in ("cpp", "c++") else "python")
    if _CODE_WORDS.search(prompt):
        return _code_answer(_language(everything))
    return "A placeholder answer from the stub model."


def stub_script() -> Script:
    """The stub model as a script for the scripted server: one rule answering every request."""
    return Script(rules=[Rule(response=stub_answer, name="stub")], models=[STUB_MODEL], source="<stub>")


def _code_answer(language: str) -> str:
    return (
        f"A placeholder program from the stub model: it echoes its input.\n\n"
        f"```{_FENCE_TAG[language]}\n{ECHO_PROGRAMS[language]}```\n"
    )


def _language(text: str) -> str:
    """``cpp`` when the request names C++ after any mention of Python, else ``python``."""
    cpp = [m.start() for m in _CPP_WORD.finditer(text)]
    python = [m.start() for m in _PYTHON_WORD.finditer(text)]
    if cpp and (not python or cpp[-1] > python[-1]):
        return "cpp"
    return "python"


def _yaml_answer(prompt: str) -> str:
    """A YAML block shaped like the last YAML block in the prompt (its keys, nesting and values)."""
    shaped = yaml_shape(prompt) or {"answer": "A placeholder answer from the stub model."}
    return "```yaml\n" + dump_yaml(shaped) + "```\n"


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings as ``|`` blocks, as a model (and a person editing a script) writes them."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _represent_text)


def dump_yaml(value: Any) -> str:
    """``value`` as YAML in a model's style: keys in order, multi-line strings as blocks."""
    return yaml.dump(value, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True)


def yaml_shape(prompt: str) -> dict[str, Any] | None:
    """The mapping the last ```yaml block of ``prompt`` shows (or its top-level keys), else None."""
    blocks = _YAML_BLOCK.findall(prompt)
    if not blocks:
        return None
    try:
        shaped = yaml.safe_load(blocks[-1])
    except yaml.YAMLError:
        shaped = None
    if isinstance(shaped, dict) and shaped:
        return shaped
    keys = _TOP_KEY.findall(blocks[-1])
    return {key: "..." for key in keys} if keys else None
