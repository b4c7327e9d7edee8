"""The results store: durable appends, torn and corrupt lines, resume bookkeeping, serialisable units."""

from __future__ import annotations

import json
import pickle

import pytest

from alphaflow.bench.datasets import DataSource
from alphaflow.bench.meta import check_resumable, run_metadata
from alphaflow.bench.store import RunStore, UnitResult
from alphaflow.bench.units import ModelSettings, Unit
from alphaflow.errors import UserError


def result(problem: str, sample: int, solved: bool = True) -> UnitResult:
    return UnitResult(
        key=f"{problem}#{sample}",
        problem=problem,
        sample_index=sample,
        code="print(1)",
        evaluation={"verdict": "AC" if solved else "WA", "passed": 3 if solved else 1, "total": 3},
        solved=solved,
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.001,
        wall_s=1.5,
        tags=["math"],
        difficulty=7,
    )


def test_round_trip_survives_a_torn_last_line_and_a_corrupt_line(tmp_path):
    warnings: list[str] = []
    store = RunStore(tmp_path, warn=warnings.append)
    store.append(result("A", 0))
    store.append(result("A", 1, solved=False))
    store.close()
    path = tmp_path / "results.jsonl"
    # A killed writer leaves half a record; something else scribbles a non-object line.
    with path.open("a", encoding="utf-8") as handle:
        handle.write('["not", "an object"]\n')
        handle.write(json.dumps(result("B", 0).to_dict())[:40])

    reopened = RunStore(tmp_path, warn=warnings.append)
    assert {r.key for r in reopened.read_results()} == {"A#0", "A#1"}
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{path}:3: skipped") and warnings[1].startswith(f"{path}:4: skipped")

    # Appending after the torn fragment must not glue the new record onto it.
    reopened.append(result("B", 0))
    reopened.close()
    warnings.clear()
    records = {r.key: r for r in RunStore(tmp_path, warn=warnings.append).read_results()}
    assert set(records) == {"A#0", "A#1", "B#0"}
    assert records["A#1"].verdict == "WA" and records["B#0"].solved and records["B#0"].tags == ["math"]
    assert records["A#0"] == result("A", 0)  # every field round-trips
    assert len(warnings) == 2  # the same two bad lines, nothing new


def test_every_append_is_on_disk_before_append_returns(tmp_path):
    store = RunStore(tmp_path)
    store.append(result("A", 0))
    # Another reader sees the line at once, without close(): it was flushed (and fsynced).
    assert (tmp_path / "results.jsonl").read_text(encoding="utf-8").count("\n") == 1
    store.close()


def test_meta_is_written_atomically_and_read_back(tmp_path):
    store = RunStore(tmp_path / "run")
    with pytest.raises(UserError, match="not a benchmark run directory"):
        store.read_meta()
    flow = tmp_path / "flow.yaml"
    flow.write_text("name: x\n", encoding="utf-8")
    meta = run_metadata(
        flow="direct",
        flow_path=str(flow),
        model="scripted",
        data={"kind": "jsonl"},
        language="python",
        samples=2,
        concurrency=4,
        limits={"time_s": None},
        sandbox="local",
        args={"samples": 2},
    )
    store.write_meta(meta)
    loaded = store.read_meta()
    assert loaded["flow_sha256"] == meta["flow_sha256"] and len(loaded["flow_sha256"]) == 64
    assert loaded["host"]["cpu_count"] >= 1 and loaded["versions"]["python"]
    assert not list((tmp_path / "run").glob("*.tmp"))
    (tmp_path / "run" / "meta.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(UserError, match=r"meta.json:1: corrupt run metadata"):
        store.read_meta()


def test_resume_refuses_a_changed_flow_or_model(tmp_path):
    previous = {"flow": "direct", "flow_sha256": "a", "model": "m", "data": {}, "language": "python"}
    check_resumable(previous, dict(previous), tmp_path / "meta.json")
    with pytest.raises(UserError, match="cannot --resume: flow_sha256"):
        check_resumable(previous, {**previous, "flow_sha256": "b"}, tmp_path / "meta.json")
    with pytest.raises(UserError, match="cannot --resume: model"):
        check_resumable(previous, {**previous, "model": "other"}, tmp_path / "meta.json")


def test_unit_is_self_contained_and_serialisable():
    unit = Unit(
        problem="1000_E. We Need More Bosses",
        data=DataSource("jsonl", "/data/train_sample.jsonl"),
        flow="/repo/flows/direct.yaml",
        sample_index=3,
        model=ModelSettings(model="openai/gpt-4o-mini", api_base="http://127.0.0.1:9"),
    )
    assert unit.key == "1000_E. We Need More Bosses#3"
    assert Unit.from_dict(json.loads(json.dumps(unit.to_dict()))) == unit
    assert pickle.loads(pickle.dumps(unit)) == unit
