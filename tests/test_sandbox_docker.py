"""The docker warm pool against hostile programs, sandbox faults and its own clean-up.

Needs a Docker engine and the sandbox image (CI starts and builds both). Skipped only where no engine
can exist at all (no ``dockerd`` binary and no ``DOCKER_HOST``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
import pytest_asyncio
from sandbox_programs import (
    COUNT_OUTLIVERS,
    ECHO,
    ECHO_TESTS,
    HOSTILE,
    REMEMBERS_EARLIER_TESTS,
    SUM,
    SUM_CPP,
    SUM_TESTS,
    Case,
    require_docker,
)

from alphaflow.sandbox import Limits, ProgramChecker, open_sandbox
from alphaflow.sandbox.docker_pool import DockerSandbox, labelled_containers, reap_orphans

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="module")]


def _own_containers(client: object, pool: DockerSandbox) -> list[str]:
    return [c["Id"] for c in labelled_containers(client) if c["Id"] in pool._all]


@pytest.fixture(scope="module")
def client() -> object:
    return require_docker()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(client: object):
    sandbox = open_sandbox("docker", pool_size=2, warn=False)
    assert isinstance(sandbox, DockerSandbox)
    async with sandbox:
        await sandbox.warm()
        yield sandbox
    # Closing removed every container this pool started.
    left = [
        c
        for c in labelled_containers(client)
        if c["Labels"].get("alphaflow.sandbox.owner_pid") == str(os.getpid())
    ]
    assert left == []


async def test_correct_python_and_cpp_are_accepted(pool: DockerSandbox) -> None:
    python, cpp = await asyncio.gather(
        pool.judge(SUM, "python", SUM_TESTS, limits=Limits(time_s=2)),
        pool.judge(SUM_CPP, "cpp", SUM_TESTS, limits=Limits(time_s=2)),
    )
    assert (python.verdict, python.passed, python.total, python.backend) == ("AC", 2, 2, "docker")
    assert (cpp.verdict, cpp.passed) == ("AC", 2)
    assert all(t.cpu_s >= 0 and t.wall_s > 0 and t.memory_kb > 0 for t in python.tests)


async def test_every_result_says_what_the_container_enforced(pool: DockerSandbox) -> None:
    from alphaflow.sandbox.local import not_enforced

    result = await pool.judge(SUM, "python", SUM_TESTS)
    isolation = result.isolation
    assert isolation["backend"] == "docker" and isolation["network"] == "none"
    assert isolation["user"] not in ("root", "0") and not_enforced(isolation) == []
    assert result.to_dict()["isolation"] == isolation


@pytest.mark.parametrize("where", [".", "/tmp"])
async def test_a_test_never_sees_files_an_earlier_test_wrote(pool: DockerSandbox, where: str) -> None:
    result = await pool.judge(REMEMBERS_EARLIER_TESTS(where), "python", ECHO_TESTS)
    assert (result.verdict, result.passed) == ("AC", 3), [t.stdout for t in result.tests]


async def test_wrong_answer_and_compile_error(pool: DockerSandbox) -> None:
    wrong, broken = await asyncio.gather(
        pool.judge("print(3)", "python", SUM_TESTS),
        pool.judge("int main( {", "cpp", SUM_TESTS),
    )
    assert (wrong.verdict, wrong.passed, [t.verdict for t in wrong.tests]) == ("WA", 1, ["AC", "WA"])
    assert broken.verdict == "CE" and "error" in broken.compile_output


async def test_unsupported_language_is_a_verdict(pool: DockerSandbox) -> None:
    result = await pool.judge("class Main {}", "java", SUM_TESTS)
    assert (result.verdict, result.total) == ("unsupported", 2)


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_program_is_contained(
    name: str, pool: DockerSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    case: Case = HOSTILE[name]
    started = time.monotonic()
    result = await pool.judge(case.source, case.language, case.tests, limits=case.make_limits())
    detail = [(t.verdict, t.message, t.stdout[:80]) for t in result.tests]
    assert result.verdict in case.expected, (
        result.verdict,
        result.message,
        detail,
        result.compile_output[-300:],
    )
    assert time.monotonic() - started < 30
    # The pool still judges correctly afterwards.
    after = await pool.judge(SUM, "python", SUM_TESTS)
    assert after.verdict == "AC"


async def test_no_process_outlives_its_solution(pool: DockerSandbox) -> None:
    # Both containers first run a program that leaves a daemon, then one that looks for it.
    await asyncio.gather(
        *(
            pool.judge(HOSTILE["outliving_child"].source, "python", HOSTILE["outliving_child"].tests)
            for _ in range(2)
        )
    )
    checks = await asyncio.gather(
        *(pool.judge(COUNT_OUTLIVERS, "python", [{"input": "", "output": "contained"}]) for _ in range(4))
    )
    assert [c.verdict for c in checks] == ["AC"] * 4, [c.tests[0].stdout for c in checks]


LITTER = """import os
base = "/tmp"  # the shared tmpfs, not the per-solution TMPDIR the runner sets
with open(os.path.join(base, "litter.txt"), "w") as handle:
    handle.write("x" * 1000)
