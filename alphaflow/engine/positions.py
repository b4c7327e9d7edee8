"""Read YAML while remembering where every node came from.

PyYAML's ``compose`` gives a node tree whose nodes carry ``start_mark`` (0-based line and column).
We turn that tree into plain Python data plus a map from each YAML path (a tuple of keys and list
indices) to its position, so every validation error can say ``file:line:col``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in a source file."""

    line: int
    col: int


@dataclass
class Problem:
    """One validation error: where it is and what is wrong."""

    file: str
    position: Position
    yaml_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.position.line}:{self.position.col}"
        return f"{where} {self.yaml_path}: {self.message}" if self.yaml_path else f"{where} {self.message}"


@dataclass
class SourceMap:
    """Positions of the values (and of the keys) of a parsed YAML document."""

    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)
    # Block scalars (``|``/``>``) start their text on the line after the marker.
    block_scalars: set[Path_] = field(default_factory=set)

    def value(self, path: Path_) -> Position:
        """Position of the value at ``path``, or of the nearest enclosing node that has one."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, Position(1, 1))

    def key(self, path: Path_) -> Position:
        """Position of the key of ``path`` (a mapping field); falls back to its value."""
        return self.keys.get(path) or self.value(path)


class YamlSyntaxError(Exception):
    def __init__(self, position: Position, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


def format_path(path: Path_) -> str:
    """``("steps", 3, "user")`` -> ``steps[3].user``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _position(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def load_with_positions(text: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document; raise ``YamlSyntaxError`` with the line of the problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        position = _position(mark) if mark else Position(1, 1)
        message = " ".join(part for part in (error.context, error.problem) if part)
        raise YamlSyntaxError(position, f"YAML syntax error: {message}") from None
    source_map = SourceMap()
    if node is None:
        return None, source_map
    constructor = yaml.SafeLoader("")  # only its scalar constructors are used
    return _convert(node, (), source_map, constructor, {}), source_map


def _convert(
    node: yaml.Node, path: Path_, source_map: SourceMap, constructor: yaml.SafeLoader, seen: dict[int, Any]
) -> Any:
    source_map.values[path] = _position(node.start_mark)
    if id(node) in seen:
        # An alias (*name) of a collection: reuse the object built at its anchor, so alias chains
        # ("billion laughs") cost nothing and recursive aliases terminate.
        return seen[id(node)]
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        seen[id(node)] = result
        constructor.flatten_mapping(node)  # resolves YAML merge keys (<<)
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                key = str(key)
            child = (*path, key)
            if key in result:
                raise YamlSyntaxError(_position(key_node.start_mark), f"duplicate key '{key}'")
            source_map.keys[child] = _position(key_node.start_mark)
            result[key] = _convert(value_node, child, source_map, constructor, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        seen[id(node)] = items
        for index, item in enumerate(node.value):
            items.append(_convert(item, (*path, index), source_map, constructor, seen))
        return items
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        source_map.block_scalars.add(path)
    return constructor.construct_object(node, deep=True)


def read_yaml_file(path: Path) -> tuple[Any, SourceMap]:
    return load_with_positions(path.read_text(encoding="utf-8"))


def unknown_key_message(key: object, allowed: list[str]) -> str:
    """``unknown key 'x' (did you mean 'y'?)``, or the allowed keys when none is close: the one wording
    of an unknown key in every validated file (flows, CI gate configs)."""
    close = difflib.get_close_matches(str(key), allowed, n=1)
    if close:
        return f"unknown key '{key}' (did you mean '{close[0]}'?)"
    return f"unknown key '{key}'" + (f" (allowed: {', '.join(allowed)})" if allowed else "")


def schema_error_message(
    item: dict[str, Any], key: object, allowed: Callable[[], list[str]], noun: str, kinds: Iterable[str]
) -> str | None:
    """The shared wording of a pydantic error ``item`` at ``key`` in a validated YAML file: an unknown
    key (``allowed()`` lists the keys there), a missing field, an unknown or missing ``kind`` of a
    ``noun`` ("step", "check"); None for anything else (the caller words it)."""
    kind = item["type"]
    if kind == "extra_forbidden":
        return unknown_key_message(key, allowed())
    if kind == "missing":
        return f"missing required field '{key}'"
    if kind == "union_tag_invalid":
        tag = item.get("ctx", {}).get("tag")
        return f"unknown {noun} kind '{tag}' (expected one of: {', '.join(kinds)})"
    if kind == "union_tag_not_found":
        return f"missing field 'kind' (one of: {', '.join(kinds)})"
    return None
