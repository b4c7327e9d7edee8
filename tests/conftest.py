"""Shared test setup: the scripted model server fixture (``scripted_server``)."""

pytest_plugins = ["alphaflow.testing.pytest_plugin"]
