"""Hostile and ordinary programs shared by the sandbox tests (docker pool and local backend).

Each case is (source, language, tests, limits overrides, verdicts that count as contained). Programs
that probe isolation print "contained" when the attack failed, so AC means the sandbox held.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any

import pytest

from alphaflow.sandbox import Limits


def require_docker() -> Any:
    """A client for the engine with the image built; skips only where no engine can exist at all."""
    from alphaflow.sandbox.backends import docker_client, image_present, image_tag

    client, why = docker_client()
    if client is None:
        if shutil.which("dockerd") is None and not os.environ.get("DOCKER_HOST"):
            pytest.skip("no Docker engine can exist on this machine (dockerd is not installed)")
        pytest.fail(f"{why}: start it (see `alphaflow sandbox doctor`)")
    if not image_present(client):
        pytest.fail(
            f"the sandbox image {image_tag()} is missing or out of date: run `alphaflow sandbox build`"
        )
    return client


ECHO = "import sys\nsys.stdout.write(sys.stdin.read())\n"
SUM = "a, b = map(int, input().split())\nprint(a + b)\n"
SUM_CPP = """#include <iostream>
int main() { long long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }
"""

SUM_TESTS = [{"input": "1 2\n", "output": "3\n"}, {"input": "-5 5\n", "output": "0\n"}]
SMALL = {"time_s": 1.0, "memory_bytes": 256 << 20, "compile_time_s": 5.0}


@dataclass
class Case:
    source: str
    expected: tuple[str, ...]  # verdicts that mean "contained, judged right"
    language: str = "python"
    tests: list[dict[str, Any]] = field(default_factory=lambda: [{"input": "", "output": "contained\n"}])
    limits: dict[str, Any] = field(default_factory=dict)

    def make_limits(self) -> Limits:
        return Limits(**{**SMALL, **self.limits})


FORK_BOMB = """import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""

ALLOCATE_10_GB = "x = bytearray(10 * 1024 ** 3)\nprint(len(x))\n"

PRINT_1_GB = """import sys
chunk = "x" * (1 << 20)
for _ in range(1024):
    sys.stdout.write(chunk)
"""

INFINITE_LOOP = "while True:\n    pass\n"

SLEEP_FOREVER = "import time\ntime.sleep(10 ** 6)\n"

NETWORK = """import socket
try:
    socket.create_connection(("1.1.1.1", 80), timeout=2)
    print("connected")
except OSError:
    print("contained")
"""

ENV_SECRETS = """import os
leaks = [k for k, v in os.environ.items() if "KEY" in k or "TOKEN" in k or "sk-" in v]
print("leaked " + ",".join(leaks) if leaks else "contained")
"""

WRITE_OUTSIDE = """import os
written = []
for path in ["/etc/pwned", "/opt/pwned", "/usr/pwned", "/pwned", "/opt/alphaflow/runner/judge.py"]:
    try:
        with open(path, "a") as handle:
            handle.write("pwned")
        written.append(path)
    except OSError:
        pass
print("wrote " + ",".join(written) if written else "contained")
"""

# The child leaves the process group and the session, then execs a recognisable sleep.
OUTLIVING_CHILD = """import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "31337"])
    os._exit(0)
print("contained")
"""

COUNT_OUTLIVERS = """import os
found = 0
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                found += b"31337" in handle.read()
        except OSError:
            pass
print("contained" if found == 0 else f"{found} survivors")
"""

CLOSE_STDIN = "import os\nos.close(0)\nprint('contained')\n"

NEVER_ENDING_COMPILE = "#include </dev/random>\nint main() {}\n"

HUGE_LINE = "import sys\nsys.stdout.write('1' * (20 << 20))\n"

HUGE_INPUT_LINE = "import sys\nprint(len(sys.stdin.buffer.readline().strip()))\n"

HOSTILE: dict[str, Case] = {
    "fork_bomb": Case(FORK_BOMB, ("RE", "TLE", "MLE")),
    "allocate_10_gb": Case(ALLOCATE_10_GB, ("MLE",)),
    "print_1_gb": Case(PRINT_1_GB, ("OLE",), limits={"output_bytes": 16 << 20}),
    "infinite_loop": Case(INFINITE_LOOP, ("TLE",)),
    "sleep_forever": Case(SLEEP_FOREVER, ("TLE",)),
    "network": Case(NETWORK, ("AC",)),
    "env_secrets": Case(ENV_SECRETS, ("AC",)),
    "write_outside_work_dir": Case(WRITE_OUTSIDE, ("AC",)),
    "outliving_child": Case(OUTLIVING_CHILD, ("AC",)),
    "close_stdin_early": Case(
        CLOSE_STDIN, ("AC",), tests=[{"input": "7\n" * (2 << 20), "output": "contained\n"}]
    ),
    "never_ending_compile": Case(
        NEVER_ENDING_COMPILE, ("CE",), language="cpp", limits={"compile_time_s": 3.0}
    ),
    "huge_single_output_line": Case(
        HUGE_LINE, ("WA",), tests=[{"input": "", "output": "1\n"}], limits={"time_s": 3.0}
    ),
    "huge_single_input_line": Case(
        HUGE_INPUT_LINE, ("AC",), tests=[{"input": "9" * (8 << 20) + "\n", "output": str(8 << 20) + "\n"}]
    ),
}


# Remembers, in a file, that an earlier test ran: tests of one judgement must not see each other's
# files (each starts from what compiling left, as when judged alone). WHERE is "." or "/tmp".
def REMEMBERS_EARLIER_TESTS(where: str) -> str:  # noqa: N802 - a program text, like the constants
    return (
        "import os\n"
        f"mark = os.path.join({where!r}, 'seen.txt')\n"
        "seen = os.path.exists(mark)\n"
        "open(mark, 'a').close()\n"
        "os.makedirs(os.path.join(os.path.dirname(mark), 'notes', 'deep'), exist_ok=True)\n"
        "x = input()\n"
        "print('seen-before' if seen else x)\n"
    )


ECHO_TESTS = [{"input": f"{n}\n", "output": f"{n}\n"} for n in (1, 2, 3)]
