"""The local backend: the real runner as a subprocess, the core hostile cases, a scrubbed environment."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sandbox_programs import ECHO_TESTS, HOSTILE, REMEMBERS_EARLIER_TESTS, SUM, SUM_CPP, SUM_TESTS, Case

from alphaflow.sandbox import Limits, open_sandbox
from alphaflow.sandbox.local import LocalSandbox, namespaces_work, not_enforced

# Cases that are safe without a container: no fork bomb or file-system probes on the developer's host.
LOCAL_CASES = [
    "allocate_10_gb",
    "print_1_gb",
    "infinite_loop",
    "sleep_forever",
    "env_secrets",
    "outliving_child",
    "close_stdin_early",
    "never_ending_compile",
    "huge_single_output_line",
    "huge_single_input_line",
]


@pytest.fixture
async def local() -> LocalSandbox:
    sandbox = open_sandbox("local", pool_size=2, warn=False)
    async with sandbox:
        yield sandbox


async def test_correct_solutions_are_accepted(local: LocalSandbox) -> None:
    python, cpp = await asyncio.gather(
        local.judge(SUM, "python", SUM_TESTS, limits=Limits(time_s=2)),
        local.judge(SUM_CPP, "c++", SUM_TESTS, limits=Limits(time_s=2)),
    )
    assert (python.verdict, python.passed, python.backend) == ("AC", 2, "local")
    assert (cpp.verdict, cpp.language) == ("AC", "cpp")


async def test_verdicts_and_unsupported_language(local: LocalSandbox) -> None:
    wrong = await local.judge("print(3)", "python", SUM_TESTS, stop_on_first_failure=True)
    assert (wrong.verdict, len(wrong.tests)) == ("WA", 2)
    syntax = await local.judge("def f(:", "python", SUM_TESTS)
    assert syntax.verdict == "CE"
    java = await local.judge("class Main {}", "java", SUM_TESTS)
    assert java.verdict == "unsupported"


@pytest.mark.parametrize("name", LOCAL_CASES)
async def test_hostile_program_is_contained(
    name: str, local: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    case: Case = HOSTILE[name]
    started = time.monotonic()
    result = await local.judge(case.source, case.language, case.tests, limits=case.make_limits())
    detail = [(t.verdict, t.message, t.stdout[:80]) for t in result.tests]
    assert result.verdict in case.expected, (result.verdict, result.message, detail)
    assert time.monotonic() - started < 30


async def test_host_checker_sees_the_whole_output(local: LocalSandbox) -> None:
    seen: list[str] = []

    def checker(test_input: str, expected: str, actual: str) -> bool:
        seen.append(actual)
        return actual.strip() == "x" * 100_000

    result = await local.judge(
        "print('x' * 100000)", "python", [{"input": "", "output": "?"}], checker=checker
    )
    assert result.verdict == "AC" and len(seen[0].strip()) == 100_000


async def test_files_and_commands_stay_in_the_work_dir(local: LocalSandbox) -> None:
    await local.write_file("sub/a.txt", "hi")
    assert await local.read_file("sub/a.txt") == b"hi"
    result = await local.run(["cat", "sub/a.txt"])
    assert (result.exit_code, result.stdout) == (0, b"hi"), result.stderr
    slow = await local.run(["sleep", "30"], timeout_s=0.5)
    assert slow.timed_out and slow.wall_s < 5
    for escape in ("../x", "/etc/passwd", ""):
        with pytest.raises(ValueError):
            await local.write_file(escape, b"")


async def test_command_env_carries_no_host_secret(
    local: LocalSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    result = await local.run(["env"])
    assert b"sk-test" not in result.stdout and b"OPENAI" not in result.stdout


async def test_a_runner_under_tmp_still_runs() -> None:
    # An installed alphaflow may live under /tmp (a venv there), which each judgement covers with an
    # empty tmpfs: the runner must stay visible at its own path.
    sandbox = LocalSandbox(pool_size=1, warn=False)
    installed = Path(tempfile.mkdtemp(dir="/tmp", prefix="alphaflow-test-venv-"))
    installed.chmod(0o755)
    copy = installed / sandbox.runner_path.name
    if sandbox.runner_path.is_dir():
        shutil.copytree(sandbox.runner_path, copy)
    else:
        shutil.copy(sandbox.runner_path, copy)
    sandbox.runner_path = copy
    try:
        async with sandbox:
            result = await sandbox.judge(SUM, "python", SUM_TESTS)
            listed = await sandbox.judge(READ_TEMP, "python", CONTAINED)
    finally:
        shutil.rmtree(installed)
    assert (result.verdict, result.passed) == ("AC", 2), result.message
    assert listed.verdict == "AC", listed.tests[0].stdout


async def test_a_broken_runner_is_SE_after_one_retry(tmp_path) -> None:
    # A runner that answers garbage stands for a sandbox fault: the solution must not be blamed.
    broken = tmp_path / "runner.py"
    broken.write_text("import sys\nsys.stdin.read()\nprint('Segmentation fault')\n")
    sandbox = LocalSandbox(pool_size=1, warn=False)
    sandbox.runner_path = broken
    async with sandbox:
        result = await sandbox.judge(SUM, "python", SUM_TESTS)
    assert (result.verdict, result.passed, result.attempts) == ("SE", 0, 2)
    assert "not JSON" in result.message


# --- what the local backend keeps from solutions (issue 10) -----------------------------------------
# Each probe prints what it reached; the test then checks the result's ``isolation`` report tells the
# truth: what it says is enforced held, and what it says is open was reachable.

SECRET = "sk-hostile-test-must-not-leak"

READ_EVERY_ENVIRON = f"""import glob
found = []
for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/task/*/environ"):
    try:
        if b"{SECRET}" in open(path, "rb").read():
            found.append(path)
    except OSError:
        pass
print("leaked " + " ".join(found) if found else "contained")
"""

CONNECT = """import socket
port = int(input())
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    print("connected")
except OSError:
    print("contained")
"""

WRITE_TEMP = """import os, tempfile
for directory in (tempfile.gettempdir(), os.path.expanduser("~"), "/tmp", "/var/tmp", "/dev/shm"):
    try:
        with open(os.path.join(directory, "alphaflow-probe-" + str(os.getuid())), "w") as handle:
            handle.write("A was here")
    except OSError:
        pass
print("contained")
"""

READ_TEMP = """import os, tempfile
seen = []
for directory in (tempfile.gettempdir(), os.path.expanduser("~"), "/tmp", "/var/tmp", "/dev/shm"):
    if os.path.exists(os.path.join(directory, "alphaflow-probe-" + str(os.getuid()))):
        seen.append(directory)
print("seen " + " ".join(seen) if seen else "contained")
"""

CONTAINED = [{"input": "", "output": "contained\n"}]


def _judge(sandbox: LocalSandbox, source: str, tests=CONTAINED):
    return sandbox.judge(source, "python", tests, limits=Limits(time_s=5))


@pytest.fixture(params=["namespaces", "no namespaces"])
async def either_path(request: pytest.FixtureRequest) -> LocalSandbox:
    """The local backend as this host allows it, and the weaker path without namespaces."""
    sandbox = LocalSandbox(pool_size=2, warn=False, namespaces=request.param == "namespaces")
    async with sandbox:
        yield sandbox


async def test_the_host_process_is_not_readable(either_path: LocalSandbox) -> None:
    # /proc/PID/environ of a process holds the environment it started with, keys included.
    import subprocess

    holder = subprocess.Popen(
        [sys.executable, "-c", "import time, sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        env={**os.environ, "OPENAI_API_KEY": SECRET},
    )
    try:
        result = await _judge(either_path, READ_EVERY_ENVIRON)
    finally:
        holder.communicate(b"")
    stdout = result.tests[0].stdout
    # A sibling process holding a key (your shell) is out of reach when processes are private or the
    # solution runs as another user; otherwise the report must say processes are visible.
    if result.isolation["processes"] == "private" or result.isolation["user"] == "nobody":
        assert result.verdict == "AC", stdout
    else:
        assert "other processes visible in /proc" in not_enforced(result.isolation), result.isolation
    assert result.isolation["host_process"] == "non-dumpable"


async def test_network_is_cut_or_reported_open(either_path: LocalSandbox) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        result = await _judge(either_path, CONNECT, [{"input": f"{port}\n", "output": "contained\n"}])
    finally:
        listener.close()
    reached = result.tests[0].stdout.strip()
    assert reached == ("contained" if result.isolation["network"] == "none" else "connected"), (
        result.isolation
    )
    if either_path.namespaces:
        assert result.isolation["network"] == "none"


async def test_temp_files_do_not_pass_between_solutions(either_path: LocalSandbox) -> None:
    written = await _judge(either_path, WRITE_TEMP)
    assert written.verdict == "AC"
    read = await _judge(either_path, READ_TEMP)
    seen = read.tests[0].stdout.split()[1:]
    # The solution's own temp dir and HOME are always private; /tmp and friends when namespaces work.
    if read.isolation["temp_dirs"] == "private":
        assert read.verdict == "AC", seen
    else:
        assert read.isolation["user"] == "nobody" or set(seen) <= {"/tmp", "/var/tmp", "/dev/shm"}, seen
        for directory in seen:  # leave nothing behind on the host
            Path(directory, f"alphaflow-probe-{os.getuid() if os.geteuid() else 65534}").unlink(
                missing_ok=True
            )


@pytest.mark.parametrize("where", [".", "/tmp", "/dev/shm"])
async def test_tests_of_one_judgement_never_see_each_others_files(either_path: LocalSandbox, where) -> None:
    result = await _judge(either_path, REMEMBERS_EARLIER_TESTS(where), ECHO_TESTS)
    if where == "." or result.isolation["temp_dirs"] == "private":
        assert (result.verdict, result.passed) == ("AC", 3), [t.stdout for t in result.tests]
    else:  # the host's shared /tmp is never emptied: the report says it is shared
        assert "/tmp, /var/tmp and /dev/shm shared with the host" in not_enforced(result.isolation)
        Path(where, "seen.txt").unlink(missing_ok=True)
        shutil.rmtree(Path(where, "notes"), ignore_errors=True)


async def test_emptying_the_private_tmp_between_tests_spares_a_runner_living_under_tmp(tmp_path) -> None:
    """A checkout or venv under /tmp puts the runner there; the private /tmp binds it back in."""
    from alphaflow.sandbox.local import runner_path

    runner = tmp_path / "runner"
    shutil.copytree(runner_path(), runner, ignore=shutil.ignore_patterns("__pycache__"))
    before = sorted(p.name for p in runner.iterdir())
    async with LocalSandbox(warn=False) as sandbox:
        sandbox.runner_path = runner
        result = await _judge(sandbox, REMEMBERS_EARLIER_TESTS("/tmp"), ECHO_TESTS)
    assert (result.verdict, result.passed) == ("AC", 3)
    assert sorted(p.name for p in runner.iterdir() if p.name != "__pycache__") == before


async def test_a_runner_reached_through_a_link_under_tmp_still_judges(tmp_path) -> None:
    """A checkout under /tmp reached through a symbolic link (the private /tmp binds the real path)."""
    from alphaflow.sandbox.local import runner_path

    shutil.copytree(runner_path(), tmp_path / "real" / "runner", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "link").symlink_to(tmp_path / "real")
    async with LocalSandbox(warn=False) as sandbox:
        sandbox.runner_path = tmp_path / "link" / "runner"
        result = await _judge(sandbox, SUM, SUM_TESTS)
    assert (result.verdict, result.passed) == ("AC", 2), result.message


def test_namespaces_are_used_where_the_host_allows_them() -> None:
    # CI runs as root, where unshare(1) always works: the strong path must be the one taken there.
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("only root is sure to have namespaces")
    assert namespaces_work()


NOBODY_HOST = """
import asyncio, json, sys
from alphaflow.sandbox.local import LocalSandbox
from alphaflow.sandbox import Limits

async def main(namespaces, probes):
    outcomes = []
    async with LocalSandbox(pool_size=1, warn=False, namespaces=namespaces) as sandbox:
        for source, stdin in probes:
            result = await sandbox.judge(source, "python", [{"input": stdin, "output": "contained\\n"}],
                                         limits=Limits(time_s=5))
            stdout = result.tests[0].stdout if result.tests else ""
            outcomes.append({"verdict": result.verdict, "message": result.message,
                             "isolation": result.isolation, "stdout": stdout})
    print(json.dumps(outcomes))

asyncio.run(main(sys.argv[1] == "namespaces", json.loads(sys.argv[2])))
"""


def _as_nobody(path: str, probes: list[tuple[str, str]]) -> list[dict]:
    """Run ``probes`` (source, stdin) through a LocalSandbox whose host process is nobody, holding
    an API key in its environment; their outcomes."""
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None or system_python is None:
        pytest.skip("needs root to become nobody (setpriv) and a system python3")
    import subprocess

    version = subprocess.run(
        [system_python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()
    if version != str(sys.version_info[:2]):
        pytest.skip(f"the system python3 {version} cannot load this venv's packages")
    import pydantic

    import alphaflow

    checkout = str(Path(alphaflow.__file__).resolve().parents[1])
    site = str(Path(pydantic.__file__).resolve().parents[1])
    command = ["--reuid=65534", "--regid=65534", "--clear-groups", system_python, "-c", NOBODY_HOST]
    done = subprocess.run(
        [setpriv, *command, path, json.dumps(probes)],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
        env={
            "PATH": os.environ["PATH"],
            "HOME": "/",
            "PYTHONPATH": f"{checkout}:{site}",
            "OPENAI_API_KEY": SECRET,
        },
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("path", ["namespaces", "no namespaces"])
def test_an_ordinary_user_host_keeps_its_key_and_reports_the_rest(path: str) -> None:
    # alphaflow run by an ordinary user (nobody here), holding a key: the solution runs as the same
    # user, so only non-dumpable (and, where allowed, a PID namespace) keeps the key out of reach.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        secret, network = _as_nobody(
            path, [(READ_EVERY_ENVIRON, ""), (CONNECT, f"{listener.getsockname()[1]}\n")]
        )
    finally:
        listener.close()
    assert secret["verdict"] == "AC", secret
    assert secret["isolation"]["user"] == "same user as alphaflow"
    assert secret["isolation"]["host_process"] == "non-dumpable"
    reached = network["stdout"].strip()
    assert reached == ("contained" if network["isolation"]["network"] == "none" else "connected"), network
    if path == "no namespaces":
        assert network["isolation"]["network"] == "open"
