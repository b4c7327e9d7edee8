"""Steps of ``flows/ci_fix.yaml``: locate the code behind failing tests, try an edit with test anchors.

``workspace`` is the dict the fix command passes in: ``{copy, test_command, sandbox, image,
timeout_s}`` (see ``alphaflow.ci.workspace``). Edits are overrides ``{path: text}`` on top of the
copy, so a rejected edit is simply not kept. The anchor rule (AlphaCodium, arXiv 2401.08500, sec. 3:
tests that passed before must keep passing) decides whether an edit stays.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alphaflow.ci.workspace import apply_edits, read_text, repo_files, run_tests, unified_diff
from alphaflow.step_functions.registry import step_function

MAX_SOURCE_CHARS = 40_000  # code shown to the model per round
MAX_LISTING = 300
_TRACE_FILE = re.compile(r'File "([^"]+)", line (\d+)|^([\w./-]+\.\w+):(\d+):', re.MULTILINE)


def _workspace_name(raw: str, known: set[str]) -> str | None:
    """A path printed by the tests (absolute in the sandbox, or relative) as a workspace file."""
    text = raw.replace("\\", "/")
    if "/repo/" in text:
        text = text.split("/repo/", 1)[1]
    text = text.removeprefix("./")
    if text in known:
        return text
    matches = [name for name in known if name.endswith("/" + text) or text.endswith("/" + name)]
    return matches[0] if len(matches) == 1 else None


@step_function()
def locate(
    workspace: dict[str, Any], overrides: dict[str, str] | None, result: dict[str, Any]
) -> dict[str, Any]:
    """The files the failure output points at (tracebacks, ``file:line``), test files first.

    Returns ``{files: [{path, content}], listing: [paths]}``; contents are the current (edited) text.
    """
    copy = Path(workspace["copy"])
    overrides = dict(overrides or {})
    known = set(repo_files(copy)) | set(overrides)
    order: list[str] = []
    for match in _TRACE_FILE.finditer(str(result.get("output") or "")):
        name = _workspace_name(match.group(1) or match.group(3), known)
        if name and name not in order:
            order.append(name)
    for test_id in result.get("failed") or []:  # pytest ids carry their file; unittest ids their module
        head = str(test_id).split("::", 1)[0]
        candidates = (
            [head]
            if head.endswith(".py")
            else [
                ".".join(head.split(".")[:i]).replace(".", "/") + ".py"
                for i in range(len(head.split(".")), 0, -1)
            ]
        )
        for candidate in candidates:
            name = _workspace_name(candidate, known)
            if name and name not in order:
                order.append(name)
                break
    if not order:  # nothing pointed anywhere: show the smallest Python files
        order = sorted(
            (n for n in known if n.endswith(".py")), key=lambda n: len(read_text(copy, overrides, n) or "")
        )
    files, used = [], 0
    for name in order:
        text = read_text(copy, overrides, name)
        if text is None or used + len(text) > MAX_SOURCE_CHARS:
            continue
        files.append({"path": name, "content": text})
        used += len(text)
    return {"files": files, "listing": sorted(known)[:MAX_LISTING]}


@step_function()
async def attempt(
    workspace: dict[str, Any],
    overrides: dict[str, str] | None,
    edits: Any,
    anchors: list[str],
    current: dict[str, Any],
    explanation: str = "",
) -> dict[str, Any]:
    """Apply ``edits``, re-run the tests, and keep the edit only when it breaks no anchor and fixes more.

    Returns ``{overrides, result, kept, note}``: the overrides and test result to carry on with (the
    previous ones when the edit is reverted) and one line saying what happened.
    """
    overrides = dict(overrides or {})
    copy = Path(workspace["copy"])
    changed, problems = apply_edits(copy, overrides, edits)
    if changed == overrides:
        why = "; ".join(problems) or "the edit changes nothing"
        return {"overrides": overrides, "result": current, "kept": False, "note": f"edit not applied: {why}"}
    result = await run_tests(workspace, changed)
    broken = [name for name in anchors if result["tests"].get(name) != "passed"]
    before, after = len(current.get("failed") or []), len(result["failed"])
    if broken:
        note = f"reverted: the edit broke {len(broken)} test(s) that passed before ({', '.join(broken[:5])})"
        return {"overrides": overrides, "result": current, "kept": False, "note": note}
    if after >= before and not result["green"]:
        note = f"reverted: no progress ({after} failing test(s), {before} before)"
        return {"overrides": overrides, "result": current, "kept": False, "note": note}
    note = f"kept: {before - after} test(s) fixed, {after} still failing" + (
        f" ({explanation.strip()[:300]})" if explanation else ""
    )
    if problems:
        note += f"; skipped parts: {'; '.join(problems)}"
    return {"overrides": changed, "result": result, "kept": True, "note": note}


@step_function()
def patch(workspace: dict[str, Any], overrides: dict[str, str] | None) -> dict[str, Any]:
    """The unified diff of the kept edits and the files it touches."""
    overrides = dict(overrides or {})
    diff = unified_diff(Path(workspace["copy"]), overrides)
    return {"diff": diff, "files": sorted(overrides)}
