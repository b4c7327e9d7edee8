"""Validation: every bad case is reported as file:line:col yaml.path: message, all at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alphaflow.engine import FlowError, load_flow, validate_flow
from alphaflow.resources import flows_dir

FLOWS = Path(__file__).parent / "flows"
sys.path.insert(0, str(FLOWS))


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    """Each problem without the directory part of its file name: ``flow.yaml:3:5 path: message``."""
    return [str(problem).replace(str(path.parent) + "/", "") for problem in validate_flow(path)]


def test_unknown_key_with_its_line_and_column_and_a_suggestion(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        steps:
          - id: a
            kind: llm
            user: hello
            temprature: 0.2
        """,
    )
    assert problems_of(path) == [
        "flow.yaml:6:5 steps[0].temprature: unknown key 'temprature' (did you mean 'temperature'?)"
    ]


def test_wrong_type_points_at_the_value(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        steps:
          - id: a
            kind: llm
            user: hello
            samples: [2]
        """,
    )
    [problem] = problems_of(path)
    assert problem.startswith("flow.yaml:6:14 steps[0].samples: ")
    assert "valid integer" in problem


def test_unknown_kind_and_missing_field(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        steps:
          - id: a
            kind: magic
          - id: b
            kind: python
        """,
    )
    assert problems_of(path) == [
        "flow.yaml:4:11 steps[0].kind: unknown step kind 'magic' (expected one of: llm, sandbox, python, "
        "loop, map, flow)",
        "flow.yaml:5:5 steps[1].function: missing required field 'function'",
    ]


def test_undefined_names_in_a_block_template_point_at_their_line(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        inputs:
          problem: {type: object}
        steps:
          - id: a
            kind: llm
            user: |
              Solve this.
              {{ problem.desc }}
              {{ inputs.problme }}
        """,
    )
    assert problems_of(path) == [
        "flow.yaml:9:7 steps[0].user: undefined name 'problem.desc'",
        "flow.yaml:10:7 steps[0].user: undefined input 'problme' (declared inputs: problem)",
    ]


def test_reference_to_a_later_step_or_itself_is_used_before_defined(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        steps:
          - {id: a, kind: python, function: "engine_glue.echo", args: {v: "{{ b }}", me: "{{ a }}"}}
          - {id: b, kind: python, function: "engine_glue.echo", when: "a and c"}
        functions: [engine_glue]
        """,
    )
    assert problems_of(path) == [
        "flow.yaml:3:67 steps[0].args.v: 'b' is used before it is defined (steps run in order)",
        "flow.yaml:3:82 steps[0].args.me: 'a' is used before it is defined (steps run in order)",
        "flow.yaml:4:63 steps[1].when: undefined name 'c'",
    ]


def test_body_steps_are_visible_inside_their_body_only(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        steps:
          - id: fan
            kind: map
            count: 2
            steps:
              - {id: one, kind: python, function: "engine_glue.echo", args: {i: "{{ index }}"}}
              - {id: two, kind: python, function: "engine_glue.echo", args: {prev: "{{ one }}"}}
            result: "{{ two }}"
          - id: after
            kind: python
            function: "engine_glue.echo"
            args: {bad: "{{ one }}", i: "{{ index }}"}
        functions: [engine_glue]
        """,
    )
    assert problems_of(path) == [
        "flow.yaml:13:17 steps[1].args.bad: 'one' is a step inside 'fan' and is not visible here",
        "flow.yaml:13:33 steps[1].args.i: undefined name 'index'",
    ]


def test_duplicate_ids_across_bodies_and_reserved_ids(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        steps:
          - {id: a, kind: python, function: "engine_glue.echo"}
          - id: l
            kind: loop
            max_iterations: 2
            steps:
              - {id: a, kind: python, function: "engine_glue.echo"}
          - {id: state, kind: python, function: "engine_glue.echo"}
        functions: [engine_glue]
        """,
    )
    assert problems_of(path) == [
        "flow.yaml:8:14 steps[1].steps[0].id: duplicate step id 'a' (first defined at line 3)",
        "flow.yaml:9:10 steps[2].id: step id 'state' is a reserved name",
    ]


