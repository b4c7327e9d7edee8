"""``alphaflow ci fix`` on a small git repository with a planted bug, driven by the scripted model.

The story of ``examples/ci/fix_model.yaml``: the first edit also changes ``spread`` and breaks
``test_spread`` (an anchor), so it is reverted; the second fixes ``mean`` and is kept. The patch is
verified by re-running the tests, applies with ``git apply``, and the working tree stays untouched
unless ``--apply``. The tests' environment holds no secret: a test in the repository checks that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alphaflow.ci.workspace import apply_edits, parse_tests, unified_diff
from alphaflow.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "ci" / "buggy_repo"
MODEL = f"scripted:{ROOT / 'examples' / 'ci' / 'fix_model.yaml'}"
TEST_COMMAND = "python3 -m unittest -v"
SECRET = "sk-live-do-not-leak-42"
NO_SECRETS_TEST = """import os
import unittest


class TestEnvironment(unittest.TestCase):
    def test_no_secrets(self):
        leaked = [k for k, v in os.environ.items() if "do-not-leak" in v or k.endswith("API_KEY")]
        self.assertEqual(leaked, [])
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed git repository: stats.py with the planted bug, its tests, and the no-secrets test."""
    path = tmp_path / "repo"
    shutil.copytree(DEMO, path)
    (path / "test_environment.py").write_text(NO_SECRETS_TEST)
    git(path, "init", "-q")
    git(path, "add", ".")
    git(path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "demo")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("ALPHAFLOW_TEST_TOKEN", SECRET)
    return path


def run_fix(repo: Path, out: Path, *extra: str, model: str = MODEL) -> int:
    return main(
        [
            "ci",
            "fix",
            "--repo",
            str(repo),
            "--test-command",
            TEST_COMMAND,
            "--model",
            model,
            "--out",
            str(out),
            *extra,
        ]
    )


def check_verified_fix(repo: Path, tmp_path: Path, sandbox: str, capsys: pytest.CaptureFixture[str]) -> None:
    patch = tmp_path / "fix.patch"
    code = run_fix(repo, tmp_path / "out", "--sandbox", sandbox, "--patch", str(patch), "--json")
    captured = capsys.readouterr()
    assert captured.out.strip(), f"exit {code}, no JSON; stderr: {captured.err}"
    result = json.loads(captured.out.splitlines()[-1])
    assert code == 0, result
    assert result["status"] == "verified"
    assert result["baseline"]["failed"] == [
        "test_stats.TestStats.test_mean",
        "test_stats.TestStats.test_mean_single",
    ]
    assert (
        "test_environment.TestEnvironment.test_no_secrets" in result["baseline"]["passed"]
    )  # no secret inside
    assert result["final"]["failed"] == [] and len(result["final"]["passed"]) == 4
    assert result["notes"][0].startswith("reverted: the edit broke 1 test(s) that passed before")
    assert result["notes"][1].startswith("kept: 2 test(s) fixed")
    assert git(repo, "status", "--porcelain") == ""  # the working tree is untouched
    git(repo, "apply", "--check", str(patch))
    assert (
        "-    return sum(values) / (len(values) + 1)\n+    return sum(values) / len(values)"
        in patch.read_text()
    )
    explanation = (tmp_path / "out" / "fix.md").read_text()
    assert "verified" in explanation and "```diff" in explanation
    assert SECRET not in (tmp_path / "out" / "trace.jsonl").read_text()


def test_fix_finds_a_verified_patch_with_the_local_backend(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_verified_fix(repo, tmp_path, "local", capsys)


@pytest.mark.docker
def test_fix_finds_a_verified_patch_in_a_container(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    check_verified_fix(repo, tmp_path, "docker", capsys)


def test_apply_writes_the_verified_patch_into_the_tree(repo: Path, tmp_path: Path) -> None:
    assert run_fix(repo, tmp_path / "out", "--sandbox", "local", "--apply") == 0
    assert git(repo, "status", "--porcelain").strip() == "M stats.py"
    done = subprocess.run(
        ["python3", "-m", "unittest", "-q"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert done.returncode == 0, done.stderr


def script(tmp_path: Path, proposals: list[str]) -> str:
    path = tmp_path / "model.yaml"
    rules = [
        {
            "step": "fix*.reflect",
            "response": "```yaml\nreflection: the divisor\nculprit_files: [stats.py]\n```",
        },
        {"step": "fix*.propose", "responses": proposals},
    ]
    path.write_text(yaml.safe_dump({"rules": rules}))
    return f"scripted:{path}"


def proposal(file: str, find: str, replace: str) -> str:
    edit = {"explanation": "try", "edits": [{"file": file, "find": find, "replace": replace}]}
    return "```yaml\n" + yaml.safe_dump(edit) + "```"


def test_no_verified_patch_exits_1_and_leaves_everything_alone(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = [
        proposal("../outside.py", "", "print('escaped')\n"),  # outside the repository
        proposal("/etc/passwd", "root", "toor"),
        proposal("stats.py", "no such text", "x"),
        proposal("test_stats.py", "self.assertEqual(mean([2, 4, 6]), 4)", "pass"),  # weakening a test
        proposal("stats.py", "return sum(values) / (len(values) + 1)", "return 4"),  # fixes one test of two
    ]
    model = script(tmp_path, hostile)
    code = run_fix(
        repo, tmp_path / "out", "--sandbox", "local", "--max-rounds", "5", "--apply", "--json", model=model
    )
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 1
    assert result["status"] == "unverified" and result["applied"] is False and result["patch"] is None
    notes = result["notes"]
    assert "is not a path inside the repository" in notes[0] and "is not a path inside" in notes[1]
    assert "occurs 0 times in stats.py" in notes[2]
    assert "test_stats.py is a test file" in notes[3]
    assert notes[4].startswith("kept: 1 test(s) fixed, 1 still failing")  # progress, but not verified
    assert not (tmp_path / "outside.py").exists()
    assert git(repo, "status", "--porcelain") == ""
    assert "no verified patch" in (tmp_path / "out" / "fix.md").read_text()
    assert not (tmp_path / "out" / "fix.patch").exists()


def test_green_tests_need_no_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "green"
    repo.mkdir()
    (repo / "test_ok.py").write_text(
        "import unittest\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n        pass\n"
    )
    code = main(
        [
            "ci",
            "fix",
            "--repo",
            str(repo),
            "--test-command",
            TEST_COMMAND,
            "--sandbox",
            "local",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    assert "nothing to fix" in capsys.readouterr().out


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["ci", "fix", "--repo", str(tmp_path / "nope"), "--test-command", "true", "--sandbox", "local"])
        == 2
    )
    assert "--repo" in capsys.readouterr().err
    assert main(["ci", "fix", "--test-command", "true", "--sandbox", "local", "--image", "x"]) == 2
    assert "--image runs the tests in a container" in capsys.readouterr().err


UNITTEST_OUTPUT = """test_a (pkg.test_m.T.test_a) ... ok
test_b (pkg.test_m.T.test_b)
A docstring line ... FAIL
test_c (pkg.test_m.T) ... ERROR
test_d (pkg.test_m.T.test_d) ... skipped 'later'
"""
PYTEST_OUTPUT = """tests/test_x.py::test_one PASSED                                  [ 50%]
tests/test_x.py::test_two FAILED                                  [100%]
=========================== short test summary info ============================
FAILED tests/test_x.py::test_two - assert 1 == 2
ERROR tests/test_y.py::test_three - ImportError
"""


def test_test_outcomes_are_read_from_unittest_and_pytest_output() -> None:
    assert parse_tests(UNITTEST_OUTPUT) == {
        "pkg.test_m.T.test_a": "passed",
        "pkg.test_m.T.test_b": "failed",
        "pkg.test_m.T.test_c": "failed",
        "pkg.test_m.T.test_d": "passed",
    }
    assert parse_tests(PYTEST_OUTPUT) == {
        "tests/test_x.py::test_one": "passed",
        "tests/test_x.py::test_two": "failed",
        "tests/test_y.py::test_three": "failed",
    }
    assert parse_tests("all good\n") == {}


def test_new_files_and_edits_make_a_git_apply_able_diff(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "a.py").write_text("x = 1\ny = 2\n")
    git(copy, "init", "-q")
    overrides, problems = apply_edits(
        copy,
        {},
        [
            {"file": "a.py", "find": "y = 2", "replace": "y = 3"},
            {"file": "pkg/new.py", "find": "", "replace": "z = 0"},  # a new file without a final newline
        ],
    )
    assert problems == []
    diff = unified_diff(copy, overrides)
    (tmp_path / "p.diff").write_text(diff)
    git(copy, "apply", str(tmp_path / "p.diff"))
    assert (copy / "a.py").read_text() == "x = 1\ny = 3\n" and (
        copy / "pkg" / "new.py"
    ).read_text() == "z = 0"


def test_the_setup_command_prepares_the_copy_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)
    repo = tmp_path / "needs_deps"
    repo.mkdir()
    (repo / "test_dep.py").write_text(
        "import unittest\n\nimport helper\n\n\nclass T(unittest.TestCase):\n"
        "    def test_helper(self):\n        self.assertEqual(helper.VALUE, 0)\n"
    )
    # what `pip install --target .deps ...` would do, plus a record of what the set-up command saw
    setup = "mkdir -p .deps && echo 'VALUE = 0' > .deps/helper.py && env > .deps/seen_env.txt"
    code = main(
        [
            "ci",
            "fix",
            "--repo",
            str(repo),
            "--sandbox",
            "local",
            "--out",
            str(tmp_path / "out"),
            "--setup-command",
            setup,
            "--test-command",
            "PYTHONPATH=.deps python3 -m unittest -v",
        ]
    )
    assert code == 0, capsys.readouterr()
    assert "nothing to fix" in capsys.readouterr().out
    assert not (repo / ".deps").exists()  # it ran in the copy
    assert (
        main(
            [
                "ci",
                "fix",
                "--repo",
                str(repo),
                "--sandbox",
                "local",
                "--test-command",
                "true",
                "--setup-command",
                "env | grep -q do-not-leak && exit 7 || exit 0",
                "--out",
                str(tmp_path / "o2"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "ci",
                "fix",
                "--repo",
                str(repo),
                "--sandbox",
                "local",
                "--test-command",
                "true",
                "--setup-command",
                "exit 3",
                "--out",
                str(tmp_path / "o3"),
            ]
        )
        == 2
    )
    assert "--setup-command exited with 3" in capsys.readouterr().err


PYTEST_STYLE = """from stats import mean, spread


