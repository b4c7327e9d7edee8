"""Turning a model's answer into the value an `llm` step promises: text, code, or a YAML mapping.

YAML answers get a repair pass before they count as malformed: models often write values that
contain ``: `` or span several lines without a block scalar, or wrap the block in prose. The repair
rewrites each top-level entry that does not parse on its own as a ``|-`` block scalar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

_FENCE_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")
_LANGUAGE_ALIASES = {
    "python": {"python", "python3", "py", "py3"},
    "python2": {"python2", "py2"},
    "cpp": {"cpp", "c++", "cc", "cxx", "hpp", "c++17", "c++20", "cpp17", "cpp20"},
    "c": {"c", "h"},
    "java": {"java"},
    "javascript": {"javascript", "js", "node"},
    "rust": {"rust", "rs"},
    "go": {"go", "golang"},
}
_QUOTE_CHARS = 80  # how much of a useless answer an error message quotes
_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)[ \t]*:(?:[ \t]+|$)")


class AnswerError(Exception):
    """The answer does not have the promised shape; the message is shown to the model on a re-ask."""


@dataclass(frozen=True)
class Block:
    """One fenced block of an answer: its language tag (lower case, ``""`` when untagged), body, and
    whether its closing fence was found (an answer cut off by ``max_tokens`` leaves the last one open)."""

    tag: str
    body: str
    closed: bool = True


def normalize_newlines(text: str) -> str:
    """Line endings as ``\\n`` (from ``\\r\\n`` and lone ``\\r``): models answer in any of them."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text``, in order.

    A fence is a line of three or more backticks or tildes, indented or not; the opening one may carry
    an info string whose first word is the tag (```` ```Python ````, ```` ~~~ c++ {.numberLines} ````).
    A block ends at a line of the same fence character at least as long (CommonMark's rule); an
    indented block loses its fence's indentation. A last fence never closed runs to the end of the
    text (``closed=False``). A single bare fence line with nothing but blank lines after it is a
    closing fence whose opening one is missing: the text before it is the block.
    """
    lines = normalize_newlines(text).split("\n")
    fences = [(index, match) for index, line in enumerate(lines) if (match := _FENCE_LINE.match(line))]
    if len(fences) == 1:
        index, match = fences[0]
        if not match["info"] and not "".join(lines[index + 1 :]).strip():
            return [Block("", "\n".join(lines[:index]))]
    blocks: list[Block] = []
    position = 0
    while position < len(lines):
        opening = _FENCE_LINE.match(lines[position])
        if opening is None:
            position += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        tag = opening["info"].split()[0].lower() if opening["info"].strip() else ""
        body: list[str] = []
        position += 1
        closed = False
        while position < len(lines):
            closing = _FENCE_LINE.match(lines[position])
            position += 1
            if (
                closing
                and not closing["info"]
                and closing["fence"][0] == fence[0]
                and len(closing["fence"]) >= len(fence)
            ):
                closed = True
                break
            body.append(_dedent(lines[position - 1], indent))
        if not closed and body and body[-1].rstrip().endswith(fence):  # ``print(x)```: fence glued on
            body[-1] = body[-1].rstrip()[: -len(fence)]
            closed = True
        blocks.append(Block(tag, "\n".join(body), closed))
    return blocks


def _dedent(line: str, indent: int) -> str:
    width = len(line) - len(line.lstrip(" \t"))
    return line[min(width, indent) :]


def language_tags(language: str | None) -> set[str]:
    """The tags that name ``language`` in a fence (``py``, ``python3`` ... for ``python``)."""
    name = (language or "").lower()
    for canonical, aliases in _LANGUAGE_ALIASES.items():
        if name == canonical or name in aliases:
            return aliases | {canonical}
    return {name} if name else set()


def extract_code(text: str, language: str | None) -> str:
    """The program in a model's answer, by these rules, in order:

    1. the last closed block tagged with ``language`` (any alias: ``py``, ``Python3``; ``c++``, ``cpp``);
    2. else the last closed untagged block; 3. else the last closed block with any other tag;
    4. else a block whose closing fence is missing (an answer cut off mid-block);
    5. else, with no fence at all, the whole answer.

    Later blocks win because models revise ("here is the corrected version"). Line endings are
    normalised first. Raises ``AnswerError``, quoting the answer's start, when nothing is left.
    """
    text = normalize_newlines(text)
    blocks = fenced_blocks(text)
    wanted = language_tags(language)
    groups = [
        [block for block in blocks if block.closed and block.tag in wanted],
        [block for block in blocks if block.closed and not block.tag],
        [block for block in blocks if block.closed and block.tag and block.tag not in wanted],
        [block for block in blocks if not block.closed],
    ]
    chosen = next((group[-1] for group in groups if group), None)
    code = chosen.body if chosen is not None else text
    code = code.strip("\n")
    if not code.strip():
        raise AnswerError(f"the answer contains no code; it starts: {quote_start(text)}")
    return code + "\n"


def quote_start(text: str | None) -> str:
    """The first characters of ``text`` on one line, quoted, for error messages."""
    if text is None:
        return "(nothing: the model returned no text)"
    flat = " ".join(text.split())
    if not flat:
        return "(an empty answer)"
    return repr(flat[:_QUOTE_CHARS] + ("..." if len(flat) > _QUOTE_CHARS else ""))


def parse_yaml_answer(text: str, keys: list[str] | None) -> dict[str, Any]:
    """A mapping with the declared keys, from a fenced or bare YAML block (repairing when needed)."""
    text = normalize_newlines(text)
    candidates = [block.body for block in fenced_blocks(text) if block.tag in ("yaml", "yml", "")] or [text]
    first_error: AnswerError | None = None
    for candidate in candidates:
        try:
            return _parse_candidate(candidate, keys)
        except AnswerError as error:
            first_error = first_error or error
    assert first_error is not None
    raise first_error


def _parse_candidate(text: str, keys: list[str] | None) -> dict[str, Any]:
    text = _strip_stray_text(text, keys)
    try:
        return _as_mapping(yaml.safe_load(text), keys)
    except yaml.YAMLError as error:
        original = error
    except AnswerError as error:
        if "missing" in str(error):
            raise
        original = None
    repaired = repair_yaml(text, keys)
    try:
        return _as_mapping(yaml.safe_load(repaired), keys)
    except yaml.YAMLError:
        message = _yaml_message(original) if isinstance(original, yaml.YAMLError) else "not a YAML mapping"
        raise AnswerError(f"the answer is not valid YAML: {message}") from None


def _yaml_message(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        return f"{error.problem} (line {error.problem_mark.line + 1})"
    return str(error)


def _as_mapping(value: Any, keys: list[str] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AnswerError(
            f"expected a YAML mapping with keys {', '.join(keys or [])}, got {type(value).__name__}"
        )
    missing = [key for key in keys or [] if key not in value]
    if missing:
        raise AnswerError(f"the YAML answer is missing the key(s): {', '.join(missing)}")
    return value


def _is_top_key(line: str, keys: list[str] | None) -> bool:
    match = _TOP_KEY.match(line)
    return bool(match) and (keys is None or match.group("key") in keys)


def _strip_stray_text(text: str, keys: list[str] | None) -> str:
    """Drop prose before the first top-level key (``Here is my answer:``) and after the YAML: a blank
    line followed by an unindented line that is neither a key, a list item nor a comment."""
    lines = text.splitlines()
    start = next((index for index, line in enumerate(lines) if _is_top_key(line, keys)), None)
    if start is None:
        return text
    lines = lines[start:]
    for index in range(1, len(lines) - 1):
        following = lines[index + 1]
        if (
            not lines[index].strip()
            and following.strip()
            and not following[0].isspace()
            and not following.startswith(("-", "#"))
            and not _TOP_KEY.match(following)
        ):
            return "\n".join(lines[:index])
    return "\n".join(lines)


def repair_yaml(text: str, keys: list[str] | None) -> str:
    """Rewrite every top-level entry that does not parse alone as a ``key: |-`` block scalar."""
    lines = text.splitlines()
    starts = [index for index, line in enumerate(lines) if _is_top_key(line, keys)]
    if not starts:
        return text
    pieces = ["\n".join(lines[: starts[0]])] if starts[0] else []
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        entry = lines[start:end]
        while entry and not entry[-1].strip():
            entry.pop()
        pieces.append("\n".join(_repair_entry(entry)))
    return "\n".join(pieces) + "\n"


def _repair_entry(entry: list[str]) -> list[str]:
    try:
        if isinstance(yaml.safe_load("\n".join(entry)), dict):
            return entry
    except yaml.YAMLError:
        pass
    match = _TOP_KEY.match(entry[0])
    assert match is not None
    key = match.group("key")
    first = entry[0][match.end() :].rstrip()
    if first in ("|", "|-", ">", ">-"):
        first = ""
    rest = entry[1:]
    indent = min((len(line) - len(line.lstrip()) for line in rest if line.strip()), default=0)
    block = ([first] if first else []) + [line[indent:] for line in rest]
    return [f"{key}: |-"] + [("  " + line) if line.strip() else "" for line in block]
