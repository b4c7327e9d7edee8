"""The evaluation pipelines end to end with scripted judges over real HTTP: rubric (with
log-probabilities), pairwise (with the position swap) and reference-based correctness."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from alphaflow.cli import main
from alphaflow.testing import Rule, ScriptedRequest


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def between(text: str, tag: str) -> str:
    match = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.DOTALL)
    assert match, text
    return match[1]


def test_rubric_weights_scores_by_probability_and_compares_judges(scripted_server, tmp_path, capsys):
    data = write_jsonl(
        tmp_path / "items.jsonl",
        [
            {"id": "a", "prompt": "Define entropy.", "response": "good answer"},
            {"id": "b", "prompt": "Define enthalpy.", "response": "weak answer"},
            {"id": "c", "prompt": "Define energy."},  # no response: the --model answers it
        ],
    )

    def strict(request: ScriptedRequest) -> str:
        answer = between(request.last_user, "answer")
        return {"good answer": "5", "weak answer": "2"}.get(answer, "3")

    def lenient(request: ScriptedRequest) -> str:
        answer = between(request.last_user, "answer")
        return {"good answer": "5", "weak answer": "4"}.get(answer, "I cannot rate this.")

    # the first judge's first token comes with alternatives: p(4) = 0.6, p(3) = 0.3, p(5) = 0.1
    alternatives = {"4": math.log(0.6), "3": math.log(0.3), "5": math.log(0.1)}
    server = scripted_server(
        [
            Rule(step="answer", response="generated answer"),
            Rule(step="judged*.rating", model="strict", response=strict, top_logprobs=alternatives),
            Rule(step="judged*.rating", model="lenient", response=lenient),
        ]
    )
    out = tmp_path / "out"
    code = main(
        [
            "eval",
            "rubric",
            "--data",
            str(data),
            "--model",
            "openai/actor",
            "--judge-model",
            "openai/strict",
            "--judge-model",
            "openai/lenient",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err

    records = {r["id"]: r for r in read_jsonl(out / "items.jsonl")}
    # the probability-weighted mean over the score tokens, not the sampled digit: for "5" and "3"
    # the alternatives are 4 (0.6), 3 (0.3), 5 (0.1); for "2" the server adds the sampled token
    # at the top probability, 0.6, before renormalising
    weighted = {"a": 4 * 0.6 + 3 * 0.3 + 5 * 0.1, "b": (4 * 0.6 + 3 * 0.3 + 5 * 0.1 + 2 * 0.6) / 1.6}
    weighted["c"] = weighted["a"]
    for item in "abc":
        assert records[item]["judges"]["openai/strict"]["score"] == pytest.approx(weighted[item])
        assert records[item]["judges"]["openai/strict"]["method"] == "logprobs"
    assert records["b"]["judges"]["openai/strict"]["parsed"] == [2.0]
    assert records["a"]["judges"]["openai/lenient"]["score"] == 5.0
    assert records["b"]["judges"]["openai/lenient"]["score"] == 4.0  # no alternatives: the digit itself
    assert records["c"]["response"] == "generated answer"
    assert records["c"]["judges"]["openai/lenient"]["score"] is None  # unreadable: excluded
    assert len(server.calls("answer")) == 1  # only the item without a response was answered
    # the judge was asked for the alternatives of each token
    assert {c.body.get("top_logprobs") for c in server.calls() if c.step != "answer"} == {5}

    summary = json.loads((out / "summary.json").read_text())
    assert summary["judges"]["openai/lenient"]["unreadable"] == 1
    assert summary["judges"]["openai/lenient"]["value"]["mean"] == pytest.approx(4.5)
    agreement = summary["agreement"][0]
    # on the two items both judges read, they rank a above b
    assert (agreement["statistic"], agreement["items"], agreement["value"]) == (
        "spearman",
        2,
        pytest.approx(1.0),
    )
    assert "| openai/strict | 3 | 3 | 0 | 0 | 3.575 [" in (out / "report.md").read_text()
    assert "<table>" in (out / "report.html").read_text()
    printed = capsys.readouterr().out
    assert "Agreement between judges" in printed


def test_pairwise_asks_twice_with_positions_swapped(scripted_server, tmp_path, capsys):
    data = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {
                "id": "clear",
                "prompt": "Sort a list.",
                "response_a": "weak: use bubble sort",
                "response_b": "strong: use sorted()",
            },
            {
                "id": "biased",
                "prompt": "Reverse a string.",
                "response_a": "s[::-1]",
                "response_b": "reversed(s)",
            },
            {"id": "model", "prompt": "Add numbers.", "response_a": "strong: a + b"},
        ],
    )

    def fair(request: ScriptedRequest) -> str:
        first, second = between(request.last_user, "answer_A"), between(request.last_user, "answer_B")
        if first.startswith("strong") or second.startswith("strong"):
            winner = "A" if first.startswith("strong") else "B"
            if first.startswith("strong") and second.startswith("strong"):
                winner = "tie"
            return f"Compared.\nWinner: {winner}"
        return "Compared.\nWinner: A"  # no signal: this judge picks whatever comes first

    server = scripted_server(
        [
            Rule(step="answer", response="weak: a - b"),
            Rule(step="judged*.verdict", response=fair),
        ]
    )
    out = tmp_path / "out"
    code = main(
        [
            "eval",
            "pairwise",
            "--data",
            str(data),
            "--model",
            "openai/actor",
            "--judge-model",
            "openai/judge",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    records = {r["id"]: r["judges"]["openai/judge"] for r in read_jsonl(out / "items.jsonl")}
    assert (records["clear"]["winner"], records["clear"]["consistent"]) == ("B", True)
    # position bias: A in both orders means a different answer each time -> a tie
    assert (records["biased"]["first_order"], records["biased"]["swapped_order"]) == ("A", "B")
    assert records["biased"]["winner"] == "tie"
    assert records["model"]["winner"] == "A"  # the file's strong answer beats the model's weak one

    verdicts = server.calls()
    shown = [
        (between(c.last_user, "answer_A"), between(c.last_user, "answer_B"))
        for c in verdicts
        if c.step and c.step.endswith("verdict") and "Sort a list." in c.last_user
    ]
    assert sorted(shown) == sorted(
        [("weak: use bubble sort", "strong: use sorted()"), ("strong: use sorted()", "weak: use bubble sort")]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["judges"]["openai/judge"]["labels"] == {"A": 1, "B": 1, "tie": 1}
    assert summary["judges"]["openai/judge"]["value"]["mean"] == pytest.approx(0.5)  # (1 + 0.5 + 0) / 3


def test_reference_correctness_with_two_judges_reports_kappa(scripted_server, tmp_path, capsys):
    rows = [
        {"id": "1", "prompt": "2+2?", "reference": "4", "response": "It is 4."},
        {"id": "2", "prompt": "3+3?", "reference": "6", "response": "It is 7."},
        {"id": "3", "prompt": "5+5?", "reference": "10", "response": "Ten, i.e. 10."},
        {"id": "4", "prompt": "1+1?", "reference": "2", "response": "It is 3."},
    ]
    data = write_jsonl(tmp_path / "ref.jsonl", rows)

    def exact(request: ScriptedRequest) -> str:
        reference, answer = between(request.last_user, "reference"), between(request.last_user, "answer")
        return "Checked.\nVerdict: " + ("correct" if reference in answer else "incorrect")

    def sloppy(request: ScriptedRequest) -> str:
        answer = between(request.last_user, "answer")
        return "Checked.\nVerdict: " + ("incorrect" if "7" in answer else "correct")

    server = scripted_server(
        [
            Rule(step="judged*.check", model="exact", response=exact),
            Rule(step="judged*.check", model="sloppy", response=sloppy),
        ]
    )
    out = tmp_path / "out"
    code = main(
        [
            "eval",
            "reference",
            "--data",
            str(data),
            "--judge-model",
            "openai/exact",
            "--judge-model",
            "openai/sloppy",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judges"]["openai/exact"]["value"]["mean"] == pytest.approx(0.5)
    assert summary["judges"]["openai/sloppy"]["value"]["mean"] == pytest.approx(0.75)
    # exact: T F T F, sloppy: T F T T -> po = 3/4, pe = (2*3 + 2*1)/16 = 1/2, kappa = 0.5
    assert summary["agreement"][0]["statistic"] == "cohen_kappa"
    assert summary["agreement"][0]["value"] == pytest.approx(0.5)
    assert summary["mean_of_judges"]["mean"] == pytest.approx(0.625)
    assert len(server.calls()) == 8  # no --model: nothing was generated


def test_eval_bad_input(tmp_path, capsys):
    data = write_jsonl(tmp_path / "ref.jsonl", [{"prompt": "2+2?", "reference": "4"}])
    assert main(["eval", "reference", "--data", str(data), "--judge-model", "openai/j"]) == 2
    assert "item 'line-1' has no 'response': give --model" in capsys.readouterr().err
    assert main(["eval", "nonsense", "--data", str(data), "--model", "openai/m"]) == 2
    assert "FLOW 'nonsense': not a built-in eval flow" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n', encoding="utf-8")
    assert main(["eval", "pairwise", "--data", str(bad), "--model", "openai/m"]) == 2
    assert f"{bad}:1: missing field 'response_a'" in capsys.readouterr().err
    assert main(["eval", "rubric", "--data", str(bad)]) == 2
    assert "give --judge-model J" in capsys.readouterr().err


def test_a_failing_judge_leaves_the_other_judges_results(scripted_server, tmp_path, capsys):
    data = write_jsonl(
        tmp_path / "ref.jsonl",
        [
            {"id": "1", "prompt": "2+2?", "reference": "4", "response": "4"},
            {"id": "2", "prompt": "3+3?", "reference": "6", "response": "7"},
        ],
    )
    # only the "good" judge has rules: the other gets HTTP 400 (not retried) on every call
    server = scripted_server([Rule(step="judged*.check", model="good", response="Verdict: correct")])
    out = tmp_path / "out"
    code = main(
        [
            "eval",
            "reference",
            "--data",
            str(data),
            "--judge-model",
            "openai/good",
            "--judge-model",
            "openai/down",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["judges"]["openai/good"]["judged"] == 2
    assert summary["judges"]["openai/good"]["value"]["mean"] == 1.0
    down = summary["judges"]["openai/down"]
    assert (down["judged"], down["unreadable"], down["failed_calls"], down["value"]) == (0, 2, 2, None)
    assert summary["failed_items"] == []
    records = read_jsonl(out / "items.jsonl")
    assert all(
        any("openai/down" in error or "judged[1]" in error for error in r["step_errors"]) for r in records
    )


def test_a_custom_eval_flow_file(scripted_server, tmp_path, capsys):
    flow = tmp_path / "brevity.yaml"
    flow.write_text(
        "name: brevity\n"
        "inputs:\n  item: {type: object}\n  judges: {type: list}\n"
        "steps:\n"
        '  - id: judged\n    kind: map\n    over: "inputs.judges"\n    as: judge\n    steps:\n'
        '      - id: rating\n        kind: llm\n        model: "{{ judge }}"\n'
        '        user: "Rate the brevity of: {{ inputs.item.text }}"\n'
        "      - id: score\n        kind: python\n        function: judging.rubric_score\n"
        '        args: {answer: "{{ rating }}"}\n'
        '    result: "{{ score }}"\n'
        'outputs:\n  judges: "{{ judged }}"\n',
        encoding="utf-8",
    )
    data = write_jsonl(tmp_path / "texts.jsonl", [{"text": "short"}, {"text": "a much longer text"}])
    server = scripted_server(
        [
            Rule(contains="short", response="Score: 5"),
            Rule(contains="longer", response="Score: 2"),
        ]
    )
    code = main(
        [
            "eval",
            str(flow),
            "--data",
            str(data),
            "--judge-model",
            "openai/j",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--json",
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["field"] == "score" and summary["judges"]["openai/j"]["value"]["mean"] == 3.5
