"""The judge commands' input files: seed prompts and evaluation items, both JSON lines.

Every mistake is a ``UserError`` naming the file and line: an empty file, a line that is not JSON,
an object without the field the flow needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise UserError(f"{path}: cannot read: {error.strerror or error}") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as error:
                    raise UserError(
                        f"{path}:{number}: not a JSON line: {error.msg} (column {error.colno})"
                    ) from None
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text") from None


def load_prompts(path: str | Path) -> list[str]:
    """Seed prompts: one per line, as ``{"prompt": "..."}`` or as a bare JSON string."""
    path = Path(path)
    prompts = []
    for number, value in _json_lines(path):
        text = value.get("prompt") if isinstance(value, dict) else value
        if isinstance(value, dict) and "prompt" not in value:
            raise UserError(f"{path}:{number}: missing field 'prompt'")
        if not isinstance(text, str):
            raise UserError(f"{path}:{number}: 'prompt' must be a string, got {type(text).__name__}")
        if not text.strip():
            raise UserError(f"{path}:{number}: empty prompt")
        prompts.append(text)
    if not prompts:
        raise UserError(f'{path}:1: no prompts in the file (expected JSON lines like {{"prompt": "..."}})')
    return prompts


def load_items(
    path: str | Path, required: Sequence[str] = ("prompt",), optional: Sequence[str] = ()
) -> list[dict]:
    """Evaluation items: JSON objects with the ``required`` string fields; ``optional`` ones become
    ``None`` when absent so flows can test them with ``is none``. Each item gets an ``id`` (its own,
    else ``line-N``); ids must be unique."""
    path = Path(path)
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, value in _json_lines(path):
        if not isinstance(value, dict):
            raise UserError(f"{path}:{number}: an item must be a JSON object, got {type(value).__name__}")
        for name in required:
            if name not in value or value[name] is None:
                raise UserError(
                    f"{path}:{number}: missing field {name!r} (this flow needs: {', '.join(required)})"
                )
            if not isinstance(value[name], str) or not value[name].strip():
                raise UserError(f"{path}:{number}: field {name!r} must be a non-empty string")
        for name in optional:
            if value.get(name) is not None and not isinstance(value[name], str):
                raise UserError(f"{path}:{number}: field {name!r} must be a string")
        item = {name: None for name in optional} | value
        item_id = str(value.get("id", f"line-{number}"))
        if item_id in seen:
            raise UserError(f"{path}:{number}: duplicate id {item_id!r} (first on line {seen[item_id]})")
        seen[item_id] = number
        item["id"] = item_id
        items.append(item)
    if not items:
        raise UserError(f"{path}:1: no items in the file (expected JSON lines with: {', '.join(required)})")
    return items
