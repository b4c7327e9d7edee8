"""Local model strings without torch: parsing mistakes, the missing-extra error, and the managed vLLM
server (its process management tested with a stand-in `vllm` executable that serves the scripted
OpenAI-compatible server)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alphaflow.errors import UserError
from alphaflow.models import CompletionRequest, build_router
from alphaflow.models.hf.spec import HFSpec, LoadOptions, ProxySpec, VLLMSpec, parse

REPO = Path(__file__).resolve().parent.parent


def test_model_strings_parse_with_their_options():
    assert parse("hf:Qwen/Qwen2.5-0.5B-Instruct") == HFSpec("Qwen/Qwen2.5-0.5B-Instruct", LoadOptions())
    spec = parse(
        "hf:/ckpt/m?device=cuda:1&dtype=bfloat16&max_batch=64&max_new_tokens=256&wait_ms=2"
        "&trust_remote_code=true"
    )
    assert spec == HFSpec("/ckpt/m", LoadOptions("cuda:1", "bfloat16", 64, 256, 2.0, True))
    proxy = parse("proxy:base=/b,expert=/e,anti=/a,alpha=0.5,max_batch=8")
    assert proxy == ProxySpec("/b", "/e", "/a", 0.5, LoadOptions(max_batch=8))
    served = parse("vllm:Qwen/Qwen2.5-7B?max-model-len=8192&enforce-eager=true&startup_timeout_s=30")
    assert served == VLLMSpec("Qwen/Qwen2.5-7B", ("--max-model-len", "8192", "--enforce-eager"), 30.0)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("hf:", "give a path or hub id"),
        ("hf:/m?dtype=float8", "dtype must be one of auto, float32, float16, bfloat16, not 'float8'"),
        ("hf:/m?batch=4", "unknown option 'batch' (known: device, dtype, max_batch"),
        ("hf:/m?max_batch=0", "max_batch must be at least 1"),
        ("hf:/m?max_batch=lots", "max_batch must be a number, not 'lots'"),
        ("hf:/m?device", "'device' is not key=value"),
        ("proxy:base=/b,expert=/e", "needs base=, expert= and anti= (missing anti)"),
        ("proxy:base=/b,expert=/e,anti=/a,alpha=big", "alpha must be a number"),
        ("proxy:base=/b,base=/c,expert=/e,anti=/a", "option 'base' given twice"),
        ("vllm:", "give the model to serve"),
    ],
)
def test_bad_model_strings_are_one_line_errors(model, message):
    with pytest.raises(UserError) as error:
        parse(model)
    assert message in str(error.value) and model in str(error.value) and "\n" not in str(error.value)


def test_without_the_extra_hf_models_name_it_in_one_line(tmp_path):
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"problem": {"name": "x", "description": "Print 1.", "public_tests": []}}))
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # as if the local extra were not installed
        from alphaflow.cli import main
        sys.exit(main(["run", "{REPO / "flows" / "direct.yaml"}", "--input-file", "{problem}",
                       "--model", "hf:/some/checkpoint", "--no-cache", "--sandbox", "local"]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert errors[-1].startswith("alphaflow: error: model 'hf:/some/checkpoint' runs in process")
    assert "pip install 'alphaflow[local]'" in errors[-1] and "Traceback" not in done.stderr


def fake_vllm(directory: Path, body: str) -> Path:
    """A `vllm` executable on a private PATH directory; it appends its arguments to argv.jsonl."""
    directory.mkdir(exist_ok=True)
    script = directory / "vllm"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent("""
        import json, sys, time
        from pathlib import Path
        with open(Path(__file__).with_name("argv.jsonl"), "a") as log:
            log.write(json.dumps(sys.argv[1:]) + "\\n")
    """)
        + textwrap.dedent(body)
    )
    script.chmod(0o755)
    return directory


SERVE = """
    from alphaflow.testing import ScriptedServer
    args = sys.argv[1:]
    time.sleep(0.5)  # loading the model
    server = ScriptedServer([{"response": "served " + args[1]}], port=int(args[args.index("--port") + 1]))
    server.start()
    Path(__file__).with_name("pid").write_text(str(__import__("os").getpid()))
    while True:
        time.sleep(1)
