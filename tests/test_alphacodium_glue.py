"""The AlphaCodium flow's glue on its own: solution choice, AI-test lists, anchors, candidates."""

from __future__ import annotations

from alphaflow.step_functions import alphacodium as glue


def judged(*verdicts: str, compile_output: str = "") -> dict:
    tests = [
        {
            "verdict": v,
            "input": f"in{i}\n",
            "expected": f"out{i}\n",
            "stdout": f"got{i}\n",
            "stderr": "Traceback: boom" if v == "RE" else "",
            "message": "",
        }
        for i, v in enumerate(verdicts)
    ]
    passed = sum(v == "AC" for v in verdicts)
    first_bad = next((v for v in verdicts if v != "AC"), "AC")
    return {
        "verdict": first_bad,
        "passed": passed,
        "total": len(verdicts),
        "compile_output": compile_output,
        "tests": tests,
    }


def test_brute_force_dropped_and_at_most_three_kept() -> None:
    proposed = [
        {"name": "Brute force", "content": "try every subset"},
        {"name": "Greedy", "content": "sort and take"},
        {"name": "DP", "content": "dp over prefixes"},
        {"name": "Math", "content": "closed form"},
        {"name": "Sieve", "content": "precompute primes"},
    ]
    kept = glue.select_solutions(proposed, max_solutions=3)
    assert [s["name"] for s in kept] == ["Greedy", "DP", "Math"]
    only_brute = [{"name": "Brute-force search", "content": "enumerate"}]
    assert [s["name"] for s in glue.select_solutions(only_brute)] == ["Brute-force search"]
    assert glue.select_solutions(None) == []


def test_choice_puts_best_first_and_rotation_cycles() -> None:
    solutions = [
        {"name": "Greedy", "content": "a"},
        {"name": "DP", "content": "b"},
        {"name": "Math", "content": "c"},
    ]
    ordered = glue.order_by_choice(solutions, {"best_solution": "dp", "ranking": ["DP", "Math", "Greedy"]})
    assert [s["name"] for s in ordered] == ["DP", "Math", "Greedy"]
    assert [s["name"] for s in glue.order_by_choice(solutions, {"best_solution": 3})] == [
        "Math",
        "Greedy",
        "DP",
    ]
    assert [
        s["name"] for s in glue.order_by_choice(solutions, {"best_solution": "Solution: DP with prefix sums"})
    ][0] == "DP"
    assert glue.order_by_choice(solutions, {"best_solution": "unknown"}) == solutions
    assert [glue.rotation_pick(ordered, i)["name"] for i in range(4)] == ["DP", "Math", "Greedy", "DP"]
    assert glue.rotation_pick([], 0)["name"] == "direct"


def test_ai_tests_capped_deduplicated_and_public_tests_anchor_both_ends() -> None:
    public = [{"input": "1\n", "output": "1\n", "kind": "public"}]
    generated = [
        {"input": "1", "output": "1", "explanation": "same as public"},
        {"input": "2", "output": "4"},
        {"input": ["3", "4"], "output": 7},
        {"input": "2", "output": "4"},
        "not a test",
        {"input": "5", "output": "25"},
    ]
    built = glue.build_ai_tests(public, generated, count=2)
    assert [(t["input"], t["output"]) for t in built["ai_tests"]] == [("2\n", "4\n"), ("3\n4\n", "7\n")]
    kinds = [t["kind"] for t in built["iteration_tests"]]
    assert kinds == ["public", "ai", "ai", "public"]
    assert glue.build_ai_tests([], generated, 6)["iteration_tests"][0]["kind"] == "ai"


def test_closest_candidate_kept() -> None:
    best = glue.keep_closer(None, "a", judged("AC", "WA"))
    assert best["code"] == "a" and best["passed"] == 1
    assert glue.keep_closer(best, "b", judged("WA", "WA"))["code"] == "a"
    assert glue.keep_closer(best, "c", judged("AC", "AC"))["code"] == "c"
    # equal pass counts: the better verdict wins, then the newer code
    crash = glue.keep_closer(None, "crash", judged("RE", "RE"))
    assert glue.keep_closer(crash, "wrong", judged("WA", "WA"))["code"] == "wrong"
    assert glue.keep_closer(best, "d", judged("WA", "AC"))["code"] == "d"
    assert glue.keep_closer(best, None, None)["code"] == "a"


def test_failure_report_shows_input_expected_actual_and_error() -> None:
    report = glue.failure_report(judged("AC", "RE"))
    assert report == {
        "index": 1,
        "verdict": "RE",
        "input": "in1\n",
        "expected": "out1\n",
        "actual": "got1\n",
        "error": "Traceback: boom",
    }
    ce = glue.failure_report(
        {"verdict": "CE", "passed": 0, "total": 2, "compile_output": "SyntaxError", "tests": []}
    )
    assert ce["verdict"] == "CE" and ce["error"] == "SyntaxError"
    assert glue.failure_report(judged("AC")) is None
    long = glue.failure_report({**judged("WA"), "tests": [{"verdict": "WA", "input": "x" * 5000}]})
    assert len(long["input"]) < 2100 and "more characters" in long["input"]


