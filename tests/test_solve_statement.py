"""Problem input for `alphaflow solve`: statements, YAML/JSON problems, DATASET.jsonl#NAME."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alphaflow.errors import UserError
from alphaflow.solve.problem_source import load_problem
from alphaflow.solve.statement import parse_statement

REPO = Path(__file__).resolve().parent.parent
DATASET = Path(__file__).resolve().parents[2] / "shared" / "data" / "codecontests" / "train_sample.jsonl"
if not DATASET.exists():
    DATASET = Path("/work/shared/data/codecontests/train_sample.jsonl")


def test_markdown_examples_with_fenced_blocks() -> None:
    parsed = parse_statement(
        "# Sum\n\nAdd two numbers.\n\n## Input\n\nTwo integers.\n\n## Output\n\nTheir sum.\n\n"
        "## Examples\n\n### Input\n```\n1 2\n```\n### Output\n```\n3\n```\n"
        "**Input 2:**\n```text\n5  7   \n```\n**Output 2:**\n```\n12\n```\n\n## Note\n\nInput\n\n9\n"
    )
    assert parsed.title == "Sum"
    assert [(t.input, t.output) for t in parsed.tests] == [("1 2\n", "3\n"), ("5  7\n", "12\n")]
    assert parsed.warning is None


def test_codeforces_plain_text_as_in_codecontests() -> None:
    row = next(json.loads(line) for line in DATASET.open() if line.startswith('{"name": "817_B'))
    parsed = parse_statement(row["description"])
    expected = sorted(zip(row["public_tests"]["input"], row["public_tests"]["output"], strict=True))
    assert sorted((t.input, t.output) for t in parsed.tests) == expected


def test_sample_input_labels_without_examples_heading() -> None:
    parsed = parse_statement("Reverse a word.\n\nSample Input 1:\nabc\n\nSample Output 1:\ncba\n")
    assert [(t.input, t.output) for t in parsed.tests] == [("abc\n", "cba\n")]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Just a story, no examples at all.", "no Examples"),
        ("## Examples\n\n### Input\n```\n1\n```\n", "no Output block"),
        ("## Examples\n\nsee the attached picture\n", "no Input/Output blocks"),
        ("Examples\n\nOutput\n\n3\n", "no Input block"),
    ],
)
def test_unparseable_examples_warn_and_give_zero_tests(text: str, reason: str) -> None:
    parsed = parse_statement(text)
    assert parsed.tests == []
    assert reason in parsed.warning and "zero public tests" in parsed.warning


@pytest.mark.parametrize("name", ["tile_painting", "makes_and_the_product", "ice_skating"])
def test_example_problems_parse_to_their_dataset_public_tests(name: str) -> None:
    loaded = load_problem(str(REPO / "examples" / "problems" / f"{name}.md"))
    assert loaded.warnings == []
    source_name = loaded.problem.name
    row = next(json.loads(line) for line in DATASET.open() if source_name in json.loads(line)["name"])
    expected = sorted(zip(row["public_tests"]["input"], row["public_tests"]["output"], strict=True))
    assert sorted((t.input, t.output) for t in loaded.problem.public_tests) == expected


def test_statement_without_examples_loads_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_text("Print the answer to everything.\n")
    loaded = load_problem(str(path))
    assert loaded.problem.public_tests == [] and loaded.problem.name == "story"
    assert loaded.warnings and str(path) in loaded.warnings[0]


def test_yaml_problem_with_test_list(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: echo\ndescription: Echo the input.\npublic_tests:\n"
        '  - {input: "a\\n", output: "a\\n"}\nprivate_tests:\n  - {input: "b\\n", output: "b\\n"}\n'
    )
    problem = load_problem(str(path)).problem
    assert problem.name == "echo" and len(problem.public_tests) == 1 and len(problem.private_tests) == 1
    assert "private_tests" not in problem.for_flow()


def test_alphacodium_custom_problem_json(tmp_path: Path) -> None:
    """AlphaCodium's custom problems use the CodeContests layout: parallel input/output lists."""
    path = tmp_path / "my_problem.json"
    path.write_text(
        json.dumps(
            {
                "name": "double",
                "description": "Print 2x.",
                "public_tests": {"input": ["1\n", "2\n"], "output": ["2\n", "4\n"]},
                "private_tests": {"input": ["5\n"], "output": ["10\n"]},
                "generated_tests": {"input": [], "output": []},
            }
        )
    )
    problem = load_problem(str(path)).problem
    assert [t.output for t in problem.public_tests] == ["2\n", "4\n"]
    assert [t.output for t in problem.private_tests] == ["10\n"]


