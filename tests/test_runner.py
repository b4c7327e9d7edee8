"""The in-container judge, run on the host as a subprocess exactly as the image runs it.

The runner package (`alphaflow/sandbox/runner`) is standard library only, so these tests need no
Docker: each one sends a real request on stdin and reads the real JSON result. The host's
environment carries a fake API key that no solution may see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from alphaflow.sandbox.runner import RUNNER_DIR, checker
from alphaflow.sandbox.runner.protocol import RUNNER_VERSION

RUNNER_MODULES = ("checker", "compilers", "forkserver", "judge", "processes", "protocol", "pyfork", "serve")

RUNNER = Path(RUNNER_DIR)
FAKE_KEY = "sk-alphaflow-test-key-must-not-leak"
FAST = {"time_s": 1.0, "memory_bytes": 256 << 20}


def judge(language: str, source: str, tests: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    request = {"language": language, "source": source, "tests": tests, **fields}
    env = dict(os.environ, OPENAI_API_KEY=FAKE_KEY, ALPHAFLOW_SECRET="hunter2")
    done = subprocess.run(
        [sys.executable, str(RUNNER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return json.loads(done.stdout)


def one(language: str, source: str, stdin: str = "", expected: str | None = "", **fields: Any) -> dict:
    """Judge one test; returns the whole result with the test's result under "test"."""
    fields.setdefault("limits", FAST)
    result = judge(language, source, [{"input": stdin, "output": expected}], **fields)
    result["test"] = result["tests"][0]
    return result


# --- verdicts ---------------------------------------------------------------------------------------


def test_python_accepted_and_result_shape() -> None:
    result = judge(
        "python",
        "print(int(input()) * 2)",
        [{"input": "21\n", "output": "42"}, {"input": "5\n", "output": "10\n\n"}],
    )
    assert result["verdict"] == "AC"
    assert result["compile"]["ok"] is True
    assert result["runner"]["version"] == RUNNER_VERSION
    assert result["runner"]["python"].count(".") == 2
    first = result["tests"][0]
    assert first["verdict"] == "AC" and first["stdout"] == "42\n" and first["exit_code"] == 0
    assert first["signal"] is None and first["stdout_truncated"] is False
    assert 0 < first["cpu_s"] < 1 and 0 < first["wall_s"] < 5 and first["memory_kb"] > 0


def test_cpp_accepted() -> None:
    source = "#include <iostream>\nint main(){long long a,b; std::cin>>a>>b; std::cout<<a+b<<'\\n';}"
    result = judge("cpp", source, [{"input": "2 3\n", "output": "5"}, {"input": "-1 1", "output": "0"}])
    assert result["verdict"] == "AC", result
    assert result["runner"]["gxx"]


def test_wrong_answer_names_the_token_and_line() -> None:
    result = one("python", "print(1)\nprint(3)", expected="1\n2")
    assert result["verdict"] == "WA"
    assert result["test"]["message"] == "token 2 (line 2): expected '2', got '3'"


def test_verdict_is_first_failure_in_order_and_every_test_runs() -> None:
    source = "n = int(input())\nprint(n if n != 2 else -1)\nassert n != 3"
    tests = [{"input": f"{i}\n", "output": str(i)} for i in range(5)]
    result = judge("python", source, tests, limits=FAST)
    assert [t["verdict"] for t in result["tests"]] == ["AC", "AC", "WA", "RE", "AC"]
    assert result["verdict"] == "WA"


def test_stop_on_first_failure_skips_the_rest() -> None:
    tests = [{"input": "", "output": "1"}, {"input": "", "output": "2"}, {"input": "", "output": "1"}]
    result = judge("python", "print(1)", tests, stop_on_first_failure=True, limits=FAST)
    assert [t["verdict"] for t in result["tests"]] == ["AC", "WA", "skipped"]


def test_parallel_gives_the_same_verdicts() -> None:
    source = "n = int(input())\nprint(n * n if n % 3 else 0)"
    tests = [{"input": f"{i}\n", "output": str(i * i)} for i in range(12)]
    serial = judge("python", source, tests, limits=FAST)
    parallel = judge("python", source, tests, limits=FAST, parallel=3)
    assert [t["verdict"] for t in parallel["tests"]] == [t["verdict"] for t in serial["tests"]]
    assert parallel["verdict"] == "WA"


