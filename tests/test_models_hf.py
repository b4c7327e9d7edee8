"""The in-process backend on CPU with tiny random models built in the test: batching, sampling,
logprobs, scoring, proxy tuning, out-of-memory halving, and the router's cache/budget around it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_models import tiny_model  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from alphaflow.errors import UserError  # noqa: E402
from alphaflow.models import CompletionRequest, ModelCallError, build_router  # noqa: E402
from alphaflow.models.hf import score  # noqa: E402
from alphaflow.models.hf.backend import LocalBackend  # noqa: E402
from alphaflow.models.hf.decode import Row  # noqa: E402
from alphaflow.models.hf.engine import engine_for  # noqa: E402

CPU = "device=cpu&dtype=float32"
PROMPTS = [
    "Write a program.",
    "Score the answer from 1 to 5 please, thinking step by step about tests.",
    "hi",
    "for i in range(10): print(i)",
    "You are a helpful assistant. Yes or No?",
    "def solve(n): return n",
    "edge cases",
    "Read stdin and print the sum of the numbers.",
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        "llama": tiny_model(root / "llama", arch="llama", seed=0),
        "qwen2": tiny_model(root / "qwen2", arch="qwen2", seed=1),
        "base": tiny_model(root / "base", seed=11, chat_template=False),
        "expert": tiny_model(root / "expert", seed=12, extra_logits=4),  # padded logits, as in the paper
        "anti": tiny_model(root / "anti", seed=13, chat_template=False),
        "other_vocab": tiny_model(root / "other_vocab", seed=14, vocab_size=280),
    }


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def request(text: str, **fields) -> CompletionRequest:
    return CompletionRequest(model=None, messages=user(text), **fields)


async def complete_all(
    model: str, requests: list[CompletionRequest], backend: LocalBackend | None = None, concurrency: int = 64
) -> list:
    router = build_router(model, concurrency=concurrency, backends={"hf": backend or LocalBackend()})
    try:
        return await asyncio.gather(*[router.complete(r) for r in requests])
    finally:
        router.close()


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
async def test_batched_greedy_equals_one_at_a_time(models, arch):
    model = f"hf:{models[arch]}?{CPU}&max_batch=16&max_new_tokens=12&wait_ms=50"
    requests = [request(p, temperature=0) for p in PROMPTS]
    backend = LocalBackend()
    together = await complete_all(model, requests, backend)
    queue = backend.queue(engine_for(model))
    assert max(queue.batches) > 1  # the concurrent requests really shared batches
    alone = [(await complete_all(model, [r]))[0] for r in requests]
    assert [c.texts for c in together] == [c.texts for c in alone]
    assert all(c.completion_tokens > 0 and c.prompt_tokens > 0 and c.cost_usd == 0.0 for c in together)


async def test_logprobs_match_a_plain_forward_pass(models):
    path = models["llama"]
    [completion] = await complete_all(
        f"hf:{path}?{CPU}", [request("Score it: 1 to 5?", temperature=0, max_tokens=6, logprobs=5)]
    )
    tokens = completion.logprobs[0]
    assert len(tokens) == completion.completion_tokens == 6
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    prompt = tokenizer.apply_chat_template(
        user("Score it: 1 to 5?"), add_generation_prompt=True, tokenize=False
    )
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        for entry in tokens:
            log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), dim=-1)
            values, top = log_probs.topk(5)
            chosen = int(top[0])  # greedy
            assert entry["token"] == tokenizer.decode([chosen])
            assert entry["logprob"] == pytest.approx(float(log_probs[chosen]), abs=1e-4)
            assert [a["token"] for a in entry["top_logprobs"]] == [tokenizer.decode([int(t)]) for t in top]
            assert [a["logprob"] for a in entry["top_logprobs"]] == pytest.approx(values.tolist(), abs=1e-4)
            ids.append(chosen)
    assert completion.text == tokenizer.decode(ids[-6:], skip_special_tokens=True)


async def test_samples_differ_at_temperature_and_a_seed_reproduces_them_in_any_batch(models):
    model = f"hf:{models['qwen2']}?{CPU}&max_new_tokens=10"
    seeded = request("Write a program.", temperature=1.0, n=4, extra={"seed": 7})
    [first] = await complete_all(model, [seeded])
    assert len(set(first.texts)) == 4  # four different samples
    # the same seed again, now batched together with other requests: the same four samples
    crowd = [request(p, temperature=0.7, n=2) for p in PROMPTS]
    again = await complete_all(model, [*crowd, seeded])
    assert again[-1].texts == first.texts
    [unseeded] = await complete_all(model, [request("Write a program.", temperature=1.0, n=4)])
    assert unseeded.texts != first.texts


async def test_stop_strings_max_tokens_and_finish_reasons(models):
    engine = engine_for(f"hf:{models['llama']}?{CPU}")
    prompts = engine.encode(user("hi"))
    [free] = engine.generate([Row(prompts, max_new_tokens=20, temperature=0, ignore_eos=True)])
    assert free.finish_reason == "length" and len(free.token_ids) == 20
    stop = free.text[5:7]  # a piece of the greedy text: generation must end before it
    [stopped] = engine.generate(
        [Row(prompts, max_new_tokens=20, temperature=0, stop=(stop,), ignore_eos=True)]
    )
    assert stopped.finish_reason == "stop" and stopped.text == free.text[: free.text.index(stop)]


async def test_proxy_tuned_greedy_tokens_equal_the_three_models_combined_by_hand(models):
    alpha = 0.7
    model = (
        f"proxy:base={models['base']},expert={models['expert']},anti={models['anti']},alpha={alpha},"
        "device=cpu,dtype=float32"
    )
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Write a program."}]
    engine = engine_for(model)
    [result] = engine.generate(
        [Row(engine.encode(messages), max_new_tokens=8, temperature=0, ignore_eos=True)]
    )

    loaded = {
        name: (
            AutoTokenizer.from_pretrained(models[name]),
            AutoModelForCausalLM.from_pretrained(models[name], dtype=torch.float32).eval(),
        )
        for name in ("base", "expert", "anti")
    }
    plain = "Be brief.\n\nWrite a program."  # base and anti-expert: no chat template
    chat = loaded["expert"][0].apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = {
        "base": loaded["base"][0](plain)["input_ids"],
        "anti": loaded["anti"][0](plain)["input_ids"],
        "expert": loaded["expert"][0](chat, add_special_tokens=False)["input_ids"],
    }
    width = loaded["base"][1].config.vocab_size
    assert loaded["expert"][1].config.vocab_size == width + 4
    expected = []
    with torch.no_grad():
        for _ in range(8):
            last = {n: loaded[n][1](torch.tensor([ids[n]])).logits[0, -1, :width] for n in ids}
            token = int((last["base"] + alpha * (last["expert"] - last["anti"])).argmax())
            expected.append(token)
            for n in ids:
                ids[n].append(token)
    assert result.token_ids == expected

    # and as a model string anywhere a model goes: through the router, with logprobs
    [completion] = await complete_all(
        model,
        [
            CompletionRequest(
                model=None,
                messages=messages,
                temperature=0,
                max_tokens=8,
                logprobs=2,
                extra={"ignore_eos": True},
            )
        ],
    )
    assert completion.text == loaded["base"][0].decode(expected, skip_special_tokens=True)
    assert len(completion.logprobs[0]) == 8

    # scoring under the proxy-tuned distribution, against the three forward passes combined by hand
    [scored] = score(model, [messages], ["def solve(n)"])
    response = loaded["base"][0]("def solve(n)", add_special_tokens=False)["input_ids"]
    prompts = {
        "base": loaded["base"][0](plain)["input_ids"],
        "anti": loaded["anti"][0](plain)["input_ids"],
        "expert": loaded["expert"][0](chat, add_special_tokens=False)["input_ids"],
    }
    with torch.no_grad():
        last = {
            n: loaded[n][1](torch.tensor([prompts[n] + response])).logits[0, -len(response) - 1 : -1, :width]
            for n in prompts
        }
    combined = torch.log_softmax(last["base"] + alpha * (last["expert"] - last["anti"]), dim=-1)
    by_hand = combined.gather(-1, torch.tensor(response)[:, None])[:, 0].tolist()
    assert scored.token_logprobs == pytest.approx(by_hand, abs=1e-4)


def test_proxy_tuning_refuses_models_without_a_shared_vocabulary(models):
    model = f"proxy:base={models['base']},expert={models['other_vocab']},anti={models['anti']},device=cpu"
    with pytest.raises(UserError) as error:
        engine_for(model)
    message = str(error.value)
    assert "\n" not in message and "shared vocabulary" in message
    assert f"expert {models['other_vocab']} has 280 tokens" in message and "has 300 tokens" in message


def test_scoring_is_the_log_likelihood_of_the_response(models):
    path = models["llama"]
    prompts = [user("Is 2+2=4? Answer Yes or No."), "Raw text prompt:", user("hi")]
    responses = ["Yes", " some longer answer text", ""]
    results = score(f"hf:{path}?{CPU}", prompts, responses)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    for prompt, response, result in zip(prompts[:2], responses[:2], results[:2], strict=True):
        if isinstance(prompt, str):
            context = tokenizer(prompt)["input_ids"]
        else:
            text = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
            context = tokenizer(text, add_special_tokens=False)["input_ids"]
        answer = tokenizer(response, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([context + answer])).logits[0].float()
        log_probs = torch.log_softmax(logits[len(context) - 1 : -1], dim=-1)
        expected = log_probs.gather(-1, torch.tensor(answer)[:, None])[:, 0]
        assert result.token_logprobs == pytest.approx(expected.tolist(), abs=1e-4)
        assert result.logprob == pytest.approx(float(expected.sum()), abs=1e-3)
    assert results[2].tokens == 0 and results[2].logprob == 0.0
    with pytest.raises(UserError, match="2 prompts but 1 responses"):
        score(f"hf:{path}?{CPU}", prompts[:2], responses[:1])


def too_long(condition: bool) -> None:
    if condition:
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")


def test_out_of_memory_halves_the_batch_and_retries(models):
    engine = engine_for(f"hf:{models['qwen2']}?{CPU}&max_batch=8")
    rows = [Row(engine.encode(user(p)), max_new_tokens=4, temperature=0) for p in PROMPTS[:6]]
    expected = [engine.generate([row])[0].token_ids for row in rows]
    seen: list[int] = []

    def fail_big_batches(module, args, kwargs):  # noqa: ANN001, ANN202
        seen.append(kwargs["input_ids"].shape[0])
        if kwargs["input_ids"].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    hook = engine.models[0].model.register_forward_pre_hook(fail_big_batches, with_kwargs=True)
    try:
        results = engine.generate(rows)
        assert [r.token_ids for r in results] == expected
        assert (
            engine.max_batch == 2 and engine.out_of_memory_splits == 2
        )  # 6 -> 3 + 3 -> 2 + 2 + 2, kept at 2
        assert seen[0] == 6
        # a row too long to fit even alone fails by itself; the others still run
        longest = max(len(row.prompts[0]) for row in rows)
        hook.remove()
        hook = engine.models[0].model.register_forward_pre_hook(
            lambda module, args, kwargs: too_long(kwargs["input_ids"].shape[1] >= longest), with_kwargs=True
        )
        results = engine.generate(rows)
        failed = [i for i, r in enumerate(results) if isinstance(r, ModelCallError)]
        assert [len(rows[i].prompts[0]) for i in failed] == [longest]
        assert "out of memory on one row of" in str(results[failed[0]])
        assert [r.token_ids for i, r in enumerate(results) if i not in failed] == [
            e for i, e in enumerate(expected) if i not in failed
        ]
    finally:
        hook.remove()


async def test_cache_budget_and_trace_behave_as_for_any_model(models, tmp_path):
    from alphaflow.trace import Trace, read_trace

    model = f"hf:{models['llama']}?{CPU}&max_new_tokens=6"
    with Trace(tmp_path / "t.jsonl") as trace:
        router = build_router(model, cache_path=tmp_path / "cache.sqlite", max_cost_usd=0.01, trace=trace)
        try:
            first = await router.complete(request("hi", temperature=0.9, n=2, step="s"))
            second = await router.complete(request("hi", temperature=0.9, n=3, step="s"))
        finally:
            router.close()
    assert not first.cached and first.cost_usd == 0.0
    assert second.texts[:2] == first.texts and second.cached_samples == 2  # only the third is new
    calls = [e for e in read_trace(tmp_path / "t.jsonl") if e["event"] == "model_call"]
    assert [c["price_known"] for c in calls] == [True, True]
    assert calls[0]["completion_tokens"] > 0 and calls[0]["answered_by"] == model
    # each sample says why it ended (6 new tokens at most: "length", or EOS), the cached ones cannot
    assert set(first.finish_reasons) <= {"stop", "length"} and len(first.finish_reasons) == 2
    assert second.finish_reasons[:2] == [None, None] and second.finish_reasons[2] in ("stop", "length")
    assert calls[0]["finish_reasons"] == first.finish_reasons


async def test_unknown_sampling_parameters_are_one_line_errors(models):
    with pytest.raises(UserError, match="does not take the parameter 'presence_penalty'"):
        await complete_all(f"hf:{models['llama']}?{CPU}", [request("hi", extra={"presence_penalty": 1})])


def test_a_missing_checkpoint_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError) as error:
        engine_for(f"hf:{tmp_path / 'nothing-here'}?device=cpu")
    assert "cannot load" in str(error.value) and "\n" not in str(error.value)


async def test_a_failure_inside_the_model_is_a_one_line_model_error(models):
    model = f"hf:{models['qwen2']}?{CPU}&max_new_tokens=4"
    engine = engine_for(model)

    def broken(module, args, kwargs):  # noqa: ANN001, ANN202
        raise RuntimeError("CUDA error: device-side assert triggered\nmore detail")

    hook = engine.models[0].model.register_forward_pre_hook(broken, with_kwargs=True)
    try:
        with pytest.raises(ModelCallError) as error:
            await complete_all(model, [request("hi")])
    finally:
        hook.remove()
    assert "RuntimeError: CUDA error: device-side assert triggered more detail" in str(error.value)
    assert "\n" not in str(error.value) and error.value.attempts == 1  # not retried
