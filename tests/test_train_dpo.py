"""``alphaflow judge train-dpo``: TRL's DPOTrainer on alphaflow's pairs file, on CPU with a tiny
random model; the checkpoint it writes loads and generates; bad pairs files are one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from alphaflow.cli import main

pytest.importorskip("trl", reason="needs the local extra: pip install 'alphaflow[local]'")

from tiny_train_models import tiny_causal_lm  # noqa: E402

PAIRS = [
    {
        "prompt": "Explain tides.",
        "chosen": "The moon pulls the sea.",
        "rejected": "Off topic.",
        "score_chosen": 5.0,
        "score_rejected": 0.0,
    },
    {
        "prompt": "Name a prime.",
        "chosen": "Seven is a prime.",
        "rejected": "Eight.",
        "score_chosen": 4.0,
        "score_rejected": 1.0,
    },
    {
        "prompt": "Write a haiku.",
        "chosen": "Old pond, a frog jumps in.",
        "rejected": "No.",
        "score_chosen": 4.5,
        "score_rejected": 2.0,
    },
]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm")


def state(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def train(tmp_path: Path, base: Path, out: Path, *extra: str, capsys) -> dict:
    pairs = write_jsonl(tmp_path / "dpo.jsonl", PAIRS)
    code = main(
        [
            "judge",
            "train-dpo",
            "--pairs",
            str(pairs),
            "--model",
            str(base),
            "--out",
            str(out),
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--learning-rate",
            "1e-3",
            "--json",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out.strip().splitlines()[-1])


def test_train_dpo_runs_steps_with_finite_loss_and_the_checkpoint_generates(base_model, tmp_path, capsys):
    out = tmp_path / "m2"
    summary = train(tmp_path, base_model, out, capsys=capsys)
    assert summary["steps"] == 2 and summary["pairs"] == 3 and summary["options"]["beta"] == 0.1
    assert math.isfinite(summary["final_loss"]) and math.isfinite(summary["final_reward_margin"])
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [record for record in log if "loss" in record]
    assert [r["step"] for r in steps] == [1, 2]
    assert all("rewards/margins" in r and math.isfinite(r["loss"]) for r in steps)
    assert json.loads((out / "train_summary.json").read_text())["final_loss"] == summary["final_loss"]
    # the weights moved, and the checkpoint is a plain HF one that loads and generates
    before, after = state(base_model), state(out)
    assert before.keys() == after.keys()
    assert any(not before[name].equal(after[name]) for name in before)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Explain tides."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert output.shape[1] > inputs["input_ids"].shape[1]


def test_lora_training_saves_merged_weights(base_model, tmp_path, capsys):
    out = tmp_path / "lora"
    summary = train(tmp_path, base_model, out, "--lora", "--lora-r", "4", capsys=capsys)
    assert summary["options"]["lora"] is True
    weights = state(out)
    assert not any("lora" in name for name in weights)  # merged: hf:DIR needs no peft
    assert weights.keys() == state(base_model).keys()
    assert not (out / "adapter_config.json").exists()


def test_the_checkpoint_loads_with_the_hf_backend(base_model, tmp_path, capsys):
    pytest.importorskip(
        "alphaflow.models.hf", reason="the in-process hf: backend (issue 12) is not in this build"
    )
    import asyncio

    from alphaflow.models import CompletionRequest, build_router

    out = tmp_path / "m2"
    train(tmp_path, base_model, out, capsys=capsys)
    router = build_router(f"hf:{out}")
    try:
        completion = asyncio.run(
            router.complete(
                CompletionRequest(
                    model=f"hf:{out}",
                    messages=[{"role": "user", "content": "Explain tides."}],
                    max_tokens=5,
                    temperature=0,
                )
            )
        )
    finally:
        router.close()
    assert completion.completion_tokens > 0


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ['{"prompt": "p", "chosen": "a", "rejected": "b"}', '{"prompt": "p", "chosen": "a"}'],
            "dpo.jsonl:2: missing field 'rejected'",
        ),
        (['{"prompt": "p", "chosen": "a", "rejected": "b"}', "not json"], "dpo.jsonl:2: not a JSON line"),
        (['{"prompt": "p", "chosen": 3, "rejected": "b"}'], "dpo.jsonl:1: field 'chosen' must be a string"),
        (['{"prompt": "  ", "chosen": "a", "rejected": "b"}'], "dpo.jsonl:1: field 'prompt' is empty"),
        (["[1, 2]"], "dpo.jsonl:1: expected a JSON object"),
        ([""], "dpo.jsonl: no preference pairs"),
    ],
)
def test_a_bad_pairs_file_is_a_one_line_error_naming_file_and_line(tmp_path, capsys, lines, message):
    pairs = tmp_path / "dpo.jsonl"
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(
        [
            "judge",
            "train-dpo",
            "--pairs",
            str(pairs),
            "--model",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_missing_checkpoint_and_bad_options_are_named(tmp_path, capsys):
    pairs = write_jsonl(tmp_path / "dpo.jsonl", PAIRS)
    code = main(
        [
            "judge",
            "train-dpo",
            "--pairs",
            str(pairs),
            "--model",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2 and "--model" in capsys.readouterr().err
    code = main(
        [
            "judge",
            "train-dpo",
            "--pairs",
            str(pairs),
            "--model",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--beta",
            "0",
        ]
    )
    assert code == 2 and "beta must be positive" in capsys.readouterr().err


def test_without_the_local_extra_the_error_names_it(tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "trl", None)  # as if trl were not installed
    pairs = write_jsonl(tmp_path / "dpo.jsonl", PAIRS)
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    code = main(
        [
            "judge",
            "train-dpo",
            "--pairs",
            str(pairs),
            "--model",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'alphaflow[local]'" in err and len(err.strip().splitlines()) == 1