def test_cpu_time_limit_is_tle() -> None:
    result = one("python", "while True:\n    pass", limits={"time_s": 0.5})
    assert result["verdict"] == "TLE"
    # On a loaded machine the wall-clock backstop may fire before 0.5 s of CPU is spent.
    assert result["test"]["cpu_s"] >= 0.5 or "wall-clock" in result["test"]["message"]


def test_sleeping_forever_is_stopped_by_the_wall_clock_backstop() -> None:
    started = time.monotonic()
    result = one("python", "import time\ntime.sleep(10_000)", limits={"time_s": 0.3, "wall_factor": 3.0})
    assert result["verdict"] == "TLE"
    assert "wall-clock backstop" in result["test"]["message"]
    assert result["test"]["cpu_s"] < 0.3
    assert time.monotonic() - started < 10


def test_allocating_10_gb_is_mle() -> None:
    result = one("python", "data = bytearray(10 * 1024**3)\nprint(len(data))")
    assert result["verdict"] == "MLE"
    assert "memory" in result["test"]["message"]
    assert result["test"]["memory_kb"] > 256 * 1024  # judged on what it really used, then stopped


def test_memory_reserved_but_not_used_is_no_limit() -> None:
    """A 1 GiB thread stack and a 2 GiB untouched mapping under a 64 MiB limit: AC (Codeforces
    counts memory used, not address space)."""
    source = (
        "import mmap, threading\n"
        "reserved = mmap.mmap(-1, 2 << 30)\n"
        "threading.stack_size(1 << 30)\n"
        "t = threading.Thread(target=lambda: print('ok'))\n"
        "t.start(); t.join()\n"
    )
    result = one("python", source, expected="ok", limits={"time_s": 2.0, "memory_bytes": 64 << 20})
    assert result["verdict"] == "AC", result["test"]


def test_growing_past_the_limit_is_mle() -> None:
    source = "chunks = []\nwhile True:\n    chunks.append(b'x' * 2**20)"
    result = one("python", source, limits={"time_s": 2.0, "memory_bytes": 64 << 20})
    assert result["verdict"] == "MLE"
    assert result["test"]["memory_kb"] > 0.9 * 64 * 1024


def test_cpp_bad_alloc_is_mle() -> None:
    source = (
        "#include <vector>\n#include <cstdio>\n"
        'int main(){ std::vector<char> v(10000000000ULL); printf("%d", v[1]); }'
    )
    assert one("cpp", source)["verdict"] == "MLE"


def test_runtime_error_reports_the_exit_code_and_the_exception() -> None:
    result = one("python", "import sys\nsys.exit(3)")
    assert (result["verdict"], result["test"]["exit_code"]) == ("RE", 3)
    result = one("python", "raise ValueError('boom')")
    assert result["verdict"] == "RE"
    assert result["test"]["message"] == "exit code 1: ValueError: boom"
    assert "solution/main.py" in result["test"]["stderr"]


def test_runtime_error_reports_the_signal() -> None:
    result = one("cpp", "int main(){ volatile int* p = nullptr; *p = 1; return 0; }")
    assert result["verdict"] == "RE"
    assert result["test"]["signal"] == "SIGSEGV" and result["test"]["exit_code"] is None
    assert result["test"]["message"] == "killed by SIGSEGV"


def test_python_syntax_error_is_ce() -> None:
    result = one("python", "def f(:\n    pass")
    assert result["verdict"] == "CE" and result["compile"]["ok"] is False
    assert "SyntaxError" in result["compile"]["output"]
    assert result["tests"] == [{"verdict": "skipped"}]


def test_cpp_error_is_ce() -> None:
    result = one("cpp", "int main() { return undeclared; }")
    assert result["verdict"] == "CE"
    assert "undeclared" in result["compile"]["output"]


def test_never_ending_cpp_compile_is_ce_within_the_compile_limit() -> None:
    started = time.monotonic()
    result = one("cpp", "#include </dev/random>\nint main(){}", limits={**FAST, "compile_time_s": 2.0})
    assert result["verdict"] == "CE"
    assert time.monotonic() - started < 20
    assert result["compile"]["output"]


