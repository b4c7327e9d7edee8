"""``alphaflow judge self-reward --train``: the closed loop on CPU. The scripted model generates and
judges (examples/train/dry_loop.yaml, as in the README dry run); a tiny random checkpoint is trained
with DPO each iteration, compared with its predecessor on held-out prompts, and the run resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from alphaflow.cli import main

pytest.importorskip("trl", reason="needs the local extra: pip install 'alphaflow[local]'")

from tiny_train_models import tiny_causal_lm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "train" / "dry_loop.yaml"
PROMPTS = ROOT / "examples" / "train" / "prompts.jsonl"


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm")


def loop(out: Path, base: Path, *extra: str) -> list[str]:
    return [
        "judge",
        "self-reward",
        "--prompts",
        str(PROMPTS),
        "--model",
        f"scripted:{SCRIPT}",
        "--train",
        "--train-base",
        str(base),
        "--iterations",
        "2",
        "--no-cache",
        "--train-options",
        "learning_rate=1e-3,max_steps=1,batch_size=4",
        "--heldout-max-tokens",
        "4",
        "--out",
        str(out),
        *extra,
    ]


def test_two_iterations_train_compare_and_resume(base_model, tmp_path, capsys):
    out = tmp_path / "loop"
    assert main(loop(out, base_model)) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "held-out W/L/T" in printed  # the side-by-side table
    rows = json.loads((out / "loop_summary.json").read_text())["iterations"]
    assert [row["iteration"] for row in rows] == [1, 2]
    first, second = rows
    # 5 prompts: the last is held out; each of the other 4 gives one pair (5 vs 0 points)
    assert first["pairs"] == second["pairs"] == 4 and first["tie_rate"] == 0
    assert first["mean_self_score"] == pytest.approx((5 + 4 + 2 + 0) / 4)
    assert first["trained_from"] == str(base_model)
    assert second["trained_from"] == str(out / "iteration_1" / "model")  # M_2 trains M_3
    assert first["heldout_prompts"] == 1 and first["ties"] == 1 and first["win_rate"] == 0.5
    for number in (1, 2):
        directory = out / f"iteration_{number}"
        assert (directory / "model" / "model.safetensors").is_file()
        assert (directory / "model" / "train_log.jsonl").read_text().strip()
        pairs = [json.loads(line) for line in (directory / "dpo.jsonl").read_text().splitlines()]
        assert all(
            p["chosen"].endswith("complete, with an example.") and p["rejected"] == "Off topic."
            for p in pairs
        )
        assert "Say hello." not in {p["prompt"] for p in pairs}  # held out of training
        (heldout,) = [json.loads(line) for line in (directory / "heldout.jsonl").read_text().splitlines()]
        assert heldout["prompt"] == "Say hello." and heldout["verdict"]["winner"] == "tie"

    # killed during iteration 2's training: its pairs survive, its checkpoint does not
    stamp = (out / "iteration_1" / "model" / "model.safetensors").stat().st_mtime_ns
    shutil.rmtree(out / "iteration_2" / "model")
    (out / "iteration_2" / "loop_stats.json").unlink()
    assert main(loop(out, base_model)) == 0
    printed = capsys.readouterr().out
    assert "iteration 1: done before" in printed and "iteration 2: pairs from" in printed
    assert (out / "iteration_1" / "model" / "model.safetensors").stat().st_mtime_ns == stamp
    assert (out / "iteration_2" / "model" / "model.safetensors").is_file()


def test_an_iteration_without_pairs_stops_the_loop_with_an_error(base_model, tmp_path, capsys):
    script = tmp_path / "ties.yaml"
    script.write_text(
        'rules:\n  - step: "per_prompt*.candidates"\n    response: "Same answer."\n'
        '  - step: "per_prompt*.grades"\n    response: "Score: 3"\n',
        encoding="utf-8",
    )
    argv = loop(tmp_path / "loop", base_model)
    argv[argv.index(f"scripted:{SCRIPT}")] = f"scripted:{script}"
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "iteration 1 produced no preference pairs" in err and "stats.json" in err
    assert not (tmp_path / "loop" / "iteration_1" / "model").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--next-model", "x"], "--next-model and --train exclude each other"),
        (["--train-options", "betta=1"], "--train-options: 'betta=1' is not KEY=VALUE"),
        (["--train-options", "beta=high"], "--train-options beta: 'high' is not a valid float"),
    ],
)
def test_bad_loop_flags_are_one_line_errors(base_model, tmp_path, capsys, extra, message):
    code = main(loop(tmp_path / "loop", base_model, *extra))
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_train_needs_a_local_checkpoint(tmp_path, capsys):
    argv = loop(tmp_path / "loop", tmp_path)
    argv.remove("--train-base")
    argv.remove(str(tmp_path))
    assert main(argv) == 2
    assert "--train needs a local checkpoint to train" in capsys.readouterr().err
