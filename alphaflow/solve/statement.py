"""Public tests from a problem statement written in Markdown or plain text.

Statements come in many shapes: Codeforces text as stored in CodeContests ("Examples", then
"Input" / "Output" blocks separated by blank lines), Markdown with headings and fenced blocks
("## Examples", "### Input", a ``` block), or "Sample Input 1:" labels. Only the part after an
Examples/Sample heading is searched, because the statement's own "Input" section describes the
format and is not an example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from alphaflow.problems import TestCase

_EXAMPLES_HEADING = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?\s*(examples?|samples?|sample tests?|sample cases?)\s*:?\s*(?:\*\*)?\s*$",
    re.IGNORECASE,
)
# "Input", "### Sample Input 2:", "**Example input**", "Input 1"
_IO_HEADING = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?\s*(?:sample\s+|example\s+)?(input|output)(?:\s*#?\d+)?\s*:?\s*(?:\*\*)?\s*$",
    re.IGNORECASE,
)
# A heading that ends the examples ("Note", "## Explanation", "Constraints", ...).
_END_HEADING = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?\s*(notes?|explanations?|constraints|hints?|scoring)\b.*$", re.IGNORECASE
)
_MARKDOWN_HEADING = re.compile(r"^\s*#{1,6}\s+\S")
_TITLE = re.compile(r"^\s*#\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```+|~~~+)")


_TIME_LIMIT = re.compile(
    r"time\s+limit(?:\s+per\s+test)?[\s:=*]*([0-9]+(?:\.[0-9]+)?)\s*(ms|milliseconds?|s|sec|seconds?)\b",
    re.IGNORECASE,
)
_MEMORY_LIMIT = re.compile(
    r"memory\s+limit(?:\s+per\s+test)?[\s:=*]*([0-9]+(?:\.[0-9]+)?)\s*(kb|kilobytes?|mb|megabytes?|mib|gb|gigabytes?|gib)\b",
    re.IGNORECASE,
)
_MEMORY_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


@dataclass
class ParsedStatement:
    title: str | None
    tests: list[TestCase] = field(default_factory=list)
    warning: str | None = None
    time_limit_s: float | None = None
    memory_limit_bytes: int | None = None


def parse_limits(text: str) -> tuple[float | None, int | None]:
    """ "time limit per test: 2 seconds" and "memory limit per test: 256 megabytes", when stated."""
    time_limit = memory_limit = None
    if match := _TIME_LIMIT.search(text):
        value = float(match.group(1))
        time_limit = value / 1000 if match.group(2).lower().startswith("m") else value
    if match := _MEMORY_LIMIT.search(text):
        memory_limit = int(float(match.group(1)) * _MEMORY_UNITS[match.group(2)[0].lower()])
    return (time_limit or None), (memory_limit or None)


def parse_statement(text: str) -> ParsedStatement:
    """The title (first Markdown ``#`` heading), the stated limits, and the public tests found in the
    examples."""
    parsed = _parse_examples(text)
    parsed.time_limit_s, parsed.memory_limit_bytes = parse_limits(text)
    return parsed


def _parse_examples(text: str) -> ParsedStatement:
    lines = text.splitlines()
    title = next((m.group(1) for m in map(_TITLE.match, lines) if m), None)
    start = _examples_start(lines)
    if start is None:
        return ParsedStatement(title, [], "no Examples/Sample section found: running with zero public tests")
    blocks = _io_blocks(lines[start:])
    tests: list[TestCase] = []
    pending_input: str | None = None
    for label, content in blocks:
        if label == "input":
            if pending_input is not None:
                return ParsedStatement(title, [], _unparseable("an Input block has no Output block"))
            pending_input = content
        else:
            if pending_input is None:
                return ParsedStatement(
                    title, [], _unparseable("an Output block has no Input block before it")
                )
            tests.append(TestCase(_as_stream(pending_input), _as_stream(content), "public"))
            pending_input = None
    if pending_input is not None:
        return ParsedStatement(title, [], _unparseable("the last Input block has no Output block"))
    if not tests:
        return ParsedStatement(title, [], _unparseable("no Input/Output blocks under the Examples heading"))
    return ParsedStatement(title, tests)


def _unparseable(reason: str) -> str:
    return f"could not parse the statement's examples ({reason}): running with zero public tests"


def _examples_start(lines: list[str]) -> int | None:
    """Index of the first line after the Examples heading; failing that, of the first "Sample Input"."""
    for index, line in enumerate(lines):
        if _EXAMPLES_HEADING.match(line):
            return index + 1
    for index, line in enumerate(lines):
        match = _IO_HEADING.match(line)
        if match and re.search(r"sample|example", line, re.IGNORECASE):
            return index
    return None


def _io_blocks(lines: list[str]) -> list[tuple[str, str]]:
    """(label, content) for each Input/Output heading, in order, up to a Note-like heading."""
    blocks: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
            if blocks:
                blocks[-1][1].append(line)
            continue
        if not in_fence:
            heading = _IO_HEADING.match(line)
            if heading:
                blocks.append((heading.group(1).lower(), []))
                continue
            if _EXAMPLES_HEADING.match(line):  # "## Example" again: the next example, not the end
                continue
            if _END_HEADING.match(line) or (_MARKDOWN_HEADING.match(line) and blocks):
                break
        if blocks:
            blocks[-1][1].append(line)
    return [(label, _block_content(body)) for label, body in blocks]


def _block_content(body: list[str]) -> str:
    """The first fenced block's content if there is one, else the text without surrounding blank lines."""
    fence_lines = [i for i, line in enumerate(body) if _FENCE.match(line)]
    if len(fence_lines) >= 2:
        return "\n".join(body[fence_lines[0] + 1 : fence_lines[1]])
    text = "\n".join(line for line in body if not _FENCE.match(line))
    return text.strip("\n")


def _as_stream(text: str) -> str:
    """Test data as a program sees it: no surrounding blank lines, one final newline."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    return "\n".join(lines) + "\n" if lines else ""