def test_printing_1_gb_is_ole_without_buffering_it() -> None:
    source = "import sys\nblock = b'y' * 2**20\nfor _ in range(1024):\n    sys.stdout.buffer.write(block)"
    result = one("python", source, limits={**FAST, "output_bytes": 8 << 20}, keep_bytes=100)
    assert result["verdict"] == "OLE"
    assert result["test"]["stdout"] == "y" * 100 and result["test"]["stdout_truncated"] is True


def test_a_huge_single_line_is_ole() -> None:
    result = one("python", "print('z' * (64 * 2**20))", limits={**FAST, "output_bytes": 1 << 20})
    assert result["verdict"] == "OLE"


def test_unsupported_language_is_a_verdict_not_a_crash() -> None:
    result = one("java", "class Main {}")
    assert result["verdict"] == "unsupported"
    assert "java" in result["compile"]["output"]


# --- the checker ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner_module():
    return checker


@pytest.mark.parametrize(
    ("expected", "actual", "accepted"),
    [
        ("1 2 3", "1 2 3", True),
        ("1 2 3\n", "1   2\n3  \n\n\n", True),  # whitespace, trailing blanks and blank lines ignored
        ("\n\n42", "42", True),
        ("42", "43", False),
        ("10", "010", False),  # integers compare exactly as written
        ("7", "7.0", True),  # a non-integer on one side: numeric comparison
        ("123456789012345678901234567890", "123456789012345678901234567891", False),
        ("0.5", "0.5000004", True),  # absolute tolerance
        ("0.5", "0.5001", False),
        ("1000000000.0", "1000000000.5", True),  # relative tolerance
        ("1e9", "1000010000", False),  # relative error 1e-5
        ("YES", "yes", False),  # case-sensitive by default
        ("1 2", "1 2 3", False),  # token count differs
        ("1 2 3", "1 2", False),
        ("", "", True),
        ("", "\n \n", True),
        ("nan", "nan", True),
        ("abc", "abd", False),
    ],
)
def test_token_checker_rules(runner_module, expected: str, actual: str, accepted: bool) -> None:
    assert runner_module.compare_tokens(expected, actual)[0] is accepted


def test_token_checker_options_and_messages(runner_module) -> None:
    compare = runner_module.compare_tokens
    assert compare("YES", "yes", case_sensitive=False) == (True, "")
    assert compare("0.5", "0.51", float_tol=0.05)[0] is True
    assert compare("1 2", "1 2 3")[1] == "expected 2 tokens, got 3 (extra: '3')"
    assert compare("1 2 3", "1 2")[1] == "output ended after 2 tokens, expected 3 (next: '3')"


def test_importing_the_runner_has_no_side_effects() -> None:
    modules = ", ".join(f"alphaflow.sandbox.runner.{name}" for name in RUNNER_MODULES)
    code = f"import {modules}\nprint('ok')"
    done = subprocess.run([sys.executable, "-c", code], input="", capture_output=True, text=True, timeout=30)
    assert done.stdout == "ok\n" and done.stderr == ""


def test_checker_options_reach_the_runner() -> None:
    result = one(
        "python",
        "print('yes 0.51')",
        expected="YES 0.5",
        checker={"kind": "tokens", "float_tol": 0.05, "case_sensitive": False},
    )
    assert result["verdict"] == "AC"


def test_checker_program_accepts_and_rejects() -> None:
    checker = {
        "kind": "program",
        "language": "python",
        "source": "import sys\n"
        "inp, exp, out = (open(p).read().split() for p in sys.argv[1:4])\n"
        "sys.exit(0 if sorted(out) == sorted(exp) else 1)",
    }
    tests = [{"input": "3 1 2", "output": "1 2 3"}, {"input": "3 1 2", "output": "1 2 4"}]
    result = judge("python", "print(*input().split())", tests, checker=checker, limits=FAST)
    assert [t["verdict"] for t in result["tests"]] == ["AC", "WA"]
    assert "checker rejected" in result["tests"][1]["message"]


def test_checker_none_returns_the_whole_output() -> None:
    result = one("python", "print('a' * 10000)", expected="ignored", checker={"kind": "none"}, keep_bytes=10)
    assert result["verdict"] == "AC"
    assert result["test"]["stdout"] == "a" * 10000 + "\n"


def test_a_test_without_expected_output_only_runs() -> None:
    result = one("python", "print('anything')", expected=None)
    assert result["verdict"] == "AC" and result["test"]["stdout"] == "anything\n"