def test_mean():
    assert mean([2, 4, 6]) == 4


def test_mean_single():
    assert mean([5]) == 5


def test_spread():
    assert spread([3, 9, 1]) == 8
"""


@pytest.mark.parametrize("sandbox", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_failing_pytest_test_gets_a_verified_patch(
    tmp_path: Path, sandbox: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """pytest is not in the sandbox image: the set-up step puts it into the copy (here from this
    environment, offline; in CI `pip install --target .deps pytest`), the test command finds it there."""
    import pytest as pytest_module

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(DEMO / "stats.py", repo / "stats.py")
    (repo / "test_stats.py").write_text(PYTEST_STYLE)
    site = Path(pytest_module.__file__).parent.parent
    packages = [
        name
        for name in ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py.py")
        if (site / name).exists()
    ]
    setup = "mkdir -p .deps && cp -r " + " ".join(str(site / name) for name in packages) + " .deps/"
    code = main(
        [
            "ci",
            "fix",
            "--repo",
            str(repo),
            "--sandbox",
            sandbox,
            "--model",
            MODEL,
            "--out",
            str(tmp_path / "out"),
            "--setup-command",
            setup,
            "--json",
            "--test-command",
            "PYTHONPATH=.deps python3 -m pytest -rA -q -p no:cacheprovider",
        ]
    )
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0, result
    assert result["baseline"]["failed"] == ["test_stats.py::test_mean", "test_stats.py::test_mean_single"]
    assert result["final"]["passed"] == [
        "test_stats.py::test_mean",
        "test_stats.py::test_mean_single",
        "test_stats.py::test_spread",
    ]
    assert "+    return sum(values) / len(values)" in (tmp_path / "out" / "fix.patch").read_text()
