"""`alphaflow bench codecontests` end to end: gold solutions, a scripted-model run killed and resumed,
and the mistakes a user can make. The CLI runs in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alphaflow.problems import load_jsonl
from alphaflow.testing import Rule

SAMPLE = Path("/work/shared/data/codecontests/train_sample.jsonl")
if not SAMPLE.exists():
    SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "codecontests" / "train_sample.jsonl"


def bench(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "alphaflow", "bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def records(run_dir: Path) -> list[dict]:
    """The finished records; a line still being written by the running benchmark is not one yet."""
    path = run_dir / "results.jsonl"
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def test_gold_solutions_are_all_accepted_locally(tmp_path):
    done = bench(
        "codecontests",
        "--data",
        str(SAMPLE),
        "--flow",
        "gold",
        "--limit",
        "4",
        "--sandbox",
        "local",
        "--out",
        str(tmp_path / "gold"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["problems"] == 4 and summary["solved_any"]["count"] == 4
    assert summary["pass_at_k"]["1"]["value"] == 1.0 and summary["verdicts"] == {"AC": 4}
    for record in records(tmp_path / "gold"):
        assert (
            record["evaluation"]["total"] > 0
            and record["evaluation"]["passed"] == record["evaluation"]["total"]
        )
        assert record["public"]["verdict"] == "AC"
    meta = json.loads((tmp_path / "gold" / "meta.json").read_text(encoding="utf-8"))
    assert meta["flow"] == "gold" and meta["host"]["cpu_count"] and meta["versions"]["python"]


def docker_engine():
    from alphaflow.sandbox.backends import docker_client, image_present, image_tag

    client, why = docker_client()
    if client is None:
        if shutil.which("dockerd") is None and not os.environ.get("DOCKER_HOST"):
            pytest.skip("no Docker engine can exist on this machine (dockerd is not installed)")
        pytest.fail(f"{why}: start it (see `alphaflow sandbox doctor`)")
    if not image_present(client):
        pytest.fail(f"the sandbox image {image_tag()} is missing: run `alphaflow sandbox build`")
    return client


@pytest.mark.docker
def test_gold_solutions_are_all_accepted_in_the_docker_pool(tmp_path):
    docker_engine()
    done = bench(
        "codecontests",
        "--data",
        str(SAMPLE),
        "--flow",
        "gold",
        "--limit",
        "6",
        "--concurrency",
        "2",
        "--sandbox",
        "docker",
        "--out",
        str(tmp_path / "gold"),
    )
    assert done.returncode == 0, done.stderr
    assert "\nsolved 6 of 6 problems" in "\n" + done.stdout
    assert {r["evaluation"]["judge"]["backend"] for r in records(tmp_path / "gold")} == {"docker"}


@pytest.mark.docker
def test_ctrl_c_leaves_no_sandbox_container_behind(tmp_path):
    from alphaflow.sandbox.docker_pool import OWNER_PID_LABEL, labelled_containers

    client = docker_engine()
    run_dir = tmp_path / "gold"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alphaflow",
            "bench",
            "codecontests",
            "--data",
            str(SAMPLE),
            "--flow",
            "gold",
            "--limit",
            "30",
            "--concurrency",
            "2",
            "--sandbox",
            "docker",
            "--out",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_records(run_dir, 2, process)
    owned = [
        c
        for c in labelled_containers(client)
        if (c.get("Labels") or {}).get(OWNER_PID_LABEL) == str(process.pid)
    ]
    assert owned  # the pool was running
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "--resume" in stderr
    left = [
        c
        for c in labelled_containers(client)
        if (c.get("Labels") or {}).get(OWNER_PID_LABEL) == str(process.pid)
    ]
    assert left == []


def wait_for_records(run_dir: Path, count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(records(run_dir)) < count:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the run did not produce results in time"
        time.sleep(0.05)


def test_a_run_killed_part_way_resumes_with_no_loss_and_no_duplicate(tmp_path, scripted_server):
    # four problems with different statements (the sample holds duplicates, e.g. 103_B and 104_C
    # "Cthulhu"; the same prompt would share cached answers and make the call counts depend on timing)
    distinct: dict[str, Any] = {}
    for problem in load_jsonl(SAMPLE):
        distinct.setdefault(problem.description, problem)
    problems = list(distinct.values())[:4]
    solved_by_model = {problems[0].name, problems[1].name}

    def answer(request) -> str:
        for problem in problems:
            if problem.description[:300] in request.last_user and problem.name in solved_by_model:
                return f"```python\n{problem.solutions[0].code}\n```"
        return "```python\nprint(42)\n```"

    server = scripted_server([Rule(response=answer, latency_s=0.3)])
    run_dir = tmp_path / "run"
    names = ",".join(problem.name for problem in problems)
    argv = [
        "codecontests",
        "--data",
        str(SAMPLE),
        "--names",
        names,
        "--flow",
        "direct",
        "--model",
        "openai/scripted",
        "--api-base",
        server.base_url,
        "--samples",
        "2",
        "--concurrency",
        "2",
        "--sandbox",
        "local",
        "--out",
        str(run_dir),
    ]
    command = [sys.executable, "-m", "alphaflow", "bench", *argv]

    # 1. Ctrl-C after a few units: finished results stay, the resume command is printed.
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_records(run_dir, 2, first)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 130, stderr
    assert "resume with: alphaflow bench codecontests" in stderr and stderr.rstrip().endswith("--resume")
    after_interrupt = (run_dir / "results.jsonl").read_text(encoding="utf-8")
    interrupted_count = len(records(run_dir))
    assert 2 <= interrupted_count < 8

    # 2. Resume, then SIGKILL (no chance to clean up) once a couple more units are on disk.
    second = subprocess.Popen(
        [*command, "--resume"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_records(run_dir, min(interrupted_count + 2, 7), second)
    second.kill()
    second.communicate(timeout=60)
    after_kill = (run_dir / "results.jsonl").read_text(encoding="utf-8")
    assert after_kill.startswith(after_interrupt)  # nothing written before was lost or rewritten

    # 3. Resume to the end.
    done = bench(*argv, "--resume")
    assert done.returncode == 0, done.stderr
    final = records(run_dir)
    keys = [record["key"] for record in final]
    assert len(keys) == len(set(keys)) == 8  # every unit once: no loss, no duplicate
    assert (run_dir / "results.jsonl").read_text(encoding="utf-8").startswith(after_kill.rstrip("\n"))
    assert {r["problem"] for r in final if r["solved"]} == solved_by_model
    for failed in (r for r in final if not r["solved"]):  # why it failed is in the record
        assert failed["evaluation"]["first_failure"]["verdict"] == "WA"
        assert failed["evaluation"]["first_failure"]["stdout"].strip() == "42"
    assert all(r["model_calls"] == 1 and r["error"] is None for r in final)
    # A unit cut off after its model call resumes from the cache: no tokens spent twice.
    assert sum(r["prompt_tokens"] > 0 for r in final) >= len(final) - 2
    assert "\nsolved 2 of 4 problems (4 of 8 units accepted" in "\n" + done.stdout
    assert "pass@2 [95% CI]" in done.stdout  # the table of the finished run
    meta = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
    assert len(meta["resumes"]) == 2 and meta["model"] == "openai/scripted" and len(meta["flow_sha256"]) == 64
    # Both samples of a problem asked the model: the sample index keeps them apart in the cache.
    assert len(server.calls()) >= 8


def test_offline_hub_without_cache_is_one_clear_line(tmp_path):
    done = bench(
        "codecontests",
        "--data",
        "hf:deepmind/code_contests",
        "--flow",
        "gold",
        "--out",
        str(tmp_path / "run"),
        env={"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alphaflow: error: --data hf:deepmind/code_contests")
    assert "--data FILE.jsonl" in lines[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--flow", "direct"], "--model is required to run a flow"),
        (["--flow", "gold", "--samples", "0"], "--samples 0: must be at least 1"),
        (["--flow", "gold", "--names", "No Such Problem"], "--names: not in"),
        (["--flow", "no-such-flow", "--model", "openai/x"], "flow 'no-such-flow' not found"),
    ],
)
def test_bad_arguments_are_one_line_errors(tmp_path, extra, message):
    done = bench("codecontests", "--data", str(SAMPLE), "--out", str(tmp_path / "run"), *extra)
    assert done.returncode == 2
    assert done.stderr.startswith("alphaflow: error: ") and message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_existing_run_needs_resume_and_resume_must_match(tmp_path):
    run_dir = tmp_path / "gold"
    common = [
        "codecontests",
        "--data",
        str(SAMPLE),
        "--limit",
        "1",
        "--sandbox",
        "local",
        "--out",
        str(run_dir),
    ]
    assert bench(*common, "--flow", "gold").returncode == 0
    again = bench(*common, "--flow", "gold")
    assert again.returncode == 2 and "already holds a run; add --resume" in again.stderr
    resumed = bench(*common, "--flow", "gold", "--resume")
    assert resumed.returncode == 0 and len(records(run_dir)) == 1  # nothing left to do, nothing repeated
    # More samples on resume add units to the same run; gold has one reference solution per problem here.
    more = bench(*common, "--flow", "gold", "--resume", "--samples", "2")
    assert more.returncode == 0, more.stderr
    added = {r["key"]: r for r in records(run_dir)}
    assert len(added) == 2 and "no reference solution #1" in next(
        r["error"] for r in added.values() if r["error"]
    )
    changed = bench(*common, "--flow", "direct", "--model", "openai/x", "--resume")
    assert changed.returncode == 2 and "cannot --resume: flow was 'gold'" in changed.stderr


def test_a_narrower_resume_counts_the_whole_run_in_its_last_line_as_in_the_table(tmp_path):
    """`--resume --names X` prints the whole run's table; the last summary line counts the same run
    (as `bench report` does), and the selection gets its own labelled line."""
    run_dir = tmp_path / "gold"
    common = [
        "codecontests",
        "--data",
        str(SAMPLE),
        "--flow",
        "gold",
        "--sandbox",
        "local",
        "--out",
        str(run_dir),
    ]
    wide = {"COLUMNS": "300"}  # one table row per line
    first = bench(*common, "--names", "1003_F. Abbreviation,103_B. Cthulhu", env=wide)
    assert first.returncode == 0, first.stderr
    # nothing left out of the selection: one line, unlabelled
    assert "\nsolved 2 of 2 problems (2 of 2 units" in "\n" + first.stdout
    done = bench(*common, "--resume", "--names", "1110_C. Meaningless Operations", env=wide)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rows = [[cell.strip() for cell in line.split("│")[1:3]] for line in lines if "│" in line]
    assert ["problems", "3"] in rows  # the table: the whole run
    solved = [line for line in lines if "solved " in line and "│" not in line]
    assert solved[0].startswith("this selection: solved 1 of 1 problems (1 of 1 units accepted")
    assert solved[-1].startswith("whole run: solved 3 of 3 problems (3 of 3 units accepted")
    report = subprocess.run(
        [sys.executable, "-m", "alphaflow", "bench", "report", str(run_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = json.loads(report.stdout)["runs"][0]["summary"]
    assert (summary["problems"], summary["units"], summary["solved_any"]["count"]) == (3, 3, 3)


def test_max_cost_stops_the_run_cleanly_and_holds_across_resumes(tmp_path, scripted_server):
    # A model with a known litellm price, served by the scripted server: the budget is real.
    server = scripted_server([Rule(response="```python\nprint(42)\n```")])
    run_dir = tmp_path / "run"
    argv = [
        "codecontests",
        "--data",
        str(SAMPLE),
        "--limit",
        "3",
        "--flow",
        "direct",
        "--model",
        "openai/gpt-4o-mini",
        "--api-base",
        server.base_url,
        "--samples",
        "2",
        "--concurrency",
        "1",
        "--sandbox",
        "local",
        "--out",
        str(run_dir),
        "--max-cost",
        "0.01",
    ]
    done = bench(*argv)
    assert done.returncode == 3, done.stderr
    assert "stopped early: budget reached" in done.stderr and "resume with: alphaflow bench" in done.stderr
    finished = records(run_dir)
    assert 0 < len(finished) < 6 and all(r["cost_usd"] > 0 for r in finished)
    assert len(server.calls()) == len(finished)  # no call was made that the budget refused

    # The same budget on resume: what was spent still counts, so nothing more may run.
    spent = sum(r["cost_usd"] for r in finished)
    again = bench(*[a if a != "0.01" else f"{spent:.8f}" for a in argv], "--resume")
    assert again.returncode == 3 and "already spent" in again.stderr
    assert len(records(run_dir)) == len(finished) and len(server.calls()) == len(finished)


TWO_CALLS_FLOW = """\
name: two_calls
inputs:
  problem: {type: object}
  language: {type: string, default: python}
