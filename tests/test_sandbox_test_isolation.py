"""Each test of a judgement runs as if it were judged alone, against hostile solutions: nothing a test
leaves (files, links, locked folders, a rewritten program or checker, System V IPC) reaches the next
test, and cleaning up never follows a link out of the sandbox. On the docker pool and on the local
backend (with namespaces where the host allows them, and without)."""

from __future__ import annotations

import os
import shutil

import pytest
import pytest_asyncio
from sandbox_programs import ECHO_TESTS, require_docker

from alphaflow.sandbox import Limits, ProgramChecker, open_sandbox
from alphaflow.sandbox.local import LocalSandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Prints its input, then (as a correct program may) leaves a link to a folder in its work dir.
LINKS_TO = "import os\nprint(input())\nos.symlink({target!r}, 'link')\n"

# Prints its input, then swaps its own compiled binary for a script that prints "altered".
REWRITES_ITSELF = r"""
#include <cstdio>
#include <unistd.h>
#include <climits>
#include <sys/stat.h>
int main() {
    int x; if (scanf("%d", &x) == 1) printf("%d\n", x);
    fflush(stdout);
    char self[PATH_MAX]; ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0; unlink(self);
        FILE *f = fopen(self, "w");
        if (f) { fputs("#!/bin/sh\necho altered\n", f); fclose(f); chmod(self, 0755); }
    }
    return 0;
}
"""

# Leaves a file in a folder it then locks, and locks its work dir: the next test must not see it.
LOCKS_WHAT_IT_LEAVES = (
    "import os\n"
    "seen = os.path.exists('d') or os.path.exists('s')\n"
    "if not seen:\n"
    "    os.mkdir('d'); open('d/s', 'w').close(); os.chmod('d', 0)\n"
    "    open('s', 'w').close(); os.chmod('.', 0o555)\n"
    "x = input()\n"
    "print('seen-before' if seen else x)\n"
)

# System V shared memory under a fixed key: it outlives the process that made it.
KEEPS_SHARED_MEMORY = r"""
#include <cstdio>
#include <sys/ipc.h>
#include <sys/shm.h>
int main() {
    int x; if (scanf("%d", &x) != 1) return 1;
    int id = shmget(4242, 4096, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0) printf("seen-before\n"); else printf("%d\n", x);
    return 0;
}
"""

# A correct-looking answer from a solution that rewrites the (Python) checker to accept anything.
REWRITES_THE_CHECKER = (
    "import marshal, os\n"
    "for root, _, files in os.walk('.'):\n"
    "    for name in files:\n"
    "        if name == 'main.code' and 'checker' in root:\n"
    "            path = os.path.join(root, name)\n"
    "            try:\n"
    "                os.chmod(path, 0o644)\n"
    "                with open(path, 'wb') as f:\n"
    "                    f.write(marshal.dumps(compile('import sys; sys.exit(0)', 'c', 'exec')))\n"
    "            except OSError:\n"
    "                pass\n"
    "input()\n"
    "print('wrong')\n"
)
EXACT_CHECKER = ProgramChecker(
    "import sys\n"
    "_, expected, actual = (open(p).read().split() for p in sys.argv[1:4])\n"
    "sys.exit(0 if expected == actual else 1)\n"
)


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["docker", "local", "local-no-namespaces"]
)
async def sandbox(request: pytest.FixtureRequest):
    if request.param == "docker":
        require_docker()
        opened = open_sandbox("docker", pool_size=1, warn=False)
    else:
        opened = LocalSandbox(warn=False, namespaces=request.param == "local")
    async with opened:
        yield opened


def _outputs(result) -> list[str]:
    return [t.stdout.strip() for t in result.tests]


async def test_a_link_left_in_the_work_dir_is_removed_not_followed(sandbox, tmp_path) -> None:
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "file").write_text("precious")
    os.chmod(tmp_path, 0o755)
    result = await sandbox.judge(LINKS_TO.format(target=str(victim)), "python", ECHO_TESTS, Limits(time_s=5))
    assert (result.verdict, _outputs(result)) == ("AC", ["1", "2", "3"]), result.message
    assert (victim / "file").read_text() == "precious" and (victim / "sub").is_dir()


