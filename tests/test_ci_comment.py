"""The sticky PR comment against a loopback fake of GitHub's REST API, and the workflow commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ci_fake_github import FakeGitHub

from alphaflow.ci import github
from alphaflow.ci.comment import DEFAULT_MARKER
from alphaflow.cli import main

TOKEN = "ghs_faketoken1234567890"


@pytest.fixture
def pull_request_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": 7, "pull_request": {"number": 7}}))
    with FakeGitHub(TOKEN) as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_REPOSITORY", fake.repository)
        monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        yield fake


def body(tmp_path: Path, text: str) -> str:
    path = tmp_path / "summary.md"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_one_sticky_comment_is_created_then_updated(
    pull_request_env: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = pull_request_env
    fake.add_comment(7, "LGTM")  # someone else's comment is left alone
    assert main(["ci", "comment", "--body", body(tmp_path, "first run: ❌")]) == 0
    assert main(["ci", "comment", "--body", body(tmp_path, "second run: ✅")]) == 0
    comments = fake.comments[7]
    assert [c["body"] for c in comments] == ["LGTM", f"{DEFAULT_MARKER}\nsecond run: ✅"]
    assert [m for m, _ in fake.requests].count("POST") == 1 and [m for m, _ in fake.requests].count(
        "PATCH"
    ) == 1
    out = capsys.readouterr()
    assert "created comment" in out.out and "updated comment" in out.out
    assert TOKEN not in out.out + out.err


def test_the_marker_is_found_past_the_first_page(pull_request_env: FakeGitHub, tmp_path: Path) -> None:
    fake = pull_request_env
    for index in range(150):
        fake.add_comment(7, f"chatter {index}")
    marked = fake.add_comment(7, f"{DEFAULT_MARKER}\nold summary", "github-actions[bot]")
    assert main(["ci", "comment", "--body", body(tmp_path, "new summary")]) == 0
    assert next(c for c in fake.comments[7] if c["id"] == marked)["body"].endswith("new summary")
    assert len(fake.comments[7]) == 151


def test_refusals_name_the_endpoint_never_the_token(
    pull_request_env: FakeGitHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pull_request_env.forbid = True
    assert main(["ci", "comment", "--body", body(tmp_path, "x")]) == 2
    err = capsys.readouterr().err
    assert "POST /repos/octo/demo/issues/7/comments: HTTP 403" in err and "pull-requests: write" in err
    assert TOKEN not in err
    monkeypatch.setenv("GITHUB_TOKEN", "wrong-token")
    assert main(["ci", "comment", "--body", body(tmp_path, "x")]) == 2
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "wrong-token" not in err


def test_outside_a_pull_request_nothing_is_posted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "push.json"
    event.write_text(json.dumps({"ref": "refs/heads/main"}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    assert main(["ci", "comment", "--body", body(tmp_path, "x")]) == 0
    assert "not a pull request event" in capsys.readouterr().err


def test_annotations_escape_and_outputs_use_heredocs(tmp_path: Path) -> None:
    line = github.annotation("error", "50% of\nunits", title="a: b, c", file="ci.yaml", line=4)
    assert line == "::error file=ci.yaml,line=4,title=a%3A b%2C c::50%25 of%0Aunits"
    output = tmp_path / "out"
    assert github.set_outputs({"passed": "true", "notes": "one\ntwo"}, str(output))
    text = output.read_text()
    assert text.startswith("passed=true\nnotes<<ghadelimiter_")
    assert "\none\ntwo\nghadelimiter_" in text
    assert github.pull_request_number({"issue": {"number": 3, "pull_request": {}}}) == 3
    assert github.pull_request_number({"issue": {"number": 3}}) is None
