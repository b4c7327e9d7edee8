"""Judge figures a user reads, through the CLI against the cases' stdlib OpenAI-compatible server:
the G-Eval weight taken at the score token (case 11), a null sample among n dropped and counted
(case 12), unreadable counted one way everywhere, and runs where nothing succeeded exiting 1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alphaflow.cli import main
from alphaflow.judge.scores import locate_score, weighted_score_from_logprobs
from alphaflow.step_functions.judging import rubric_score

CASES = Path(__file__).parent / "fixtures" / "cases"
FAKE_SERVER = CASES / "11-geval-score-token" / "fake_openai.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fake_openai(tmp_path: Path) -> Iterator[Callable[[Path | dict], str]]:
    """Start ``fake_openai.py CONFIG PORT`` on 127.0.0.1; returns its base URL (``.../v1``)."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(config: Path | dict) -> str:
        if isinstance(config, dict):
            path = tmp_path / f"config{len(processes)}.json"
            path.write_text(json.dumps(config))
            config = path
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, str(FAKE_SERVER), str(config), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return f"http://127.0.0.1:{port}/v1"
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("fake_openai.py did not start")

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def run_cli(command: list[str], case: str, url: str, out: Path) -> int:
    """``alphaflow COMMAND ... --api-base URL --out OUT --no-cache`` on a case's input file."""
    inputs = {"eval": ["--data", str(CASES / case / "items.jsonl"), "--judge-model", "openai/judge"]}
    given = inputs.get(command[0], ["--prompts", str(CASES / case / "prompts.jsonl"), "--model", "openai/m"])
    return main([*command, *given, "--api-base", url, "--out", str(out), "--no-cache"])


