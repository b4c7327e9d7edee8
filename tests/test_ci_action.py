"""The composite action's steps, run as GitHub would run them, with the ``GITHUB_*`` files emulated.

Each ``run:`` step of ``action.yml`` runs under ``bash --noprofile --norc -eo pipefail`` with its
``env:`` rendered from the inputs and earlier steps' outputs, a fresh ``$GITHUB_OUTPUT`` file, a shared
``$GITHUB_STEP_SUMMARY``, a pull-request event payload, and ``GITHUB_API_URL`` pointing at a loopback
fake of the REST endpoints the comment poster uses. ``uses:`` steps (setup-python, upload-artifact)
belong to GitHub and are skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from ci_fake_github import FakeGitHub
from test_ci_gate import BAD_SUM, GOOD_SUM, script, summary_rows

from alphaflow.ci.comment import DEFAULT_MARKER

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "ghs_actiontoken0987654321"
SECRET = "sk-never-print-this-0123456789"
EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")


@dataclass
class StepRun:
    name: str
    exit_code: int | None  # None: a `uses:` step, not run here
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


def run_action(inputs: dict[str, str], workdir: Path, env: dict[str, str]) -> list[StepRun]:
    spec = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert spec["runs"]["using"] == "composite"
    values = {name: str(item.get("default", "")) for name, item in spec["inputs"].items()}
    unknown = set(inputs) - set(values)
    assert not unknown, f"not inputs of action.yml: {unknown}"
    values.update(inputs)
    step_outputs: dict[str, dict[str, str]] = {}

    def render(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            parts = match.group(1).split(".")
            if parts[0] == "inputs":
                return render(values[parts[1]])
            if parts[:1] == ["github"]:
                return {"action_path": str(ROOT), "token": TOKEN}[parts[1]]
            if parts[0] == "steps" and parts[2] == "outputs":
                return step_outputs.get(parts[1], {}).get(parts[3], "")
            raise AssertionError(f"expression the test harness does not know: {match.group(0)}")

        return EXPRESSION.sub(one, str(text))

    runs: list[StepRun] = []
    failed = False
    for index, step in enumerate(spec["runs"]["steps"]):
        if "uses" in step:
            runs.append(StepRun(step.get("name", step["uses"]), None))
            continue
        condition = step.get("if")
        assert condition in (None, "always()"), f"condition the harness cannot evaluate: {condition}"
        if failed and condition != "always()":
            continue
        output_file = workdir / f".github_output_{index}"
        output_file.write_text("", encoding="utf-8")
        script_file = workdir / f".step_{index}.sh"
        script_file.write_text(step["run"], encoding="utf-8")
        step_env = {**env, "GITHUB_OUTPUT": str(output_file)}
        step_env.update({key: render(value) for key, value in (step.get("env") or {}).items()})
        done = subprocess.run(
            [step.get("shell", "bash"), "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=workdir,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        parsed = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
        if step.get("id"):
            step_outputs[step["id"]] = parsed
        runs.append(StepRun(step.get("name", ""), done.returncode, done.stdout, done.stderr, parsed))
        failed = failed or done.returncode != 0
    return runs


@pytest.fixture
def actions_env(tmp_path: Path):
    """A pull-request job's environment, with the fake REST API and a model key that must stay hidden."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "opened", "number": 12, "pull_request": {"number": 12}}))
    summary = tmp_path / "step_summary.md"
    summary.write_text("")
    with FakeGitHub(TOKEN) as fake:
        env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "ALPHAFLOW_CACHE": str(tmp_path / "cache.sqlite"),
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": fake.repository,
            "GITHUB_API_URL": fake.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_STEP_SUMMARY": str(summary),
            "OPENAI_API_KEY": SECRET,
        }
        yield workdir, env, fake, summary


def write_gate(workdir: Path) -> None:
    shutil.copy(ROOT / "examples" / "ci" / "problems.jsonl", workdir / "problems.jsonl")
    (workdir / "alphaflow-ci.yaml").write_text(
        "sandbox: local\n"
        "checks:\n"
        "  - name: slice\n"
        "    kind: bench\n"
        "    data: problems.jsonl\n"
        "    flow: direct\n"
        "    require: ['pass@1 >= 0.75']\n",
        encoding="utf-8",
    )


def by_name(runs: list[StepRun], name: str) -> StepRun:
    return next(run for run in runs if run.name == name)