# --- hostile and unusual programs ---------------------------------------------------------------------


def test_reading_sys_stdin_buffer() -> None:
    source = "import sys\nprint(sum(map(int, sys.stdin.buffer.read().split())))"
    assert one("python", source, stdin="1 2 3\n4\n", expected="10")["verdict"] == "AC"


def test_closing_stdin_early_with_a_large_input() -> None:
    source = "import os\nos.close(0)\nprint('done')"
    result = one("python", source, stdin="x" * (4 << 20), expected="done")
    assert result["verdict"] == "AC"


def test_not_reading_stdin_at_all() -> None:
    assert one("python", "print(7)", stdin="1\n" * 500_000, expected="7")["verdict"] == "AC"


def test_exit_and_quit_work_without_site() -> None:
    assert one("python", "print(1)\nexit()\nprint(2)", expected="1")["verdict"] == "AC"
    result = one("python", "quit(4)")
    assert (result["verdict"], result["test"]["exit_code"]) == ("RE", 4)


def test_main_guard_and_recursion_limit() -> None:
    source = (
        "import sys\nsys.setrecursionlimit(10**6)\n"
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "if __name__ == '__main__':\n    print(depth(50000))"
    )
    assert one("python", source, expected="50000")["verdict"] == "AC"


def test_the_solution_sees_no_host_environment() -> None:
    source = "import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))"
    result = one("python", source, expected=None)
    names = json.loads(result["test"]["stdout"].splitlines()[0].replace("'", '"'))
    assert set(names) <= {"PATH", "LANG", "HOME", "TMPDIR", "OPENBLAS_NUM_THREADS", "PYTHONDONTWRITEBYTECODE"}
    assert FAKE_KEY not in json.dumps(result) and "hunter2" not in json.dumps(result)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("new_session", [False, True])
def test_a_child_that_outlives_the_solution_is_killed(new_session: bool) -> None:
    source = (
        "import subprocess\n"
        f"child = subprocess.Popen(['sleep', '1000'], start_new_session={new_session})\n"
        "print(child.pid)"
    )
    result = one("python", source, expected=None)
    assert result["verdict"] == "AC"
    assert result["test"]["wall_s"] < 3.0  # well before the 3.5 s backstop: it did not wait for the pipes
    assert not _alive(int(result["test"]["stdout"]))


def test_writing_outside_the_work_dir_fails() -> None:
    target = Path("/etc/alphaflow-sandbox-test-should-not-exist")
    result = one("python", f"open({str(target)!r}, 'w').write('x')")
    assert result["verdict"] == "RE"
    assert not target.exists()


def test_a_fork_bomb_is_contained() -> None:
    marker = f"afbomb{os.getpid() % 100000}"
    source = (
        "import os\n"
        f"open('/proc/self/comm', 'w').write({marker!r})\n"  # inherited by every fork: findable
        "while True:\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            os.setsid()\n"  # escape the process group too
        "    except OSError:\n"
        "        pass\n"
    )
    started = time.monotonic()
    result = one("python", source, limits={"time_s": 0.5, "wall_factor": 1.0, "processes": 32})
    assert result["verdict"] in ("TLE", "RE")
    assert time.monotonic() - started < 30
    leftovers = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == marker:
                leftovers.append(entry.name)
        except OSError:
            continue
    assert leftovers == []


# --- bad requests ------------------------------------------------------------------------------------


def test_a_bad_request_is_answered_with_se() -> None:
    done = subprocess.run([sys.executable, str(RUNNER)], input="{not json", capture_output=True, text=True)
    assert done.returncode == 2
    assert json.loads(done.stdout)["verdict"] == "SE"
    request = {"language": "python", "source": "print(1)", "tests": [{"input": 5}]}
    done = subprocess.run(
        [sys.executable, str(RUNNER)], input=json.dumps(request), capture_output=True, text=True
    )
    answer = json.loads(done.stdout)
    assert done.returncode == 2 and answer["verdict"] == "SE" and "tests[0]" in answer["error"]
    for bad, named in (({"limits": {"time_s": -1}}, "limits.time_s"), ({"parallel": "two"}, "parallel")):
        request = {"language": "python", "source": "print(1)", "tests": [], **bad}
        done = subprocess.run(
            [sys.executable, str(RUNNER)], input=json.dumps(request), capture_output=True, text=True
        )
        assert done.returncode == 2 and named in json.loads(done.stdout)["error"]


