"""Cases from the field (``tests/fixtures/cases``), each judged through the CLI as a user runs it.

``alphaflow sandbox run SOLUTION --problem problem.jsonl --name NAME --json`` on both backends; each
case's right value is in ``tests/fixtures/cases/README.md``. Siblings of each kind of fault (relative
tolerance, the C++ standard, a program that really exceeds the memory limit, the statement rule)
are tested beside them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sandbox_programs import require_docker

from alphaflow.problems import Problem, statement_allows_any_case
from alphaflow.sandbox.runner.checker import compare_tokens
from alphaflow.sandbox.types import TokenChecker

CASES = Path(__file__).resolve().parent / "fixtures" / "cases"
BACKENDS = [pytest.param("docker", marks=pytest.mark.docker), "local"]


def sandbox_run(backend: str, solution: Path, problem: Path, name: str, *flags: str) -> dict[str, Any]:
    if backend == "docker":
        require_docker()
    command = [sys.executable, "-m", "alphaflow", "sandbox", "run", str(solution)]
    command += ["--problem", str(problem), "--name", name, "--backend", backend, "--json", *flags]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    result = json.loads(done.stdout)
    assert (done.returncode == 0) == (result["verdict"] == "AC")
    return result


def verdicts(result: dict[str, Any]) -> list[str]:
    return [test["verdict"] for test in result["tests"]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_01_an_answer_off_by_exactly_the_tolerance_is_accepted(backend: str) -> None:
    case = CASES / "01-float-tol-boundary"
    result = sandbox_run(backend, case / "solution.py", case / "problem.jsonl", "ratio")
    assert (result["verdict"], verdicts(result)) == ("AC", ["AC", "AC"])
    assert result["checker"] == {"kind": "tokens", "float_tol": 1e-6, "case_sensitive": True}


@pytest.mark.parametrize("backend", BACKENDS)
def test_02_cpp_is_compiled_with_online_judge_defined(backend: str, tmp_path: Path) -> None:
    case = CASES / "02-online-judge-macro"
    result = sandbox_run(backend, case / "solution.cpp", case / "problem.jsonl", "plus")
    assert (result["verdict"], result["passed"]) == ("AC", 2)
    # Sibling: the current standard (C++20) and -O2, as on Codeforces.
    probe = tmp_path / "probe.cpp"
    probe.write_text(
        "#include <bits/stdc++.h>\n"
        "int main() { long long a, b; std::cin >> a >> b;\n"
        "#if __cplusplus >= 202002L && defined(__OPTIMIZE__) && defined(ONLINE_JUDGE)\n"
        "  std::cout << std::midpoint(a, b) * 0 + a + b << '\\n';\n"
        "#endif\n}\n"
    )
    assert sandbox_run(backend, probe, case / "problem.jsonl", "plus")["verdict"] == "AC"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("solution", ["solution_thread.py", "solution_main.py", "solution.cpp"])
def test_05_deep_recursion_within_the_memory_limit_is_accepted(backend: str, solution: str) -> None:
    case = CASES / "05-deep-recursion"
    result = sandbox_run(backend, case / solution, case / "problem.jsonl", "chain")
    assert (result["verdict"], result["passed"], result["total"]) == ("AC", 3, 3), result["tests"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_05_a_program_really_over_the_memory_limit_is_mle_not_wa(backend: str) -> None:
    case = CASES / "05-deep-recursion"  # ~216 MiB resident on the last test, judged under 128 MiB
    result = sandbox_run(
        backend, case / "solution_thread.py", case / "problem.jsonl", "chain", "--memory-limit", "128"
    )
    assert result["verdict"] == "MLE" and verdicts(result)[:2] == ["AC", "AC"], result["tests"]
    assert result["tests"][2]["memory_kb"] > 128 * 1024


@pytest.mark.parametrize("backend", BACKENDS)
def test_15_yes_no_in_any_case_follows_the_statement(backend: str, tmp_path: Path) -> None:
    case = CASES / "15-yes-no-any-case"
    result = sandbox_run(backend, case / "solution.py", case / "problem.jsonl", "even")
    assert (result["verdict"], result["passed"]) == ("AC", 3)
    assert result["checker"]["case_sensitive"] is False
    # The same problem without the sentence: case matters, unless --case-insensitive says otherwise.
    row = json.loads((case / "problem.jsonl").read_text())
    row["description"] = "Read n. Print YES if n is even and NO otherwise."
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps(row) + "\n")
    assert sandbox_run(backend, case / "solution.py", plain, "even")["verdict"] == "WA"
    forced = sandbox_run(backend, case / "solution.py", plain, "even", "--case-insensitive")
    assert forced["verdict"] == "AC" and forced["checker"]["case_sensitive"] is False


@pytest.mark.parametrize(
    ("statement", "any_case"),
    [
        ("You can print each letter in any case (upper or lower).", True),
        (
            "You may print every letter in any case you want (so, for example, the strings yEs, yes, "
            "Yes and YES will all be recognized as positive answer).",
            True,
        ),
        ('Print "YES" or "NO". The answer is case-insensitive.', True),
        ("Output the answer in any case.", True),
        ("Both uppercase and lowercase letters are accepted.", True),
        ("The case of letters does not matter.", True),
        ("The output is not case sensitive.", True),
        ("You may print the answer in uppercase or lowercase.", True),
        ("The string consists of uppercase or lowercase Latin letters.", False),  # input, not output
        ("In any case, the answer fits in a 64-bit integer.", False),  # the English idiom
        ("Print YES if n is even and NO otherwise.", False),
        ("", False),
    ],
)
def test_the_any_case_rule(statement: str, any_case: bool) -> None:
    assert statement_allows_any_case(statement) is any_case


def test_an_explicit_setting_beats_the_statement() -> None:
    problem = Problem(name="p", description="You can print each letter in any case.")
    assert TokenChecker.for_problem(problem) == TokenChecker(case_sensitive=False)
    problem.case_insensitive = False
    assert TokenChecker.for_problem(problem) == TokenChecker(case_sensitive=True)
    assert TokenChecker.for_problem(problem, True) == TokenChecker(case_sensitive=False)
    assert problem.for_flow()["case_insensitive"] is False
    assert TokenChecker.for_problem({"case_insensitive": True}).case_sensitive is False


@pytest.mark.parametrize(
    ("expected", "actual", "accepted"),
    [
        ("0.1", "0.100001", True),  # case 01: exactly 1e-6 apart (0.1 + 1e-6 is not exact in binary)
        ("1", "1.000001", True),
        ("0.3", "0.299999", True),
        ("0.1", "0.1000010000001", False),
        ("123456789", "123456912.456789", True),  # relative: exactly 1e-6 of the expected value
        ("123456789", "123456912.4567891", False),
        ("-5e8", "-500000500", True),
        ("1e300", "1.000001e300", True),
        ("1e-300", "0", True),  # absolute tolerance
        ("1e400", "1e400", True),  # beyond a double: still compared on the text
        ("1e400", "2e400", False),
        ("inf", "INF", False),  # not numbers: words, compared exactly
        ("0.5", "\u0660.\u0665", False),  # Arabic-Indic digits are not a number a judge reads
        ("1", "\u0661", False),
    ],
)
def test_float_tolerance_is_exact_at_the_boundary(expected: str, actual: str, accepted: bool) -> None:
    assert compare_tokens(expected, actual, float_tol=1e-6)[0] is accepted


@pytest.mark.parametrize("command", [["sandbox", "run"], ["solve"], ["bench", "codecontests"]])
def test_every_judging_command_takes_case_insensitive(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alphaflow", *command, "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "--case-insensitive" in done.stdout


def test_a_flows_sandbox_step_follows_the_problem(tmp_path: Path) -> None:
    """The flow engine's sandbox step judges with the problem's case rule (``for_flow()``)."""
    import asyncio

    from alphaflow.engine.runner import RunContext, run_flow
    from alphaflow.sandbox import open_sandbox

    flow = tmp_path / "judge.yaml"
    flow.write_text(
        "name: judge_only\n"
        "inputs:\n  problem: {type: object}\n"
        "steps:\n"
        "  - id: judge\n    kind: sandbox\n    code: \"print('Yes')\"\n    language: python\n"
        '    tests: "{{ inputs.problem.public_tests }}"\n'
        'outputs:\n  verdict: "{{ judge.verdict }}"\n  case_sensitive: "{{ judge.checker.case_sensitive }}"\n'
    )
    row = json.loads((CASES / "15-yes-no-any-case" / "problem.jsonl").read_text())
    problem = Problem.from_codecontests(row)
    context = RunContext(sandbox_factory=lambda: open_sandbox("local", warn=False))
    result = asyncio.run(run_flow(flow, {"problem": problem.for_flow()}, context))
    assert result.outputs["verdict"] == "AC", result.outputs
    assert result.outputs["case_sensitive"] in (False, "False")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("stated", "off_by", "verdict"),
    [
        ("1e-3", 5e-4, "AC"),  # a looser tolerance than the default 1e-6, as the statement says
        ("10^{-9}", 1e-7, "WA"),  # a tighter one
        ("10^-4", 5e-5, "AC"),
    ],
)
def test_the_tolerance_a_statement_names_is_the_one_judged_by(
    backend: str, tmp_path: Path, stated: str, off_by: float, verdict: str
) -> None:
    """Sibling of case 01: the error bound comes from the statement, else the checker's default."""
    problem = {
        "name": "ratio",
        "description": f"Print a/b. Your answer is accepted if its absolute or relative error does not "
        f"exceed {stated}.",
        "public_tests": {"input": ["1 10\n"], "output": ["0.100000000000\n"]},
    }
    (tmp_path / "problem.jsonl").write_text(json.dumps(problem) + "\n", encoding="utf-8")
    solution = tmp_path / "solution.py"
    solution.write_text(f"a, b = map(int, input().split())\nprint('%.12f' % (a / b + {off_by!r}))\n")
    result = sandbox_run(backend, solution, tmp_path / "problem.jsonl", "ratio")
    assert result["verdict"] == verdict and result["checker"]["float_tol"] < 1e-2
