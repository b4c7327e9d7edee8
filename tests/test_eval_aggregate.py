"""Input files of the judge commands and the evaluation aggregate (no model calls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alphaflow.errors import UserError
from alphaflow.judge.data import load_items, load_prompts
from alphaflow.judge.evaluate import aggregate
from alphaflow.judge.report import eval_report, to_html, to_markdown
from alphaflow.judge.stats import cohen_kappa


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_prompts_file_accepts_objects_and_strings(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '{"prompt": "one"}\n\n"two"\n')
    assert load_prompts(path) == ["one", "two"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "p.jsonl:1: no prompts in the file"),
        ("\n  \n", "p.jsonl:1: no prompts in the file"),
        ('{"prompt": "ok"}\n{"prompt": "broken"\n', "p.jsonl:2: not a JSON line"),
        ('{"prompt": "ok"}\n{"question": "x"}\n', "p.jsonl:2: missing field 'prompt'"),
        ('{"prompt": 3}\n', "p.jsonl:1: 'prompt' must be a string"),
        ('{"prompt": "   "}\n', "p.jsonl:1: empty prompt"),
    ],
)
def test_bad_prompts_files_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "p.jsonl", text)
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        load_prompts(path)


def test_missing_prompts_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nope.jsonl: no such file"):
        load_prompts(tmp_path / "nope.jsonl")


def test_eval_items_fill_optional_fields_and_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.jsonl",
        '{"prompt": "q1", "reference": "r"}\n{"id": "x", "prompt": "q2", '
        '"reference": "r", "response": "a"}\n',
    )
    items = load_items(path, ("prompt", "reference"), ("response",))
    assert items == [
        {"id": "line-1", "prompt": "q1", "reference": "r", "response": None},
        {"id": "x", "prompt": "q2", "reference": "r", "response": "a"},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"prompt": "q"}\n', "d.jsonl:1: missing field 'reference'"),
        ('["q"]\n', "d.jsonl:1: an item must be a JSON object"),
        (
            '{"prompt": "q", "reference": "r", "response": 5}\n',
            "d.jsonl:1: field 'response' must be a string",
        ),
        (
            '{"id": 1, "prompt": "q", "reference": "r"}\n{"id": 1, "prompt": "q", "reference": "r"}\n',
            "d.jsonl:2: duplicate id '1'",
        ),
    ],
)
def test_bad_eval_items(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "d.jsonl", text)
    with pytest.raises(UserError, match=message):
        load_items(path, ("prompt", "reference"), ("response",))


def test_aggregate_scores_with_two_judges() -> None:
    records = [
        {"judges": {"j1": {"score": 4.0}, "j2": {"score": 5.0}}},
        {"judges": {"j1": {"score": 2.0}, "j2": {"score": 3.0}}},
        {"judges": {"j1": {"score": None}, "j2": {"score": 1.0}}},
        {"judges": {"j1": {"score": 3.0}, "j2": {"score": 4.0}}},
    ]
    summary = aggregate(records, ["j1", "j2"], field="score", categorical=False)
    assert summary["judges"]["j1"]["judged"] == 3 and summary["judges"]["j1"]["unreadable"] == 1
    assert summary["judges"]["j1"]["value"]["mean"] == pytest.approx(3.0)
    assert summary["item_means"] == [4.5, 2.5, 1.0, 3.5]
    assert summary["mean_of_judges"]["mean"] == pytest.approx(2.875)
    (agreement,) = summary["agreement"]
    # on the 3 items both read, the judges rank identically
    assert agreement == {
        "judges": ["j1", "j2"],
        "statistic": "spearman",
        "value": pytest.approx(1.0),
        "items": 3,
    }


def test_aggregate_pairwise_uses_kappa_and_win_share() -> None:
    winners = [("B", "B"), ("A", "B"), ("tie", "tie"), ("B", "A"), ("A", "A")]
    records = [{"judges": {"j1": {"winner": a}, "j2": {"winner": b}}} for a, b in winners]
    summary = aggregate(records, ["j1", "j2"], field="winner", categorical=True)
    assert summary["judges"]["j1"]["value"]["mean"] == pytest.approx((1 + 0 + 0.5 + 1 + 0) / 5)
    assert summary["judges"]["j1"]["labels"] == {"A": 2, "B": 2, "tie": 1}
    expected = cohen_kappa([a for a, _ in winners], [b for _, b in winners])
    assert summary["agreement"][0]["statistic"] == "cohen_kappa"
    assert summary["agreement"][0]["value"] == pytest.approx(expected)
    # by hand: po = 3/5; marginals A 2/2, B 2/2, tie 1/1 -> pe = 9/25; kappa = (15/25 - 9/25) / (16/25)
    assert expected == pytest.approx(6 / 16)


def test_reports_render_in_markdown_and_html() -> None:
    records = [{"judges": {"j<1>": {"correct": True}}}, {"judges": {"j<1>": {"correct": False}}}]
    summary = aggregate(records, ["j<1>"], field="correct", categorical=True)
    report = eval_report("reference", "accuracy", summary, data="d.jsonl", model="m")
    markdown = to_markdown(report)
    assert "| j<1> | 2 | 2 | 0 | 0 | 0.500 [" in markdown
    page = to_html(report)
    assert "j&lt;1&gt;" in page and "<table>" in page
