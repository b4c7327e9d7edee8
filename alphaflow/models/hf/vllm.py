"""``vllm:MODEL``: a ``vllm serve`` process on a free loopback port, for the length of a run.

alphaflow starts it, waits until it answers ``GET /v1/models`` (vLLM answers once the model is
loaded), talks to it as to any OpenAI-compatible server, and stops it (SIGTERM to its process group,
SIGKILL after 15 s) when the router closes or the process exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from alphaflow.errors import UserError
from alphaflow.models.hf.spec import VLLMSpec

EXECUTABLE = "vllm"


class VLLMServer:
    def __init__(self, spec: VLLMSpec, model_string: str) -> None:
        self.spec, self.model_string = spec, model_string
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.log_path: Path | None = None
        args = list(spec.serve_args)
        self.served_name = (
            args[args.index("--served-model-name") + 1] if "--served-model-name" in args[:-1] else spec.model
        )

    def start(self) -> str:
        """Start the server and wait until it is ready; its ``/v1`` base URL. One-line ``UserError``
        when vllm is not installed, exits early, or is not ready within the startup timeout."""
        executable = shutil.which(EXECUTABLE)
        if executable is None:
            raise UserError(
                f"model {self.model_string!r} needs vLLM, which is not installed "
                "(no `vllm` on PATH): pip install vllm, or use hf: for an in-process model"
            )
        port = _free_port()
        command = [
            executable,
            "serve",
            self.spec.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *self.spec.serve_args,
        ]
        handle, name = tempfile.mkstemp(prefix="alphaflow-vllm-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(handle, "wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        atexit.register(self.stop)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.base_url

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.spec.startup_timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise UserError(
                    f"model {self.model_string!r}: `vllm serve` exited with code {code} before "
                    f"it was ready: {self._last_log_line()} (log: {self.log_path})"
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise UserError(
            f"model {self.model_string!r}: `vllm serve` was not ready after "
            f"{self.spec.startup_timeout_s:g} s (option startup_timeout_s; log: {self.log_path})"
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    def _last_log_line(self) -> str:
        try:
            lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        except (OSError, AttributeError):
            return "no output"
        return lines[-1][:300] if lines else "no output"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
