"""Step functions of ``flows/alphacodium.yaml`` (its ``kind: python`` steps call ``alphacodium.NAME``).

Plain functions over plain data (dicts and lists as the flow passes them), so each is testable on its
own: filtering and ordering the possible solutions, building the AI-test list with the public tests
anchored at its start and end, keeping the candidate closest to passing, the failure shown to a fix
prompt, and the test-anchor bookkeeping of the AI-test iteration (a fix that breaks a test that
passed before is reverted).

A judge result is the sandbox step's dict: ``{verdict, passed, total, compile_output, tests: [...]}``.
``None`` stands for "not judged" (a skipped step, or a problem without public tests).
"""

from __future__ import annotations

import re
from typing import Any

from alphaflow.step_functions.registry import step_function

Judge = dict[str, Any] | None

_BRUTE_FORCE = re.compile(r"brute[\s_-]*force|exhaustive search|try (?:all|every) ", re.IGNORECASE)
# How close a verdict is to passing, used to break ties between equal pass counts.
_VERDICT_QUALITY = {"AC": 6, "WA": 5, "OLE": 4, "TLE": 4, "MLE": 4, "RE": 3, "CE": 1}
PROMPT_TEXT_LIMIT = 2000


# --- possible solutions and the choice of the best -------------------------------------------------


@step_function("alphacodium.select_solutions")
def select_solutions(solutions: Any, max_solutions: int = 3) -> list[dict[str, Any]]:
    """The model's possible solutions, normalised, brute-force ones dropped, at most ``max_solutions``.

    If every solution looks like brute force, they are kept (a slow idea beats none).
    """
    items = [_as_solution(item, index) for index, item in enumerate(_as_list(solutions))]
    items = [item for item in items if item["name"] or item["content"]]
    clever = [item for item in items if not _BRUTE_FORCE.search(f"{item['name']} {item['content']}")]
    return (clever or items)[: max(1, int(max_solutions))]


def _as_solution(item: Any, index: int) -> dict[str, Any]:
    if isinstance(item, dict):
        name = str(item.get("name") or f"solution {index + 1}").strip()
        content = str(item.get("content") or item.get("description") or "").strip()
        return {**{k: v for k, v in item.items() if isinstance(k, str)}, "name": name, "content": content}
    return {"name": f"solution {index + 1}", "content": str(item or "").strip()}


@step_function("alphacodium.order_by_choice")
def order_by_choice(solutions: list[dict[str, Any]], choice: Any) -> list[dict[str, Any]]:
    """The solutions with the model's chosen one first: the rotation order for initial-code retries.

    ``choice`` is the ranking answer: ``{best_solution: NAME or NUMBER, ranking: [...]}``; an answer
    naming no known solution keeps the original order.
    """
    if not solutions:
        return []
    choice = choice if isinstance(choice, dict) else {"best_solution": choice}
    wanted = [choice.get("best_solution"), *_as_list(choice.get("ranking"))]
    order: list[int] = []
    for pick in wanted:
        index = _solution_index(solutions, pick)
        if index is not None and index not in order:
            order.append(index)
    order += [index for index in range(len(solutions)) if index not in order]
    return [solutions[index] for index in order]


def _solution_index(solutions: list[dict[str, Any]], pick: Any) -> int | None:
    if isinstance(pick, dict):
        pick = pick.get("name")
    if isinstance(pick, int) and not isinstance(pick, bool):
        return pick - 1 if 1 <= pick <= len(solutions) else None
    text = str(pick or "").strip().lower()
    if not text:
        return None
    if text.isdigit():
        return _solution_index(solutions, int(text))
    for index, solution in enumerate(solutions):
        if solution["name"].lower() == text:
            return index
    for index, solution in enumerate(solutions):
        name = solution["name"].lower()
        if name and (name in text or text in name):
            return index
    return None


@step_function("alphacodium.rotation_pick")
def rotation_pick(solutions: list[dict[str, Any]], attempt: int) -> dict[str, Any]:
    """The solution idea for initial-code attempt ``attempt`` (0-based), cycling through them."""
    if not solutions:
        return {"name": "direct", "content": "Solve the problem directly."}
    return solutions[int(attempt) % len(solutions)]


# --- AI tests --------------------------------------------------------------------------------------


@step_function("alphacodium.build_ai_tests")
def build_ai_tests(public_tests: Any, generated: Any, count: int = 6) -> dict[str, list[dict[str, Any]]]:
    """The AI tests (at most ``count``, the model's easy-to-hard order kept, duplicates of public ones
    dropped), and the iteration list: public tests, AI tests, public tests again (anchored at both ends).
    """
    public = [_as_test(test, "public") for test in _as_list(public_tests)]
    public = [test for test in public if test is not None]
    seen = {(test["input"], test["output"]) for test in public}
    ai_tests: list[dict[str, Any]] = []
    for raw in _as_list(generated):
        test = _as_test(raw, "ai")
        if test is None or (test["input"], test["output"]) in seen:
            continue
        seen.add((test["input"], test["output"]))
        ai_tests.append(test)
        if len(ai_tests) >= int(count):
            break
    return {"ai_tests": ai_tests, "iteration_tests": [*public, *ai_tests, *public]}