PUBLIC = {"input": "1\n", "output": "1\n", "kind": "public"}
AI_EASY = {"input": "2\n", "output": "4\n", "kind": "ai"}
AI_HARD = {"input": "3\n", "output": "9\n", "kind": "ai"}


def test_passing_prefix_is_anchored_and_the_first_failure_focused() -> None:
    state = glue.ai_start("code0", [PUBLIC, AI_EASY, AI_HARD, PUBLIC])
    focus = glue.ai_focus(state, judged("AC", "AC", "WA"))  # judging stopped at the first failure
    assert focus["anchors"] == [PUBLIC, AI_EASY] and focus["test"] == AI_HARD
    assert focus["queue"] == [AI_HARD, PUBLIC] and focus["code"] == "code0"
    done = glue.ai_focus(glue.ai_start("c", [PUBLIC, AI_EASY, PUBLIC]), judged("AC", "AC", "AC"))
    assert done["test"] is None and done["queue"] == [] and done["anchors"] == [PUBLIC, AI_EASY]
    assert glue.ai_step(done, None, None)["queue"] == []
    ce = {"verdict": "CE", "passed": 0, "total": 2, "compile_output": "x", "tests": []}
    assert glue.ai_focus(state, ce)["test"] == PUBLIC


def test_fix_that_breaks_an_anchor_is_reverted_then_the_test_given_up() -> None:
    focus = glue.ai_focus(glue.ai_start("good", [PUBLIC, AI_EASY]), judged("AC", "WA"))
    state = glue.ai_step(focus, "breaks anchor", judged("WA", "AC"), max_attempts=2)
    assert state["code"] == "good" and state["attempts"] == 1 and state["queue"] == [AI_EASY]
    assert state["log"][-1]["outcome"].startswith("reverted") and "test" not in state
    focus = glue.ai_focus(state, judged("WA"))
    assert focus["attempts"] == 1  # same test still failing: the attempt count carries over
    state = glue.ai_step(focus, "still breaks", judged("WA", "AC"), max_attempts=2)
    assert state["code"] == "good" and state["queue"] == [] and state["log"][-1]["outcome"] == "given up"
    assert glue.ai_summary(state) == {"passed": 1, "fixed": 0, "reverted": 2, "given_up": 1}


def test_fix_that_keeps_anchors_and_passes_is_kept() -> None:
    focus = glue.ai_focus(glue.ai_start("good", [PUBLIC, AI_EASY, PUBLIC]), judged("AC", "WA"))
    state = glue.ai_step(focus, "better", judged("AC", "AC"))
    assert state["code"] == "better" and state["anchors"] == [PUBLIC, AI_EASY] and state["queue"] == [PUBLIC]
    assert glue.ai_summary(state)["fixed"] == 1


def test_fix_missing_not_compiling_or_still_failing_counts_as_an_attempt() -> None:
    focus = glue.ai_focus(glue.ai_start("c", [AI_EASY]), judged("WA"))
    state = glue.ai_step(focus, None, None, max_attempts=3)
    assert state["log"][-1]["outcome"] == "no fix" and state["attempts"] == 1
    ce = {"verdict": "CE", "passed": 0, "total": 1, "compile_output": "x", "tests": []}
    state = glue.ai_step(glue.ai_focus(state, judged("WA")), "bad", ce, max_attempts=3)
    assert state["log"][-1]["outcome"] == "fix does not compile" and state["code"] == "c"
    state = glue.ai_step(glue.ai_focus(state, judged("WA")), "meh", judged("WA"), max_attempts=3)
    assert state["log"][-2]["outcome"] == "fix still fails" and state["log"][-1]["outcome"] == "given up"


def test_final_choice_prefers_ai_code_unless_it_lost_public_tests() -> None:
    public_best = glue.candidate("pub", judged("AC", "AC"))
    assert glue.final_choice(public_best, "ai", judged("AC", "AC"))["code"] == "ai"
    lost = glue.final_choice(public_best, "ai", judged("AC", "WA"))
    assert lost["code"] == "pub" and lost["stage"] == "public_tests"
    assert glue.final_choice(None, "ai", None)["code"] == "ai"


def test_prefer() -> None:
    assert glue.prefer(None, {"a": 1}) == {"a": 1}
    assert glue.prefer({"b": 2}, {"a": 1}) == {"b": 2}


def test_reflection_prefers_the_validated_one_and_gives_text_bullets() -> None:
    original = {"self_reflection": "- a", "tests_explanations": [{"input": "1"}]}
    validated = {"self_reflection": ["- first point", "second point"], "tests_explanations": None}
    assert glue.reflection(validated, original) == {
        "self_reflection": "- first point\n- second point",
        "tests_explanations": [],
    }
    assert glue.reflection(None, original)["self_reflection"] == "- a"


def test_missing_code_is_a_failure_and_never_replaces_a_program() -> None:
    nothing = glue.keep_closer(None, None, None)
    assert nothing["code"] == "" and nothing["failure"]["verdict"] == "no code"
    wrong = glue.keep_closer(nothing, "print(0)", judged("WA"))
    assert wrong["code"] == "print(0)"
    assert glue.keep_closer(wrong, None, None)["code"] == "print(0)"
