"""The scripted OpenAI-compatible server, exercised through the real openai client over HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from pathlib import Path

import openai
import pytest

from alphaflow.errors import UserError
from alphaflow.testing import Fault, Rule, ScriptedServer, load_script


def client(server: ScriptedServer, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-dummy", max_retries=0, timeout=timeout)


def ask(server: ScriptedServer, text: str, step: str | None = None, **kwargs):
    headers = {"X-Alphaflow-Step": step} if step else {}
    return client(server).chat.completions.create(
        model=kwargs.pop("model", "scripted"), messages=[{"role": "user", "content": text}],
        extra_headers=headers, **kwargs)


def test_answers_by_step_and_content_with_usage_and_records_requests(scripted_server):
    server = scripted_server([
        Rule(step="reflect", response="- the problem asks for a sum"),
        Rule(contains="write code", response="```python\nprint(1)\n```"),
        Rule(model="judge-*", regex=r"score \d", response="4"),
    ])
    reply = ask(server, "please reflect", step="reflect")
    assert reply.choices[0].message.content == "- the problem asks for a sum"
    assert reply.usage.prompt_tokens == 2 and reply.usage.completion_tokens == 7
    assert ask(server, "now write code", step="code").choices[0].message.content.startswith("```python")
    assert ask(server, "give score 5", model="judge-small").choices[0].message.content == "4"
    assert [r.step for r in server.calls()] == ["reflect", "code", None]
    assert server.calls("reflect")[0].last_user == "please reflect"
    assert server.calls(rule="rules[2]")[0].model == "judge-small"


def test_n_samples_use_responses_in_turn_and_last_repeats(scripted_server):
    server = scripted_server([Rule(responses=["bad yaml: [", "good: yes", "third"])])
    reply = ask(server, "x", n=2)
    assert [c.message.content for c in reply.choices] == ["bad yaml: [", "good: yes"]
    assert [c.index for c in reply.choices] == [0, 1]
    assert [c.message.content for c in ask(server, "x", n=2).choices] == ["third", "third"]
    assert server.calls()[0].n == 2


def test_callable_response_sees_the_request(scripted_server):
    server = scripted_server([Rule(response=lambda r: f"{r.step}:{r.choice_index}:{r.last_user.upper()}")])
    reply = ask(server, "abc", step="s1", n=2)
    assert [c.message.content for c in reply.choices] == ["s1:0:ABC", "s1:1:ABC"]


def test_unmatched_request_is_a_clear_400_naming_step_and_prompt(scripted_server):
    server = scripted_server([Rule(step="reflect", response="x")])
    with pytest.raises(openai.BadRequestError) as caught:
        ask(server, "Solve the following problem about graphs " * 5, step="rank")
    message = str(caught.value)
    assert "no rule matches step 'rank'" in message and "Solve the following problem" in message
    assert server.calls()[0].status == 400


def test_default_answer_when_no_rule_matches(scripted_server):
    server = scripted_server([Rule(step="a", response="A")], default="fallback text")
    assert ask(server, "anything", step="zzz").choices[0].message.content == "fallback text"


def test_status_faults_with_retry_after_then_success(scripted_server):
    server = scripted_server([Rule(response="ok", faults=[Fault(status=429, retry_after=0.25),
                                                          Fault(status=500), Fault(status=503)])])
    with pytest.raises(openai.RateLimitError) as caught:
        ask(server, "x")
    assert caught.value.response.headers["retry-after"] == "0.25"
    with pytest.raises(openai.InternalServerError):
        ask(server, "x")
    with pytest.raises(openai.InternalServerError) as caught:
        ask(server, "x")
    assert caught.value.status_code == 503
    assert ask(server, "x").choices[0].message.content == "ok"
    assert [r.fault for r in server.calls()] == ["status 429", "status 500", "status 503", None]


def test_fault_times_limits_how_often_it_fires(scripted_server):
    server = scripted_server([Rule(response="ok", fault=Fault(status=500, times=2))])
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(server, "x")
    assert ask(server, "x").choices[0].message.content == "ok"


def test_hang_makes_the_client_time_out_and_stop_is_prompt(scripted_server):
    server = scripted_server([Rule(response="never", fault=Fault(hang=True))])
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(server, timeout=0.3).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 3
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("kind", ["invalid_json", "truncated", "no_choices"])
def test_malformed_responses_break_the_client(scripted_server, kind):
    server = scripted_server([Rule(response="ok", fault=Fault(malformed=kind, times=1))])
    if kind == "no_choices":
        assert ask(server, "x").choices == []
    else:
        with pytest.raises((openai.APIError, ValueError)):  # the raw client does not wrap JSON errors
            ask(server, "x")
    assert ask(server, "x").choices[0].message.content == "ok"  # the connection pool recovers


def test_logprobs_give_first_token_alternatives_for_judges(scripted_server):
    server = scripted_server([Rule(response="4", top_logprobs={"4": -0.3, "5": -1.5, "3": -2.0})])
    reply = ask(server, "score it", logprobs=True, top_logprobs=2)
    first = reply.choices[0].logprobs.content[0]
    assert first.token == "4" and first.logprob == -0.3
    assert [(t.token, t.logprob) for t in first.top_logprobs] == [("4", -0.3), ("5", -1.5)]
    assert ask(server, "score it").choices[0].logprobs is None


def test_latency_and_max_in_flight_are_recorded(scripted_server):
    server = scripted_server([Rule(response="ok", latency_s=0.5)])

    async def burst() -> None:
        async_client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        await asyncio.gather(*[async_client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]) for _ in range(4)])
        await async_client.close()

    asyncio.run(burst())
    assert server.max_in_flight == 4  # answered concurrently, not one after another
    assert all(r.finished - r.started >= 0.5 for r in server.calls())


async def test_works_when_started_inside_a_running_loop():
    with ScriptedServer([Rule(response="from the loop")]) as server:
        async_client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        reply = await async_client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}])
        await async_client.close()
    assert reply.choices[0].message.content == "from the loop"


def test_models_endpoint_and_unknown_routes(scripted_server):
    server = scripted_server({"rules": [{"response": "x"}], "models": ["tiny", "big"]})
    assert [m.id for m in client(server).models.list()] == ["tiny", "big"]
    with pytest.raises(urllib.request.HTTPError) as caught:
        urllib.request.urlopen(server.base_url + "/embeddings", data=b"{}")
    assert caught.value.code == 404


def test_invalid_request_body_is_a_400(scripted_server):
    server = scripted_server([Rule(response="x")])
    request = urllib.request.Request(server.base_url + "/chat/completions", data=b"{not json", method="POST")
    with pytest.raises(urllib.request.HTTPError) as caught:
        urllib.request.urlopen(request)
    assert caught.value.code == 400
    assert "invalid JSON body" in json.loads(caught.value.read())["error"]["message"]


SCRIPT = """\
# dry run of a two-step flow
models: [scripted]
rules:
  - step: reflect
    response: |
      - the input is one integer
  - step: code
    contains: Fix the code
    responses: ["```python\\nprint(2)\\n```"]
  - step: code
    response: "```python\\nprint(1)\\n```"
    faults: [{status: 429, retry_after: 0.1}, null]
