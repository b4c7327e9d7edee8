"""One self-rewarding iteration end to end: CLI -> engine -> litellm -> scripted HTTP server.

The scripted actor answers each prompt with 4 labelled candidates; the scripted judge grades each
candidate 3 times from a table, including answers without a score. The DPO file is asserted whole.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alphaflow.cli import main
from alphaflow.testing import Rule, ScriptedRequest

PROMPTS = ["Explain tides.", "Name a prime.", "Write a haiku."]
# judge answers per candidate (prompt index, candidate index) -> the 3 sampled grades
GRADES = {
    (0, 0): ["Score: 4", "Score: 5", "Relevant and thorough."],  # mean 4.5, one unparseable
    (0, 1): ["Score: 2", "Score: 2", "Score: 3"],
    (0, 2): ["Score: 3", "Score: 3", "Score: 3"],
    (0, 3): ["Score: 1", "It is off topic.", "no score"],  # mean 1.0, two unparseable
    (1, 0): ["Score: 3"] * 3,  # every candidate of prompt 1 ties at 3
    (1, 1): ["Score: 3"] * 3,
    (1, 2): ["Score: 3"] * 3,
    (1, 3): ["Score: 3"] * 3,
    (2, 0): ["hmm", "unsure", "cannot grade"],  # never readable: no mean, not a 0
    (2, 1): ["Score: 5", "Score: 5", "Score: 5"],
    (2, 2): ["Score: 4", "Score: 4", "Score: 4"],
    (2, 3): ["Score: 2", "Score: 3", "Score: 4"],
}


def actor(request: ScriptedRequest) -> str:
    prompt = PROMPTS.index(request.last_user)
    return f"answer {prompt}.{request.choice_index}"


def judge(request: ScriptedRequest) -> str:
    match = re.search(r"<answer>\nanswer (\d)\.(\d)\n</answer>", request.last_user)
    assert match, request.last_user
    grades = GRADES[(int(match[1]), int(match[2]))]
    return f"The answer was reviewed.\n{grades[request.choice_index]}"


RULES = [
    Rule(step="per_prompt*.candidates", response=actor),
    Rule(step="per_prompt*.grades", response=judge),
]


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_iteration_writes_the_dpo_pairs_and_statistics(scripted_server, prompts_file, tmp_path, capsys):
    server = scripted_server(RULES)
    out = tmp_path / "out"
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts_file),
            "--model",
            "openai/actor",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err

    # the DPO file: best mean vs worst mean per prompt; prompt 1 (all tied) gives no pair
    assert read_jsonl(out / "iteration_1" / "dpo.jsonl") == [
        {
            "prompt": "Explain tides.",
            "chosen": "answer 0.0",
            "rejected": "answer 0.3",
            "score_chosen": 4.5,
            "score_rejected": 1.0,
        },
        {
            "prompt": "Write a haiku.",
            "chosen": "answer 2.1",
            "rejected": "answer 2.3",
            "score_chosen": 5.0,
            "score_rejected": 3.0,
        },
    ]
    stats = json.loads((out / "iteration_1" / "stats.json").read_text())
    assert stats["prompts"] == 3 and stats["candidates"] == 12 and stats["judge_samples"] == 36
    assert (stats["pairs"], stats["ties"], stats["tie_rate"]) == (2, 1, pytest.approx(1 / 3))
    assert stats["parse_failures"] == 6 and stats["unscored_candidates"] == 1
    assert stats["tied_prompts"] == ["Name a prime."]
    # 30 readable samples = 36 - 6 unparseable
    assert stats["sample_score_counts"] == {"1": 1, "2": 3, "3": 17, "4": 5, "5": 4}
    # candidate means: 4.5, 7/3, 3, 1 | 3, 3, 3, 3 | 5, 4, 3 (the unreadable one has none)
    assert stats["score_histogram"] == {"0-1": 0, "1-2": 1, "2-3": 1, "3-4": 6, "4-5": 3}
    assert stats["actor"] == stats["judge"] == "openai/actor"

    candidates = read_jsonl(out / "iteration_1" / "candidates.jsonl")
    first = candidates[0]["candidates"][0]
    assert first["scores"] == [4.0, 5.0, None] and first["mean"] == 4.5 and first["unparseable"] == 1
    assert candidates[2]["candidates"][0]["mean"] is None  # unreadable is excluded, never a 0

    # the paper's sampling: 4 candidates at temperature 0.7, top_p 0.9; 3 judge samples each
    generation = server.calls(rule="rules[0]")
    assert len(generation) == 3 and {c.n for c in generation} == {4}
    assert {(c.body["temperature"], c.body["top_p"]) for c in generation} == {(0.7, 0.9)}
    grading = server.calls(rule="rules[1]")
    assert len(grading) == 12 and {c.n for c in grading} == {3}
    assert "Score: <a whole number from 0 to 5>" in grading[0].last_user

    printed = capsys.readouterr().out
    assert "pairs 2, ties 1 (tie rate 33%)" in printed and "parse failures 6" in printed


def test_judge_model_and_next_models_per_iteration(scripted_server, prompts_file, tmp_path, capsys):
    server = scripted_server(RULES)
    out = tmp_path / "out"
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts_file),
            "--model",
            "openai/m1",
            "--next-model",
            "openai/m2",
            "--iterations",
            "2",
            "--judge-model",
            "openai/judge",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(out),
            "--limit",
            "1",
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    generation_models = [c.model for c in server.calls(rule="rules[0]")]
    assert generation_models == ["m1", "m2"]  # M1 then M2, one prompt each
    assert {c.model for c in server.calls(rule="rules[1]")} == {"judge"}
    summary = json.loads(capsys.readouterr().out)
    assert [(i["actor"], i["judge"], i["pairs"]) for i in summary["iterations"]] == [
        ("openai/m1", "openai/judge", 1),
        ("openai/m2", "openai/judge", 1),
    ]
    assert (out / "iteration_2" / "dpo.jsonl").is_file()


def test_self_instruction_answers_the_new_prompts(scripted_server, prompts_file, tmp_path, capsys):
    new = {0: "Task: Describe a volcano.", 1: "   "}  # the second answer is unusable

    def writer(request: ScriptedRequest) -> str:
        return new[request.rule_call]

    def new_actor(request: ScriptedRequest) -> str:
        return f"answer 0.{request.choice_index}"  # reuse prompt 0's grades

    server = scripted_server(
        [
            Rule(step="self_instruct*.new_prompt_answer", response=writer),
            Rule(step="per_prompt*.candidates", response=new_actor),
            Rule(step="per_prompt*.grades", response=judge),
        ]
    )
    out = tmp_path / "out"
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts_file),
            "--model",
            "openai/actor",
            "--new-prompts",
            "2",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    few_shot = server.calls(rule="rules[0]")
    assert len(few_shot) == 2 and all(p in few_shot[0].last_user for p in PROMPTS)
    (pair,) = read_jsonl(out / "iteration_1" / "dpo.jsonl")
    assert pair["prompt"] == "Describe a volcano."
    stats = json.loads((out / "iteration_1" / "stats.json").read_text())
    assert (stats["generated_prompts"], stats["unusable_generated_prompts"], stats["prompts"]) == (2, 1, 1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--iterations", "3", "--next-model", "openai/m2"],
            "--next-model given 1 time(s) for --iterations 3",
        ),
        (["--iterations", "0"], "--iterations must be at least 1"),
        (["--weights", "public=x"], "--weights: weight 'public' needs a number"),
    ],
)
def test_bad_flags_are_one_line_errors(prompts_file, tmp_path, capsys, extra, message):
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts_file),
            "--model",
            "openai/a",
            "--out",
            str(tmp_path / "o"),
            *extra,
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_empty_and_malformed_prompts_files(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert (
        main(
            [
                "judge",
                "self-reward",
                "--prompts",
                str(empty),
                "--model",
                "openai/a",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert f"{empty}:1: no prompts in the file" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "fine"}\n{"prompt": \n', encoding="utf-8")
    assert (
        main(
            [
                "judge",
                "self-reward",
                "--prompts",
                str(broken),
                "--model",
                "openai/a",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert f"{broken}:2: not a JSON line" in capsys.readouterr().err


def test_actor_and_judge_on_two_openai_compatible_servers(
    scripted_server, prompts_file, tmp_path, capsys, monkeypatch
):
    """As with vLLM: the actor on one server (openai/ + OPENAI_API_BASE), the judge on another
    (hosted_vllm/ + HOSTED_VLLM_API_BASE); the flows need no change."""
    actor_server = scripted_server([Rule(model="actor", response=actor)])
    judge_server = scripted_server([Rule(model="judge", response=judge)])
    monkeypatch.setenv("OPENAI_API_BASE", actor_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-server-needs-none")
    monkeypatch.setenv("HOSTED_VLLM_API_BASE", judge_server.base_url)
    out = tmp_path / "out"
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts_file),
            "--model",
            "openai/actor",
            "--judge-model",
            "hosted_vllm/judge",
            "--no-cache",
            "--out",
            str(out),
            "--limit",
            "1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert len(actor_server.calls()) == 1 and len(judge_server.calls()) == 4
    (pair,) = read_jsonl(out / "iteration_1" / "dpo.jsonl")
    assert (pair["chosen"], pair["rejected"]) == ("answer 0.0", "answer 0.3")