os.makedirs(os.path.join(base, "locked", "inner"))
os.chmod(os.path.join(base, "locked"), 0)
print("contained")
"""

LOOK_FOR_LITTER = """import os
found = [n for n in os.listdir("/tmp") if n in ("litter.txt", "locked")]
print("contained" if not found else "found " + ",".join(found))
"""


async def test_files_left_by_a_solution_never_reach_the_next(pool: DockerSandbox) -> None:
    tests = [{"input": "", "output": "contained"}]
    littered = await asyncio.gather(*(pool.judge(LITTER, "python", tests) for _ in range(2)))
    assert [r.verdict for r in littered] == ["AC", "AC"], [r.tests[0].stderr for r in littered]
    looks = await asyncio.gather(*(pool.judge(LOOK_FOR_LITTER, "python", tests) for _ in range(4)))
    assert [r.verdict for r in looks] == ["AC"] * 4, [r.tests[0].stdout for r in looks]


async def test_secret_from_host_env_never_reaches_solution(pool: DockerSandbox, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    result = await pool.judge(
        "import os\nprint(os.environ.get('OPENAI_API_KEY', 'absent'))",
        "python",
        [{"input": "", "output": "absent"}],
    )
    assert result.verdict == "AC"


async def test_container_killed_mid_run_is_retried_not_blamed(client: object) -> None:
    sandbox = open_sandbox("docker", pool_size=1, warn=False)
    async with sandbox:
        slow_echo = "import time\ntime.sleep(1.5)\n" + ECHO
        judging = asyncio.create_task(
            sandbox.judge(slow_echo, "python", [{"input": "hi\n", "output": "hi\n"}])
        )
        await asyncio.sleep(0.7)
        victims = _own_containers(client, sandbox)
        assert victims, "the pool should have a running container"
        for container_id in victims:
            client.api.remove_container(container_id, force=True)
        result = await judging
        assert result.verdict == "AC" and result.attempts == 2, (result.verdict, result.message)
        assert "retried" in result.message
    assert _own_containers(client, sandbox) == []


# Run in the container from outside (docker exec, as the sandbox user): SIGKILL the serving runner.
KILL_SERVING_RUNNER = """import os, signal
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"--serve" in handle.read():
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
"""


async def test_serving_runner_killed_mid_request_is_retried_on_a_fresh_container(client: object) -> None:
    sandbox = open_sandbox("docker", pool_size=1, warn=False)
    assert isinstance(sandbox, DockerSandbox)
    async with sandbox:
        await sandbox.warm()
        (first,) = _own_containers(client, sandbox)
        slow_echo = "import time\ntime.sleep(1.5)\n" + ECHO
        judging = asyncio.create_task(
            sandbox.judge(slow_echo, "python", [{"input": "hi\n", "output": "hi\n"}])
        )
        await asyncio.sleep(0.7)
        killer = client.api.exec_create(first, ["python3", "-c", KILL_SERVING_RUNNER])["Id"]
        client.api.exec_start(killer)
        result = await judging
        assert result.verdict == "AC" and result.attempts == 2, (result.verdict, result.message)
        assert "runner" in result.message and "retried" in result.message
        # The broken container is gone; its replacement serves the next solution.
        assert first not in _own_containers(client, sandbox)
        assert first not in [c["Id"] for c in labelled_containers(client)]
        after = await sandbox.judge(SUM, "python", SUM_TESTS)
        assert after.verdict == "AC" and after.attempts == 1
    assert _own_containers(client, sandbox) == []


# The first solution litters, leaves a daemon and tries to reach the serving runner's descriptors
# (its stream to the host, the result pipe) through /proc; the next one on the same runner looks.
TAMPER_WITH_RUNNER = """import os, time
with open("/tmp/litter.txt", "w") as handle:
    handle.write("x")