# --- the Python fork server (one interpreter start per solution, one fork per test) --------------------

FAST_IO_TEMPLATE = """
import os, sys
from io import BytesIO, IOBase

class FastIO(IOBase):
    def __init__(self, fd):
        self._fd = fd
        self.buffer = BytesIO()
        self.write = lambda s: self.buffer.write(s.encode())  # a cycle: only the GC frees it

    def flush(self):
        os.write(self._fd, self.buffer.getvalue())
        self.buffer.truncate(0)

out = FastIO(1)
out.write(sys.stdin.readline().strip() + " ok\\n")
"""


@pytest.mark.parametrize("fork_server", [True, False])
def test_python_exit_semantics(fork_server: bool) -> None:
    """What a program observes of the interpreter's exit is the same with and without the fork server."""
    mode = {"python_fork_server": fork_server}
    # An I/O object flushed only by its finalizer (a common fast-I/O template).
    assert one("python", FAST_IO_TEMPLATE, stdin="7\n", expected="7 ok", **mode)["verdict"] == "AC"
    # Closing sys.stdout itself.
    source = "import sys\nwith sys.stdout as out:\n    print(42, file=out)"
    assert one("python", source, expected="42", **mode)["verdict"] == "AC"
    # atexit handlers and non-daemon threads still run after the main code.
    source = (
        "import atexit, threading, time\n"
        "atexit.register(lambda: print('at exit'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.05), print('thread'))).start()\n"
        "print('main')"
    )
    assert one("python", source, expected="main thread at exit", **mode)["verdict"] == "AC"
    # A replaced sys.stdout, the answer written through sys.__stdout__ from an atexit handler.
    source = (
        "import atexit, io, sys\n"
        "buffer = sys.stdout = io.StringIO()\n"
        "atexit.register(lambda: sys.__stdout__.write(buffer.getvalue()))\n"
        "print(int(input()) * 2)"
    )
    assert one("python", source, stdin="21\n", expected="42", **mode)["verdict"] == "AC"
    # An unhandled KeyboardInterrupt ends the process by SIGINT, as CPython does.
    result = one("python", "raise KeyboardInterrupt", **mode)
    assert (result["verdict"], result["test"]["signal"]) == ("RE", "SIGINT")
    # sys.exit with a message: exit code 1, message on stderr.
    result = one("python", "import sys\nsys.exit('bad input')", **mode)
    assert (result["verdict"], result["test"]["exit_code"]) == ("RE", 1)
    assert "bad input" in result["test"]["stderr"]


def test_each_test_starts_from_a_fresh_interpreter_state() -> None:
    source = (
        "import os, random, sys\n"
        "print(os.environ.get('SEEN', 'fresh'), getattr(sys, 'seen', 'fresh'), random.random())\n"
        "os.environ['SEEN'] = 'stale'\n"
        "sys.seen = 'stale'"
    )
    result = judge("python", source, [{"input": "", "output": None}] * 3, limits=FAST)
    lines = [t["stdout"].split() for t in result["tests"]]
    assert [line[:2] for line in lines] == [["fresh", "fresh"]] * 3
    assert len({line[2] for line in lines}) == 3  # random is seeded afresh in every test


# --- serve mode (one runner, many requests: what the docker pool runs in each container) ------------


