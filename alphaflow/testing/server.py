"""An OpenAI-compatible HTTP server that answers chat completions from a script.

It runs in its own thread (stdlib ``ThreadingHTTPServer``), so it works the same when started from
synchronous test code and from inside a running asyncio loop. Every request is recorded, so tests can
assert what each step sent and how many calls it made.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from alphaflow.testing.script import Fault, Rule, Script, ScriptedRequest, as_script, message_text

STEP_HEADER = "X-Alphaflow-Step"
_WORD = re.compile(r"\s*\S+|\s+$")


@dataclass
class RecordedRequest:
    """One request the server received (authorization headers are never recorded)."""

    path: str
    method: str
    step: str | None
    model: str | None
    messages: list[dict[str, Any]]
    body: dict[str, Any] | None
    rule: str | None  # label of the matching rule; None when nothing matched
    status: int = 0  # status answered (0 while in flight or when the server hung)
    fault: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def n(self) -> int:
        return int((self.body or {}).get("n") or 1)

    @property
    def last_user(self) -> str:
        return ScriptedRequest(self.messages, self.model or "", self.step, self.body or {}).last_user


def count_tokens(text: str) -> int:
    """A rough token count (words), enough for usage fields and cost arithmetic in tests."""
    return len(text.split())


class ScriptedServer:
    """``ScriptedServer(script).start() -> base_url`` (ends in ``/v1``); ``stop()``; a context manager.

    ``script`` is a :class:`Script`, a list of :class:`Rule` (or dicts in the YAML format), a script
    dict, or the path of a YAML script.
    """

    def __init__(self, script: Script | Sequence[Rule | dict[str, Any]] | dict[str, Any] | str | Path,
                 *, default: str | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.script = as_script(script)
        if default is not None:
            self.script.default = default
        self.host, self.port = host, port
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the scripted server is not started")
        return f"http://{self.host}:{self._httpd.server_address[1]}/v1"

    def start(self) -> str:
        if self._httpd is not None:
            return self.base_url
        self._stopping.clear()
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.scripted = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="alphaflow-scripted-server", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # releases hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what tests assert on -------------------------------------------------------------------
    def calls(self, step: str | None = None, *, rule: str | None = None) -> list[RecordedRequest]:
        """Recorded chat completion requests, optionally only those of one step or rule."""
        with self._lock:
            recorded = [r for r in self.requests if r.path.endswith("/chat/completions")]
        return [r for r in recorded
                if (step is None or r.step == step) and (rule is None or r.rule == rule)]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # --- request handling (called from handler threads) -----------------------------------------
    def _record(self, record: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(record)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True when the server is stopping."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 drops the SYNs of a burst of new connections (16 units
    # starting at once), and each dropped client waits a full second for its retransmission.
    request_queue_size = 1024
    scripted: ScriptedServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid the 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logs
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            scripted = self.server.scripted
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "alphaflow-scripted"}
                    for name in scripted.script.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._error(404, f"scripted server: no route GET {path}", "not_found")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"scripted server: no route POST {path} (use /v1/chat/completions)", "not_found")
            return
        scripted = self.server.scripted
        scripted._enter()
        try:
            self._chat(scripted, path, raw)
        except Exception as error:  # a callable response that raised: say so instead of hanging up
            self._error(500, f"scripted server: the script raised {type(error).__name__}: {error}",
                        "server_error")
        finally:
            scripted._leave()

    def _chat(self, scripted: ScriptedServer, path: str, raw: bytes) -> None:
        step = self.headers.get(STEP_HEADER)
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError as error:
            scripted._record(RecordedRequest(path, "POST", step, None, [], None, None, 400))
            self._error(400, f"scripted server: invalid JSON body: {error}", "invalid_request_error")
            return
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        model = str(body.get("model") or "")
        request = ScriptedRequest(messages=messages, model=model, step=step, body=body)
        record = RecordedRequest(path, "POST", step, model, messages, body, None)
        scripted._record(record)
        if body.get("stream"):
            self._finish(record, 400, "scripted server: streaming is not supported (send stream=false)")
            return
        found = scripted.script.find(request)
        if found is None and scripted.script.default is None:
            prompt = request.last_user.strip().replace("\n", " ")
            message = (f"scripted server: no rule matches step {step!r}, model {model!r}, "
                       f"prompt {prompt[:80]!r}{'...' if len(prompt) > 80 else ''}")
            self._finish(record, 400, message, code="no_matching_rule")
            return
        rule: Rule | None = None
        if found is not None:
            index, rule = found
            record.rule = rule.label(index)
            if scripted._sleep(rule.latency_s):
                return
            fault = rule.next_fault()
            if fault is not None and self._fault(scripted, record, fault):
                return
        n = max(1, int(body.get("n") or 1))
        texts = []
        for choice_index in range(n):
            request.choice_index = choice_index
            texts.append(rule.next_text(request) if rule is not None else str(scripted.script.default))
        body_out = _completion_body(request, texts, rule)
        # recorded before the answer leaves: a client that has its answer finds the call recorded
        record.status = 200
        record.finished = time.monotonic()
        self._json(200, body_out)

    def _fault(self, scripted: ScriptedServer, record: RecordedRequest, fault: Fault) -> bool:
        """Apply a fault; True when it replaced the answer."""
        if scripted._sleep(fault.latency_s):
            return True
        if fault.hang:
            record.fault = "hang"
            scripted._sleep(fault.hang_s)
            self.close_connection = True
            return True
        if fault.status is not None:
            record.fault = f"status {fault.status}"
            headers = {}
            if fault.retry_after is not None:
                headers = {"Retry-After": f"{fault.retry_after:g}",
                           "retry-after-ms": str(int(fault.retry_after * 1000))}
            kind = "rate_limit_error" if fault.status == 429 else "server_error"
            self._finish(record, int(fault.status), f"scripted fault: status {fault.status}", kind, headers)
            return True
        if fault.malformed is not None:
            record.fault = f"malformed {fault.malformed}"
            record.status = 200
            record.finished = time.monotonic()
            if fault.malformed == "invalid_json":
                self._send(200, b"this is not JSON {", "application/json")
            elif fault.malformed == "no_choices":
                self._json(200, {"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0,
                                 "model": record.model, "choices": []})
            else:  # truncated: promise the whole body, send half, hang up
                payload = json.dumps({"id": "chatcmpl-scripted", "object": "chat.completion",
                                      "choices": [{"index": 0, "message": {"role": "assistant",
                                                                            "content": "cut " * 50}}]})
                data = payload.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
            return True
        return False

    def _finish(self, record: RecordedRequest, status: int, message: str, kind: str = "invalid_request_error",
                headers: dict[str, str] | None = None, code: str | None = None) -> None:
        record.status = status
        record.finished = time.monotonic()
        self._error(status, message, kind, headers, code)

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None,
               code: str | None = None) -> None:
        self._json(status, {"error": {"message": message, "type": kind, "code": code}}, headers)

    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout); nothing to do
            self.close_connection = True


def _completion_body(request: ScriptedRequest, texts: list[str], rule: Rule | None) -> dict[str, Any]:
    body = request.body
    want_logprobs = bool(body.get("logprobs"))
    top_k = int(body.get("top_logprobs") or 0)
    choices = []
    for index, text in enumerate(texts):
        choice: dict[str, Any] = {"index": index, "message": {"role": "assistant", "content": text},
                                  "finish_reason": rule.finish_reason if rule else "stop", "logprobs": None}
        if want_logprobs:
            choice["logprobs"] = {"content": _logprobs(text, top_k, rule.top_logprobs if rule else None)}
        choices.append(choice)
    prompt_tokens = sum(count_tokens(message_text(m)) for m in request.messages)
    completion_tokens = sum(count_tokens(text) for text in texts)
    return {
        "id": f"chatcmpl-scripted-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model or "scripted",
        "choices": choices,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def _logprobs(text: str, top_k: int, first_alternatives: dict[str, float] | None) -> list[dict[str, Any]]:
    """Per-token logprobs; the first token's alternatives come from the rule (for G-Eval style judges)."""
    tokens = _WORD.findall(text) or [""]
    content = []
    for position, token in enumerate(tokens):
        alternatives = {token: 0.0}
        if position == 0 and first_alternatives:
            alternatives = dict(first_alternatives)
            alternatives.setdefault(token, max(alternatives.values(), default=0.0))
        ranked = sorted(alternatives.items(), key=lambda item: item[1], reverse=True)[: max(top_k, 0)]
        content.append({
            "token": token, "logprob": alternatives.get(token, 0.0), "bytes": list(token.encode()),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in ranked],
        })
    return content
