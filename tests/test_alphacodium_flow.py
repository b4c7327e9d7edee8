"""The whole AlphaCodium flow end to end, through `alphaflow solve`.

The model is the scripted OpenAI-compatible server over real HTTP (litellm client), the code is judged
by the real sandbox (local backend here; the docker backend in the test marked `docker`). The server
records every request with its step path, so each test asserts how many calls each stage made.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from alphaflow.cli import main
from alphaflow.problems import find_problem
from alphaflow.trace import read_trace

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
DATASET = Path("/work/shared/data/codecontests/train_sample.jsonl")
if not DATASET.exists():
    DATASET = REPO.parent / "shared" / "data" / "codecontests" / "train_sample.jsonl"


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ALPHAFLOW_MODEL", raising=False)


def solve(
    capsys: pytest.CaptureFixture[str],
    server: Any,
    problem: str,
    *extra: str,
    tmp_path: Path,
    sandbox: str = "local",
) -> tuple[int, dict[str, Any], str]:
    """Run `alphaflow solve ... --json` in-process; (exit code, the JSON report, stderr)."""
    code = main(
        [
            "solve",
            problem,
            "--model",
            "openai/scripted",
            "--api-base",
            server.base_url,
            "--sandbox",
            sandbox,
            "--trace",
            str(tmp_path / "trace.jsonl"),
            "--json",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    report = json.loads(captured.out) if captured.out.strip() else {}
    return code, report, captured.err


def calls_per_step(server: Any) -> Counter[str]:
    """Requests per step id (loop iterations merged: `fix_ai[3].analyse_ai` -> `analyse_ai`)."""
    return Counter((request.step or "?").rsplit(".", 1)[-1] for request in server.requests)


def fenced(language: str, code: str) -> str:
    return f"```{language}\n{code.strip()}\n```\n"


def test_tile_painting_public_fix_repairs_and_ai_fix_breaking_an_anchor_is_reverted(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The README's dry run: first programs fail public test `4`; the fix step repairs them; an AI
    test with a wrong expected output provokes fixes that break anchored tests, which are reverted."""
    server = scripted_server(EXAMPLES / "scripted" / "tile_painting.yaml")
    exit_code, report, _ = solve(
        capsys,
        server,
        str(EXAMPLES / "problems" / "tile_painting.md"),
        "--out",
        str(tmp_path / "solution.py"),
        tmp_path=tmp_path,
    )

    assert exit_code == 0
    assert (
        report["public"]["verdict"] == "AC" and report["public"]["passed"] == report["public"]["total"] == 2
    )
    assert report["evaluation"] is None  # a statement file has no private tests
    assert "max_colours" in report["code"]  # the public fix, not the reverted AI fix
    assert (tmp_path / "solution.py").read_text() == report["code"]
    assert report["outputs"]["ai_tests"] == {"passed": 9, "fixed": 0, "reverted": 2, "given_up": 1}
    assert calls_per_step(server) == {
        "reflect": 1,
        "validate_reflection": 1,
        "propose": 1,
        "rank": 1,
        "generate_tests": 1,
        "validate_tests": 1,
        "initial_code": 3,
        "analyse_public": 1,
        "fix_public_code": 1,
        "analyse_ai": 2,
        "fix_ai_code": 2,
    }
    assert report["calls"] == 15
    # initial-code retries rotate over the solutions, best first, brute force dropped
    ideas = [request.last_user for request in server.calls() if request.step.endswith("initial_code")]
    assert "Smallest prime factor" in ideas[0] and "Gcd of divisors" in ideas[1]
    assert all("Write modular code" in idea for idea in ideas)  # modular_code is on by default
    assert "Smallest prime factor" in ideas[2] and not any("union-find" in idea for idea in ideas)
    # the fix prompt shows the failing test: input, expected output, actual output
    analyse = next(r.last_user for r in server.calls() if r.step.endswith("analyse_public"))
    assert "Input:\n```\n4\n" in analyse and "Expected output:\n```\n2\n" in analyse
    assert "Actual output:\n```\n1\n" in analyse and "verdict WA" in analyse
    # the AI fix was judged on the anchors plus the failing test, and reverted because of an anchor
    events = read_trace(tmp_path / "trace.jsonl")
    fix_judges = [
        e
        for e in events
        if e["event"] == "step_end" and e["path"].endswith("ai_fix_judge") and e["status"] == "ok"
    ]
    assert len(fix_judges) == 2
    assert all(e["output"]["tests"][-1]["verdict"] == "AC" for e in fix_judges)  # it did pass the AI test
    assert all(any(t["verdict"] != "AC" for t in e["output"]["tests"][:-1]) for e in fix_judges)


