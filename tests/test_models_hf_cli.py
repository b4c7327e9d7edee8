"""hf: and proxy: models through the commands users run: run, solve, eval rubric, judge self-reward.

The models are tiny and random, so the answers are garbage: these tests assert that the runs complete
and record their tokens, and that a local judge's log-probabilities reach G-Eval's weighting.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_models import tiny_model  # noqa: E402

from alphaflow.cli import main  # noqa: E402
from alphaflow.trace import read_trace  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CPU = "device=cpu&dtype=float32&max_new_tokens=12"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_cli")
    return {
        "actor": tiny_model(root / "actor", seed=21),
        # a judge that answers with score tokens, in varying proportions
        "judge": tiny_model(root / "judge", seed=22, favoured=["1", "2", "3", "4", "5"]),
        "base": tiny_model(root / "base", seed=23, chat_template=False),
        "anti": tiny_model(root / "anti", seed=24, chat_template=False),
    }


def model_calls(trace: Path) -> list[dict]:
    return [e for e in read_trace(trace) if e["event"] == "model_call"]


def test_run_direct_flow_with_an_hf_model_records_tokens(models, tmp_path, capsys):
    problem = tmp_path / "p.json"
    tests = [{"input": "1 2\n", "output": "3\n"}]
    problem.write_text(
        json.dumps({"problem": {"name": "sum", "description": "Print a+b.", "public_tests": tests}})
    )
    trace = tmp_path / "t.jsonl"
    main(
        [
            "run",
            str(REPO / "flows" / "direct.yaml"),
            "--input-file",
            str(problem),
            "--input",
            "temperature=0",
            "--model",
            f"hf:{models['actor']}?{CPU}",
            "--sandbox",
            "local",
            "--trace",
            str(trace),
            "--json",
        ]
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["calls"] == 1 and payload["outputs"]["verdict"] != "AC"  # garbage, judged
    [call] = model_calls(trace)
    assert call["error"] is None and call["completion_tokens"] > 0 and call["cost_usd"] == 0.0


def test_solve_with_a_proxy_tuned_model(models, tmp_path):
    roles = f"base={models['base']},expert={models['actor']},anti={models['anti']}"
    proxy = f"proxy:{roles},device=cpu,max_new_tokens=12"
    problem = REPO / "examples" / "problems" / "makes_and_the_product.md"
    trace = tmp_path / "t.jsonl"
    main(
        [
            "solve",
            str(problem),
            "--flow",
            "direct",
            "--model",
            proxy,
            "--sandbox",
            "local",
            "--trace",
            str(trace),
        ]
    )
    [call] = model_calls(trace)
    assert call["error"] is None and call["answered_by"] == proxy and call["completion_tokens"] > 0


def test_geval_rubric_with_a_local_judge_weights_by_its_logprobs(models, tmp_path, capsys):
    data = tmp_path / "items.jsonl"
    items = [
        {"id": "a", "prompt": "Define entropy.", "response": "disorder"},
        {"id": "b", "prompt": "Add 2+2."},
    ]
    data.write_text("".join(json.dumps(item) + "\n" for item in items))
    out = tmp_path / "out"
    code = main(
        [
            "eval",
            "rubric",
            "--data",
            str(data),
            "--model",
            f"hf:{models['actor']}?{CPU}",
            "--judge-model",
            # one token: the judge answers with a single digit, as the rubric prompt asks
            f"hf:{models['judge']}?device=cpu&dtype=float32&max_new_tokens=1",
            "--no-cache",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    records = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    judged = [next(iter(r["judges"].values())) for r in records]
    assert [j["method"] for j in judged] == ["logprobs", "logprobs"]
    assert all(1 < j["score"] < 5 and j["score"] not in (2, 3, 4) for j in judged)  # weighted, not a digit
    assert records[1]["response"]  # the item without a response was answered by the hf: model


def test_a_self_rewarding_iteration_with_hf_models(models, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ["Name a prime.", "Explain tides."]))
    out = tmp_path / "out"
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts),
            "--model",
            f"hf:{models['actor']}?{CPU}",
            "--judge-model",
            # one token: the judge answers with a single digit, as the rubric prompt asks
            f"hf:{models['judge']}?device=cpu&dtype=float32&max_new_tokens=1",
            "--no-cache",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    stats = json.loads((out / "iteration_1" / "stats.json").read_text())
    # 4 unseeded samples per prompt from a random tiny model: one may be empty (EOS first), and is
    # dropped and reported rather than judged
    assert stats["prompts"] == 2 and stats["candidates"] + len(stats["dropped_samples"]) == 8
    assert stats["candidates"] >= 4 and stats["judge_samples"] == 3 * stats["candidates"]
    calls = model_calls(out / "trace.jsonl")
    assert len(calls) >= 4 and all(c["error"] is None and c["completion_tokens"] > 0 for c in calls)
