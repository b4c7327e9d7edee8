"""Templating (native vs text, filters, strict names) and parsing of model answers (code, YAML repair)."""

from __future__ import annotations

import pytest

from alphaflow.engine.answers import AnswerError, extract_code, parse_yaml_answer, repair_yaml
from alphaflow.engine.templating import TemplateCache, TemplateError, native_expression, references


@pytest.fixture
def templates() -> TemplateCache:
    return TemplateCache()


def test_exactly_one_expression_keeps_its_native_value(templates):
    scope = {"xs": [1, 2], "d": {"a": 1}, "n": 3}
    assert templates.render("{{ xs }}", scope) == [1, 2]
    assert templates.render("  {{ d }} ", scope) == {"a": 1}
    assert templates.render("{{ n + 1 }}", scope) == 4
    assert templates.render("{{ none }}", scope) is None


def test_other_strings_render_to_text(templates):
    scope = {"xs": [1, 2], "n": 3}
    assert templates.render("n={{ n }}", scope) == "n=3"
    assert templates.render("{{ n }}{{ n }}", scope) == "33"
    assert templates.render("{% for x in xs %}{{ x }},{% endfor %}", scope) == "1,2,"
    assert templates.render("plain text", scope) == "plain text"


def test_nested_values_render_inside_and_non_strings_pass_through(templates):
    assert templates.render({"a": ["{{ n }}", 2.5, True], "b": "x{{ n }}"}, {"n": 1}) == {
        "a": [1, 2.5, True],
        "b": "x1",
    }


def test_undefined_names_are_errors_not_empty_strings(templates):
    with pytest.raises(TemplateError, match="undefined"):
        templates.render("value: {{ missing }}", {})
    with pytest.raises(TemplateError, match="undefined"):
        templates.render("{{ missing }}", {})
    with pytest.raises(TemplateError, match="nope"):
        templates.render("{{ d.nope }}", {"d": {}})
    with pytest.raises(TemplateError, match="undefined"):
        templates.evaluate("missing > 1", {})


def test_bare_expressions(templates):
    assert templates.evaluate("state.verdict == 'AC'", {"state": {"verdict": "AC"}}) is True
    assert templates.evaluate("xs | length", {"xs": [1, 2, 3]}) == 3


def test_extra_filters(templates):
    scope = {"d": {"b": [1, 2], "a": "x"}, "text": "one\ntwo"}
    assert templates.render("{{ d | to_yaml }}", scope) == "b:\n- 1\n- 2\na: x"
    assert templates.render("{{ d | to_json }}", scope) == '{"b": [1, 2], "a": "x"}'
    assert templates.render("{{ text | indent_block(4) }}", scope) == "    one\n    two"


def test_each_source_is_compiled_once(templates):
    first = templates.renderer("hello {{ n }}")
    assert templates.renderer("hello {{ n }}") is first


def test_native_detection_and_references():
    assert native_expression("{{ a.b }}") == " a.b "
    assert native_expression("{{ a }} and {{ b }}") is None
    assert native_expression("x {{ a }}") is None
    refs = references("{{ problem.desc }} {% for t in tests %}{{ t.input }}{% endfor %} {{ range(3) }}")
    assert {ref.dotted for ref in refs} == {"problem.desc", "tests"}  # loop names and globals are not free
    with pytest.raises(TemplateError, match="syntax"):
        references("{{ a + }}")


def test_code_is_taken_from_the_block_of_the_language():
    answer = "Idea first.\n```cpp\nint main(){}\n```\nThen:\n```python\nprint(1)\n```\n"
    assert extract_code(answer, "python") == "print(1)\n"
    assert extract_code(answer, "cpp") == "int main(){}\n"
    assert extract_code(answer, "java") == "print(1)\n"  # else the last block
    assert extract_code("print(2)", "python") == "print(2)\n"  # else the whole answer
    with pytest.raises(AnswerError, match="no code"):
        extract_code("```python\n\n```", "python")


def test_yaml_from_a_fenced_block_with_prose_around_it():
    answer = "Sure, here it is:\n```yaml\nbest: two\nwhy: simpler\n```\nHope it helps."
    assert parse_yaml_answer(answer, ["best", "why"]) == {"best": "two", "why": "simpler"}


def test_yaml_repair_turns_colon_and_multiline_values_into_block_scalars():
    answer = (
        "Analysis below.\n"
        "what_went_wrong: the loop is off by one: it skips the last item\n"
        "  and it also overflows: use 64-bit\n"
        "fixed_flow:\n"
        "  - read n\n"
        "  - sum all n items\n"
    )
    parsed = parse_yaml_answer(answer, ["what_went_wrong", "fixed_flow"])
    assert parsed == {
        "what_went_wrong": "the loop is off by one: it skips the last item\n"
        "and it also overflows: use 64-bit",
        "fixed_flow": ["read n", "sum all n items"],
    }
    assert "what_went_wrong: |-" in repair_yaml(answer.split("\n", 1)[1], ["what_went_wrong", "fixed_flow"])


def test_yaml_missing_declared_key_and_non_mapping_are_errors():
    with pytest.raises(AnswerError, match="missing the key"):
        parse_yaml_answer("best: two\n", ["best", "why"])
    with pytest.raises(AnswerError):
        parse_yaml_answer("I cannot answer that.", ["best"])


def test_yaml_prose_after_a_bare_block_is_dropped_not_glued_to_the_last_value():
    answer = "best: two\nwhy: simpler\n\nLet me know if you need anything else: happy to help.\n"
    assert parse_yaml_answer(answer, ["best", "why"]) == {"best": "two", "why": "simpler"}
