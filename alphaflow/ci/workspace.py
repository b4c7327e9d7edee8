"""The fix mode's workspace: a copy of the repository, test runs in the sandbox, edits and diffs.

The user's working tree is read once (tracked and untracked-but-not-ignored files when it is a git
repository) into ``COPY``; it is never written unless ``--apply``. Edits live as overrides
``{relative path: new text}`` on top of the copy, so reverting an edit is dropping it.

A test run ships the copy (with the overrides) to the sandbox as a tar archive on stdin and runs the
test command there: in the docker backend that is a container with no network, a read-only root, a
fresh ``/tmp`` and none of the host's environment (so no secrets); the local backend runs it as a
subprocess with a minimal environment. Per-test outcomes are read from the output of
``python3 -m unittest -v`` and of pytest (``-v`` or ``-rA``); when none are found the command's exit
status stands for one test named after the command.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from alphaflow.errors import UserError

SKIP_DIRS = {
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
}
MAX_FILE_BYTES = 1 << 20  # larger files are copied but never shown to the model
OUTPUT_TAIL = 12_000  # characters of test output kept per run
# Environment a set-up command may keep (no tokens, no API keys): paths, locale, proxies, pip's index.
SETUP_ENV_KEEP = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CONSTRAINT",
    "VIRTUAL_ENV",
)

_UNITTEST = re.compile(
    r"^(\w+) \(([\w.]+)\)(?:\n[^\n]*?)? \.\.\. "
    r"(ok|FAIL|ERROR|skipped\b.*|expected failure|unexpected success)$",
    re.MULTILINE,
)
_PYTEST_VERBOSE = re.compile(r"^(\S+::\S+)\s+(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b", re.MULTILINE)
_PYTEST_SUMMARY = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+::\S+)", re.MULTILINE)
_PASSING = {"ok", "PASSED", "XFAIL", "expected failure", "SKIPPED"}


def repo_files(repo: Path) -> list[str]:
    """Relative paths of the files to copy: git's tracked + untracked-not-ignored, else a walk."""
    if not repo.is_dir():
        raise UserError(f"--repo {repo}: no such directory")
    try:
        listed = subprocess.run(
            ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode("utf-8", errors="surrogateescape")
        files = [name for name in listed.split("\0") if name and (repo / name).is_file()]
        if files:
            return sorted(set(files))
    except (OSError, subprocess.SubprocessError):
        pass
    files = []
    for root, dirs, names in os.walk(repo):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                files.append(path.relative_to(repo).as_posix())
    return sorted(files)


def copy_repo(repo: Path, dest: Path) -> list[str]:
    """Copy the repository's files to ``dest``; returns their relative paths."""
    files = repo_files(repo)
    if not files:
        raise UserError(f"--repo {repo}: no files to test")
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)
    return files


def setup_env() -> dict[str, str]:
    """The set-up command's environment: the host's, less everything that could hold a secret."""
    return {name: os.environ[name] for name in SETUP_ENV_KEEP if name in os.environ}


def run_setup(command: str, copy: Path, timeout_s: float) -> str:
    """Run ``--setup-command`` in the copy (network allowed, no secrets); a failure is a ``UserError``."""
    try:
        done = subprocess.run(
            ["sh", "-c", command], cwd=copy, env=setup_env(), capture_output=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"--setup-command: did not finish within {timeout_s:g} s") from None
    output = (done.stdout + done.stderr).decode("utf-8", errors="replace")
    if done.returncode != 0:
        raise UserError(f"--setup-command exited with {done.returncode}: {output.strip()[-300:]}")
    return output


def read_text(copy: Path, overrides: dict[str, str], name: str) -> str | None:
    """A file of the workspace as the tests see it (override first), or None when absent/binary/huge."""
    if name in overrides:
        return overrides[name]
    path = copy / name
    if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def safe_relative(name: str) -> str:
    """A workspace path from a model's edit: relative, inside the copy, no ``..``."""
    clean = str(name).strip().lstrip("./") if str(name).startswith("./") else str(name).strip()
    parts = Path(clean).parts
    if not clean or Path(clean).is_absolute() or ".." in parts or (parts and parts[0] == ".git"):
        raise ValueError(f"file {name!r} is not a path inside the repository")
    return Path(clean).as_posix()


def is_test_file(name: str) -> bool:
    """Whether a path is a test file (``test_*.py``, ``*_test.py``, under ``tests/``): edits to those
    could make a failing test pass by weakening it, so the fix mode refuses them."""
    path = Path(name)
    return (
        path.name.startswith("test_")
        or path.stem.endswith("_test")
        or path.name == "conftest.py"
        or any(part in ("test", "tests") for part in path.parts[:-1])
    )