"""


def test_vllm_models_start_a_server_talk_to_it_and_stop_it(tmp_path, monkeypatch):
    bin_dir = fake_vllm(tmp_path / "bin", SERVE)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    model = "vllm:org/tiny-model?max-model-len=512&startup_timeout_s=60"
    router = build_router(model, cache_path=None)
    try:
        import asyncio

        completion = asyncio.run(
            router.complete(CompletionRequest(model=None, messages=[{"role": "user", "content": "hi"}], n=2))
        )
    finally:
        router.close()
    assert completion.texts == ["served org/tiny-model"] * 2 and completion.cost_usd == 0.0
    [argv] = [json.loads(line) for line in (bin_dir / "argv.jsonl").read_text().splitlines()]
    assert argv[:4] == ["serve", "org/tiny-model", "--host", "127.0.0.1"]
    assert argv[6:] == ["--max-model-len", "512"]
    pid = int((bin_dir / "pid").read_text())
    with pytest.raises(ProcessLookupError):  # stopped when the router closed
        for _ in range(50):
            os.kill(pid, 0)
            __import__("time").sleep(0.1)


def test_a_starting_vllm_server_neither_stalls_other_work_nor_starts_twice(tmp_path, monkeypatch):
    import asyncio

    bin_dir = fake_vllm(tmp_path / "bin", SERVE)  # takes 0.5 s "loading the model"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    router = build_router("vllm:org/tiny-model?startup_timeout_s=60", cache_path=None)
    request = CompletionRequest(model=None, messages=[{"role": "user", "content": "hi"}])

    async def main() -> tuple[int, list]:
        ticks = 0

        async def other_work() -> None:  # e.g. another unit being judged meanwhile
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        beside = asyncio.create_task(other_work())
        try:
            completions = await asyncio.gather(*(router.complete(request) for _ in range(3)))
            return ticks, completions
        finally:
            beside.cancel()

    try:
        ticks, completions = asyncio.run(main())
    finally:
        router.close()
    assert [c.texts for c in completions] == [["served org/tiny-model"]] * 3
    assert ticks >= 8  # the loop kept running while the server started (0.5 s and more)
    assert len((bin_dir / "argv.jsonl").read_text().splitlines()) == 1  # one server for the three calls


def test_a_vllm_server_that_dies_at_startup_is_a_one_line_error(tmp_path, monkeypatch):
    bin_dir = fake_vllm(tmp_path / "bin", 'print("ValueError: no GPU found"); sys.exit(3)\n')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    router = build_router("vllm:org/m", cache_path=None)
    with pytest.raises(UserError) as error:
        router.target("vllm:org/m")
    router.close()
    message = str(error.value)
    assert "exited with code 3 before it was ready: ValueError: no GPU found" in message
    assert "\n" not in message


def test_without_vllm_installed_vllm_models_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match=r"needs vLLM, which is not installed .*pip install vllm"):
        build_router(None).target("vllm:org/m")


@pytest.mark.skipif(shutil.which("vllm") is None, reason="vllm is not installed")
def test_a_real_vllm_server_answers(tmp_path):
    pytest.importorskip("transformers")
    sys.path.insert(0, str(Path(__file__).parent))
    import asyncio

    from tiny_models import tiny_model

    path = tiny_model(tmp_path / "m")
    router = build_router(f"vllm:{path}?max-model-len=512&enforce-eager=true", cache_path=None)
    try:
        completion = asyncio.run(
            router.complete(
                CompletionRequest(model=None, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
            )
        )
    finally:
        router.close()
    assert completion.completion_tokens > 0