reached = []
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"--serve" not in handle.read():  # the serving runner
                continue
    except OSError:
        continue
    for fd in range(8):
        try:
            os.close(os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY))
            reached.append(f"{pid}/{fd}")
        except OSError:
            pass
if os.fork() == 0:
    os.setsid()
    os.execvp("sh", ["sh", "-c", "exec sleep 31337"])
print("contained" if not reached else "reached " + " ".join(reached))
"""

LOOK_FOR_THE_PREVIOUS_SOLUTION = COUNT_OUTLIVERS.replace(
    'print("contained"', 'found += os.path.exists("/tmp/litter.txt")\nprint("contained"'
)


async def test_one_runner_serves_solutions_in_turn_and_none_reaches_the_next(client: object) -> None:
    sandbox = open_sandbox("docker", pool_size=1, warn=False)
    assert isinstance(sandbox, DockerSandbox)
    contained = [{"input": "", "output": "contained"}]
    async with sandbox:
        await sandbox.warm()
        (container,) = _own_containers(client, sandbox)
        first = await sandbox.judge(TAMPER_WITH_RUNNER, "python", contained)
        assert first.verdict == "AC", (first.tests[0].stdout, first.tests[0].stderr)
        second = await sandbox.judge(LOOK_FOR_THE_PREVIOUS_SOLUTION, "python", contained)
        assert second.verdict == "AC", second.tests[0].stdout
        # Both ran on the same container and runner: nothing was recycled to get this isolation.
        assert _own_containers(client, sandbox) == [container]
        assert sandbox._all[container].uses == 2 and first.attempts == second.attempts == 1


# Solution A leaves something in every place a solution can write to; solution B, next on the same
# container, looks for it. Issue 10: /dev/shm was shared between solutions.
LEAVE_TRACES = """import ctypes, os
left = []
for place in ("/tmp", "/dev/shm", "/dev/mqueue", "/var/tmp", os.path.expanduser("~"), os.getcwd()):
    try:
        fd = os.open(os.path.join(place, "trace-from-a"), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"secret") if "mqueue" not in place else None
        os.close(fd)
        left.append(place)
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
if libc.shmget(0x5eed, 4096, 0o1666) >= 0:  # IPC_CREAT | 0666: a System V segment outlives us
    left.append("sysv-shm")
print(" ".join(left))
"""
LOOK_FOR_TRACES = """import ctypes, os
places = ("/tmp", "/dev/shm", "/dev/mqueue", "/var/tmp", os.path.expanduser("~"), os.getcwd())
found = [place for place in places if os.path.exists(os.path.join(place, "trace-from-a"))]
if ctypes.CDLL(None).shmget(0x5eed, 0, 0) >= 0:
    found.append("sysv-shm")
