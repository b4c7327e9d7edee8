"""The runner protocol: constants shared with the host, request validation and the frame format.

The host (``alphaflow.sandbox.protocol``, ``docker_pool``, ``types``) imports these names instead of
keeping copies, so both sides agree on verdicts, default limits and frames by construction.
"""

from __future__ import annotations

import os
import struct

RUNNER_VERSION = 2

VERDICTS = ("AC", "WA", "TLE", "MLE", "RE", "CE", "OLE", "SE", "unsupported", "skipped")
LANGUAGES = ("python", "cpp")

# Where the image keeps the runner package; `python3 RUNNER_DIR_IN_IMAGE` starts it (``__main__``).
RUNNER_DIR_IN_IMAGE = "/opt/alphaflow/runner"
# Versions written beside the runner when the image is built (spares a `g++` run per judging).
VERSIONS_FILE = "versions.json"

DEFAULT_TIME_S = 2.0
DEFAULT_MEMORY_BYTES = 256 << 20
# stdout (and, separately, stderr) per test; more is OLE. Also RLIMIT_FSIZE for files it writes.
DEFAULT_OUTPUT_BYTES = 64 << 20
DEFAULT_COMPILE_TIME_S = 30.0
DEFAULT_WALL_FACTOR = 3.0

DEFAULT_LIMITS = {
    "time_s": DEFAULT_TIME_S,
    "memory_bytes": DEFAULT_MEMORY_BYTES,
    "output_bytes": DEFAULT_OUTPUT_BYTES,
    "compile_time_s": DEFAULT_COMPILE_TIME_S,
    "wall_factor": DEFAULT_WALL_FACTOR,
    # Not in the minimal protocol; documented extras with safe defaults.
    "compile_memory_bytes": 2 << 30,
    "processes": 256,
    "checker_time_s": 10.0,
    "checker_memory_bytes": 1 << 30,
}

DEFAULT_FLOAT_TOL = 1e-6
CHECKER_KINDS = ("tokens", "program", "none")

# Serve mode. Request frame: 4-byte big-endian length, then the JSON request. Result frame: 4-byte
# length, 1 flags byte, then the JSON result line.
FRAME_HEADER = struct.Struct(">I")
RESULT_HEADER = struct.Struct(">IB")
FLAG_DIRTY = 1  # a writable place could not be emptied: the host should retire this runner
MAX_REQUEST_BYTES = 1 << 30


def fault(error: str, runner: dict) -> dict:
    """A result for a request the runner could not judge (the host reports it as SE)."""
    return {"verdict": "SE", "error": error, "compile": None, "tests": [], "runner": runner}


def validate_request(request: object) -> str | None:
    """A description of what is wrong with the request, or None when it can be judged."""
    if not isinstance(request, dict):
        return "the request must be a JSON object"
    if not isinstance(request.get("source"), str):
        return "field 'source' must be a string"
    tests = request.get("tests")
    if not isinstance(tests, list):
        return "field 'tests' must be a list"
    for index, test in enumerate(tests):
        if not isinstance(test, dict) or not isinstance(test.get("input", ""), str):
            return f"tests[{index}] must be an object with a string 'input'"
        if test.get("output") is not None and not isinstance(test["output"], str):
            return f"tests[{index}].output must be a string or null"
    for name in ("limits", "checker"):
        if request.get(name) is not None and not isinstance(request[name], dict):
            return f"field '{name}' must be an object"
    for key, value in (request.get("limits") or {}).items():
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or value <= 0
        ):
            return f"limits.{key} must be a positive number"
    for name, most in (("parallel", 64), ("keep_bytes", 1 << 30)):
        value = request.get(name)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= most
        ):
            return f"field '{name}' must be an integer from 1 to {most}"
    kind = (request.get("checker") or {}).get("kind", "tokens")
    if kind not in CHECKER_KINDS:
        return f"checker.kind must be tokens, program or none, not {kind!r}"
    return None


def read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``, or None at end of file."""
    parts = bytearray()
    while len(parts) < size:
        chunk = os.read(fd, min(size - len(parts), 1 << 20))
        if not chunk:
            return None
        parts += chunk
    return bytes(parts)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
