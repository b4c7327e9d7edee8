"""Reward models: ``train-rm`` (TRL's reward trainer) trains M models from one base, ``warm`` averages
their weights tensor by tensor and refuses models it cannot average, and ``rm:`` / ``rm-ensemble:``
judge a self-rewarding iteration and a rubric evaluation through the model router."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest

from alphaflow.cli import main

pytest.importorskip("trl", reason="needs the local extra: pip install 'alphaflow[local]'")

from tiny_train_models import tiny_causal_lm, tiny_reward_base  # noqa: E402

PAIRS = [
    {"prompt": "Explain tides.", "chosen": "The moon pulls the sea.", "rejected": "Off topic."},
    {"prompt": "Name a prime.", "chosen": "Seven is a prime.", "rejected": "Eight."},
    {"prompt": "Write a haiku.", "chosen": "Old pond, a frog jumps in.", "rejected": "No."},
    {"prompt": "Say hello.", "chosen": "Hello!", "rejected": "Go away."},
]
PROMPTS = ["Explain tides.", "Name a prime."]
CANDIDATES = ["The moon pulls the sea.", "Off topic.", "Seven is a prime.", "Old pond."]


def load(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


@pytest.fixture(scope="module")
def reward_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two reward models trained by the CLI from one tiny causal LM (the expensive part, shared)."""
    root = tmp_path_factory.mktemp("rm")
    base = tiny_causal_lm(root / "lm")
    pairs = root / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS), encoding="utf-8")
    code = main(
        [
            "judge",
            "train-rm",
            "--pairs",
            str(pairs),
            "--base",
            str(base),
            "--seeds",
            "2",
            "--learning-rates",
            "1e-3,5e-4",
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--json",
            "--out",
            str(root / "rms"),
        ]
    )
    assert code == 0
    return root / "rms"


def test_train_rm_trains_two_reward_models_from_one_shared_init(reward_models):
    provenance = [
        json.loads((reward_models / f"rm_{i}" / "alphaflow_reward_model.json").read_text()) for i in range(2)
    ]
    assert [p["seed"] for p in provenance] == [0, 1]
    assert [p["learning_rate"] for p in provenance] == [1e-3, 5e-4]
    assert provenance[0]["init_sha256"] == provenance[1]["init_sha256"]
    for index in range(2):
        summary = json.loads((reward_models / f"rm_{index}" / "train_summary.json").read_text())
        assert summary["steps"] == 2 and math.isfinite(summary["train_loss"])
        from transformers import AutoConfig

        assert AutoConfig.from_pretrained(reward_models / f"rm_{index}").num_labels == 1
    first, second, init = (
        load(reward_models / "rm_0"),
        load(reward_models / "rm_1"),
        load(reward_models / "init"),
    )
    assert "score.weight" in first
    assert any(not first[name].equal(second[name]) for name in first)  # different seeds and rates
    assert any(not first[name].equal(init[name]) for name in first)  # trained away from the init


def test_warm_writes_the_elementwise_weighted_mean(reward_models, tmp_path, capsys):
    merged = tmp_path / "warm"
    code = main(
        [
            "judge",
            "warm",
            "--reward-models",
            str(reward_models / "rm_0"),
            str(reward_models / "rm_1"),
            "--weights",
            "3",
            "1",
            "--out",
            str(merged),
        ]
    )
    assert code == 0, capsys.readouterr().err
    first, second, average = load(reward_models / "rm_0"), load(reward_models / "rm_1"), load(merged)
    assert average.keys() == first.keys()
    for name, tensor in average.items():  # tensor by tensor
        expected = (0.75 * first[name].double() + 0.25 * second[name].double()).to(first[name].dtype)
        assert tensor.dtype == first[name].dtype and tensor.equal(expected), name
    assert (merged / "tokenizer.json").is_file() and (merged / "config.json").is_file()
    assert json.loads((merged / "warm.json").read_text())["weights"] == [0.75, 0.25]
    assert not (merged / "train_log.jsonl").exists()  # one model's log does not describe the merge


