"""One set of model options on every command that calls a model, and flags that say what they bound
(issue 10, item 11)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from alphaflow.cli import build_parser, main

REPO = Path(__file__).resolve().parent.parent
PROBLEM = str(REPO / "examples" / "problems" / "makes_and_the_product.md")
MODEL_COMMANDS = [["run"], ["solve"], ["bench", "codecontests"], ["judge", "self-reward"], ["eval"]]
SHARED = ["--api-base", "--fallback", "--price", "--max-cost", "--model-concurrency", "--rpm",
          "--max-retries", "--timeout", "--no-cache", "--openai-direct"]


def subparser(parser: argparse.ArgumentParser, path: list[str]) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def test_model_options_mean_the_same_on_every_command():
    root = build_parser()
    reference = options(subparser(root, ["run"]))
    for path in MODEL_COMMANDS:
        found = options(subparser(root, path))
        for flag in SHARED:
            assert flag in found, f"{' '.join(path)} lacks {flag}"
            same = (found[flag].help, found[flag].type, found[flag].dest)
            expected = (reference[flag].help, reference[flag].type, reference[flag].dest)
            if flag != "--model-concurrency":  # bench's default is max(8, --concurrency)
                assert same == expected, (path, flag)
        # --concurrency, where present, bounds the command's own units, never model requests
        if "--concurrency" in found:
            assert "model" not in found["--concurrency"].help.split("(")[0], path
    assert "--concurrency" not in options(subparser(root, ["run"]))


def test_one_key_value_parser_for_flow_inputs():
    from alphaflow.engine import load_flow
    from alphaflow.engine.inputs import parse_assignments
    from alphaflow.errors import UserError

    spec = load_flow("alphacodium").spec
    assert parse_assignments(["num_ai_tests=4", "double_validation=off"], spec, flag="--set") == {
        "num_ai_tests": 4, "double_validation": False}
    assert parse_assignments(["k=[1, 2]", "s=text"], None) == {"k": [1, 2], "s": "text"}
    with pytest.raises(UserError, match=r"^--set nope: flow 'alphacodium' has no input 'nope'"):
        parse_assignments(["nope=1"], spec, flag="--set")
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        parse_assignments(["novalue"], None, flag="--input")
    root = build_parser()
    for path in (["run"], ["solve"], ["bench", "codecontests"]):
        found = options(subparser(root, path))
        assert found["--input"] is found["--set"], path  # one flag, two names


def test_solve_uses_the_response_cache_and_takes_price_and_fallback(
    scripted_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = scripted_server([{"step": "code", "response": "```python\nprint(0)\n```"}])
    argv = ["solve", PROBLEM, "--flow", "direct", "--model", "openai/unpriced", "--api-base", server.base_url,
            "--sandbox", "local", "--json", "--trace", str(tmp_path / "t.jsonl"),
            "--price", "openai/unpriced=1,2", "--max-cost", "1", "--fallback", "openai/other"]
    assert main(argv) == 1  # print(0) fails the public tests; the point is what it asked
    assert len(server.requests) == 1
    assert main(argv) == 1
    assert len(server.requests) == 1  # the second solve was answered from the cache
    assert main([*argv, "--no-cache"]) == 1
    assert len(server.requests) == 2
