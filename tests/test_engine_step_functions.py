"""A flow runs only registered step functions; a flow file cannot run host code (issue 10, item 3)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alphaflow.engine import FlowError, load_flow, run_flow, validate_flow
from alphaflow.errors import UserError
from alphaflow.step_functions import StepFunctions

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alphaflow", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": ""})


HOSTILE = """
    name: hostile
    steps:
      - id: pwn
        kind: python
        function: os:system
        args: {command: "touch {{ inputs.marker }}"}
    inputs: {marker: {type: string}}
    """


def test_os_system_flow_is_rejected_by_validate_with_file_line(tmp_path):
    flow = write(tmp_path / "hostile.yaml", HOSTILE)
    done = cli("flows", "validate", str(flow), cwd=tmp_path)
    assert done.returncode != 0
    assert done.stdout.startswith(
        "hostile.yaml:5:15 steps[0].function: 'os:system' is not a registered step function"
    )
    assert "Traceback" not in done.stderr


def test_os_system_flow_is_rejected_by_run_before_anything_executes(tmp_path):
    flow = write(tmp_path / "hostile.yaml", HOSTILE)
    marker = tmp_path / "pwned"
    done = cli("run", str(flow), "--input", f"marker={marker}", "--no-cache", cwd=tmp_path)
    assert done.returncode == 2
    assert "hostile.yaml:5:15 steps[0].function" in done.stderr
    assert not marker.exists()


def test_hostile_templates_cannot_reach_python_internals(tmp_path):
    marker = tmp_path / "pwned"
    static = write(tmp_path / "static.yaml", f"""
        name: static
        steps:
          - {{id: a, kind: python, function: judging.both_orders,
              args: {{a: "{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}", b: x}}}}
        """)
    [problem] = validate_flow(static)
    assert "'__globals__' is not allowed" in problem.message and problem.position.line == 4
    # the attr filter with a constant name is the same reach, and is refused the same way
    filtered = write(tmp_path / "filtered.yaml", """
        name: filtered
        steps:
          - {id: a, kind: python, function: judging.both_orders,
             args: {a: "{{ cycler|attr('__init__') }}", b: x}}
        """)
    [problem] = validate_flow(filtered)
    assert "'__init__' is not allowed" in problem.message
    # built at run time, so validation cannot see it: the sandboxed template engine refuses it
    dynamic = write(tmp_path / "dynamic.yaml", f"""
        name: dynamic
        steps:
          - {{id: a, kind: python, function: judging.both_orders,
              args: {{a: "{{{{ (cycler | attr('_' ~ '_init__')).x }}}} {marker}", b: x}}}}
        outputs: {{a: "{{{{ a }}}}"}}
        """)
    import asyncio

    with pytest.raises(UserError, match="unsafe"):
        asyncio.run(run_flow(dynamic))
    assert not marker.exists()


def test_a_registered_name_from_a_module_the_flow_does_not_name_is_refused(tmp_path):
    module = write(tmp_path / "mysteps.py", """
        from alphaflow.step_functions import step_function

        @step_function
        def shout(word: str) -> str:
            return word.upper()
        """)
    unnamed = write(tmp_path / "unnamed.yaml", """
        name: unnamed
        steps:
          - {id: s, kind: python, function: mysteps.shout, args: {word: hi}}
        outputs: {s: "{{ s }}"}
        """)
    # registered by another flow's header in this process: still not callable from this one
    named = write(tmp_path / "named.yaml", """
        name: named
        functions: [./mysteps.py]
        steps:
          - {id: s, kind: python, function: mysteps.shout, args: {word: hi}}
        outputs: {s: "{{ s }}"}
        """)
    assert validate_flow(named) == []
    [problem] = validate_flow(unnamed)
    assert "which this flow does not name" in problem.message
    # ... until the command line names it
    assert validate_flow(unnamed, functions=[str(module)]) == []
    import asyncio

    assert asyncio.run(run_flow(load_flow(unnamed, functions=[str(module)]))).outputs == {"s": "HI"}


def test_functions_flag_and_header_from_the_cli(tmp_path):
    write(tmp_path / "wordsteps.py", """
        from alphaflow.step_functions import step_function

        @step_function("words.count")
        def count(text: str) -> int:
            return len(text.split())
        """)
    flow = write(tmp_path / "count.yaml", """
        name: count
        inputs: {text: {type: string}}
        steps:
          - {id: n, kind: python, function: words.count, args: {text: "{{ inputs.text }}"}}
        outputs: {n: "{{ n }}"}
        """)
    refused = cli("flows", "validate", str(flow), cwd=tmp_path)
    assert refused.returncode == 1 and "unknown step function 'words.count'" in refused.stdout
    for spec in ("wordsteps.py", "wordsteps"):  # a file, or a module name found in the working directory
        ok = cli("flows", "validate", "--functions", spec, str(flow), cwd=tmp_path)
        assert ok.returncode == 0, ok.stdout + ok.stderr
    ran = cli("run", str(flow), "--functions", "./wordsteps.py", "-i", "text=a b c", "--json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert '"outputs": {"n": 3}' in ran.stdout
    missing = cli("run", str(flow), "--functions", "nosuch_module_q", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("alphaflow: error: --functions nosuch_module_q: cannot import")


def test_arguments_are_checked_against_the_signature(tmp_path):
    flow = write(tmp_path / "args.yaml", """
        name: args
        steps:
          - id: pick
            kind: python
            function: alphacodium.rotation_pick
            args:
              solutions: []
              atempt: 1
        """)
    problems = [str(p).split(" ", 1)[1] for p in validate_flow(flow)]
    assert problems == [
        "steps[0].function: step function 'alphacodium.rotation_pick' needs argument 'attempt' "
        "(give it in `args`)",
        "steps[0].args.atempt: step function 'alphacodium.rotation_pick' has no argument 'atempt' "
        "(arguments: solutions, attempt)",
    ]
    assert [str(p).split(" ", 1)[0].rsplit(":", 2)[-2] for p in validate_flow(flow)] == ["5", "8"]
    with pytest.raises(FlowError):
        load_flow(flow)


def test_a_header_module_that_fails_to_import_is_a_positioned_problem(tmp_path):
    write(tmp_path / "broken.py", "raise RuntimeError('no')\n")
    flow = write(tmp_path / "h.yaml", """
        name: h
        functions: [./broken.py, ./absent.py]
        steps:
          - {id: a, kind: python, function: judging.both_orders, args: {a: x, b: y}}
        """)
    problems = [str(p) for p in validate_flow(flow)]
    assert problems[0].endswith("h.yaml:2:13 functions[0]: importing " + str(tmp_path / "broken.py")
                                + " failed: RuntimeError: no")
    assert "functions[1]: no such file" in problems[1]


def test_entry_point_modules_are_callable(tmp_path, monkeypatch):
    """An installed package's ``alphaflow.step_functions`` entry point makes its functions callable."""
    package = tmp_path / "site"
    package.mkdir()
    write(package / "plugin_steps_xyz.py", """
        from alphaflow.step_functions import step_function

        @step_function("plugin.double")
        def double(x: int) -> int:
            return 2 * x
        """)
    dist = package / "plugin_xyz-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: plugin-xyz\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[alphaflow.step_functions]\nplugin = plugin_steps_xyz\n")
    flow = write(tmp_path / "p.yaml", """
        name: p
        steps:
          - {id: d, kind: python, function: plugin.double, args: {x: 21}}
        outputs: {d: "{{ d }}"}
        """)
    done = subprocess.run([sys.executable, "-m", "alphaflow", "run", str(flow), "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(package)})
    assert done.returncode == 0, done.stderr
    assert '"outputs": {"d": 42}' in done.stdout


def test_builtin_flows_call_registered_names_only():
    names = StepFunctions().names()
    assert "alphacodium.reflection" in names and "judging.rubric_score" in names
    for flow in sorted((ROOT / "flows").rglob("*.yaml")):
        text = flow.read_text()
        assert "function: alphaflow." not in text and ":" not in "".join(
            line.split("function:", 1)[1] for line in text.splitlines() if "function:" in line
        ), flow