def _as_test(raw: Any, kind: str) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or "input" not in raw or "output" not in raw:
        return None
    test = {"input": _as_stream(raw["input"]), "output": _as_stream(raw["output"]), "kind": kind}
    if raw.get("explanation"):
        test["explanation"] = str(raw["explanation"]).strip()
    return test if test["input"] or test["output"] else None


def _as_stream(value: Any) -> str:
    if isinstance(value, list):
        value = "\n".join(str(item) for item in value)
    text = "\n".join(line.rstrip() for line in str(value).strip("\n").splitlines())
    return text + "\n" if text else ""


# --- candidates: judged code, closest to passing ---------------------------------------------------


def candidate(code: Any, judge: Judge) -> dict[str, Any]:
    """Code with its public-test standing (``passed``/``total``/``verdict``, the first ``failure``).

    No usable code (the model's answer could not be used) is a failure too, so retries go on.
    """
    if not isinstance(code, str) or not code.strip():
        missing = {
            "verdict": "no code",
            "input": "",
            "expected": "",
            "actual": "",
            "error": "the answer held no usable program",
        }
        return {"code": "", "verdict": "no code", "passed": 0, "total": 0, "failure": missing}
    judge = judge or {}
    return {
        "code": code,
        "verdict": judge.get("verdict") or "not judged",
        "passed": int(judge.get("passed") or 0),
        "total": int(judge.get("total") or 0),
        "failure": failure_report(judge) if judge else None,
    }


def passes_all(judge: Judge) -> bool:
    """Every test passed (true for zero tests: nothing to fail)."""
    if not judge:
        return True
    return int(judge.get("passed") or 0) >= int(judge.get("total") or 0) and judge.get("verdict") != "CE"


def closeness(item: dict[str, Any] | None) -> tuple[int, int]:
    if not item or not item.get("code"):
        return (-1, -1)
    return (int(item.get("passed") or 0), _VERDICT_QUALITY.get(str(item.get("verdict")), 0))


@step_function("alphacodium.keep_closer")
def keep_closer(best: dict[str, Any] | None, code: Any, judge: Judge) -> dict[str, Any]:
    """The closer to passing of ``best`` and the new candidate; a tie keeps the newer one, whose
    author saw the latest failure."""
    new = candidate(code, judge)
    return new if closeness(new) >= closeness(best) else dict(best or {})


@step_function("alphacodium.failure_report")
def failure_report(judge: Judge, limit: int = PROMPT_TEXT_LIMIT) -> dict[str, Any] | None:
    """The first failing test as a fix prompt shows it: input, expected and actual output, error."""
    if not judge:
        return None
    if judge.get("verdict") == "CE":
        return {
            "verdict": "CE",
            "input": "",
            "expected": "",
            "actual": "",
            "error": _clip(judge.get("compile_output") or "compilation failed", limit),
        }
    for index, test in enumerate(judge.get("tests") or []):
        if test.get("verdict") != "AC":
            error = "\n".join(part for part in (test.get("message"), test.get("stderr")) if part)
            return {
                "index": index,
                "verdict": test.get("verdict"),
                "input": _clip(test.get("input") or "", limit),
                "expected": _clip(test.get("expected") or "", limit),
                "actual": _clip(test.get("stdout") or "", limit),
                "error": _clip(error, limit),
            }
    return None