async def test_a_link_to_the_checker_never_costs_the_checker(sandbox) -> None:
    result = await sandbox.judge(
        LINKS_TO.format(target="checker"), "python", ECHO_TESTS, Limits(time_s=5), checker=EXACT_CHECKER
    )
    assert (result.verdict, result.passed) == ("AC", 3), [t.message for t in result.tests]


async def test_a_program_that_rewrites_itself_is_judged_as_compiled_on_every_test(sandbox) -> None:
    if shutil.which("g++") is None and sandbox.backend != "docker":
        pytest.skip("g++ is not installed on this host")
    result = await sandbox.judge(REWRITES_ITSELF, "cpp", ECHO_TESTS, Limits(time_s=5))
    assert (result.verdict, _outputs(result)) == ("AC", ["1", "2", "3"])


async def test_a_solution_cannot_rewrite_the_checker_that_judges_it(sandbox) -> None:
    tests = [{"input": "1\n", "output": "right\n"}]
    result = await sandbox.judge(
        REWRITES_THE_CHECKER, "python", tests, Limits(time_s=5), checker=EXACT_CHECKER
    )
    assert result.verdict == "WA", [t.message for t in result.tests]


async def test_locked_folders_do_not_keep_what_is_in_them(sandbox) -> None:
    result = await sandbox.judge(LOCKS_WHAT_IT_LEAVES, "python", ECHO_TESTS, Limits(time_s=5))
    assert (result.verdict, _outputs(result)) == ("AC", ["1", "2", "3"])


async def test_system_v_shared_memory_does_not_pass_between_tests_or_judgements(sandbox) -> None:
    if shutil.which("g++") is None and sandbox.backend != "docker":
        pytest.skip("g++ is not installed on this host")
    for _ in range(2):  # the second judgement must not find the first one's segment either
        result = await sandbox.judge(KEEPS_SHARED_MEMORY, "cpp", ECHO_TESTS, Limits(time_s=5))
        if result.isolation.get("ipc") == "shared":  # the local backend without namespaces says so
            assert "System V and POSIX IPC objects shared with the host" in _weak(result)
            _remove_segment(4242)
            return
        assert (result.verdict, _outputs(result)) == ("AC", ["1", "2", "3"]), result.isolation


def _weak(result) -> list[str]:
    from alphaflow.sandbox.local import not_enforced

    return not_enforced(result.isolation)


def _remove_segment(key: int) -> None:
    """Leave no segment behind on the host (the weak path shares the host's IPC)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    shmid = libc.shmget(key, 0, 0)
    if shmid >= 0:
        libc.shmctl(shmid, 0, None)  # IPC_RMID


# Stops its parent: under the Python fork server that is the server itself.
STOPS_ITS_PARENT = "import os, signal\nprint(input())\nos.kill(os.getppid(), signal.SIGSTOP)\n"


async def test_a_solution_that_stops_the_fork_server_is_still_judged_promptly(sandbox) -> None:
    """Its fork server stops answering: the tests are rerun without one, where the solution's parent
    is the runner (another user: the kill is refused). Where solutions run as the runner's own user
    (the docker pool, a non-root host) they can stop the runner itself; the judgement then ends as
    SE (not judged, left out of pass@k), never as a verdict: not timed here."""
    import time

    if sandbox.backend == "docker" or os.geteuid() != 0:
        pytest.skip("solutions run as the runner's own user here")
    started = time.monotonic()
    result = await sandbox.judge(STOPS_ITS_PARENT, "python", ECHO_TESTS, Limits(time_s=2))
    assert result.verdict == "RE" and _outputs(result) == ["1", "2", "3"], result.message
    assert all("PermissionError" in t.stderr for t in result.tests)
    assert time.monotonic() - started < 40  # the lost server costs its answer timeout (10 s), no more
