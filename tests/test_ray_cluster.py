"""The Ray executor on a simulated multi-node cluster (``ray.cluster_utils.Cluster``): a node
removed mid-run loses no unit and the results equal the local executor's; one budget holds across
the nodes' workers."""

from __future__ import annotations

import threading
import time

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402
from ray_support import comparable, options, records, run, sample_problems, solving_rule  # noqa: E402

from alphaflow.executors.ray_bench import RayRunStats  # noqa: E402
from alphaflow.testing import Rule  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """A head that only drives (no CPUs, like a real head) and two worker nodes with one CPU each."""
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "object_store_memory": 100 << 20, "include_dashboard": False},
    )
    nodes = [cluster.add_node(num_cpus=1, object_store_memory=100 << 20) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, logging_level="WARNING")
    cluster.worker_nodes_list = nodes
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_a_node_removed_mid_run_loses_no_unit_and_results_equal_the_local_run(
    cluster, tmp_path, scripted_server
):
    problems = sample_problems(4)
    solved = {problems[0].name, problems[2].name}
    server = scripted_server([solving_rule(problems, solved, latency_s=0.5)])
    local = tmp_path / "local"
    run(options(local, problems, api_base=server.base_url))

    distributed = tmp_path / "ray"
    stats = RayRunStats()
    removed: list[str] = []

    def remove_a_node_once_units_finish() -> None:
        deadline = time.monotonic() + 120
        while len(records(distributed)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        node = cluster.worker_nodes_list[0]
        cluster.remove_node(node)
        removed.append(node.node_id)

    remover = threading.Thread(target=remove_a_node_once_units_finish)
    remover.start()
    outcome = run(
        options(
            distributed, problems, api_base=server.base_url, executor="ray", concurrency=4, ray_stats=stats
        )
    )
    remover.join()
    assert removed, "the node was not removed during the run"
    assert len(stats.workers) == 2  # one worker per node with CPUs
    keys = [record["key"] for record in records(distributed)]
    assert len(keys) == len(set(keys)) == 8  # every unit once: none lost, none written twice
    assert all(record["error"] is None for record in records(distributed))
    ours, theirs = comparable(distributed), comparable(local)
    assert ours.keys() == theirs.keys()
    usage = ("prompt_tokens", "completion_tokens", "cost_usd")
    retried = []
    for key in ours:
        if ours[key]["prompt_tokens"] == 0:  # retried after the node went: its answer came from the cache
            retried.append(key)
            ours[key] = {k: v for k, v in ours[key].items() if k not in usage}
            theirs[key] = {k: v for k, v in theirs[key].items() if k not in usage}
        assert ours[key] == theirs[key], key
    assert len(retried) <= 4  # at most the units in flight on the removed node
    assert 0 < sum(r.solved for r in outcome.results) < 8
    # The driver wrote each unit's trace events; model calls carry their unit.
    trace = (distributed / "trace.jsonl").read_text(encoding="utf-8")
    assert trace.count('"event": "model_call"') >= 8 and '"unit": "' in trace


def test_one_budget_holds_across_the_nodes(cluster, tmp_path, scripted_server):
    # A model with a known litellm price, served by the scripted server: every call costs the same.
    server = scripted_server([Rule(response="```python\nprint(42)\n```", latency_s=0.2)])
    problems = sample_problems(5)
    # The router reserves each call's worst case (~$0.0098 for gpt-4o-mini's 16k output tokens) and
    # a call costs ~$0.0001: two calls fit in flight, and the budget is gone after a few units. A
    # budget per node would let each node run every unit.
    max_cost = 0.02
    outcome = run(
        options(
            tmp_path / "run",
            problems,
            model="openai/gpt-4o-mini",
            api_base=server.base_url,
            max_cost=max_cost,
            concurrency=2,
            executor="ray",
        )
    )
    assert outcome.stopped and "budget reached" in outcome.stopped
    finished = records(tmp_path / "run")
    assert 0 < len(finished) < 10 and len(server.calls()) < 10
    per_call = max(record["cost_usd"] for record in finished)
    # Every call any node made was reserved in the one budget: together they stay under --max-cost.
    assert len(server.calls()) * per_call <= max_cost + 1e-12
    assert sum(record["cost_usd"] for record in finished) <= max_cost
