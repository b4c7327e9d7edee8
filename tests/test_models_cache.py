"""The SQLite response cache on its own: keys, several processes, clearing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from alphaflow.models.cache import Cache, CachedSample, default_cache_path, sample_key

WRITER = textwrap.dedent("""
    import sys
    from alphaflow.models.cache import Cache, CachedSample
    cache = Cache(sys.argv[1])
    worker = sys.argv[2]
    for i in range(150):
        cache.put_many("m" + worker, {f"{worker}-{i}": CachedSample(f"text {i}", None)})
        assert cache.get_many([f"{worker}-{i}"])[f"{worker}-{i}"].text == f"text {i}"
    cache.close()
""")


def test_several_processes_write_one_cache_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    Cache(path).close()
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w)], stderr=subprocess.PIPE)
               for w in range(3)]
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr.decode()
    cache = Cache(path)
    stats = cache.stats()
    assert stats["entries"] == 450 and stats["hits"] == 450
    assert [row["entries"] for row in stats["by_model"]] == [150, 150, 150]
    assert cache.clear("m0") == 150 and cache.stats()["entries"] == 300
    assert cache.clear() == 300 and cache.stats()["entries"] == 0
    cache.close()


def test_keys_separate_samples_models_messages_and_parameters():
    messages = [{"role": "user", "content": "x"}]
    params = {"temperature": 0.7}
    base = sample_key("openai/a|", messages, params, 0)
    assert base == sample_key("openai/a|", [{"content": "x", "role": "user"}], dict(params), 0)
    others = {sample_key("openai/a|", messages, params, 1), sample_key("openai/b|", messages, params, 0),
              sample_key("openai/a|", [{"role": "user", "content": "y"}], params, 0),
              sample_key("openai/a|", messages, {"temperature": 0.8}, 0)}
    assert base not in others and len(others) == 4


def test_logprobs_survive_the_round_trip(tmp_path):
    cache = Cache(tmp_path / "c.sqlite")
    logprobs = [{"token": "4", "logprob": -0.1, "top_logprobs": [{"token": "4", "logprob": -0.1}]}]
    cache.put_many("m", {"k": CachedSample("4", logprobs), "j": CachedSample("5", None)})
    found = cache.get_many(["k", "j", "missing"])
    assert found["k"].logprobs == logprobs and found["j"].logprobs is None and "missing" not in found
    cache.close()


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ALPHAFLOW_CACHE", str(tmp_path / "mine.sqlite"))
    assert default_cache_path() == tmp_path / "mine.sqlite"
    monkeypatch.delenv("ALPHAFLOW_CACHE")
    assert default_cache_path().parts[-3:] == (".cache", "alphaflow", "llm.sqlite")


def test_stats_of_a_missing_cache_do_not_create_it(tmp_path, capsys):
    from alphaflow.cli import main

    path = tmp_path / "none" / "llm.sqlite"
    assert main(["cache", "stats", "--path", str(path), "--json"]) == 0
    assert '"entries": 0' in capsys.readouterr().out and not path.parent.exists()
    path.parent.mkdir()
    path.write_bytes(b"garbage" * 100)
    assert main(["cache", "stats", "--path", str(path)]) == 2
    assert "cannot be used" in capsys.readouterr().err


def test_importing_the_model_layer_does_not_import_litellm():
    code = ("import sys, alphaflow.models, alphaflow.models.cli, alphaflow.testing, alphaflow.cli\n"
            "alphaflow.cli.build_parser()\n"
            "assert 'litellm' not in sys.modules, 'litellm imported eagerly'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


async def test_a_locked_cache_file_does_not_block_the_event_loop(tmp_path, scripted_server):
    """Another process holding the SQLite write lock makes a cache write wait (busy timeout), but the
    wait happens in a worker thread: other coroutines keep running meanwhile (issue 10, item 10)."""
    import asyncio
    import sqlite3
    import threading
    import time

    from alphaflow.models import CompletionRequest, build_router

    server = scripted_server([{"response": "ok"}])
    path = tmp_path / "busy.sqlite"
    router = build_router("openai/scripted", api_base=server.base_url, cache_path=path)
    warm_up = CompletionRequest(model=None, messages=[{"role": "user", "content": "warm up"}])
    await router.complete(warm_up)  # imports the model client outside the measured part
    blocker = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock, as a busy second process would
    threading.Timer(1.0, lambda: blocker.execute("COMMIT")).start()
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    request = CompletionRequest(model=None, messages=[{"role": "user", "content": "q"}])
    completion = await router.complete(request)
    waited = time.monotonic() - started
    ticking.cancel()
    router.close()
    blocker.close()
    assert completion.texts == ["ok"]
    assert waited >= 0.9  # the write really waited for the lock ...
    assert max(gaps) < 0.5  # ... and the event loop kept running meanwhile
