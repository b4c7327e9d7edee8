"""Shared test setup: the scripted model server fixture (``scripted_server``), and a private cache."""

import pytest

pytest_plugins = ["alphaflow.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _private_response_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test gets its own model response cache: tests never read answers cached by an earlier
    run (which would change call counts) and never touch the user's ~/.cache/alphaflow."""
    monkeypatch.setenv("ALPHAFLOW_CACHE", str(tmp_path_factory.mktemp("cache") / "llm.sqlite"))