print("found " + " ".join(found) if found else "nothing")
"""


async def test_nothing_a_solution_writes_reaches_the_next_one(client: object) -> None:
    sandbox = open_sandbox("docker", pool_size=1, warn=False)
    async with sandbox:
        first = await sandbox.judge(LEAVE_TRACES, "python", [{"input": "", "output": None}])
        left = first.tests[0].stdout.split()
        assert {"/tmp", "/dev/shm", "/dev/mqueue", "sysv-shm"} <= set(left), first.tests[0]
        second = await sandbox.judge(LOOK_FOR_TRACES, "python", [{"input": "", "output": "nothing"}])
        assert second.verdict == "AC", second.tests[0].stdout
        assert len(_own_containers(client, sandbox)) == 1  # the same container, cleaned, not replaced


async def test_checker_program_and_callable(pool: DockerSandbox) -> None:
    any_even = [{"input": "", "output": "2"}]
    program = ProgramChecker(
        "import sys\n"
        "_, _, actual = (open(p).read() for p in sys.argv[1:4])\n"
        "sys.exit(0 if int(actual) % 2 == 0 else 1)\n"
    )
    by_program = await pool.judge("print(4)", "python", any_even, checker=program)
    by_callable = await pool.judge("print(5)", "python", any_even, checker=lambda i, e, a: int(a) % 2 == 0)
    assert (by_program.verdict, by_callable.verdict) == ("AC", "WA")


async def test_run_write_and_read_files(pool: DockerSandbox) -> None:
    await pool.write_file("data/in.txt", b"hello")
    assert await pool.read_file("data/in.txt") == b"hello"
    result = await pool.run(["sh", "-c", "cat data/in.txt | tr a-z A-Z"], timeout_s=5)
    assert (result.exit_code, result.stdout) == (0, b"HELLO")
    slow = await pool.run(["sleep", "30"], timeout_s=1)
    assert slow.timed_out and slow.wall_s < 10
    with pytest.raises(ValueError):
        await pool.write_file("../../etc/x", b"")


POOL_HOLDER = """
import asyncio, sys
from alphaflow.sandbox import open_sandbox

async def main():
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    sandbox = open_sandbox("docker", pool_size=size, warn=False)
    await sandbox.start()  # never closed: only atexit or the reaper can remove its containers
    await sandbox.warm(size)
    print("ready", flush=True)
    if sys.argv[1] == "hang":
        await asyncio.sleep(600)

asyncio.run(main())
"""


def _owned_by(client: object, pid: int) -> list[str]:
    return [
        c["Id"]
        for c in labelled_containers(client)
        if c["Labels"].get("alphaflow.sandbox.owner_pid") == str(pid)
    ]


@pytest.mark.parametrize("containers", ["1", "3"])
async def test_exit_without_close_leaves_no_container(client: object, containers: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", POOL_HOLDER, "exit", containers], stdout=subprocess.PIPE)
    assert holder.stdout.readline() == b"ready\n"
    assert holder.wait(timeout=120) == 0
    assert _owned_by(client, holder.pid) == []


async def test_containers_of_a_killed_run_are_reaped(client: object) -> None:
    holder = subprocess.Popen([sys.executable, "-c", POOL_HOLDER, "hang"], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"ready\n"
        assert len(_owned_by(client, holder.pid)) == 1
    finally:
        holder.kill()  # SIGKILL: no atexit handler runs
        holder.wait()
    assert len(_owned_by(client, holder.pid)) == 1
    reap_orphans(client)  # what every new pool runs on start
    assert _owned_by(client, holder.pid) == []


async def test_gvisor_runtime_where_configured(client: object) -> None:
    if "runsc" not in (client.info().get("Runtimes") or {}):
        pytest.skip(
            "the gVisor runtime (runsc) is not configured in this engine; see `alphaflow sandbox doctor`"
        )
    async with open_sandbox("docker", runtime="runsc", pool_size=1, warn=False) as sandbox:
        judged = await sandbox.judge(SUM, "python", SUM_TESTS)
        network = HOSTILE["network"]
        contained = await sandbox.judge(network.source, "python", network.tests, limits=network.make_limits())
    assert (judged.verdict, contained.verdict) == ("AC", "AC")