class Server:
    """A real ``runner --serve`` process, spoken to in its framed protocol."""

    def __init__(self, sweep: Path) -> None:
        env = dict(os.environ, OPENAI_API_KEY=FAKE_KEY)
        self.process = subprocess.Popen(
            [sys.executable, str(RUNNER), "--serve", "--sweep", str(sweep)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def send(self, payload: bytes) -> tuple[int, dict[str, Any]]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(len(payload).to_bytes(4, "big") + payload)
        self.process.stdin.flush()
        header = self.process.stdout.read(5)
        size, flags = int.from_bytes(header[:4], "big"), header[4]
        return flags, json.loads(self.process.stdout.read(size))

    def ask(self, source: str, tests: list[dict[str, Any]]) -> dict[str, Any]:
        request = {"language": "python", "source": source, "tests": tests, "limits": FAST}
        flags, result = self.send(json.dumps(request).encode())
        assert flags == 0
        return result

    def finish(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=30)


def test_serve_answers_requests_in_turn_and_sweeps_between_them(tmp_path: Path) -> None:
    sweep = tmp_path / "work"
    sweep.mkdir()
    server = Server(sweep)
    try:
        echo = server.ask("print(input())", [{"input": "5", "output": "5"}] * 3)
        assert echo["verdict"] == "AC" and len(echo["tests"]) == 3
        assert echo["runner"]["version"] == RUNNER_VERSION
        # Litter in the work dir (a locked directory too) is gone after the next request.
        (sweep / "locked" / "inner").mkdir(parents=True)
        (sweep / "litter.txt").write_text("x")
        (sweep / "locked").chmod(0)
        wrong = server.ask("print(6)", [{"input": "", "output": "5"}])
        assert wrong["verdict"] == "WA"
        assert list(sweep.iterdir()) == []
        show_key = "import os\nprint(os.environ.get('OPENAI_API_KEY', 'absent'))"
        leaked = server.ask(show_key, [{"input": "", "output": "absent"}])
        assert leaked["verdict"] == "AC"
        # The solution's import path is the one-shot runner's (serve mode learns the site dirs once).
        show_path = "import sys\nprint(sys.path[1:])"
        served = server.ask(show_path, [{"input": "", "output": None}])["tests"][0]["stdout"]
        assert served == one("python", show_path, expected=None)["test"]["stdout"]
        assert "packages" in served
        # A request that is not JSON is answered with SE, and the server goes on.
        flags, bad = server.send(b"{not json")
        assert bad["verdict"] == "SE" and "not JSON" in bad["error"]
        assert server.ask("print(1)", [{"input": "", "output": "1"}])["verdict"] == "AC"
    finally:
        assert server.finish() == 0  # end of input: the server ends cleanly


def test_serve_kills_what_a_solution_leaves_before_the_next_request(tmp_path: Path) -> None:
    leave_daemon = (
        "import os\nif os.fork() == 0:\n    os.setsid()\n"
        "    os.execvp('sh', ['sh', '-c', 'exec sleep 31337'])\nprint('left')\n"
    )
    count = (
        "import os\nfound = 0\nfor pid in os.listdir('/proc'):\n    if pid.isdigit():\n        try:\n"
        "            found += b'31337' in open(f'/proc/{pid}/cmdline', 'rb').read()\n"
        "        except OSError:\n            pass\nprint(found)\n"
    )
    server = Server(tmp_path)
    try:
        assert server.ask(leave_daemon, [{"input": "", "output": "left"}])["verdict"] == "AC"
        assert server.ask(count, [{"input": "", "output": "0"}])["verdict"] == "AC"
    finally:
        assert server.finish() == 0


def test_a_fork_server_child_that_dies_before_its_test_shifts_nothing() -> None:
    """The child forked ahead for the next test is killed before it takes it (a stray of an earlier
    test could do that): that test reports the kill, and later tests still get their own pipes."""
    import shutil
    import signal
    import socket
    import tempfile

    from alphaflow.sandbox.runner.compilers import compile_program
    from alphaflow.sandbox.runner.judge import _run_limits
    from alphaflow.sandbox.runner.processes import Sandbox
    from alphaflow.sandbox.runner.protocol import DEFAULT_LIMITS
    from alphaflow.sandbox.runner.pyfork import ForkServer

    workdir = tempfile.mkdtemp(prefix="alphaflow-forkserver-test-")
    sandbox = Sandbox(workdir)
    limits = _run_limits(DEFAULT_LIMITS, keep_stdout=4096, keep_stderr=4096)
    program = compile_program(sandbox, "python", "print(input())", "solution", DEFAULT_LIMITS, 4096)
    server = ForkServer(sandbox, program, limits)
    try:
        first = server.run(b"1\n", limits)
        waiting = server.control.recv(64, socket.MSG_PEEK)  # "P<pid>" of the child forked ahead
        os.kill(int(waiting[1:]), signal.SIGKILL)
        second = server.run(b"2\n", limits)
        third = server.run(b"3\n", limits)
        fourth = server.run(b"4\n", limits)
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    assert bytes(first.stdout) == b"1\n"
    assert (second.signal, bytes(second.stdout)) == (signal.SIGKILL, b"")
    assert (bytes(third.stdout), bytes(fourth.stdout)) == (b"3\n", b"4\n")
