"""Preference pairs for training, and the check that the ``local`` extra is installed.

The pairs are the file ``alphaflow judge self-reward`` writes (``OUT/iteration_N/dpo.jsonl``):
TRL's preference format, one ``{"prompt", "chosen", "rejected"}`` object per line, the three fields
strings or, already conversational, lists of ``{"role", "content"}`` messages. Extra fields
(``score_chosen``, ``score_rejected``, ``name``) are kept in the file and ignored here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError
from alphaflow.judge.data import _json_lines

FIELDS = ("prompt", "chosen", "rejected")
EXTRA_HINT = "pip install 'alphaflow[local]'"


def require_local(*modules: str) -> None:
    """Raise a one-line ``UserError`` naming the ``local`` extra when a training library is missing."""
    import importlib.util

    for name in modules or ("torch", "transformers", "trl"):
        if importlib.util.find_spec(name) is None:
            raise UserError(f"training needs {name!r}, which is not installed: {EXTRA_HINT}")


@dataclass(frozen=True)
class Pair:
    """One preference: ``chosen`` is the better response to ``prompt`` than ``rejected``."""

    prompt: str | list[dict[str, Any]]
    chosen: str | list[dict[str, Any]]
    rejected: str | list[dict[str, Any]]


def load_pairs(path: str | Path) -> list[Pair]:
    """Read a pairs file; every malformed line is a ``UserError`` naming ``file:line`` and the field.

    Raises ``UserError`` for a missing file, a line that is not a JSON object, a missing or empty
    field, a field that is neither a string nor a message list, and for a file without pairs.
    """
    path = Path(path)
    pairs = []
    for number, value in _json_lines(path):
        if not isinstance(value, dict):
            raise UserError(f"{path}:{number}: expected a JSON object with prompt, chosen, rejected")
        for name in FIELDS:
            if name not in value:
                raise UserError(f"{path}:{number}: missing field {name!r}")
            field = value[name]
            if isinstance(field, str):
                if not field.strip():
                    raise UserError(f"{path}:{number}: field {name!r} is empty")
            elif not _is_messages(field):
                raise UserError(
                    f"{path}:{number}: field {name!r} must be a string or a list of "
                    f"{{role, content}} messages, got {type(field).__name__}"
                )
        pairs.append(Pair(value["prompt"], value["chosen"], value["rejected"]))
    if not pairs:
        raise UserError(f"{path}: no preference pairs in the file (every prompt tied or failed?)")
    return pairs


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in value)
    )


def as_records(pairs: list[Pair], *, conversational: bool) -> list[dict[str, Any]]:
    """Rows for a ``datasets.Dataset``: conversational (the tokenizer's chat template formats them,
    as ``hf:`` generation does) when ``conversational`` is true, else plain strings."""
    if not conversational:
        return [
            {"prompt": _text(p.prompt), "chosen": _text(p.chosen), "rejected": _text(p.rejected)}
            for p in pairs
        ]
    return [
        {
            "prompt": _messages(p.prompt, "user"),
            "chosen": _messages(p.chosen, "assistant"),
            "rejected": _messages(p.rejected, "assistant"),
        }
        for p in pairs
    ]


def _messages(value: str | list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    return [{"role": role, "content": value}] if isinstance(value, str) else value


def _text(value: str | list[dict[str, Any]]) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(str(message["content"]) for message in value)


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))
