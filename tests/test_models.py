"""The model router through the real litellm client, over HTTP, to the scripted server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from alphaflow.errors import BudgetExceeded, UserError
from alphaflow.models import CompletionRequest, ModelCallError, build_router
from alphaflow.testing import Fault, Rule
from alphaflow.trace import Trace, read_trace


def ask(text: str = "hello", **kwargs) -> CompletionRequest:
    return CompletionRequest(
        model=kwargs.pop("model", None), messages=[{"role": "user", "content": text}], **kwargs
    )


@pytest.fixture
def make_router(scripted_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    routers = []

    def make(rules, model: str = "openai/scripted", **kwargs):
        server = scripted_server(rules)
        kwargs.setdefault("backoff_base_s", 0.01)
        kwargs.setdefault("timeout_s", 5)
        router = build_router(model, api_base=server.base_url, **kwargs)
        routers.append(router)
        return router, server

    yield make
    for router in routers:
        router.close()


def counter_rule(**kwargs) -> Rule:
    """Answers 'answer 1', 'answer 2', ... so each sample is distinct and traceable."""
    return Rule(response=lambda request: f"answer {request.rule_call + 1}", **kwargs)


async def test_basic_completion_is_traced_with_step_tokens_and_cost(make_router, tmp_path):
    trace_path = tmp_path / "run.jsonl"
    router, server = make_router(
        [Rule(step="reflect", response="- one point\n- two points")], trace=Trace(trace_path)
    )
    completion = await router.complete(ask("reflect on this problem", step="reflect", temperature=0.2))
    assert completion.texts == ["- one point\n- two points"]
    assert (completion.prompt_tokens, completion.completion_tokens) == (4, 6)
    assert completion.cost_usd is None  # "openai/scripted" has no price: unknown, not 0
    assert not completion.cached and completion.attempts == 1 and completion.model == "openai/scripted"
    assert server.calls("reflect")[0].body["temperature"] == 0.2
    router.trace.close()
    (event,) = [e for e in read_trace(trace_path) if e["event"] == "model_call"]
    assert event["step"] == "reflect" and event["model"] == "openai/scripted"
    assert event["messages"] == [{"role": "user", "content": "reflect on this problem"}]
    assert event["texts"] == completion.texts and event["prompt_tokens"] == 4
    assert event["cost_usd"] is None and event["price_known"] is False
    assert event["cached"] is False and event["attempts"] == 1 and event["error"] is None
    assert router.usage.unknown_cost_calls == 1 and router.usage.cost_usd == 0.0


async def test_n_samples_in_one_request(make_router):
    router, server = make_router([Rule(responses=["first", "second", "third"])])
    completion = await router.complete(ask(n=3, temperature=0.8))
    assert completion.texts == ["first", "second", "third"]
    assert len(server.calls()) == 1 and server.calls()[0].n == 3


async def test_cache_keeps_samples_distinct_reuses_them_and_extends(make_router, tmp_path):
    cache_path = tmp_path / "llm.sqlite"
    router, server = make_router([counter_rule()], cache_path=cache_path)
    first = await router.complete(ask(n=3, temperature=0.9))
    assert first.texts == ["answer 1", "answer 2", "answer 3"]
    again = await router.complete(ask(n=3, temperature=0.9))
    assert again.texts == first.texts and again.cached and again.cost_usd == 0.0
    assert again.prompt_tokens == 0 and again.cached_samples == 3 and again.attempts == 0
    assert len(server.calls()) == 1  # the rerun made no request
    more = await router.complete(ask(n=5, temperature=0.9))
    assert more.texts == ["answer 1", "answer 2", "answer 3", "answer 4", "answer 5"]
    assert not more.cached and more.cached_samples == 3
    assert server.calls()[-1].n == 2  # only the two missing samples were asked for
    shifted = await router.complete(ask(n=2, sample_index=4, temperature=0.9))
    assert shifted.texts == ["answer 5", "answer 6"]  # index 4 reused, index 5 new
    other_params = await router.complete(ask(n=1, temperature=0.1))
    assert other_params.texts == ["answer 7"]  # a different temperature is a different key


async def test_rerun_of_the_same_endpoint_reuses_the_cache_file(scripted_server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = scripted_server([counter_rule()])
    cache_path = tmp_path / "llm.sqlite"
    for _ in range(2):
        router = build_router("openai/scripted", api_base=server.base_url, cache_path=cache_path)
        completion = await router.complete(ask(n=2, temperature=1.0))
        router.close()
        assert completion.texts == ["answer 1", "answer 2"]
    assert len(server.calls()) == 1
    assert completion.cached


async def test_no_cache_asks_every_time(make_router):
    router, server = make_router([counter_rule()], cache_path=None)  # --no-cache
    texts = [(await router.complete(ask(temperature=0))).text for _ in range(3)]
    assert texts == ["answer 1", "answer 2", "answer 3"] and len(server.calls()) == 3


async def test_budget_is_never_exceeded_with_litellm_prices(make_router):
    # gpt-4o-mini is in litellm's price map; its requests go to the scripted server
    router, server = make_router(
        [Rule(response="word " * 50)], model="openai/gpt-4o-mini", max_cost_usd=0.0004
    )
    made = 0
    with pytest.raises(BudgetExceeded) as caught:
        for _ in range(100):
            await router.complete(ask("count " * 100, max_tokens=60))
            made += 1
    assert router.budget.spent_usd <= 0.0004
    assert len(server.calls()) == made > 3  # the refused call was never sent
    per_call = router.budget.spent_usd / made
    assert router.budget.spent_usd > 0.0004 - 2 * (100 * 0.15e-6 + 60 * 0.6e-6)  # it used the budget
    assert per_call == pytest.approx(101 * 0.15e-6 + 50 * 0.6e-6, rel=0.01)
    message = str(caught.value)
    assert "budget reached" in message and "--max-cost $0.0004" in message and "\n" not in message


async def test_budget_holds_under_concurrency_with_registered_prices(make_router):
    router, server = make_router(
        [Rule(response="x " * 10, latency_s=0.05)],
        model="openai/custom",
        prices={"openai/custom": (1000.0, 2000.0)},  # $0.001 / $0.002 a token
        max_cost_usd=0.5,
        concurrency=8,
    )
    results = await asyncio.gather(
        *[router.complete(ask("a b c", max_tokens=10)) for _ in range(40)], return_exceptions=True
    )
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(done) + len(refused) == 40 and refused and done
    assert all(r.cost_usd == pytest.approx(3 * 0.001 + 10 * 0.002) for r in done)
    assert router.budget.spent_usd <= 0.5 and len(server.calls()) == len(done)


async def test_budget_with_an_unknown_price_refuses_clearly(make_router):
    router, server = make_router([Rule(response="x")], model="openai/mystery", max_cost_usd=1.0)
    with pytest.raises(UserError, match="price of model openai/mystery is unknown"):
        await router.complete(ask())
    assert server.calls() == []


async def test_retries_429_500_timeout_and_malformed_then_success(make_router):
    router, server = make_router(
        [
            Rule(
                response="finally",
                faults=[
                    Fault(status=429, retry_after=0.3),
                    Fault(status=500),
                    Fault(status=503),
                    Fault(hang=True),
                    Fault(malformed="invalid_json"),
                    Fault(malformed="truncated"),
                    Fault(malformed="no_choices"),
                ],
            )
        ],
        max_retries=7,
        timeout_s=0.5,
    )
    started = time.monotonic()
    completion = await router.complete(ask(step="code"))
    assert completion.texts == ["finally"] and completion.attempts == 8
    assert [r.fault for r in server.calls()] == [
        "status 429",
        "status 500",
        "status 503",
        "hang",
        "malformed invalid_json",
        "malformed truncated",
        "malformed no_choices",
        None,
    ]
    assert time.monotonic() - started >= 0.3 + 0.5  # Retry-After honoured, the hang timed out
    gap = server.calls()[1].started - server.calls()[0].started
    assert gap >= 0.3


async def test_retries_exhausted_is_a_clear_error_in_trace(make_router, tmp_path):
    router, server = make_router(
        [Rule(response="never", fault=Fault(status=503))], max_retries=2, trace=Trace(tmp_path / "t.jsonl")
    )
    with pytest.raises(ModelCallError) as caught:
        await router.complete(ask(step="rank"))
    message = str(caught.value)
    assert "openai/scripted failed after 3 attempts" in message and "503" in message and "\n" not in message
    assert len(server.calls()) == 3
    router.trace.close()
    *retries, event = read_trace(tmp_path / "t.jsonl")
    assert event["step"] == "rank" and "failed after 3 attempts" in event["error"] and event["attempts"] == 3
    assert [(e["event"], e["attempt"]) for e in retries] == [("model_retry", 1), ("model_retry", 2)]
    assert all("503" in e["error"] and e["wait_s"] >= 0 for e in retries)


async def test_client_errors_are_not_retried(make_router):
    router, server = make_router([Rule(step="known", response="x")], max_retries=4)
    with pytest.raises(ModelCallError, match="no rule matches step 'other'"):
        await router.complete(ask("the prompt", step="other"))
    assert len(server.calls()) == 1


async def test_fallback_model_answers_when_the_primary_keeps_failing(make_router):
    router, server = make_router(
        [
            Rule(model="primary", response="p", fault=Fault(status=500)),
            Rule(model="backup", response="from the backup"),
        ],
        model="openai/primary",
        fallbacks=["openai/backup"],
        max_retries=1,
    )
    completion = await router.complete(ask())
    assert completion.texts == ["from the backup"] and completion.model == "openai/backup"
    assert [r.model for r in server.calls()] == ["primary", "primary", "backup"]
    assert completion.attempts == 3


async def test_concurrency_bound_per_model_is_respected(make_router):
    router, server = make_router([Rule(response="ok", latency_s=0.1)], concurrency=3)
    await asyncio.gather(*[router.complete(ask(f"q{i}")) for i in range(10)])
    assert server.max_in_flight == 3 and len(server.calls()) == 10


async def test_requests_per_minute_limit(make_router):
    router, server = make_router([Rule(response="ok")], rpm=300)  # 5 a second, bursts of 5
    started = time.monotonic()
    await asyncio.gather(*[router.complete(ask(f"q{i}")) for i in range(8)])
    assert time.monotonic() - started >= 0.55  # 3 requests past the burst wait 0.2 s each
    assert len(server.calls()) == 8


async def test_rate_limiter_releases_a_burst_then_one_per_interval():
    from alphaflow.models.limits import RateLimiter

    limiter = RateLimiter(per_minute=600)  # 10 a second, bursts of 10
    started = time.monotonic()
    times = []
    for _ in range(13):
        await limiter.acquire()
        times.append(time.monotonic() - started)
    assert times[9] < 0.05  # the burst
    assert all(later - earlier >= 0.09 for earlier, later in zip(times[9:], times[10:], strict=False))


async def test_logprobs_pass_through_for_judges(make_router):
    router, _ = make_router([Rule(response="4", top_logprobs={"4": -0.1, "5": -2.5, "3": -3.0})])
    completion = await router.complete(ask("score", logprobs=3))
    first = completion.logprobs[0][0]
    assert first["token"] == "4"
    assert [t["token"] for t in first["top_logprobs"]] == ["4", "5", "3"]


async def test_missing_api_key_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    router = build_router("openai/gpt-4o")
    with pytest.raises(UserError) as caught:
        await router.complete(ask())
    assert str(caught.value) == "OPENAI_API_KEY is not set (needed by model openai/gpt-4o)"
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(UserError, match=r"^ANTHROPIC_API_KEY is not set \(needed by model anthropic/"):
        await build_router("anthropic/claude-3-haiku-20240307").complete(ask())


async def test_a_key_in_the_environment_never_reaches_trace_or_cache(scripted_server, tmp_path, monkeypatch):
    secret = "sk-test-SECRET123456"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    server = scripted_server([Rule(response="fine", faults=[Fault(status=500)])])
    trace = Trace(tmp_path / "trace.jsonl")
    router = build_router(
        "openai/gpt-4o-mini",
        api_base=server.base_url,
        cache_path=tmp_path / "c.sqlite",
        trace=trace,
        backoff_base_s=0.01,
    )
    await router.complete(ask(step="s", n=2))
    with pytest.raises(ModelCallError):
        await build_router(
            "openai/gpt-4o-mini", api_base=server.base_url + "/nowhere", trace=trace, max_retries=0
        ).complete(ask(step="s"))
    router.close()
    trace.close()
    assert server.calls()[0].body is not None  # the key did go to the server, as a header
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path


SCRIPT = """\
rules:
  - step: reflect
    response: "- it is a sum"
  - step: code
    responses: ["not code", "```python\\nprint(sum(map(int, input().split())))\\n```"]
