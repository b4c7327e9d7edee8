"""A loopback fake of the GitHub REST endpoints the sticky-comment poster uses (stdlib http.server).

    GET   /repos/{owner}/{repo}/issues/{number}/comments?per_page=&page=
    POST  /repos/{owner}/{repo}/issues/{number}/comments        {"body": ...}
    PATCH /repos/{owner}/{repo}/issues/comments/{id}            {"body": ...}

Requests without ``Authorization: Bearer <token>`` get 401; ``forbid`` makes writes answer 403.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeGitHub:
    def __init__(self, token: str, repository: str = "octo/demo") -> None:
        self.token = token
        self.repository = repository
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str]] = []
        self.forbid = False
        self._next_id = 1000
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_POST(self) -> None:
                fake.handle(self, "POST")

            def do_PATCH(self) -> None:
                fake.handle(self, "PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_comment(self, number: int, body: str, user: str = "someone") -> int:
        with self._lock:
            self._next_id += 1
            self.comments.setdefault(number, []).append(
                {"id": self._next_id, "body": body, "user": {"login": user}}
            )
            return self._next_id

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urlparse(request.path)
        self.requests.append((method, parsed.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self.reply(request, 401, {"message": "Bad credentials"})
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length) or b"null") if length else None
        prefix = f"/repos/{self.repository}/issues"
        listing = re.fullmatch(rf"{re.escape(prefix)}/(\d+)/comments", parsed.path)
        single = re.fullmatch(rf"{re.escape(prefix)}/comments/(\d+)", parsed.path)
        if listing and method == "GET":
            query = parse_qs(parsed.query)
            per_page, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
            items = self.comments.get(int(listing.group(1)), [])
            return self.reply(request, 200, items[(page - 1) * per_page : page * per_page])
        if self.forbid and method in ("POST", "PATCH"):
            return self.reply(request, 403, {"message": "Resource not accessible by integration"})
        if listing and method == "POST":
            comment_id = self.add_comment(int(listing.group(1)), body["body"], "github-actions[bot]")
            return self.reply(request, 201, {"id": comment_id, "html_url": f"https://example/c/{comment_id}"})
        if single and method == "PATCH":
            for comments in self.comments.values():
                for comment in comments:
                    if comment["id"] == int(single.group(1)):
                        comment["body"] = body["body"]
                        return self.reply(
                            request, 200, {"id": comment["id"], "html_url": "https://example/c"}
                        )
        return self.reply(request, 404, {"message": "Not Found"})

    @staticmethod
    def reply(request: BaseHTTPRequestHandler, status: int, data: Any) -> None:
        payload = json.dumps(data).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