def test_dataset_problem_private_tests_only_in_evaluation(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`DATASET.jsonl#NAME`: options from --set; private tests judged after the flow, never shown to it."""
    server = scripted_server(EXAMPLES / "scripted" / "tile_painting.yaml")
    name = "1242_A. Tile Painting"
    exit_code, report, _ = solve(
        capsys,
        server,
        f"{DATASET}#{name}",
        "--set",
        "double_validation=false",
        "--set",
        "num_ai_tests=2",
        "--set",
        "temperature_code=0.9",
        "--set",
        "modular_code=false",
        tmp_path=tmp_path,
    )

    assert exit_code == 0
    private = find_problem(DATASET, name).private_tests
    assert report["evaluation"]["verdict"] == "AC"
    assert report["evaluation"]["passed"] == report["evaluation"]["total"] == len(private) > 0
    prompts = "\n".join(json.dumps(request.messages) for request in server.requests)
    assert not any(json.dumps(test.input.strip())[1:-1] in prompts for test in private if len(test.input) > 3)
    counts = calls_per_step(server)
    assert counts["validate_reflection"] == 0 and counts["validate_tests"] == 0
    assert counts["analyse_ai"] == 0  # with 2 AI tests the wrong one (n = 12) is never reached
    temperatures = {r.step.rsplit(".", 1)[-1]: r.body["temperature"] for r in server.requests}
    assert temperatures["initial_code"] == 0.9 and temperatures["reflect"] == 0.2
    assert temperatures["rank"] == 0.0 and temperatures["fix_public_code"] == 0.2
    assert not any("modular" in r.last_user for r in server.requests if "code" in r.step)
    assert report["outputs"]["ai_tests"]["passed"] == 2 + 2 + 2


MAKES_SOLUTION = """
def count_min_triples(values):
    values = sorted(values)
    third = values[2]
    same = values.count(third)
    if values[0] == third:
        return same * (same - 1) * (same - 2) // 6
    if values[1] == third:
        return same * (same - 1) // 2
    return same


def main():
    input()
    print(count_min_triples(list(map(int, input().split()))))


main()
"""

REFLECTION = """```yaml
self_reflection: |
  - count index triples whose product is the minimum possible
tests_explanations: []
```"""


def plain_rules(code: str, tests: str, *, reflect: list[str] | None = None) -> list[dict[str, Any]]:
    """A script where every stage answers well (the reflection answers may be overridden)."""
    return [
        {"step": "*validate_reflection", "response": REFLECTION},
        {"step": "*reflect", "responses": reflect or [REFLECTION]},
        {
            "step": "*propose",
            "response": "```yaml\npossible_solutions:\n  - name: Sort\n    content: |\n"
            "      sort and count the equal third smallest\n```",
        },
        {"step": "*rank", "response": "best_solution: Sort\n"},
        {"step": "*tests", "response": tests},
        {"step": "*initial_code", "response": fenced("python", code)},
    ]


def test_malformed_yaml_answer_is_repaired_by_a_reask(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = "```yaml\nself_reflection: - sort: [the array\n  tests_explanations: {\n```"
    tests = (
        "```yaml\ntests:\n  - input: |\n      3\n      1 2 3\n    output: '1'\n  - input: |\n"
        "      5\n      2 2 2 2 2\n    output: '10'\n```"
    )
    server = scripted_server(plain_rules(MAKES_SOLUTION, tests, reflect=[broken, REFLECTION]))
    exit_code, report, _ = solve(
        capsys, server, str(EXAMPLES / "problems" / "makes_and_the_product.md"), tmp_path=tmp_path
    )

    assert exit_code == 0 and report["public"]["passed"] == 3
    counts = calls_per_step(server)
    assert counts["reflect"] == 2  # the broken answer, then the re-ask
    reask = [r for r in server.requests if r.step == "reflect"][1]
    assert reask.messages[-2]["content"] == broken and "self_reflection" in reask.messages[-1]["content"]
    assert counts["initial_code"] == 1 and counts["analyse_public"] == 0 and counts["analyse_ai"] == 0
    assert report["outputs"]["ai_tests"] == {"passed": 3 + 2 + 3, "fixed": 0, "reverted": 0, "given_up": 0}
    reasks = [e for e in read_trace(tmp_path / "trace.jsonl") if e["event"] == "step_reask"]
    assert [e["path"] for e in reasks] == ["reflect"]


def test_problem_without_public_tests_runs_and_is_evaluated(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The reference implementation crashes here (its issue #62); the flow relies on AI tests."""
    problem = tmp_path / "double.yaml"
    problem.write_text(
        "name: Double\ndescription: Read an integer n and print 2n.\n"
        'private_tests:\n  - {input: "21\\n", output: "42\\n"}\n'
        '  - {input: "-3\\n", output: "-6\\n"}\n'
    )
    tests = "```yaml\ntests:\n  - input: '1'\n    output: '2'\n  - input: '0'\n    output: '1'\n```"
    server = scripted_server(
        [
            *plain_rules("print(2 * int(input()))", tests),
            {
                "step": "*analyse_ai",
                "response": "what_went_wrong: the expected output is wrong\nfixed_flow: keep\n",
            },
            {
                "step": "*fix_ai_code",
                "response": fenced("python", "n = int(input())\nprint(2 * n + (n == 0))"),
            },
        ]
    )
    exit_code, report, _ = solve(capsys, server, str(problem), "--set", "ai_fix_budget=1", tmp_path=tmp_path)

    assert exit_code == 0
    assert report["public"] is None
    assert report["evaluation"]["verdict"] == "AC" and report["evaluation"]["total"] == 2
    counts = calls_per_step(server)
    assert counts["initial_code"] == 1 and counts["analyse_public"] == 0
    # the AI test with a wrong expected output (0 -> 1) gets one fix; the fix passes it and breaks
    # no anchor, so it is kept (there is nothing else to check it against without public tests)
    assert counts["analyse_ai"] == 1 and counts["fix_ai_code"] == 1
    assert report["outputs"]["ai_tests"]["fixed"] == 1


def test_direct_flow_is_one_call(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = scripted_server([{"step": "code", "response": fenced("python", MAKES_SOLUTION)}])
    exit_code, report, _ = solve(
        capsys,
        server,
        str(EXAMPLES / "problems" / "makes_and_the_product.md"),
        "--flow",
        "direct",
        tmp_path=tmp_path,
    )
    assert exit_code == 0 and calls_per_step(server) == {"code": 1}
    assert report["flow"] == "direct" and report["public"]["verdict"] == "AC"


def test_wrong_code_exits_1_with_the_failing_verdicts(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = scripted_server([{"step": "code", "response": fenced("python", "print(0)")}])
    exit_code, report, _ = solve(
        capsys, server, str(EXAMPLES / "problems" / "ice_skating.md"), "--flow", "direct", tmp_path=tmp_path
    )
    assert exit_code == 1
    assert report["public"]["verdict"] == "WA" and report["public"]["passed"] == 1
    assert [t["verdict"] for t in report["public"]["tests"]] == ["WA", "AC"]


ICE_SKATING_SOLUTION = """
def count_groups(points):
    seen = [False] * len(points)
    groups = 0
    for start in range(len(points)):
        if seen[start]:
            continue
        groups += 1
        stack = [start]
        seen[start] = True
        while stack:
            i = stack.pop()
            for j, other in enumerate(points):
                if not seen[j] and (other[0] == points[i][0] or other[1] == points[i][1]):
                    seen[j] = True
                    stack.append(j)
    return groups


def main():
    n = int(input())
    points = [tuple(map(int, input().split())) for _ in range(n)]
    print(count_groups(points) - 1)


main()
"""


@pytest.mark.docker
def test_alphacodium_with_the_docker_sandbox(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from alphaflow.sandbox.backends import docker_client

    client, why = docker_client()
    if client is None:
        pytest.skip(f"no Docker engine can be reached here: {why}")
    tests = (
        "```yaml\ntests:\n  - input: |\n      1\n      5 5\n    output: '0'\n  - input: |\n"
        "      3\n      1 1\n      2 2\n      3 3\n    output: '2'\n```"
    )
    server = scripted_server(plain_rules(ICE_SKATING_SOLUTION, tests))
    exit_code, report, err = solve(
        capsys,
        server,
        f"{DATASET}#217_A. Ice Skating",
        "--set",
        "num_ai_tests=2",
        tmp_path=tmp_path,
        sandbox="docker",
    )
    assert exit_code == 0, err  # exit 2 with "image missing" means: run `alphaflow sandbox build`
    assert report["public"]["verdict"] == "AC" and report["evaluation"]["verdict"] == "AC"
    assert calls_per_step(server)["initial_code"] == 1
    backends = {
        e["output"].get("backend")
        for e in read_trace(tmp_path / "trace.jsonl")
        if e["event"] == "step_end" and e["kind"] == "sandbox" and e["output"]
    }
    assert backends == {"docker"}


def test_budgets_from_the_cli_bound_the_stages(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No public-fix rounds: the public test failing at the head of the AI-test queue is repaired there."""
    server = scripted_server(EXAMPLES / "scripted" / "tile_painting.yaml")
    settings = ["public_fix_budget=0", "initial_code_attempts=1", "double_validation=off", "num_ai_tests=1"]
    exit_code, report, _ = solve(
        capsys,
        server,
        str(EXAMPLES / "problems" / "tile_painting.md"),
        *[arg for setting in settings for arg in ("--set", setting)],
        tmp_path=tmp_path,
    )
    counts = calls_per_step(server)
    assert counts["initial_code"] == 1 and counts["analyse_public"] == 0 and counts["fix_public_code"] == 0
    assert counts["analyse_ai"] == 1 and counts["fix_ai_code"] == 1
    assert report["outputs"]["ai_tests"]["fixed"] == 1 and report["outputs"]["stage"] == "ai_tests"
    assert exit_code == 0 and report["public"]["verdict"] == "AC"


def test_answer_that_stays_malformed_stops_the_run_with_the_step_named(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = scripted_server(
        [{"step": "*reflect", "response": "```yaml\nself_reflection: [never closed\n```"}]
    )
    exit_code, report, err = solve(
        capsys, server, str(EXAMPLES / "problems" / "tile_painting.md"), tmp_path=tmp_path
    )
    assert exit_code == 1 and report == {}
    assert "step 'reflect' failed" in err and "trace kept" in err
    assert calls_per_step(server) == {"reflect": 3}  # the answer and two re-asks, nothing after


def test_prose_instead_of_code_is_a_failed_attempt_and_the_next_solution_is_tried(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tests = "```yaml\ntests:\n  - input: |\n      3\n      1 2 3\n    output: '1'\n```"
    rules = plain_rules(MAKES_SOLUTION, tests)
    rules[-1] = {
        "step": "*initial_code",
        "responses": ["Sorry, I cannot write that program.", fenced("python", MAKES_SOLUTION)],
    }
    server = scripted_server(rules)
    exit_code, report, _ = solve(
        capsys,
        server,
        str(EXAMPLES / "problems" / "makes_and_the_product.md"),
        "--set",
        "double_validation=false",
        tmp_path=tmp_path,
    )
    assert exit_code == 0 and report["public"]["verdict"] == "AC"
    assert calls_per_step(server)["initial_code"] == 2 and calls_per_step(server)["analyse_public"] == 0
    judged = [
        e["output"]["verdict"]
        for e in read_trace(tmp_path / "trace.jsonl")
        if e["event"] == "step_end" and e["path"].endswith("initial_judge") and e["output"]
    ]
    assert judged[0] != "AC" and judged[-1] == "AC"
