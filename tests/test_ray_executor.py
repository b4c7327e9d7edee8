"""The Ray executor on a local Ray cluster (``ray.init(num_cpus=2)``): a killed driver resumes with
no unit lost or written twice, units judge in the docker pool, and without Ray installed the flag
is a one-line error naming the extra."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray_support import SAMPLE, comparable, options, records, run, sample_problems, solving_rule


def test_executor_ray_without_ray_installed_is_one_line_naming_the_extra(tmp_path):
    # ``sys.modules["ray"] = None`` makes ``import ray`` fail as if the extra were not installed.
    code = (
        "import sys; sys.modules['ray'] = None; from alphaflow.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "bench",
            "codecontests",
            "--data",
            str(SAMPLE),
            "--flow",
            "gold",
            "--out",
            str(tmp_path / "run"),
            "--executor",
            "ray",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "alphaflow: error: --executor ray needs Ray: pip install 'alphaflow[ray]'"
    ]
    assert not (tmp_path / "run" / "results.jsonl").exists()


def test_ray_address_without_the_ray_executor_is_one_line(tmp_path, capsys):
    from alphaflow.cli import main

    argv = ["bench", "codecontests", "--data", str(SAMPLE), "--flow", "gold", "--out", str(tmp_path / "run")]
    assert main([*argv, "--ray-address", "127.0.0.1:6379"]) == 2
    assert capsys.readouterr().err.strip() == "alphaflow: error: --ray-address is for --executor ray"


def test_a_ray_address_nothing_answers_on_is_one_line(tmp_path, capsys):
    pytest.importorskip("ray")
    from alphaflow.cli import main

    argv = ["bench", "codecontests", "--data", str(SAMPLE), "--flow", "gold", "--out", str(tmp_path / "run")]
    assert main([*argv, "--executor", "ray", "--ray-address", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("alphaflow: error: --ray-address 127.0.0.1:1: no Ray cluster answers there")
    assert len(err.splitlines()) == 1 and not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def local_cluster():
    """One local Ray cluster for the module: two CPUs, a small object store, no dashboard."""
    ray = pytest.importorskip("ray")  # the tests above run without the extra too
    ray.init(num_cpus=2, object_store_memory=100 << 20, include_dashboard=False, logging_level="WARNING")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def wait_for_records(run_dir: Path, count: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while len(records(run_dir)) < count:
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"fewer than {count} records after {timeout} s")
        time.sleep(0.05)


def test_a_killed_driver_resumes_with_no_unit_lost_or_written_twice(local_cluster, tmp_path, scripted_server):
    problems = sample_problems(4)
    server = scripted_server([solving_rule(problems, {problems[0].name, problems[1].name}, latency_s=0.3)])
    local = tmp_path / "local"
    run(options(local, problems, api_base=server.base_url))

    run_dir = tmp_path / "ray"
    command = [
        sys.executable,
        "-m",
        "alphaflow",
        "bench",
        "codecontests",
        "--data",
        str(SAMPLE),
        "--names",
        ",".join(p.name for p in problems),
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
        "--executor",
        "ray",
        "--ray-address",
        local_cluster,
        "--json",
    ]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_records(run_dir, 2, driver)
    driver.kill()  # SIGKILL: no clean-up; its actors die with it (they belong to its job)
    driver.communicate(timeout=60)
    before = (run_dir / "results.jsonl").read_text(encoding="utf-8")
    assert 2 <= len(records(run_dir)) < 8

    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run_dir / "results.jsonl").read_text(encoding="utf-8").startswith(before.rstrip("\n"))
    keys = [record["key"] for record in records(run_dir)]
    assert len(keys) == len(set(keys)) == 8
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["units"] == 8 and summary["errors"] == 0
    ours, theirs = comparable(run_dir), comparable(local)
    for key, record in ours.items():
        if record["prompt_tokens"] == 0:  # cut off after its model call: the resume read the cache
            for field in ("prompt_tokens", "completion_tokens", "cost_usd"):
                record.pop(field), theirs[key].pop(field)
        assert record == theirs[key], key


@pytest.mark.docker
def test_units_judge_in_the_node_docker_pool_and_its_containers_go(local_cluster, tmp_path):
    from sandbox_programs import require_docker

    from alphaflow.executors.ray_bench import RayRunStats
    from alphaflow.sandbox.docker_pool import OWNER_PID_LABEL, labelled_containers

    client = require_docker()
    stats = RayRunStats()
    outcome = run(
        options(
            tmp_path / "gold",
            sample_problems(3),
            flow="gold",
            model=None,
            samples=1,
            sandbox="docker",
            executor="ray",
            ray_stats=stats,
        )
    )
    assert len(outcome.results) == 3 and all(r.solved and r.error is None for r in outcome.results)
    assert {r.evaluation["judge"]["backend"] for r in outcome.results} == {"docker"}
    assert [worker["backend"] for worker in stats.workers] == ["docker"]
    worker_pids = {str(worker["pid"]) for worker in stats.workers}
    left = [c for c in labelled_containers(client) if c["Labels"].get(OWNER_PID_LABEL) in worker_pids]
    assert not left  # the node worker closed its pool when the run ended


def test_eval_items_run_as_ray_units_with_the_local_results(local_cluster, tmp_path, scripted_server, capsys):
    from alphaflow.cli import main
    from alphaflow.testing import Rule

    data = tmp_path / "items.jsonl"
    rows = [{"id": f"i{n}", "prompt": f"Define word {n}.", "response": f"answer {n}"} for n in range(6)]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    def grade(request) -> str:  # a deterministic judge: the score follows the answer's number
        return str(1 + int(request.last_user.split("answer ")[-1][0]) % 5)

    server = scripted_server([Rule(step="judged*.rating", response=grade)])
    outs = {}
    for executor in ("local", "ray"):
        outs[executor] = tmp_path / executor
        argv = [
            "eval",
            "rubric",
            "--data",
            str(data),
            "--judge-model",
            "openai/judge",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(outs[executor]),
            "--executor",
            executor,
        ]
        assert main(argv) == 0, capsys.readouterr().err
    items = {name: (out / "items.jsonl").read_text(encoding="utf-8") for name, out in outs.items()}
    assert items["ray"] == items["local"] and len(items["ray"].splitlines()) == 6
    summaries = {name: json.loads((out / "summary.json").read_text()) for name, out in outs.items()}
    assert summaries["ray"] == summaries["local"]
    assert (outs["ray"] / "trace.jsonl").read_text(encoding="utf-8").count('"event": "model_call"') >= 6


def test_self_reward_prompts_run_as_ray_units_with_the_local_results(
    local_cluster, tmp_path, scripted_server, capsys
):
    from test_judge_self_reward import PROMPTS, RULES

    from alphaflow.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS), encoding="utf-8")
    server = scripted_server(RULES)
    outs = {}
    for executor in ("local", "ray"):
        outs[executor] = tmp_path / executor
        argv = [
            "judge",
            "self-reward",
            "--prompts",
            str(prompts),
            "--model",
            "openai/actor",
            "--api-base",
            server.base_url,
            "--no-cache",
            "--out",
            str(outs[executor]),
            "--executor",
            executor,
        ]
        assert main(argv) == 0, capsys.readouterr().err
    for name in ("dpo.jsonl", "candidates.jsonl"):
        ours = (outs["ray"] / "iteration_1" / name).read_text(encoding="utf-8")
        assert ours == (outs["local"] / "iteration_1" / name).read_text(encoding="utf-8")
    stats = {k: json.loads((out / "iteration_1" / "stats.json").read_text()) for k, out in outs.items()}
    assert stats["ray"] == stats["local"] and stats["ray"]["pairs"] == 2


@pytest.mark.parametrize(
    "concurrency, cpus, shares",
    [
        (16, [2.0], [16]),
        (16, [2.0, 2.0, 4.0], [4, 4, 8]),
        (5, [1.0, 1.0], [3, 2]),
        (2, [1.0, 1.0, 1.0], [1, 1, 1]),  # every node solves something, even past --concurrency
        (7, [3.0, 1.0], [5, 2]),
        (4, [100.0, 1.0, 1.0, 1.0], [1, 1, 1, 1]),  # the small nodes' places come from the big one
        (8, [64.0, 2.0, 2.0], [6, 1, 1]),
    ],
)
def test_concurrency_is_shared_over_the_nodes_by_their_cpus(concurrency, cpus, shares):
    from alphaflow.executors.ray_bench import solving_shares

    assert solving_shares(concurrency, cpus) == shares
    assert sum(shares) == max(concurrency, len(cpus))