steps:
  - id: think
    kind: llm
    user: "Think about: {{ inputs.problem.name }}"
    max_tokens: 50
  - id: write
    kind: llm
    user: "Now write the code for: {{ inputs.problem.name }}"
    max_tokens: 50
    output: {format: code, language: python}
outputs:
  code: "{{ write }}"
"""


def test_spend_of_a_unit_stopped_mid_flow_counts_against_the_budget_on_resume(tmp_path, scripted_server):
    """A stop cuts a unit off after a paid call and before its record: what it spent is kept in
    meta.json and counts against --max-cost when the run resumes."""
    names = [p.name for p in load_jsonl(SAMPLE)[:2]]

    def write(request) -> str:
        if names[1] in request.last_user:
            time.sleep(30)  # the second unit hangs on its second call: the stop comes here
        return "```python\nprint(42)\n```"

    server = scripted_server([Rule(step="think", response="thinking"), Rule(step="write", response=write)])
    flow = tmp_path / "two_calls.yaml"
    flow.write_text(TWO_CALLS_FLOW, encoding="utf-8")
    run_dir = tmp_path / "run"
    model = "openai/priced-by-test"
    argv = [
        "codecontests", "--data", str(SAMPLE), "--names", ",".join(names), "--flow", str(flow),
        "--model", model, "--api-base", server.base_url, "--price", f"{model}=1000,1000",
        "--concurrency", "1", "--sandbox", "local", "--no-cache", "--out", str(run_dir),
    ]  # fmt: skip
    running = subprocess.Popen(
        [sys.executable, "-m", "alphaflow", "bench", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wait_for_records(run_dir, 1, running)
    deadline = time.monotonic() + 60
    while len(server.calls("write")) < 2:  # the second unit paid for "think" and waits on "write"
        assert time.monotonic() < deadline and running.poll() is None
        time.sleep(0.05)
    running.send_signal(signal.SIGINT)
    running.communicate(timeout=60)
    assert running.returncode == 130
    recorded = sum(r["cost_usd"] for r in records(run_dir))
    paid = [
        e["cost_usd"]
        for e in map(json.loads, (run_dir / "trace.jsonl").read_text(encoding="utf-8").splitlines())
        if e["event"] == "model_call" and not e.get("error")
    ]
    meta = json.loads((run_dir / "meta.json").read_text(encoding="utf-8"))
    assert len(records(run_dir)) == 1 and len(paid) == 3 and recorded > 0
    assert meta["unrecorded_spend_usd"] == pytest.approx(sum(paid) - recorded) and sum(paid) > recorded
    report = bench("report", str(run_dir), "--json")
    assert json.loads(report.stdout)["runs"][0]["summary"]["cost_usd"]["total"] == pytest.approx(sum(paid))

    # A budget between what the records say and what was spent: the resume refuses to start.
    budget = recorded + (sum(paid) - recorded) / 2
    again = bench(*[a for a in argv if a != "--no-cache"], "--resume", "--max-cost", f"{budget:.6f}")
    assert again.returncode == 3 and "already spent" in again.stderr, again.stderr
