"""Dry runs of any problem with no script: the built-in `--model stub`, and `scripted template FLOW`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from alphaflow.cli import main
from alphaflow.engine import load_flow
from alphaflow.testing.script import ScriptedRequest
from alphaflow.testing.stub import stub_answer
from alphaflow.testing.template import llm_steps

REPO = Path(__file__).resolve().parent.parent
BUILT_IN_FLOWS = [
    "alphacodium",
    "direct",
    "self_rewarding",
    "self_rewarding_code",
    "eval/rubric",
    "eval/pairwise",
    "eval/reference",
]

OWN_PROBLEM = """# Sum of two numbers

Read two integers a and b and print their sum.

## Example

Input:
```
1 2
```
Output:
```
3
```

## Example

Input:
```
-5 5
```
Output:
```
0
```
"""


def ask(prompt: str, choice: int = 0) -> str:
    request = ScriptedRequest(
        messages=[{"role": "user", "content": prompt}], model="stub", step=None, body={}, choice_index=choice
    )
    return stub_answer(request)


@pytest.fixture
def own_problem(tmp_path: Path) -> Path:
    path = tmp_path / "my_problem.md"
    path.write_text(OWN_PROBLEM, encoding="utf-8")
    return path


# --- what the stub answers ------------------------------------------------------------------------


def test_judge_prompts_get_the_line_their_parser_reads() -> None:
    assert ask(
        "Rate it.\nwrite the total in exactly this form:\nScore: <a whole number from 0 to 5>"
    ).endswith(("Score: 3", "Score: 4"))
    assert ask("Which is better?\nWinner: A\nWinner: B\nWinner: tie").endswith("Winner: A")
    assert ask("Is it right?\nVerdict: correct\nVerdict: incorrect").endswith("Verdict: correct")
    assert ask('Write a new request. Reply with the new request only, starting with "Task:".').startswith(
        "Task:"
    )
    assert ask("<answer>\n```python\nprint(1)\n```\n</answer>\nReply with a single digit from 1 to 5.") == "3"


def test_yaml_answers_have_the_shape_of_the_prompts_example_block() -> None:
    prompt = (
        "Answer with a YAML block and nothing else:\n```yaml\ntests:\n  - input: |\n      ...\n"
        "    output: |\n      ...\n```\n"
    )
    answer = ask(prompt)
    body = answer.split("```yaml\n", 1)[1].split("```", 1)[0]
    parsed = yaml.safe_load(body)
    assert list(parsed) == ["tests"] and set(parsed["tests"][0]) == {"input", "output"}


def test_code_answers_echo_in_the_asked_language() -> None:
    python = ask("Write the program. Answer with the code in one fenced ```python block.")
    cpp = ask("Write the program. Answer with the code in one fenced ```cpp block.")
    prose_cpp = ask("Solve it in cpp. Reply with the complete program in one fenced code block.")
    assert "```python\n" in python and "sys.stdin.read()" in python
    assert "```cpp\n" in cpp and "#include <iostream>" in cpp
    assert "```cpp\n" in prose_cpp


def test_a_quoted_yaml_block_before_a_code_instruction_still_gets_code() -> None:
    prompt = (
        "Analysis:\n```yaml\nwhat_went_wrong: x\n```\nCode:\n```python\nprint(2)\n```\n"
        "Answer with the fixed code in one fenced ```python block."
    )
    assert "```python\n" in ask(prompt)


# --- dry runs of a user's own problem ----------------------------------------------------------------


@pytest.mark.parametrize("flow", ["alphacodium", "direct"])
def test_solve_runs_a_users_own_markdown_problem_end_to_end(
    flow: str, own_problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "trace.jsonl"
    code = main(
        [
            "solve",
            str(own_problem),
            "--flow",
            flow,
            "--model",
            "stub",
            "--sandbox",
            "local",
            "--json",
            "--trace",
            str(trace),
        ]
    )
    out = json.loads(capsys.readouterr().out)
    # the echo program prints "1 2" for "1 2": a wrong answer, judged, not a crash
    assert code == 1
    assert out["public"]["verdict"] == "WA" and out["public"]["total"] == 2
    assert out["calls"] >= (10 if flow == "alphacodium" else 1)
    assert trace.exists()


def test_solve_in_cpp_with_the_stub(own_problem: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "solve",
            str(own_problem),
            "--flow",
            "direct",
            "--language",
            "cpp",
            "--model",
            "stub",
            "--sandbox",
            "local",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["public"]["verdict"] == "WA"  # compiled and ran: not CE


def test_bench_runs_a_users_own_markdown_problem(
    own_problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    code = main(
        [
            "bench",
            "codecontests",
            "--data",
            str(own_problem),
            "--flow",
            "direct",
            "--model",
            "stub",
            "--samples",
            "2",
            "--sandbox",
            "local",
            "--out",
            str(run_dir),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert code in (0, 1)
    assert len(records) == 2 and all(not record.get("error") for record in records)
    assert all(record["evaluation"]["total"] == 2 for record in records)
    assert "evaluated on their examples" in captured.err


def test_bench_data_glob_of_problem_files(own_problem: Path, tmp_path: Path) -> None:
    from alphaflow.bench.datasets import load_problems, parse_data_source

    (tmp_path / "second.md").write_text(OWN_PROBLEM.replace("Sum of two numbers", "Second"), encoding="utf-8")
    problems = load_problems(parse_data_source(str(tmp_path / "*.md"))).problems
    assert sorted(p.name for p in problems) == ["Second", "Sum of two numbers"]
    assert all(
        p.private_tests and [t.input for t in p.private_tests] == [t.input for t in p.public_tests]
        for p in problems
    )


def test_bench_data_glob_matching_nothing_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "bench",
            "codecontests",
            "--data",
            str(tmp_path / "*.md"),
            "--flow",
            "direct",
            "--model",
            "stub",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    assert "matches no problem file" in capsys.readouterr().err


def test_judge_and_eval_run_with_the_stub(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = REPO / "examples" / "judge"
    code = main(
        [
            "judge",
            "self-reward",
            "--prompts",
            str(examples / "prompts.jsonl"),
            "--model",
            "stub",
            "--out",
            str(tmp_path / "sr"),
        ]
    )
    assert code == 0
    assert (tmp_path / "sr" / "iteration_1" / "dpo.jsonl").read_text().strip()
    for kind in ("rubric", "pairwise", "reference"):
        code = main(
            [
                "eval",
                kind,
                "--data",
                str(examples / f"{kind}.jsonl"),
                "--model",
                "stub",
                "--out",
                str(tmp_path / kind),
                "--json",
            ]
        )
        assert code == 0, kind
        summary = json.loads((tmp_path / kind / "summary.json").read_text())
        assert summary, kind
    capsys.readouterr()


# --- scripted template ----------------------------------------------------------------------------


@pytest.mark.parametrize("flow", BUILT_IN_FLOWS)
def test_template_lists_every_llm_step_with_its_answer_format(
    flow: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "script.yaml"
    assert main(["scripted", "template", flow, "--out", str(out)]) == 0
    script = yaml.safe_load(out.read_text())
    steps = list(llm_steps(load_flow(flow)))
    assert [rule["step"] for rule in script["rules"]] == [step.pattern for step in steps]
    for rule, info in zip(script["rules"], steps, strict=True):
        if info.step.output.format == "yaml":
            body = rule["response"].split("```yaml\n", 1)[1].split("```", 1)[0]
            assert set(info.step.output.keys or []) <= set(yaml.safe_load(body)), rule["step"]
        elif info.step.output.format == "code":
            assert "```" in rule["response"]
    assert main(["scripted-server", str(out), "--check"]) == 0  # the written file is a valid script


def test_the_alphacodium_template_drives_a_solve(
    own_problem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "alphacodium.yaml"
    assert main(["scripted", "template", "alphacodium", "--out", str(script)]) == 0
    code = main(["solve", str(own_problem), "--model", f"scripted:{script}", "--sandbox", "local", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["public"]["verdict"] == "WA"


def test_template_refuses_to_overwrite_and_names_a_missing_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "script.yaml"
    out.write_text("keep me")
    assert main(["scripted", "template", "direct", "--out", str(out)]) == 2
    assert out.read_text() == "keep me"
    assert "--force" in capsys.readouterr().err
    assert main(["scripted", "template", "no_such_flow"]) == 2
    assert "no_such_flow" in capsys.readouterr().err