default: "I do not know"
"""


def test_yaml_script_is_loaded_and_served(tmp_path):
    path = tmp_path / "dry.yaml"
    path.write_text(SCRIPT)
    script = load_script(path)
    assert len(script.rules) == 3 and script.default == "I do not know"
    with ScriptedServer(path) as server:
        reflect = ask(server, "think", step="reflect").choices[0].message.content
        assert reflect == "- the input is one integer\n"
        assert "print(2)" in ask(server, "Fix the code please", step="code").choices[0].message.content
        with pytest.raises(openai.RateLimitError):
            ask(server, "write it", step="code")
        assert "print(1)" in ask(server, "write it", step="code").choices[0].message.content


@pytest.mark.parametrize(("text", "expected"), [
    ("rules:\n  - step: a\n    respnse: x\n", "dry.yaml:2: rules[0].respnse: unknown key"),
    ("rules:\n  - response: x\n  - regex: '('\n    response: y\n", "dry.yaml:3: rules[1]: invalid regex"),
    ("rules:\n  - step: a\n", "dry.yaml:2: rules[0]: a rule needs exactly one of 'response' or 'responses'"),
    ("rules:\n  - response: x\n    fault: {status: 200}\n", "dry.yaml:2: rules[0]: status must be an HTTP"),
    ("rules:\n  - response: x\n    fault: {malformed: weird}\n", "rules[0]: malformed must be one of"),
    ("rules:\n  - response: x\n    faults: {status: 500}\n", "rules[0].faults must be a list"),
    ("rules: [\n", "dry.yaml:2: invalid YAML"),
    ("- just a list\n", "dry.yaml:1: a script is a mapping"),
    ("rulez: []\n", "dry.yaml:1: unknown key 'rulez'"),
    ("rules: []\n", "a script needs 'rules' (a list) or a 'default' answer"),
])
def test_bad_yaml_scripts_are_one_line_errors_with_file_and_line(tmp_path, text, expected):
    path = tmp_path / "dry.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        load_script(path)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_script_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read the script"):
        load_script(tmp_path / "nope.yaml")


def test_the_documented_script_example_loads_and_answers(tmp_path):
    docs = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    example = docs.split("### Script format", 1)[1].split("```yaml\n", 1)[1].split("```\n", 1)[0]
    path = tmp_path / "dry.yaml"
    path.write_text(example)
    with ScriptedServer(path) as server:
        assert ask(server, "go", step="reflect").choices[0].message.content.startswith("- the input")
        assert ask(server, "go", step="unknown").choices[0].message.content == "I do not know"


def test_a_callable_response_that_raises_is_a_500_naming_the_error(scripted_server):
    server = scripted_server([Rule(response=lambda request: 1 / 0)])
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        ask(server, "x")


@pytest.mark.parametrize(("text", "expected"), [
    ("rules:\n  - response: '4'\n    top_logprobs: [4, 5]\n", "top_logprobs must map tokens"),
    ("rules:\n  - response: '4'\n    top_logprobs: {'4': 0.5}\n", "top_logprobs must map tokens"),
    ("rules:\n  - response: x\n    latency_s: -1\n", "latency_s must be >= 0"),
    ("rules:\n  - response: x\n    latency_s: soon\n", "dry.yaml:2: rules[0].latency_s must be a number"),
    ("rules:\n  - response: x\n    fault: {status: '429'}\n", "rules[0].fault.status must be a number"),
])
def test_bad_rule_values_are_caught_when_loading(tmp_path, text, expected):
    path = tmp_path / "dry.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=re.escape(expected)):
        load_script(path)


def test_scripted_server_command_serves_a_script_until_stopped(tmp_path):
    import signal
    import subprocess
    import sys

    path = tmp_path / "dry.yaml"
    path.write_text(SCRIPT)
    command = [sys.executable, "-m", "alphaflow", "scripted-server", str(path), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        reply = openai.OpenAI(base_url=url, api_key="k", max_retries=0).chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "x"}],
            extra_headers={"X-Alphaflow-Step": "reflect"})
        assert reply.choices[0].message.content == "- the input is one integer\n"
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "step=reflect" in stderr and "rule=rules[0] status=200" in stderr


def test_scripted_server_command_checks_and_reports_bad_scripts(tmp_path, capsys):
    from alphaflow.cli import main

    path = tmp_path / "dry.yaml"
    path.write_text(SCRIPT)
    assert main(["scripted-server", str(path), "--check"]) == 0
    assert "3 rules, a default answer" in capsys.readouterr().out
    path.write_text("rules:\n  - step: a\n    respons: x\n")
    assert main(["scripted-server", str(path), "--check"]) == 2
    assert "dry.yaml:2: rules[0].respons: unknown key" in capsys.readouterr().err