def test_case_11_the_score_token_is_weighted_not_the_denominator(
    fake_openai: Callable[[Path], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    url = fake_openai(CASES / "11-geval-score-token" / "judge.json")
    assert run_cli(["eval", "rubric"], "11-geval-score-token", url, out) == 0
    terminal = capsys.readouterr().out
    # (4 e^-0.105 + 3 e^-2.4 + 5 e^-3.5) / (e^-0.105 + e^-2.4 + e^-3.5) = 3.9407
    assert "3.941" in terminal
    item = json.loads((out / "items.jsonl").read_text())["judges"]["openai/judge"]
    assert item["score"] == pytest.approx(3.9407, abs=1e-4)
    assert (item["method"], item["parsed"], item["unparseable"], item["unreadable"]) == (
        "logprobs",
        [4.0],
        0,
        False,
    )
    figure = json.loads((out / "summary.json").read_text())["judges"]["openai/judge"]
    assert (figure["judged"], figure["unreadable"]) == (1, 0)


def tokens(*pieces: tuple[str, float, dict[str, float]]) -> list[dict]:
    return [
        {
            "token": token,
            "logprob": logprob,
            "top_logprobs": [{"token": t, "logprob": lp} for t, lp in {token: logprob, **alts}.items()],
        }
        for token, logprob, alts in pieces
    ]


def test_the_weight_is_taken_at_the_token_that_carries_the_parsed_score() -> None:
    # "Score: 4" then prose with other digits: the 4 is weighted, not the last digit
    content = tokens(("Score", 0, {}), (":", 0, {}), (" ", 0, {}), ("4", -0.1, {"3": -2.4}), ("\n", 0, {}))
    content += tokens(("(", 0, {}), ("2", 0, {"5": -0.1}), (" points off)", 0, {}))
    expected = (4 * 0.904837 + 3 * 0.090718) / (0.904837 + 0.090718)
    assert weighted_score_from_logprobs({"content": content}) == pytest.approx(expected, abs=1e-5)
    # "4/5" (tokens 4, /, 5): the numerator
    content = tokens(("4", -0.1, {"3": -2.4}), ("/", 0, {}), ("5", 0, {}))
    assert weighted_score_from_logprobs({"content": content}, text="4/5") == pytest.approx(expected, abs=1e-5)
    assert locate_score("4/5", low=1, high=5).value == 4.0  # type: ignore[union-attr]
    assert locate_score("8/10", low=1, high=5) is None
    # the score split over several tokens or not a whole choice: fall back to the parsed score
    split = tokens(("3", -0.1, {}), (".5", -0.1, {}))
    result = rubric_score({"value": ["3.5"], "logprobs": [split]})
    assert (result["score"], result["method"]) == (3.5, "parsed")
    # tokens that do not spell the answer are not trusted either
    assert weighted_score_from_logprobs({"content": tokens(("5", 0, {}))}, text="4") is None


def test_unreadable_is_counted_the_same_in_item_table_and_json(
    fake_openai: Callable[[dict], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbled = {"content": "five-ish", "tokens": [["five", -0.1, {"5": -0.2}], ["-ish", 0.0, {}]]}
    url = fake_openai({"rules": [{"step": "judged*rating", "choices": [garbled]}]})
    out = tmp_path / "eval"
    assert run_cli(["eval", "rubric"], "11-geval-score-token", url, out) == 1  # nothing was judged
    captured = capsys.readouterr()
    assert "alphaflow: error: no item got a readable judgement" in captured.err
    item = json.loads((out / "items.jsonl").read_text())["judges"]["openai/judge"]
    assert item["score"] is None and item["unreadable"] is True and item["unparseable"] == 1
    figure = json.loads((out / "summary.json").read_text())["judges"]["openai/judge"]
    assert (figure["judged"], figure["unreadable"]) == (0, 1)
    assert "| openai/judge | 1 | 0 | 1 | 0 | n/a |" in (out / "report.md").read_text()


def test_case_12_a_null_sample_is_dropped_and_counted_the_others_go_on(
    fake_openai: Callable[[Path], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sr"
    url = fake_openai(CASES / "12-null-content-sample" / "model.json")
    assert run_cli(["judge", "self-reward"], "12-null-content-sample", url, out) == 0
    terminal = capsys.readouterr().out
    assert "prompts 1, candidates 3, judge samples 9" in terminal
    assert "pairs 1" in terminal
    assert (
        "failures: 0 failed prompt(s), 0 failed step(s), 1 dropped sample(s); "
        "first: per_prompt[0].candidates: sample 3 of 4 came back empty" in terminal
    )
    pair = json.loads((out / "iteration_1" / "dpo.jsonl").read_text())
    assert (pair["score_chosen"], pair["score_rejected"]) == (4.0, 0.0)
    assert pair["rejected"] == "Python is a snake."
    stats = json.loads((out / "iteration_1" / "stats.json").read_text())
    assert stats["candidates"] == 3 and stats["dropped_samples"] == [
        "per_prompt[0].candidates: sample 3 of 4 came back empty (the answer was cut at max_tokens: "
        "finish_reason length; raise the step's max_tokens)"  # model.json: content null, finish_reason length
    ]


def test_self_reward_where_every_prompt_failed_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert run_cli(["judge", "self-reward"], "12-null-content-sample", url, tmp_path / "sr") == 1
    err = capsys.readouterr().err
    assert "alphaflow: error: every prompt failed; first: per_prompt[0].candidates: " in err
    assert f"cannot connect to {url} (connection refused)" in err


def test_every_sample_null_fails_the_step_with_the_finish_reason(
    fake_openai: Callable[[dict], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    null = {"content": None, "finish_reason": "content_filter"}
    url = fake_openai({"rules": [{"step": "per_prompt*candidates", "choices": [null]}]})
    assert run_cli(["judge", "self-reward"], "12-null-content-sample", url, tmp_path / "sr") == 1
    captured = capsys.readouterr()
    assert "the model returned no text (finish_reason=content_filter)" in captured.err
    assert "failures: 1 failed prompt(s)" in captured.out


def test_unknown_provider_is_one_line_before_any_call(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    case = CASES / "12-null-content-sample"
    argv = ["judge", "self-reward", "--prompts", str(case / "prompts.jsonl"), "--model", "nosuchprovider/foo"]
    assert main([*argv, "--out", str(tmp_path / "sr")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model 'nosuchprovider/foo' (--model" in err[0]
    assert "unknown provider 'nosuchprovider'" in err[0]
    assert not (tmp_path / "sr" / "iteration_1").exists()


def test_an_unusable_sample_among_n_is_dropped_and_the_others_go_on(
    scripted_server: Callable[..., object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "three.yaml"
    flow.write_text(
        "name: three\nsteps:\n  - id: code\n    kind: llm\n    user: write a program\n    samples: 3\n"
        "    repair_attempts: 0\n    output: {format: code, language: python}\n"
        "outputs:\n  code: '{{ code }}'\n"
    )
    answers = ["```python\nprint(1)\n```", "   \n", "```python\nprint(3)\n```"]
    server = scripted_server([{"step": "code", "responses": answers}])
    argv = ["run", str(flow), "--model", "openai/x", "--api-base", server.base_url, "--json", "--no-cache"]  # type: ignore[attr-defined]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outputs"]["code"] == ["print(1)\n", "print(3)\n"]
    assert result["dropped_samples"] == ["code: sample 2 of 3 came back empty"]
    # none usable: the step fails, naming the first reason
    server = scripted_server([{"step": "code", "responses": ["", "```python\n```"]}])
    argv[argv.index("--api-base") + 1] = server.base_url  # type: ignore[attr-defined]
    assert main(argv) == 1
    assert "all 3 samples unusable; first: sample 1 of 3 came back empty" in capsys.readouterr().err


def test_self_reward_where_every_judge_call_fails_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scripted_server: Callable[..., Any]
) -> None:
    """Candidates come back, every judge call fails: no pair can be built, so the run is no success."""
    server = scripted_server(
        [
            {"step": "*grades", "response": "x", "fault": {"status": 400}},
            {"step": "*", "response": "An answer."},
        ]
    )
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Name a colour."}\n{"prompt": "Name a fruit."}\n')
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts),
            "--model",
            "openai/x",
            "--api-base",
            server.base_url,
            "--max-retries",
            "0",
            "--out",
            str(tmp_path / "sr"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "no candidate got a readable judgement" in err