def test_warm_refuses_a_model_with_another_architecture(reward_models, tmp_path, capsys):
    other = tiny_reward_base(tmp_path / "wide", hidden_size=48)
    code = main(
        [
            "judge",
            "warm",
            "--reward-models",
            str(reward_models / "rm_0"),
            str(other),
            "--out",
            str(tmp_path / "warm"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "tensor 'model.embed_tokens.weight' is F32[384, 48]" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "warm").exists()


def test_warm_names_the_first_mismatching_tensor(reward_models, tmp_path, capsys):
    import torch
    from safetensors.torch import save_file

    broken = tmp_path / "broken"
    shutil.copytree(reward_models / "rm_1", broken)
    weights = load(broken)
    weights["score.weight"] = torch.zeros(2, weights["score.weight"].shape[1])  # a two-output head
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})
    code = main(
        [
            "judge",
            "warm",
            "--reward-models",
            str(reward_models / "rm_0"),
            str(broken),
            "--out",
            str(tmp_path / "warm"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "tensor 'score.weight'" in err and "[2, 32]" in err


def test_warm_refuses_models_fine_tuned_from_another_init(reward_models, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(reward_models / "rm_1", other)
    provenance = json.loads((other / "alphaflow_reward_model.json").read_text())
    provenance["init_sha256"] = "0" * 64
    (other / "alphaflow_reward_model.json").write_text(json.dumps(provenance))
    code = main(
        [
            "judge",
            "warm",
            "--reward-models",
            str(reward_models / "rm_0"),
            str(other),
            "--out",
            str(tmp_path / "warm"),
        ]
    )
    assert code == 2 and "another initialisation" in capsys.readouterr().err


def scripted_iteration(scripted_server, tmp_path: Path, judge: str, capsys) -> dict:
    server = scripted_server([{"step": "per_prompt*.candidates", "responses": CANDIDATES * 2}])
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS), encoding="utf-8")
    out = tmp_path / "out"
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts),
            "--model",
            "openai/actor",
            "--api-base",
            server.base_url,
            "--judge-model",
            judge,
            "--no-cache",
            "--model-concurrency",
            "1",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    return {
        "stats": json.loads((out / "iteration_1" / "stats.json").read_text()),
        "records": [json.loads(line) for line in (out / "iteration_1" / "candidates.jsonl").open()],
    }


def rewards_of(paths: list[Path], prompt: str, responses: list[str]) -> list[float]:
    from alphaflow.models.reward_model import RewardModel

    per_model = [RewardModel(path).score([(prompt, r) for r in responses]) for path in paths]
    return [sum(values) / len(values) for values in zip(*per_model, strict=True)]


@pytest.mark.parametrize("ensemble", [False, True], ids=["rm", "rm-ensemble"])
def test_reward_model_judges_score_a_self_rewarding_iteration(
    reward_models, scripted_server, tmp_path, capsys, ensemble
):
    from alphaflow.models.reward_model import sigmoid_score

    paths = [reward_models / "rm_0", reward_models / "rm_1"] if ensemble else [reward_models / "rm_0"]
    judge = ("rm-ensemble:" + ",".join(map(str, paths))) if ensemble else f"rm:{paths[0]}"
    result = scripted_iteration(scripted_server, tmp_path, judge, capsys)
    assert result["stats"]["judge"] == judge and result["stats"]["parse_failures"] == 0
    for record in result["records"]:
        responses = [c["response"] for c in record["candidates"]]
        expected = rewards_of(paths, record["prompt"], responses)
        for candidate, reward in zip(record["candidates"], expected, strict=True):
            assert (
                len(candidate["judgements"]) == 3 and len(set(candidate["judgements"])) == 1
            )  # deterministic
            found = float(re.search(r"Reward: (\S+)", candidate["judgements"][0])[1])
            assert found == pytest.approx(reward, abs=1e-5)
            assert candidate["mean"] == pytest.approx(sigmoid_score(reward), abs=1e-5)
        if record["status"] == "pair":  # best reward chosen, worst rejected
            assert record["pair"]["chosen"] == responses[expected.index(max(expected))]
            assert record["pair"]["rejected"] == responses[expected.index(min(expected))]


def test_a_reward_model_grades_a_rubric_evaluation(reward_models, tmp_path, capsys):
    items = tmp_path / "items.jsonl"
    items.write_text(
        json.dumps({"id": "a", "prompt": "Explain tides.", "response": "The moon pulls the sea."}) + "\n",
        encoding="utf-8",
    )
    code = main(
        [
            "eval",
            "rubric",
            "--data",
            str(items),
            "--judge-model",
            f"rm:{reward_models / 'rm_0'}",
            "--no-cache",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    (figure,) = summary["judges"].values()
    assert figure["judged"] == 1 and 1 <= figure["value"]["mean"] <= 5


def test_a_reward_model_cannot_give_a_reference_verdict(reward_models, tmp_path, capsys):
    items = tmp_path / "items.jsonl"
    items.write_text(
        json.dumps({"id": "a", "prompt": "2+2?", "reference": "4", "response": "4"}) + "\n", encoding="utf-8"
    )
    code = main(
        [
            "eval",
            "reference",
            "--data",
            str(items),
            "--judge-model",
            f"rm:{reward_models / 'rm_0'}",
            "--no-cache",
            "--json",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "not correct/incorrect verdicts" in err and len(err.strip().splitlines()) == 1


def test_a_reward_model_string_naming_no_checkpoint_is_a_one_line_error(tmp_path, scripted_server, capsys):
    server = scripted_server([{"step": "per_prompt*.candidates", "responses": CANDIDATES}])
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "Explain tides."}) + "\n", encoding="utf-8")
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts),
            "--model",
            "openai/actor",
            "--api-base",
            server.base_url,
            "--judge-model",
            f"rm:{tmp_path / 'missing'}",
            "--no-cache",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "not a model checkpoint directory" in err and len(err.strip().splitlines()) == 1
