"""Model errors a user can act on: a refused endpoint named by its URL (both backends), not retried
as a flaky server; an unknown provider refused before any call."""

from __future__ import annotations

import asyncio
import socket

import pytest

from alphaflow.errors import UserError
from alphaflow.models import CompletionRequest, build_router
from alphaflow.models.errors import ModelCallError


def refused_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


@pytest.mark.parametrize("openai_direct", [False, True], ids=["litellm", "openai-sdk"])
def test_a_refused_connection_names_the_url_and_is_not_retried_like_a_500(openai_direct: bool) -> None:
    url = refused_url()
    router = build_router("openai/x", api_base=url, openai_direct=openai_direct, max_retries=4)

    async def call() -> None:
        await router.complete(CompletionRequest(model=None, messages=[{"role": "user", "content": "hi"}]))

    with pytest.raises(ModelCallError) as caught:
        asyncio.run(call())
    message = str(caught.value)
    assert f"cannot connect to {url} (connection refused)" in message
    assert "500" not in message
    assert router.usage.provider_calls == 1  # the router's retries are not spent on it


def test_an_unknown_provider_is_refused_before_any_call() -> None:
    router = build_router("nosuchprovider/foo")
    with pytest.raises(
        UserError, match=r"model 'nosuchprovider/foo' \(--model.*unknown provider 'nosuchprovider'"
    ):
        router.target("nosuchprovider/foo")
    assert router.usage.provider_calls == 0
