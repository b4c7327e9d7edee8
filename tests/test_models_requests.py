"""Every provider request passes the budget, the limits and the accounting, including each of the n
requests a provider without native ``n`` needs (issue 10, item 4). Real litellm over HTTP to the
scripted server; ``mistral/`` is a provider litellm sends OpenAI-format requests to, without ``n``."""

from __future__ import annotations

import asyncio
import time

import pytest

from alphaflow.errors import BudgetExceeded
from alphaflow.models import CompletionRequest, ModelCallError, build_router
from alphaflow.testing import Fault, Rule

MODEL = "mistral/mistral-small-latest"  # in litellm's price map; no native n


@pytest.fixture
def make_router(scripted_server, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "sk-test-not-a-real-key")
    routers = []

    def make(rules, **kwargs):
        server = scripted_server(rules)
        kwargs.setdefault("backoff_base_s", 0.01)
        kwargs.setdefault("timeout_s", 5)
        router = build_router(MODEL, api_base=server.base_url, **kwargs)
        routers.append(router)
        return router, server

    yield make
    for router in routers:
        router.close()


def ask(n: int, text: str = "hello", **kwargs) -> CompletionRequest:
    return CompletionRequest(model=None, messages=[{"role": "user", "content": text}], n=n, **kwargs)


def served(server) -> list:
    return [call for call in server.calls() if call.status == 200]


async def test_one_429_among_n_requests_retries_that_request_only_and_counts_every_served_one(make_router):
    rule = Rule(response=lambda r: f"answer {r.rule_call}", faults=[Fault(status=429, times=1)])
    router, server = make_router([rule])
    completion = await router.complete(ask(4, temperature=0.8))
    assert len(completion.texts) == 4 and len(set(completion.texts)) == 4
    assert all(call.n == 1 for call in server.calls())  # the provider has no `n`
    assert len(server.calls()) == 5  # 4 samples + 1 retry of the rate-limited one
    assert len(served(server)) == 4
    # usage counts what the server served: each served request's tokens, once
    assert router.usage.provider_calls == 5
    assert completion.prompt_tokens == router.usage.prompt_tokens == 4 * 1
    assert completion.completion_tokens == router.usage.completion_tokens == 4 * 2
    assert completion.cost_usd == pytest.approx(router.usage.cost_usd) and completion.cost_usd > 0


async def test_per_sample_requests_respect_the_model_concurrency_and_rpm(make_router):
    router, server = make_router([Rule(response="ok", latency_s=0.1)], concurrency=2)
    await router.complete(ask(6))
    assert server.max_in_flight == 2 and len(server.calls()) == 6
    router, server = make_router([Rule(response="ok")], rpm=300)  # 5 a second, bursts of 5
    started = time.monotonic()
    await router.complete(ask(8, text="other"))
    assert time.monotonic() - started >= 0.55 and len(server.calls()) == 8


async def test_the_budget_is_reserved_per_request(make_router):
    # each request's worst case is small, so a budget that takes two but not four refuses the rest
    router, server = make_router([Rule(response="x", latency_s=0.05)], concurrency=1,
                                 prices={MODEL: (1000.0, 1000.0)}, max_cost_usd=0.025)
    with pytest.raises(BudgetExceeded):
        await router.complete(ask(4, max_tokens=5))  # worst case 0.001 * (~4 + 5) ~ $0.009 a request
    assert router.budget.spent_usd <= 0.025
    assert 1 <= len(served(server)) < 4
    # what was served is billed and counted, not forgotten with the failed call
    assert router.budget.spent_usd == pytest.approx(router.usage.cost_usd)
    assert router.usage.prompt_tokens == len(served(server))


async def test_a_failing_sibling_keeps_the_served_samples_cached_and_counted(make_router, tmp_path):
    # the first request to arrive is refused (400: not retried); its three siblings are served
    rule = Rule(response=lambda r: f"good {r.rule_call}", fault=Fault(status=400, times=1))
    router, server = make_router([rule], cache_path=tmp_path / "c.sqlite")
    with pytest.raises(ModelCallError, match="400") as caught:
        await router.complete(ask(4, temperature=1.0))
    assert len(server.calls()) == 4 and len(served(server)) == 3
    assert caught.value.usage["prompt_tokens"] == 3  # the caller (engine, bench) counts them too
    assert router.usage.prompt_tokens == 3 and router.usage.completion_tokens == 3 * 2
    assert router.usage.cost_usd > 0 and router.usage.errors == 1
    # the served samples were cached: the rerun asks only for the refused one
    completion = await router.complete(ask(4, temperature=1.0))
    assert len(server.calls()) == 5 and completion.cached_samples == 3
    assert router.usage.prompt_tokens == 4


async def test_cancelling_the_call_releases_unserved_reservations(make_router):
    router, server = make_router([Rule(response="x", latency_s=2.0)], prices={MODEL: (1.0, 1.0)},
                                 max_cost_usd=10.0)
    task = asyncio.create_task(router.complete(ask(3)))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.budget.reserved_usd == 0 and router.budget.spent_usd == 0
