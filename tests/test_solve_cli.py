"""`alphaflow solve` as a user meets it: the report, the exit codes, and one-line errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alphaflow.cli import main
from alphaflow.solve.overrides import parse_overrides
from alphaflow.trace import read_trace

REPO = Path(__file__).resolve().parent.parent
PROBLEM = str(REPO / "examples" / "problems" / "makes_and_the_product.md")
DATASET = Path("/work/shared/data/codecontests/train_sample.jsonl")
if not DATASET.exists():
    DATASET = REPO.parent / "shared" / "data" / "codecontests" / "train_sample.jsonl"
TILE_CODE = (
    "n = int(input())\np = next((d for d in range(2, int(n ** 0.5) + 1) if n % d == 0), n)\n"
    "while n % p == 0 and n > 1:\n    n //= p\nprint(p if n == 1 else 1)\n"
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ALPHAFLOW_MODEL", raising=False)


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("alphaflow: error:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_human_report_shows_public_and_evaluation_tables(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = scripted_server([{"step": "code", "response": f"```python\n{TILE_CODE}```"}])
    code = main(
        [
            "solve",
            f"{DATASET}#1242_A. Tile Painting",
            "--flow",
            "direct",
            "--model",
            "openai/x",
            "--api-base",
            server.base_url,
            "--sandbox",
            "local",
            "--trace",
            str(tmp_path / "t.jsonl"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "Public tests (the flow saw these)" in captured.out
    assert "Evaluation: private tests (never shown to the flow)" in captured.out
    assert "2/2 passed" in captured.out and "8/8 passed" in captured.out
    assert "1 model calls" in captured.out and "cost $0.0000" not in captured.out  # price of openai/x unknown
    assert "alphaflow: stage code" in captured.err  # progress lines when stderr is not a terminal


def test_no_model_names_the_flag_and_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", PROBLEM]) == 2
    line = error_line(capsys)
    assert "--model" in line and "ALPHAFLOW_MODEL" in line


def test_missing_api_key_names_the_variable(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(
        [
            "solve",
            PROBLEM,
            "--model",
            "openai/gpt-4o-mini",
            "--sandbox",
            "local",
            "--trace",
            str(tmp_path / "t.jsonl"),
        ]
    )
    assert code == 2
    assert "OPENAI_API_KEY" in error_line(capsys)


def test_model_from_environment_variable(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = scripted_server([{"step": "code", "response": "```python\nprint(0)\n```"}])
    monkeypatch.setenv("ALPHAFLOW_MODEL", "openai/from-env")
    code = main(
        [
            "solve",
            PROBLEM,
            "--flow",
            "direct",
            "--api-base",
            server.base_url,
            "--sandbox",
            "local",
            "--trace",
            str(tmp_path / "t.jsonl"),
            "--json",
        ]
    )
    assert code == 1  # print(0) fails the public tests
    assert server.requests[0].model == "from-env"


def test_unknown_flow_lists_the_available_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", PROBLEM, "--flow", "alphacodum", "--model", "openai/x"]) == 2
    line = error_line(capsys)
    assert "alphacodum" in line and "alphacodium" in line and "direct" in line


@pytest.mark.parametrize(
    "pair, message",
    [
        ("num_ai_test=4", "has no input 'num_ai_test'"),
        ("num_ai_tests=four", "'four' is not a valid integer"),
        ("double_validation=maybe", "'maybe' is not a valid boolean"),
        ("problem=x", "PROBLEM argument"),
        ("novalue", "expected KEY=VALUE"),
    ],
)
def test_bad_set_is_a_usage_error(pair: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", PROBLEM, "--model", "openai/x", "--set", pair]) == 2
    line = error_line(capsys)
    assert "--set" in line and message in line


def test_set_values_are_typed_by_the_flow_inputs() -> None:
    from alphaflow.engine import load_flow

    values = parse_overrides(
        ["num_ai_tests=4", "double_validation=off", "modular_code=false", "public_fix_budget=0"],
        load_flow("alphacodium").spec,
    )
    assert values == {
        "num_ai_tests": 4,
        "double_validation": False,
        "modular_code": False,
        "public_fix_budget": 0,
    }


def test_bad_problem_file_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"name": "x"}')
    assert main(["solve", str(bad), "--model", "openai/x"]) == 2
    assert f"{bad}: field 'description'" in error_line(capsys)


def test_statement_without_parseable_examples_warns_and_runs(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    statement = tmp_path / "story.md"
    statement.write_text("# Answer\n\nPrint 42.\n\n## Examples\n\nsee the picture\n")
    server = scripted_server([{"step": "code", "response": "```python\nprint(42)\n```"}])
    code = main(
        [
            "solve",
            str(statement),
            "--flow",
            "direct",
            "--model",
            "openai/x",
            "--api-base",
            server.base_url,
            "--sandbox",
            "local",
            "--trace",
            str(tmp_path / "t.jsonl"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1  # nothing was verified: never a success
    assert "could not parse the statement's examples" in captured.err and "zero public tests" in captured.err
    assert "No public tests" in captured.out and "nothing verified" in captured.out


def test_unreachable_endpoint_fails_clearly_and_keeps_the_trace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    trace = tmp_path / "run.jsonl"
    code = main(
        [
            "solve",
            PROBLEM,
            "--flow",
            "direct",
            "--model",
            "openai/x",
            "--api-base",
            f"http://127.0.0.1:{port}/v1",
            "--sandbox",
            "local",
            "--trace",
            str(trace),
        ]
    )
    assert code != 0
    line = error_line(capsys)
    assert "step 'code' failed" in line and f"trace kept: {trace}" in line
    # named with its URL, and not retried like a flaky server (one quick second try, in the backend)
    assert f"cannot connect to http://127.0.0.1:{port}/v1 (connection refused)" in line
    calls = [e for e in read_trace(trace) if e["event"] == "model_call"]
    assert calls and calls[-1]["error"] and calls[-1]["attempts"] == 1


def test_api_key_never_reaches_the_trace(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "sk-test-very-secret-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    # a hostile program that prints the environment: the sandbox must not pass the key on
    server = scripted_server(
        [
            {
                "step": "code",
                "response": "```python\nimport os\nprint(os.environ.get('OPENAI_API_KEY', 'none'))\n```",
            }
        ]
    )
    trace = tmp_path / "t.jsonl"
    main(
        [
            "solve",
            PROBLEM,
            "--flow",
            "direct",
            "--model",
            "openai/x",
            "--api-base",
            server.base_url,
            "--sandbox",
            "local",
            "--trace",
            str(trace),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert secret not in trace.read_text() and secret not in captured.out and secret not in captured.err


def test_budget_stops_before_the_first_call(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = scripted_server([{"step": "code", "response": "```python\nprint(1)\n```"}])
    code = main(
        [
            "solve",
            PROBLEM,
            "--flow",
            "direct",
            "--model",
            "openai/gpt-4o-mini",
            "--api-base",
            server.base_url,
            "--max-cost",
            "0.0000001",
            "--sandbox",
            "local",
            "--trace",
            str(tmp_path / "t.jsonl"),
        ]
    )
    assert code == 3
    assert "budget" in error_line(capsys).lower()
    assert server.requests == []


def test_cpp_solution_is_judged_as_cpp(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cpp = '#include <cstdio>\nint main(){long long n; std::scanf("%lld", &n); std::printf("%lld\\n", 2*n);}'
    problem = tmp_path / "double.yaml"
    problem.write_text('description: Print 2n.\npublic_tests: [{input: "4\\n", output: "8\\n"}]\n')
    server = scripted_server([{"step": "code", "response": f"Here:\n```cpp\n{cpp}\n```\n"}])
    code = main(
        [
            "solve",
            str(problem),
            "--flow",
            "direct",
            "--language",
            "cpp",
            "--model",
            "openai/x",
            "--api-base",
            server.base_url,
            "--sandbox",
            "local",
            "--out",
            str(tmp_path / "a.cpp"),
            "--trace",
            str(tmp_path / "t.jsonl"),
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["language"] == "cpp" and report["public"]["verdict"] == "AC"
    assert "complete cpp program" in server.requests[0].last_user
    assert (tmp_path / "a.cpp").read_text().startswith("#include <cstdio>")


def test_unwritable_outputs_fail_before_any_model_call(
    scripted_server: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    server = scripted_server([{"step": "code", "response": "```python\nprint(1)\n```"}])
    base = ["solve", PROBLEM, "--flow", "direct", "--model", "openai/x", "--api-base", server.base_url]
    assert main([*base, "--out", str(tmp_path)]) == 2
    assert "--out" in error_line(capsys) and server.requests == []
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([*base, "--trace", str(blocker / "t.jsonl")]) == 2
    assert "--trace" in error_line(capsys) and server.requests == []
