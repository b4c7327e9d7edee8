"""Shared test setup: the scripted model server fixture (``scripted_server``), and a private cache."""

import os
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["alphaflow.testing.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    """Module- and session-scoped fixtures run outside the per-test fixture below: they get a private
    cache of the session too, never the user's ~/.cache/alphaflow."""
    os.environ["ALPHAFLOW_CACHE"] = str(Path(tempfile.mkdtemp(prefix="alphaflow-tests-")) / "llm.sqlite")


@pytest.fixture(autouse=True)
def _private_response_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test gets its own model response cache: tests never read answers cached by an earlier
    run (which would change call counts) and never touch the user's ~/.cache/alphaflow."""
    monkeypatch.setenv("ALPHAFLOW_CACHE", str(tmp_path_factory.mktemp("cache") / "llm.sqlite"))
