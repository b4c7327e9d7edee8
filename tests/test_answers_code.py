"""Code and YAML from model answers: every fence variant models produce, and case 07 through `solve`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alphaflow.cli import main
from alphaflow.engine.answers import AnswerError, extract_code, parse_yaml_answer

CASES = Path(__file__).parent / "fixtures" / "cases"
PROGRAM = "a, b = map(int, input().split())\nprint(a + b)\n"


@pytest.mark.parametrize(
    ("answer", "language", "code"),
    [
        ("Here:\r\n\r\n```python\r\nprint(1)\r\n```\r\n", "python", "print(1)\n"),  # CRLF
        ("Here:\r```python\rprint(1)\r```\r", "python", "print(1)\n"),  # old Mac CR
        ("```py\nprint(1)\n```", "python", "print(1)\n"),
        ("```Python3\nprint(1)\n```", "python", "print(1)\n"),
        ("``` python {.numberLines}\nprint(1)\n```", "python", "print(1)\n"),  # info string after the tag
        ("```C++\nint main(){}\n```", "cpp", "int main(){}\n"),
        ("```c++\nint main(){}\n```", "cpp", "int main(){}\n"),
        ("```cpp\nint main(){}\n```", "cpp", "int main(){}\n"),
        ("~~~py\nprint(1)\n~~~", "python", "print(1)\n"),
        ("````python\nx = '```'\n````", "python", "x = '```'\n"),  # a longer fence holds a shorter one
        ("1. Do:\n    ```python\n    if x:\n        y()\n    ```\n", "python", "if x:\n    y()\n"),
        ("Sure:\n```python\nprint(1)\n", "python", "print(1)\n"),  # closing fence missing (cut off)
        ("print(1)\n```\n", "python", "print(1)\n"),  # opening fence missing
        ("```python\nprint(1)```", "python", "print(1)\n"),  # closing fence glued to the last line
        ("print(2)", "python", "print(2)\n"),  # no fence: the whole answer
    ],
)
def test_fence_variants(answer: str, language: str, code: str) -> None:
    assert extract_code(answer, language) == code


def test_several_blocks_the_last_in_the_asked_language_wins() -> None:
    answer = (
        "Idea:\n```cpp\nint main(){}\n```\nA first try:\n```python\nprint(0)\n```\n"
        "The corrected version:\n```python\nprint(1)\n```\nExample input:\n```\n2 3\n```\n"
    )
    assert extract_code(answer, "python") == "print(1)\n"
    assert extract_code(answer, "cpp") == "int main(){}\n"
    assert extract_code(answer, "java") == "2 3\n"  # no java block: the last untagged one
    assert extract_code("```cpp\nint main(){}\n```\n```text\n5\n```", "java") == "5\n"  # then any tag
    # a closed block beats one cut off by max_tokens
    assert extract_code("```python\nprint(1)\n```\n```python\nprint(", "python") == "print(1)\n"


@pytest.mark.parametrize("answer", ["", "   \n", "```python\n\n```", "```python\r\n\r\n```\r\n"])
def test_no_code_fails_quoting_the_answer_start(answer: str) -> None:
    with pytest.raises(AnswerError, match="no code; it starts: "):
        extract_code(answer, "python")


def test_yaml_answers_with_crlf() -> None:
    fenced = "Sure:\r\n```yaml\r\nbest: two\r\nwhy: |\r\n  simpler\r\n  and faster\r\n```\r\n"
    assert parse_yaml_answer(fenced, ["best", "why"]) == {"best": "two", "why": "simpler\nand faster"}
    bare = "best: two\r\nwhy: simpler: by far\r\n"
    assert parse_yaml_answer(bare, ["best", "why"]) == {"best": "two", "why": "simpler: by far"}


def test_case_07_crlf_fence_is_accepted_through_solve(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    case = CASES / "07-crlf-fence"
    code = main(
        [
            "solve",
            str(case / "problem.yaml"),
            "--flow",
            "direct",
            "--model",
            f"scripted:{case / 'model.yaml'}",
            "--sandbox",
            "local",
            "--json",
            "--trace",
            str(tmp_path / "t.jsonl"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert report["code"] == PROGRAM
    assert report["evaluation"]["verdict"] == "AC"