"""


async def test_scripted_model_from_a_yaml_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    script = tmp_path / "dry.yaml"
    script.write_text(SCRIPT)
    router = build_router(f"scripted:{script}", max_cost_usd=0.01)
    reflect = await router.complete(ask("think", step="reflect"))
    code = await router.complete(ask("code please", step="code", n=2))
    assert reflect.texts == ["- it is a sum"] and code.texts[0] == "not code" and "print" in code.texts[1]
    assert reflect.cost_usd == 0.0  # a scripted model is free, and known to be
    with pytest.raises(ModelCallError, match="no rule matches step 'rank'"):
        await router.complete(ask("x", step="rank"))
    router.close()


async def test_bad_scripted_model_strings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="cannot read the script"):
        await build_router(f"scripted:{tmp_path / 'missing.yaml'}").complete(ask())
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - step: a\n    reponse: x\n")
    with pytest.raises(UserError, match=r"bad.yaml:2: rules\[0\].reponse: unknown key"):
        await build_router(f"scripted:{bad}").complete(ask())
    with pytest.raises(UserError, match="needs a script path"):
        await build_router("scripted:").complete(ask())


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (CompletionRequest(model="openai/x", messages=[{"role": "user", "content": "x"}], n=0), "at least 1"),
        (CompletionRequest(model="openai/x", messages=[], n=1), "at least one message"),
        (
            CompletionRequest(model="openai/x", messages=[{"role": "user", "content": "x"}], sample_index=-1),
            "sample_index",
        ),
        (CompletionRequest(model=None, messages=[{"role": "user", "content": "x"}]), "no model given"),
    ],
)
async def test_bad_requests_are_user_errors(request_, message):
    with pytest.raises(UserError, match=message):
        await build_router(None, api_base="http://127.0.0.1:9/v1").complete(request_)


def test_corrupt_cache_file_is_a_user_error(tmp_path):
    path = tmp_path / "llm.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match="cannot be used.*--no-cache"):
        build_router("openai/x", cache_path=path)


async def test_cache_shared_by_concurrent_routers(scripted_server, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = scripted_server([counter_rule()])
    path = tmp_path / "shared.sqlite"
    routers = [build_router("openai/s", api_base=server.base_url, cache_path=path) for _ in range(2)]
    await asyncio.gather(*[routers[i % 2].complete(ask(f"q{i}")) for i in range(20)])
    stats = routers[0].cache.stats()
    assert stats["entries"] == 20 and stats["by_model"] == [{"model": "openai/s", "entries": 20, "hits": 0}]
    for router in routers:
        router.close()


def test_cache_cli_stats_and_clear(scripted_server, tmp_path, monkeypatch, capsys):
    from alphaflow.cli import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ALPHAFLOW_CACHE", str(tmp_path / "env.sqlite"))
    server = scripted_server([counter_rule()])
    router = build_router("openai/s", api_base=server.base_url, cache_path=Path(tmp_path / "env.sqlite"))
    asyncio.run(router.complete(ask(n=3)))
    asyncio.run(router.complete(ask(n=3)))
    router.close()
    assert main(["cache", "stats", "--json"]) == 0
    stats = __import__("json").loads(capsys.readouterr().out)
    assert stats["entries"] == 3 and stats["hits"] == 3 and stats["size_bytes"] > 0
    assert stats["by_model"] == [{"model": "openai/s", "entries": 3, "hits": 3}]
    assert main(["cache", "stats"]) == 0
    assert "3 samples" in capsys.readouterr().out
    assert main(["cache", "clear"]) == 0
    assert "removed 3 cached samples" in capsys.readouterr().out
    assert main(["cache", "stats", "--json"]) == 0
    assert '"entries": 0' in capsys.readouterr().out


def test_router_options_from_the_command_line():
    import argparse

    from alphaflow.models.cli import add_router_options, router_options

    parser = argparse.ArgumentParser()
    add_router_options(parser)
    args = parser.parse_args(
        [
            "--fallback",
            "openai/b",
            "--fallback",
            "openai/c",
            "--rpm",
            "30",
            "--price",
            "ollama/llama3=0,0",
            "--price",
            "openai/x=0.5,1.5",
            "--api-base",
            "http://127.0.0.1:9/v1",
            "--no-cache",
            "--model-concurrency",
            "3",
        ]
    )
    options = router_options(args)
    assert options["fallbacks"] == ["openai/b", "openai/c"] and options["rpm"] == 30.0
    assert options["prices"] == {"ollama/llama3": (0.0, 0.0), "openai/x": (0.5, 1.5)}
    assert options["cache_path"] is None and options["concurrency"] == 3 and options["max_cost_usd"] is None
    router = build_router("openai/x", **options)
    assert router.retry.max_retries == 4 and router.api_base == "http://127.0.0.1:9/v1"
    router.close()
    with pytest.raises(UserError, match="--price 'oops': expected MODEL=IN,OUT"):
        router_options(parser.parse_args(["--price", "oops"]))
    for bad in (["--model-concurrency", "0"], ["--max-cost", "-1"], ["--rpm", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


class LocalReverser:
    """A second, in-process backend (as a Hugging Face one will be): answers the prompt reversed."""

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, request, target, *, n, timeout_s):
        from alphaflow.models import BackendResult

        self.calls += 1
        if self.calls == 1:
            raise ModelCallError("the device is busy", transient=True)
        text = request.messages[-1]["content"][::-1]
        return BackendResult([f"{text} #{i}" for i in range(n)], prompt_tokens=10, completion_tokens=5 * n)


async def test_another_backend_plugs_in_beside_litellm(tmp_path):
    backend = LocalReverser()
    trace = Trace(tmp_path / "t.jsonl")
    router = build_router(
        "local/tiny",
        backends={"local": backend},
        cache_path=tmp_path / "c.sqlite",
        prices={"local/tiny": (1.0, 2.0)},
        max_cost_usd=1.0,
        trace=trace,
        backoff_base_s=0.01,
    )
    completion = await router.complete(ask("abc", n=2, step="judge"))
    assert completion.texts == ["cba #0", "cba #1"] and completion.attempts == 2
    assert completion.cost_usd == pytest.approx((10 * 1.0 + 10 * 2.0) / 1e6)
    assert (await router.complete(ask("abc", n=2))).cached and backend.calls == 2
    router.close()
    trace.close()
    events = read_trace(tmp_path / "t.jsonl")
    assert [(e["event"], e["step"]) for e in events] == [
        ("model_retry", "judge"),
        ("model_call", "judge"),
        ("model_call", None),
    ]


async def test_keys_and_endpoints_cannot_be_smuggled_in_per_call_extras():
    router = build_router("openai/x", api_base="http://127.0.0.1:9/v1")
    with pytest.raises(UserError, match="'api_key' cannot be set per call"):
        await router.complete(ask(extra={"api_key": "sk-abc"}))


@pytest.mark.parametrize("model", ["hosted_vllm/Qwen/Qwen2.5-Coder-7B", "openai/Qwen/Qwen2.5-Coder-7B"])
async def test_provider_strings_for_openai_compatible_servers(make_router, model):
    router, server = make_router([Rule(model="Qwen/*", step="s", response="served")], model=model)
    completion = await router.complete(ask(step="s", n=2))
    assert completion.texts == ["served", "served"] and completion.cost_usd is None
    assert server.calls()[0].model == "Qwen/Qwen2.5-Coder-7B"


async def test_cancelled_call_releases_its_budget_reservation(make_router):
    router, server = make_router(
        [Rule(response="never", fault=Fault(hang=True))],
        model="openai/custom",
        prices={"openai/custom": (1.0, 1.0)},
        max_cost_usd=1.0,
        timeout_s=30,
    )
    task = asyncio.create_task(router.complete(ask(max_tokens=10)))
    while not server.calls():
        await asyncio.sleep(0.01)
    assert router.budget.reserved_usd > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.budget.reserved_usd == 0 and router.budget.spent_usd == 0


async def test_openai_direct_backend_keeps_every_behaviour(make_router, tmp_path):
    router, server = make_router(
        [
            Rule(step="judge", response="4", top_logprobs={"4": -0.1, "5": -2.0}),
            Rule(model="primary", response="p", fault=Fault(status=500)),
            Rule(
                step="flaky",
                response="steady",
                faults=[
                    Fault(status=429, retry_after=0.2),
                    Fault(hang=True),
                    Fault(malformed="truncated"),
                    Fault(malformed="no_choices"),
                ],
            ),
            counter_rule(),
        ],
        openai_direct=True,
        cache_path=tmp_path / "c.sqlite",
        max_retries=4,
        timeout_s=0.5,
        fallbacks=["openai/backup"],
        trace=Trace(tmp_path / "t.jsonl"),
    )
    assert router.target("openai/scripted").backend == "openai-sdk"
    samples = await router.complete(ask(n=3, temperature=1.0))
    assert samples.texts == ["answer 1", "answer 2", "answer 3"] and samples.prompt_tokens == 1
    assert (await router.complete(ask(n=4, temperature=1.0))).texts[3] == "answer 4"
    assert server.calls()[-1].n == 1  # the cache kept the first three
    judged = await router.complete(ask("score", step="judge", logprobs=2))
    assert [t["token"] for t in judged.logprobs[0][0]["top_logprobs"]] == ["4", "5"]
    flaky = await router.complete(ask(step="flaky"))
    assert flaky.texts == ["steady"] and flaky.attempts == 5
    fallback = await router.complete(ask(model="openai/primary"))
    assert fallback.model == "openai/backup" and fallback.texts == ["answer 5"]
    router.trace.close()
    assert all(e["event"] in ("model_call", "model_retry") for e in read_trace(tmp_path / "t.jsonl"))


async def test_openai_direct_backend_errors_are_classified_like_litellm_ones(make_router):
    router, server = make_router(
        [Rule(step="known", response="x"), Rule(step="down", response="x", fault=Fault(status=503))],
        openai_direct=True,
        max_retries=1,
    )
    with pytest.raises(ModelCallError, match="no rule matches step 'other'"):
        await router.complete(ask(step="other"))
    with pytest.raises(ModelCallError, match=r"failed after 2 attempts: server error \(503\)"):
        await router.complete(ask(step="down"))
    assert [r.step for r in server.calls()] == ["other", "down", "down"]


async def test_openai_direct_for_a_scripted_model(tmp_path):
    script = tmp_path / "dry.yaml"
    script.write_text(SCRIPT)
    router = build_router(f"scripted:{script}", openai_direct=True)
    assert (await router.complete(ask("think", step="reflect"))).texts == ["- it is a sum"]
    router.close()


async def test_warming_up_the_client_sends_nothing_bills_nothing_and_never_fails(
    make_router, tmp_path, monkeypatch
):
    trace_path = tmp_path / "run.jsonl"
    router, server = make_router([Rule(response="ok")], trace=Trace(trace_path))
    await asyncio.to_thread(router.warm_up)  # as the bench runs it: in a thread, beside the first units
    assert server.calls() == [] and router.usage.calls == 0
    assert (await router.complete(ask())).texts == ["ok"] and len(server.calls()) == 1
    router.trace.close()
    assert [e["event"] for e in read_trace(trace_path)] == ["model_call"]
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    build_router("anthropic/claude-3-haiku-20240307").warm_up()  # no key: the first call will say so
    build_router("no-such-provider/model").warm_up()