def archive(copy: Path, overrides: dict[str, str]) -> bytes:
    """The workspace as a tar archive (the copy, with the overrides written over it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(copy.rglob("*")):
            name = path.relative_to(copy).as_posix()
            if path.is_file() and not path.is_symlink() and name not in overrides:
                tar.add(path, arcname=name, recursive=False)
        for name, text in sorted(overrides.items()):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def parse_tests(output: str) -> dict[str, str]:
    """``{test id: "passed" | "failed"}`` read from unittest -v or pytest output (may be empty)."""
    tests: dict[str, str] = {}
    for name, where, status in _UNITTEST.findall(output):
        test_id = where if where.endswith(f".{name}") else f"{where}.{name}"
        tests[test_id] = "passed" if status in _PASSING or status.startswith("skipped") else "failed"
    for test_id, status in _PYTEST_VERBOSE.findall(output):
        tests[test_id] = "passed" if status in _PASSING else "failed"
    for status, test_id in _PYTEST_SUMMARY.findall(output):
        tests[test_id] = "passed" if status in _PASSING else "failed"
    return tests


async def run_tests(workspace: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the test command on the workspace in the sandbox.

    Returns ``{exit_code, timed_out, output, tests: {id: status}, passed: [ids], failed: [ids], green}``;
    ``green`` is true when the command exited 0 and no test failed.
    """
    from alphaflow.sandbox import open_sandbox

    copy = Path(workspace["copy"])
    data = archive(copy, dict(overrides or {}))
    timeout_s = float(workspace.get("timeout_s") or 300)
    backend = workspace.get("sandbox", "docker")
    # Not entered with `async with`: starting would warm a judging container (which needs the judge
    # runner in the image); commands need only the workspace container, so --image may be any image.
    sandbox = open_sandbox(backend=backend, pool_size=1, image=workspace.get("image"), warn=False)
    try:
        unpack = await sandbox.run(
            ["sh", "-c", "rm -rf repo && mkdir repo && tar -x -C repo"], stdin=data, timeout_s=120
        )
        if unpack.exit_code != 0:
            why = unpack.stderr.decode("utf-8", errors="replace").strip()[-300:]
            raise UserError(f"could not copy the repository into the sandbox: {why}")
        command = ["sh", "-c", f"cd repo && {workspace['test_command']}"]
        result = await sandbox.run(command, timeout_s=timeout_s)
    finally:
        await sandbox.close()
    output = (result.stdout + b"\n" + result.stderr).decode("utf-8", errors="replace")
    tests = parse_tests(output)
    command = f"`{workspace['test_command']}`"
    if not tests:
        tests = {command: "passed" if result.exit_code == 0 else "failed"}
    elif result.exit_code != 0 and all(status == "passed" for status in tests.values()):
        tests[command] = "failed"  # e.g. a module that does not import: no test reported it
    failed = sorted(name for name, status in tests.items() if status != "passed")
    return {
        "exit_code": result.exit_code,
        "timed_out": bool(result.timed_out),
        "output": output[-OUTPUT_TAIL:],
        "tests": tests,
        "passed": sorted(name for name, status in tests.items() if status == "passed"),
        "failed": failed,
        "green": result.exit_code == 0 and not failed and not result.timed_out,
    }


def apply_edits(copy: Path, overrides: dict[str, str], edits: Any) -> tuple[dict[str, str], list[str]]:
    """Apply search/replace edits ``[{file, find, replace}]`` over the overrides.

    ``find`` must occur in the file exactly once (an empty ``find`` with a missing file creates it);
    test files are never edited.
    Returns the new overrides and one problem per edit that could not be applied.
    """
    result = dict(overrides)
    problems: list[str] = []
    if not isinstance(edits, list):
        return result, [f"edits must be a list of {{file, find, replace}}, got {type(edits).__name__}"]
    for number, edit in enumerate(edits, start=1):
        if not isinstance(edit, dict) or "file" not in edit or "replace" not in edit:
            problems.append(f"edit {number}: needs file, find and replace")
            continue
        try:
            name = safe_relative(edit["file"])
        except ValueError as error:
            problems.append(f"edit {number}: {error}")
            continue
        if is_test_file(name):
            problems.append(f"edit {number}: {name} is a test file; the fix changes the code under test")
            continue
        find, replace = str(edit.get("find") or ""), str(edit["replace"])
        current = read_text(copy, result, name)
        if current is None:
            if find or (copy / name).exists():
                problems.append(f"edit {number}: {name} does not exist or is not a text file")
                continue
            result[name] = replace
            continue
        count = current.count(find) if find else 0
        if count != 1:
            problems.append(f"edit {number}: the text to find occurs {count} times in {name}, not once")
            continue
        result[name] = current.replace(find, replace, 1)
    return result, problems


def unified_diff(copy: Path, overrides: dict[str, str]) -> str:
    """A ``git apply``-able unified diff from the copy to the overrides (``a/``, ``b/`` prefixes)."""
    chunks: list[str] = []
    for name in sorted(overrides):
        before = read_text(copy, {}, name)
        after = overrides[name]
        if before == after:
            continue
        old = [] if before is None else before.splitlines(keepends=True)
        new = after.splitlines(keepends=True)
        diff = list(
            difflib.unified_diff(old, new, "/dev/null" if before is None else f"a/{name}", f"b/{name}")
        )
        if not diff:
            continue
        if before is None:
            chunks.append(f"diff --git a/{name} b/{name}\nnew file mode 100644\n")
        else:
            chunks.append(f"diff --git a/{name} b/{name}\n")
        for line in diff:
            chunks.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(chunks)
