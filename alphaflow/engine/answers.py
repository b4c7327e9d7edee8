"""Turning a model's answer into the value an `llm` step promises: text, code, or a YAML mapping.

YAML answers get a repair pass before they count as malformed: models often write values that
contain ``: `` or span several lines without a block scalar, or wrap the block in prose. The repair
rewrites each top-level entry that does not parse on its own as a ``|-`` block scalar.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_FENCE = re.compile(
    r"^[ \t]*(```+|~~~+)[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE
)
_LANGUAGE_ALIASES = {
    "python": {"python", "python3", "py", "py3"},
    "python2": {"python2", "py2"},
    "cpp": {"cpp", "c++", "cc", "cxx", "hpp"},
    "c": {"c", "h"},
    "java": {"java"},
    "javascript": {"javascript", "js", "node"},
    "rust": {"rust", "rs"},
    "go": {"go", "golang"},
}
_TOP_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)[ \t]*:(?:[ \t]+|$)")


class AnswerError(Exception):
    """The answer does not have the promised shape; the message is shown to the model on a re-ask."""


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language tag, body)`` of every fenced block, in order."""
    return [(match.group(2).lower(), match.group(3)) for match in _FENCE.finditer(text)]


def extract_code(text: str, language: str | None) -> str:
    """The fenced block of ``language``, else the first fenced block, else the whole answer."""
    blocks = fenced_blocks(text)
    wanted = _LANGUAGE_ALIASES.get((language or "").lower(), {(language or "").lower()})
    code = next((body for tag, body in blocks if tag in wanted), None)
    if code is None and blocks:
        code = blocks[0][1]
    if code is None:
        code = text
    code = code.strip("\n")
    if not code.strip():
        raise AnswerError("the answer contains no code")
    return code + "\n"


def parse_yaml_answer(text: str, keys: list[str] | None) -> dict[str, Any]:
    """A mapping with the declared keys, from a fenced or bare YAML block (repairing when needed)."""
    candidates = [body for tag, body in fenced_blocks(text) if tag in ("yaml", "yml", "")] or [text]
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
