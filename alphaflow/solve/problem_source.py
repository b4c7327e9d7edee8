"""Turn the PROBLEM argument of ``alphaflow solve`` into a ``Problem``.

Accepted: a Markdown or text statement (``.md``, ``.txt``, anything else that is text), a YAML or
JSON file with CodeContests fields (AlphaCodium's custom-problem JSON uses that layout), and
``DATASET.jsonl#NAME``. Every mistake is a one-line ``UserError`` naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alphaflow.errors import UserError
from alphaflow.problems import Problem, find_problem, load_jsonl
from alphaflow.solve.statement import parse_statement

_STRUCTURED_SUFFIXES = {".yaml", ".yml", ".json"}


@dataclass
class LoadedProblem:
    problem: Problem
    warnings: list[str] = field(default_factory=list)


def load_problem(spec: str) -> LoadedProblem:
    path_text, _, name = spec.partition("#")
    path = Path(path_text)
    if not path.exists():
        raise UserError(
            f"{path}: no such problem file (give a .md/.txt statement, a .yaml/.json problem, "
            "or DATASET.jsonl#NAME)"
        )
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a problem file")
    if path.suffix == ".jsonl":
        return LoadedProblem(_from_jsonl(path, name))
    if name:
        raise UserError(f"{spec}: '#NAME' selects a problem in a .jsonl dataset only")
    if path.suffix.lower() in _STRUCTURED_SUFFIXES:
        return LoadedProblem(_from_structured(path))
    return _from_statement(path)


def _from_jsonl(path: Path, name: str) -> Problem:
    if name:
        return find_problem(path, name)
    problems = load_jsonl(path)
    if len(problems) == 1:
        return problems[0]
    raise UserError(f"{path}: holds {len(problems)} problems; choose one with {path}#NAME")


def _from_structured(path: Path) -> Problem:
    text = _read_text(path)
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected one problem as a mapping with 'name' and 'description'")
    data = dict(data)
    data.setdefault("name", path.stem)
    if not str(data.get("description") or "").strip():
        raise UserError(f"{path}: field 'description' is missing or empty")
    for key in ("public_tests", "private_tests", "generated_tests"):
        _check_tests_field(path, key, data.get(key))
    try:
        return Problem.from_codecontests(data)
    except (ValueError, TypeError, KeyError) as error:
        raise UserError(f"{path}: malformed problem: {error}") from None


def _check_tests_field(path: Path, key: str, block: Any) -> None:
    """Tests are ``[{input, output}, ...]`` or CodeContests' ``{input: [...], output: [...]}``."""
    if block in (None, [], {}):
        return
    if isinstance(block, list):
        for index, test in enumerate(block):
            if not isinstance(test, dict) or "input" not in test or "output" not in test:
                raise UserError(f"{path}: {key}[{index}] needs 'input' and 'output'")
        return
    if isinstance(block, dict):
        inputs, outputs = block.get("input"), block.get("output")
        if not isinstance(inputs, list) or not isinstance(outputs, list):
            raise UserError(f"{path}: {key} needs 'input' and 'output' lists")
        if len(inputs) != len(outputs):
            raise UserError(f"{path}: {key} has {len(inputs)} inputs but {len(outputs)} outputs")
        return
    raise UserError(f"{path}: {key} must be a list of {{input, output}} or {{input: [...], output: [...]}}")


def _from_statement(path: Path) -> LoadedProblem:
    text = _read_text(path)
    if not text.strip():
        raise UserError(f"{path}: the statement is empty")
    parsed = parse_statement(text)
    problem = Problem(
        name=parsed.title or path.stem,
        description=text.strip() + "\n",
        public_tests=parsed.tests,
        time_limit_s=parsed.time_limit_s,
        memory_limit_bytes=parsed.memory_limit_bytes,
        source=str(path),
    )
    warnings = [f"{path}: {parsed.warning}"] if parsed.warning else []
    return LoadedProblem(problem, warnings)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None