def test_dataset_name_selector() -> None:
    problem = load_problem(f"{DATASET}#1242_A. Tile Painting").problem
    assert problem.name == "1242_A. Tile Painting" and problem.private_tests


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        ("{not json", ".json", ":1: not valid JSON"),
        ("name: x\ndescription: [unclosed\n", ".yaml", "not valid YAML"),
        ("name: x\n", ".yaml", "field 'description' is missing"),
        (
            "description: d\npublic_tests: [{input: '1'}]\n",
            ".yaml",
            "public_tests[0] needs 'input' and 'output'",
        ),
        (
            '{"description": "d", "public_tests": {"input": ["1"], "output": []}}',
            ".json",
            "1 inputs but 0 outputs",
        ),
        ("- 1\n- 2\n", ".yaml", "expected one problem"),
    ],
)
def test_bad_problem_files_name_file_and_field(
    tmp_path: Path, content: str, suffix: str, message: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(UserError) as error:
        load_problem(str(path))
    assert str(path) in str(error.value) and message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_and_unknown_dataset_name(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such problem file"):
        load_problem(str(tmp_path / "nope.md"))
    with pytest.raises(UserError, match="no problem named"):
        load_problem(f"{DATASET}#No Such Problem")
    with pytest.raises(UserError, match="choose one with"):
        load_problem(str(DATASET))


@pytest.mark.parametrize(
    "text, time_s, memory",
    [
        ("time limit per test: 2 seconds\nmemory limit per test: 256 megabytes\n", 2.0, 256 << 20),
        ("**Time limit:** 500 ms. **Memory limit:** 1 GB.", 0.5, 1 << 30),
        ("No limits stated.", None, None),
    ],
)
def test_stated_limits_are_read(text: str, time_s: float | None, memory: int | None, tmp_path: Path) -> None:
    path = tmp_path / "p.md"
    path.write_text(f"# P\n\n{text}\n\n## Examples\n\n### Input\n```\n1\n```\n### Output\n```\n1\n```\n")
    problem = load_problem(str(path)).problem
    assert problem.time_limit_s == time_s and problem.memory_limit_bytes == memory


def test_empty_binary_and_directory_inputs_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    for name, message in (
        ("empty.md", "the statement is empty"),
        ("image.md", "not a UTF-8 text file"),
        (".", "is a directory"),
    ):
        with pytest.raises(UserError, match=message):
            load_problem(str(tmp_path / name))
    with pytest.raises(UserError, match="selects a problem in a .jsonl dataset only"):
        load_problem(str(REPO / "examples" / "problems" / "tile_painting.md") + "#x")


def test_one_examples_heading_per_example_keeps_every_example() -> None:
    text = "# T\n\nDo it.\n\n## Example\n\nInput:\n```\n1 2\n```\nOutput:\n```\n3\n```\n\n" \
           "## Example\n\nInput:\n```\n-5 5\n```\nOutput:\n```\n0\n```\n\n## Note\n\nInput: nothing\n"
    parsed = parse_statement(text)
    assert [(t.input, t.output) for t in parsed.tests] == [("1 2\n", "3\n"), ("-5 5\n", "0\n")]
