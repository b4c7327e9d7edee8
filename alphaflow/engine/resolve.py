"""Finding the other flows a flow names (by name or path). Step functions: ``alphaflow.step_functions``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from alphaflow.resources import flows_dir

FLOW_SUFFIXES = (".yaml", ".yml")


def default_search_path(extra: Iterable[Path] = ()) -> list[Path]:
    return [*extra, flows_dir()]


def iter_flow_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.suffix in FLOW_SUFFIXES and p.is_file())


def _declared_name(path: Path) -> str | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def resolve_flow(reference: str, *, relative_to: Path | None, search_path: Iterable[Path]) -> Path | None:
    """A flow file from a path (relative to the calling flow's folder or the working directory) or
    from a flow name (``NAME.yaml`` in the search path, else a file whose ``name:`` is NAME)."""
    candidates: list[Path] = []
    as_path = Path(reference).expanduser()
    if as_path.is_absolute():
        candidates.append(as_path)
    else:
        if relative_to is not None:
            candidates.append(relative_to / as_path)
        candidates.append(Path.cwd() / as_path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    directories = list(search_path)
    for directory in directories:
        for suffix in FLOW_SUFFIXES:
            candidate = directory / f"{reference}{suffix}"
            if candidate.is_file():
                return candidate.resolve()
    for directory in directories:
        for candidate in iter_flow_files(directory):
            if _declared_name(candidate) == reference:
                return candidate.resolve()
    return None
