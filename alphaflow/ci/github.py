"""GitHub Actions workflow commands and files: annotations, ``$GITHUB_OUTPUT``, the event payload.

Only the documented conventions are used: ``::error file=F,line=L,title=T::message`` lines on stdout
(with ``%``, CR, LF escaped, and ``:``/``,`` in properties too), ``name=value`` lines (or a heredoc
for multi-line values) appended to the file ``$GITHUB_OUTPUT`` names, and the JSON event payload at
``$GITHUB_EVENT_PATH``.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str, message: str, *, title: str | None = None, file: str | None = None, line: int | None = None
) -> str:
    """One workflow command line: ``level`` is ``error``, ``warning`` or ``notice``."""
    properties = []
    if file:
        properties.append(f"file={_escape_property(file)}")
    if line:
        properties.append(f"line={line}")
    if title:
        properties.append(f"title={_escape_property(title)}")
    head = f"::{level} {','.join(properties)}" if properties else f"::{level}"
    return f"{head}::{_escape_data(message)}"


def emit(lines: Iterable[str], stream: TextIO) -> None:
    for line in lines:
        print(line, file=stream, flush=True)


def set_outputs(values: dict[str, Any], path: str | None = None) -> bool:
    """Append step outputs to ``$GITHUB_OUTPUT``; returns False when it is not set."""
    path = path or os.environ.get("GITHUB_OUTPUT")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        for name, value in values.items():
            text = value if isinstance(value, str) else json.dumps(value)
            if "\n" in text:
                delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
                handle.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
            else:
                handle.write(f"{name}={text}\n")
    return True


def event_payload() -> dict[str, Any]:
    """The workflow's event payload, or ``{}`` outside Actions (or when it cannot be read)."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pull_request_number(payload: dict[str, Any] | None = None) -> int | None:
    """The pull request's number for pull_request / pull_request_target / issue_comment events."""
    payload = event_payload() if payload is None else payload
    pull = payload.get("pull_request")
    if isinstance(pull, dict) and isinstance(pull.get("number"), int):
        return pull["number"]
    issue = payload.get("issue")
    if isinstance(issue, dict) and "pull_request" in issue and isinstance(issue.get("number"), int):
        return issue["number"]
    return None


def run_url() -> str | None:
    """The URL of this workflow run (where its artifacts are listed), when running in Actions."""
    server, repo, run_id = (
        os.environ.get(n) for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run_id:
        return f"{server.rstrip('/')}/{repo}/actions/runs/{run_id}"
    return None