def test_bad_yaml_reports_its_line(tmp_path):
    path = write(tmp_path, "name: x\nsteps:\n  - id: a\n    user: [unclosed\n")
    [problem] = problems_of(path)
    assert problem.startswith("flow.yaml:5:1 YAML syntax error")


def test_template_syntax_error(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        steps:
          - {id: a, kind: python, function: "engine_glue.echo", args: {v: "{{ 1 + }}"}}
        functions: [engine_glue]
        """,
    )
    [problem] = problems_of(path)
    assert problem.startswith("flow.yaml:3:67 steps[0].args.v: template syntax error")


def test_python_function_that_does_not_resolve(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        steps:
          - {id: a, kind: python, function: "no_such_module_xyz:f"}
          - {id: b, kind: python, function: "engine_glue.not_there"}
          - {id: c, kind: python, function: "not a path"}
        functions: [engine_glue]
        """,
    )
    problems = problems_of(path)
    assert [p.split(": ", 1)[0] for p in problems] == [
        "flow.yaml:3:37 steps[0].function",
        "flow.yaml:4:37 steps[1].function",
        "flow.yaml:5:37 steps[2].function",
    ]
    assert "'no_such_module_xyz:f' is not a registered step function" in problems[0]
    assert "unknown step function 'engine_glue.not_there'" in problems[1]
    assert "'not a path' is not a registered step function" in problems[2]


def test_prompt_file_missing_and_undefined_names_inside_it(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "ask.j2").write_text("Line one\nUse {{ nothing_here }}\n")
    path = write(
        tmp_path,
        """
        name: x
        steps:
          - {id: a, kind: llm, prompt_file: prompts/ask.j2}
          - {id: b, kind: llm, prompt_file: prompts/absent.j2}
        functions: [engine_glue]
        """,
    )
    problems = problems_of(path)
    assert problems[0] == "flow.yaml:4:37 steps[1].prompt_file: prompt file not found: prompts/absent.j2"
    assert problems[1] == "prompts/ask.j2:2:1 steps[0].prompt_file: undefined name 'nothing_here'"


def test_flow_cycles_are_reported(tmp_path):
    write(
        tmp_path,
        """
        name: a
        steps:
          - {id: call_b, kind: flow, flow: b.yaml}
        """,
        name="a.yaml",
    )
    write(
        tmp_path,
        """
        name: b
        steps:
          - {id: call_a, kind: flow, flow: a.yaml}
        """,
        name="b.yaml",
    )
    problems = problems_of(tmp_path / "a.yaml")
    assert len(problems) == 1
    assert problems[0].startswith("b.yaml:3:36 steps[0].flow: flow cycle: ")
    assert "a.yaml -> " in problems[0] and problems[0].endswith("a.yaml")


def test_called_flow_inputs_are_checked(tmp_path):
    path = write(
        tmp_path,
        """
        name: caller
        steps:
          - {id: c, kind: flow, flow: child.yaml, inputs: {wrod: x}}
          - {id: d, kind: flow, flow: nowhere}
        """,
    )
    (tmp_path / "child.yaml").write_text((FLOWS / "child.yaml").read_text().replace("./", f"{FLOWS}/"))
    assert problems_of(path) == [
        "flow.yaml:3:31 steps[0].flow: flow 'child' needs input 'word'",
        "flow.yaml:3:52 steps[0].inputs.wrod: flow 'child' has no input 'wrod' (inputs: word)",
        "flow.yaml:4:31 steps[1].flow: flow 'nowhere' not found (by path or name)",
    ]


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    path = write(
        tmp_path,
        """
        name: x
        inputs:
          n: {type: integer, default: many}
        steps:
          - {id: a, kind: llm, user: "{{ nope }}", extra: 1}
          - {id: a, kind: map, count: 2}
        outputs: {o: "{{ zzz }}"}
        """,
    )
    problems = problems_of(path)
    assert len(problems) == 6, problems
    assert [p.split(" ")[0] for p in problems] == [
        "flow.yaml:3:31",
        "flow.yaml:5:30",
        "flow.yaml:5:44",
        "flow.yaml:6:5",
        "flow.yaml:6:10",
        "flow.yaml:7:14",
    ]


