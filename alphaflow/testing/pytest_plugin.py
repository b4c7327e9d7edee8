"""Pytest fixtures for tests that talk to a scripted model over HTTP.

Register with ``pytest_plugins = ["alphaflow.testing.pytest_plugin"]`` (``tests/conftest.py`` does).

    def test_reflect(scripted_server):
        server = scripted_server([{"step": "reflect", "response": "- a point"}])
        # model "openai/scripted" with api_base=server.base_url, through litellm
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from alphaflow.testing.script import Rule, Script
from alphaflow.testing.server import ScriptedServer

ScriptLike = Script | Sequence[Rule | dict[str, Any]] | dict[str, Any] | str | Path


@pytest.fixture
def scripted_server() -> Iterator[Callable[..., ScriptedServer]]:
    """A factory: ``scripted_server(rules, default=None) -> started ScriptedServer``; all stopped after."""
    servers: list[ScriptedServer] = []

    def start(script: ScriptLike, *, default: str | None = None) -> ScriptedServer:
        server = ScriptedServer(script, default=default)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