def _clip(text: Any, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"\n... [{len(text) - limit} more characters]"


# --- AI-test iteration with test anchors -----------------------------------------------------------


@step_function("alphacodium.ai_start")
def ai_start(code: Any, iteration_tests: list[dict[str, Any]]) -> dict[str, Any]:
    """Initial state of the AI-test loop: nothing anchored yet, every test queued."""
    return {"code": code or "", "anchors": [], "queue": list(iteration_tests or []), "attempts": 0, "log": []}


@step_function("alphacodium.ai_focus")
def ai_focus(state: dict[str, Any], check: Judge) -> dict[str, Any]:
    """Anchor the queued tests the current code passes, up to the first one it fails.

    ``check`` is the code judged on the whole queue, stopping at the first failure (one sandbox run
    instead of one per test). Returns the state with those tests anchored, and ``test``: the failing
    test now at the head of the queue (None when every queued test passed).
    """
    queue = list(state.get("queue") or [])
    anchors = list(state.get("anchors") or [])
    log = list(state.get("log") or [])
    results = (check or {}).get("tests") or []
    compiled = bool(check) and check.get("verdict") != "CE"
    passing = 0
    while compiled and passing < min(len(queue), len(results)) and results[passing].get("verdict") == "AC":
        test = queue[passing]
        if not _contains(anchors, test):
            anchors.append(test)
        log.append(
            {"kind": test.get("kind"), "input": _clip(test.get("input", ""), 200), "outcome": "passed"}
        )
        passing += 1
    rest = queue[passing:]
    attempts = 0 if passing else int(state.get("attempts") or 0)
    return {
        **state,
        "anchors": anchors,
        "queue": rest,
        "attempts": attempts,
        "log": log,
        "test": rest[0] if rest else None,
    }


@step_function("alphacodium.ai_step")
def ai_step(
    state: dict[str, Any], fix_code: Any = None, fix_judge: Judge = None, max_attempts: int = 2
) -> dict[str, Any]:
    """After a fix attempt on the focused test (``state["test"]``, from ``ai_focus``): the next state.

    ``fix_judge`` is the fix judged on the anchors plus that test (last). A fix that breaks an anchor
    is reverted; one that passes everything is kept and the test anchored; after ``max_attempts``
    failed fixes the test is given up (the model's expected output may itself be wrong).
    """
    state = {key: value for key, value in state.items() if key != "test"}
    queue = list(state.get("queue") or [])
    if not queue:
        return state
    test, rest = queue[0], queue[1:]
    anchors = list(state.get("anchors") or [])
    attempts = int(state.get("attempts") or 0) + 1
    log = list(state.get("log") or [])
    entry = {"kind": test.get("kind"), "input": _clip(test.get("input", ""), 200), "attempt": attempts}
    results = (fix_judge or {}).get("tests") or []
    if not fix_judge or not isinstance(fix_code, str) or not fix_code.strip():
        outcome = "no fix"
    elif fix_judge.get("verdict") == "CE":
        outcome = "fix does not compile"
    elif len(results) < len(anchors) or any(r.get("verdict") != "AC" for r in results[: len(anchors)]):
        outcome = "reverted: the fix broke an anchor"
    elif len(results) > len(anchors) and results[len(anchors)].get("verdict") == "AC":
        log.append({**entry, "outcome": "fixed"})
        new_anchors = anchors if _contains(anchors, test) else [*anchors, test]
        return {**state, "code": fix_code, "anchors": new_anchors, "queue": rest, "attempts": 0, "log": log}
    else:
        outcome = "fix still fails"
    log.append({**entry, "outcome": outcome})
    if attempts >= int(max_attempts):
        log.append({**entry, "outcome": "given up"})
        return {**state, "queue": rest, "attempts": 0, "log": log}
    return {**state, "attempts": attempts, "log": log}


def _contains(tests: list[dict[str, Any]], test: dict[str, Any]) -> bool:
    return any(t.get("input") == test.get("input") and t.get("output") == test.get("output") for t in tests)


@step_function("alphacodium.ai_summary")
def ai_summary(state: dict[str, Any]) -> dict[str, int]:
    """Counts of the AI-test iteration's outcomes, for the run's outputs."""
    counts = {"passed": 0, "fixed": 0, "reverted": 0, "given_up": 0}
    for entry in state.get("log") or []:
        outcome = str(entry.get("outcome"))
        if outcome in ("passed", "fixed"):
            counts[outcome] += 1
        elif outcome.startswith("reverted"):
            counts["reverted"] += 1
        elif outcome == "given up":
            counts["given_up"] += 1
    return counts


# --- final choice ----------------------------------------------------------------------------------


@step_function("alphacodium.final_choice")
def final_choice(public_best: dict[str, Any] | None, ai_code: Any, ai_public_judge: Judge) -> dict[str, Any]:
    """The AI-stage code unless it passes fewer public tests than the public stage's best."""
    ai_candidate = candidate(ai_code, ai_public_judge)
    if closeness(ai_candidate) >= closeness(public_best):
        return {**ai_candidate, "stage": "ai_tests"}
    return {**dict(public_best or {}), "stage": "public_tests"}


def prefer(first: Any, fallback: Any) -> Any:
    """``first`` unless it is missing (a skipped or failed step), else ``fallback``."""
    return fallback if first is None else first


@step_function("alphacodium.reflection")
def reflection(validated: Any, original: Any) -> dict[str, Any]:
    """The reflection to build on (the validated one when there is one), as prompt-ready data: the
    bullet points as text even when the model answered with a list, explanations as a list."""
    chosen = prefer(validated, original) or {}
    points = chosen.get("self_reflection")
    if isinstance(points, list):
        points = "\n".join(f"- {str(point).lstrip('- ').strip()}" for point in points)
    explanations = [item for item in _as_list(chosen.get("tests_explanations")) if item]
    return {"self_reflection": str(points or "").strip(), "tests_explanations": explanations}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values()) if all(isinstance(v, dict) for v in value.values()) else [value]
    return [value]