def test_load_flow_raises_flow_error_with_every_problem_on_its_own_line(tmp_path):
    path = write(tmp_path, "name: x\nsteps:\n  - {id: a, kind: llm, user: '{{ b }}', foo: 1}\n")
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and all(":3:" in line for line in lines)


@pytest.mark.parametrize("path", sorted(p for p in flows_dir().rglob("*.yaml") if "prompts" not in p.parts))
def test_built_in_flows_validate(path):
    assert [str(problem) for problem in validate_flow(path)] == []


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env_path = f"{FLOWS}"
    return subprocess.run(
        [sys.executable, "-m", "alphaflow", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**__import__("os").environ, "PYTHONPATH": env_path},
        timeout=120,
    )


def test_cli_validate_exit_codes_and_output(tmp_path):
    text = "name: x\nsteps:\n  - {id: a, kind: llm, user: '{{ b }}', foo: 1}\n"
    bad = write(tmp_path, text, name="bad.yaml")
    good = FLOWS / "child.yaml"
    result = run_cli("flows", "validate", str(good), str(bad), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{good}: ok"
    assert lines[1].startswith("bad.yaml:3:") and len(lines) == 3
    assert "Traceback" not in result.stderr
    assert run_cli("flows", "validate", str(good)).returncode == 0


def test_cli_list_and_show(tmp_path):
    listing = run_cli("flows", "list", "--json")
    names = {flow["name"] for flow in __import__("json").loads(listing.stdout)}
    assert {"direct", "alphacodium"} <= names
    shown = run_cli("flows", "show", str(FLOWS / "kinds.yaml"))
    assert shown.returncode == 0
    assert "squares map (over inputs.xs as x, concurrency 2)" in shown.stdout
    assert "sq python engine_glue.slow_square reads x" in shown.stdout
    assert "flow child" in shown.stdout and "shout python engine_glue.echo reads inputs.word" in shown.stdout
    missing = run_cli("flows", "show", "no-such-flow")
    assert missing.returncode == 2
    assert missing.stderr.startswith("alphaflow: error: flow 'no-such-flow' not found")


def test_alias_bombs_and_recursive_aliases_do_not_hang_validation(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    text = "name: bomb\nbombs:\n" + "\n".join("  " + line for line in levels) + "\nsteps: []\n"
    bomb = write(tmp_path, text)
    problems = problems_of(bomb)  # 9**10 strings if expanded; returns at once
    assert any("unknown key 'bombs'" in problem for problem in problems)
    loop = write(tmp_path, "name: loop\nsteps: &s\n  - *s\n", name="loop.yaml")
    assert problems_of(loop)  # reported, not a RecursionError


def test_binary_flow_and_prompt_files_are_reported_not_raised(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: x\xff\n")
    assert problems_of(binary) == ["binary.yaml:1:1 not UTF-8 text (byte 7)"]
    (tmp_path / "p.j2").write_bytes(b"\xfe\xff")
    path = write(tmp_path, "name: x\nsteps:\n  - {id: a, kind: llm, prompt_file: p.j2}\n")
    [problem] = problems_of(path)
    assert problem.startswith("flow.yaml:3:37 steps[0].prompt_file: cannot read prompt file")


def test_show_and_run_print_flow_text_that_looks_like_markup_as_is():
    flow = FLOWS / "markup.yaml"
    shown = run_cli("flows", "show", str(flow))
    assert shown.returncode == 0, shown.stderr
    assert "[/bold] breaks [red]markup" in shown.stdout and "['[/y]']" in shown.stdout
    ran = run_cli("run", str(flow))
    assert ran.returncode == 0, ran.stderr
    assert '["[/]"]' in ran.stdout


def test_cli_validate_accepts_a_folder_of_flows():
    result = run_cli("flows", "validate", str(flows_dir()))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert any(line.endswith("direct.yaml: ok") for line in lines)
    assert all(line.endswith(": ok") for line in lines)