def test_gate_mode_comments_once_and_fails_the_job_on_a_threshold(actions_env) -> None:
    workdir, env, fake, summary = actions_env
    write_gate(workdir)
    inputs = {"install": "false", "model": script(workdir / "good.yaml", [GOOD_SUM])}

    runs = run_action(inputs, workdir, env)
    assert [r.exit_code for r in runs if r.exit_code is not None] == [0, 0, 0, 0, 0]
    assert by_name(runs, "Run the gate").outputs == {
        "passed": "true",
        "failed-checks": "",
        "summary-file": "alphaflow-ci-results/summary.md",
        "junit-file": "alphaflow-ci-results/junit.xml",
        "json-file": "alphaflow-ci-results/gate.json",
        "out-dir": "alphaflow-ci-results",
        "exit-code": "0",
    }
    assert by_name(runs, "Result").outputs == {"exit-code": "0"}
    assert (workdir / "alphaflow-ci-results" / "junit.xml").is_file()
    [comment] = fake.comments[12]
    assert comment["body"].startswith(DEFAULT_MARKER) and "✅ all 1 checks hold" in comment["body"]
    assert "[this run](https://github.example/octo/demo/actions/runs/4242)" in comment["body"]

    # the next push breaks the threshold: the same comment is updated, and the job fails
    shutil.rmtree(workdir / "alphaflow-ci-results")
    inputs["model"] = script(workdir / "bad.yaml", [BAD_SUM])
    runs = run_action(inputs, workdir, env)
    assert by_name(runs, "Run the gate").exit_code == 0  # the gate step itself never stops the job ...
    assert by_name(runs, "Run the gate").outputs["exit-code"] == "1"
    assert by_name(runs, "Update the pull-request comment").exit_code == 0  # ... so the comment is posted
    assert by_name(runs, "Result").exit_code == 1  # and the job fails at the end
    [comment] = fake.comments[12]
    assert "❌ 1 of 1 checks fail" in comment["body"]
    rows = summary_rows(comment["body"].split("\n", 1)[1])
    assert [(r["check"], r["value"], r["status"]) for r in rows] == [("slice", "0.5", "❌ fail")]
    assert "::error file=alphaflow-ci.yaml,line=3" in by_name(runs, "Run the gate").stdout
    assert summary.read_text().count("## alphaflow ci gate") == 2  # the job summary of both runs

    everything = "".join(r.stdout + r.stderr for r in runs)
    assert TOKEN not in everything and SECRET not in everything


def test_fail_on_threshold_false_warns_and_config_errors_always_fail(actions_env) -> None:
    workdir, env, fake, _ = actions_env
    write_gate(workdir)
    inputs = {
        "install": "false",
        "model": script(workdir / "bad.yaml", [BAD_SUM]),
        "fail-on-threshold": "false",
    }
    runs = run_action(inputs, workdir, env)
    result = by_name(runs, "Result")
    assert result.exit_code == 0 and "fail-on-threshold is off" in result.stdout
    assert len(fake.comments[12]) == 1

    (workdir / "alphaflow-ci.yaml").write_text("checks:\n  - name: x\n    kind: nope\n    require: []\n")
    shutil.rmtree(workdir / "alphaflow-ci-results")
    runs = run_action(inputs, workdir, env)
    assert by_name(runs, "Run the gate").outputs["exit-code"] == "2"
    assert (
        "alphaflow-ci.yaml:3:11 checks[0].kind: unknown check kind 'nope'"
        in by_name(runs, "Run the gate").stderr
    )
    assert by_name(runs, "Result").exit_code == 2  # a broken config fails even with fail-on-threshold off


def test_fix_mode_without_a_test_command_is_a_usage_error(actions_env) -> None:
    workdir, env, fake, _ = actions_env
    runs = run_action({"install": "false", "mode": "fix"}, workdir, env)
    assert "mode fix needs the test-command input" in by_name(runs, "Run the fix").stdout
    assert by_name(runs, "Result").exit_code == 2
    assert 12 not in fake.comments  # fix mode never comments: its job has no write token


@pytest.mark.parametrize("sandbox", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_fix_mode_uploads_a_verified_patch_and_never_comments(actions_env, sandbox: str) -> None:
    workdir, env, fake, _ = actions_env
    shutil.copytree(ROOT / "examples" / "ci" / "buggy_repo", workdir, dirs_exist_ok=True)
    inputs = {
        "install": "false",
        "mode": "fix",
        "sandbox": sandbox,
        "github-token": "",  # the job that runs the model holds no write token
        "test-command": "python3 -m unittest -v",
        "model": f"scripted:{ROOT / 'examples' / 'ci' / 'fix_model.yaml'}",
    }
    runs = run_action(inputs, workdir, env)
    fix = by_name(runs, "Run the fix")
    assert fix.outputs["exit-code"] == "0" and fix.outputs["fixed"] == "true", fix.stdout + fix.stderr
    patch = workdir / fix.outputs["patch-file"]
    assert "+    return sum(values) / len(values)" in patch.read_text()
    assert (workdir / "stats.py").read_text().count("len(values) + 1") == 1  # the checkout is untouched
    assert by_name(runs, "Result").exit_code == 0
    assert 12 not in fake.comments
    assert SECRET not in fix.stdout + fix.stderr
