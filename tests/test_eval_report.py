"""Eval reports: a row per item says what each judge decided and where judges disagree or failed."""

from __future__ import annotations

from alphaflow.judge.evaluate import aggregate
from alphaflow.judge.report import Cell, eval_report, item_table, short_name, to_html, to_markdown

J1, J2, J3 = "openai/gpt-4o-mini", "scripted:examples/judge/dry_eval.yaml", "anthropic/claude"


def _pairwise(winner: str | None, failed: bool = False) -> dict:
    return {"winner": winner, "judge_failed": failed, "judgements": []}


def test_pairwise_rows_name_the_judge_outside_the_majority_and_missing_judgements():
    records = [
        {"id": "sort", "judges": {J1: _pairwise("A"), J2: _pairwise("A"), J3: _pairwise("B")}},
        {"id": "same", "judges": {J1: _pairwise("tie"), J2: _pairwise("tie"), J3: _pairwise("tie")}},
        {"id": "lost", "judges": {J1: _pairwise(None), J2: _pairwise(None, failed=True), J3: _pairwise("A")}},
        {"id": "broken", "error": "flow step 'judged' failed:\n  boom", "judges": {}},
    ]
    table = item_table(records, [J1, J2, J3], "winner", True)
    assert table.headers == ["item", J1, "scripted:dry_eval.yaml", J3, "note"]
    rows = {str(row[0]): row for row in table.rows}
    assert [str(c) for c in rows["sort"][1:4]] == ["A", "A", "B"]
    assert rows["sort"][-1] == Cell(f"disagree: {J3} against the majority (A)", "bad")
    assert rows["same"][-1] == Cell("agree", "")
    assert [str(c) for c in rows["lost"][1:3]] == ["unreadable", "call failed"]
    assert rows["lost"][-1].text == f"no judgement from {J1}, scripted:dry_eval.yaml"
    assert rows["lost"][-1].tone == "warn"
    assert rows["broken"][-1] == Cell("item failed: flow step 'judged' failed: boom", "bad")


def test_rubric_rows_flag_scores_far_apart():
    records = [
        {"id": "close", "judges": {J1: {"score": 4.2}, J2: {"score": 4.9}}},
        {"id": "far", "judges": {J1: {"score": 1.08}, J2: {"score": 4.72}}},
    ]
    rows = item_table(records, [J1, J2], "score", False).rows
    assert [str(c) for c in rows[0]] == ["close", "4.20", "4.90", "agree"]
    assert [str(c) for c in rows[1]] == ["far", "1.08", "4.72", "disagree: scores 3.64 apart"]


def test_reference_report_colours_verdicts_and_lists_items_in_every_format():
    records = [
        {"id": "q1", "judges": {J1: {"correct": True}, J2: {"correct": False}}},
        {"id": "q2", "judges": {J1: {"correct": True}, J2: {"correct": True}}},
    ]
    summary = aggregate(records, [J1, J2], field="correct", categorical=True)
    report = eval_report("reference", "accuracy", summary, data="d.jsonl", model=None, records=records)
    assert [t.title for t in report.tables] == ["Per judge", "Agreement between judges", "Per item"]
    markdown = to_markdown(report)
    note = "disagree: openai/gpt-4o-mini correct, scripted:dry_eval.yaml incorrect"
    assert f"| q1 | correct | incorrect | {note} |" in markdown
    page = to_html(report)
    assert '<h2 id="per-item">Per item</h2>' in page
    assert '<td class="good">correct</td>' in page and '<td class="bad">incorrect</td>' in page


def test_short_name_keeps_plain_model_names():
    assert short_name("scripted:/abs/path/judge.yaml") == "scripted:judge.yaml"
    assert short_name("openai/gpt-4o-mini") == "openai/gpt-4o-mini"
    assert short_name("stub") == "stub"
