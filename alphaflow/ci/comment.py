"""One sticky pull-request comment: found by a hidden marker, updated in place, created when absent.

Uses the REST endpoints of issue comments (a pull request is an issue for comments):
``GET /repos/{repo}/issues/{number}/comments`` (paged), ``PATCH /repos/{repo}/issues/comments/{id}``
and ``POST /repos/{repo}/issues/{number}/comments``, at ``$GITHUB_API_URL`` (GitHub Enterprise and
tests point it elsewhere). The token goes in the ``Authorization`` header only: it is never printed,
and errors show the method, path and status, never the request headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from alphaflow.errors import UserError

DEFAULT_MARKER = "<!-- alphaflow-ci -->"
MAX_BODY = 65_000  # GitHub refuses comments over 65 536 characters
MAX_PAGES = 50


@dataclass
class PostedComment:
    id: int
    url: str | None
    action: str  # "created" | "updated"


def with_marker(body: str, marker: str) -> str:
    """The body with the marker on its first line, cut to GitHub's size limit."""
    text = f"{marker}\n{body}"
    if len(text) > MAX_BODY:
        text = text[: MAX_BODY - 40] + "\n\n... (cut; see the job summary)"
    return text


def upsert_comment(
    *,
    api_url: str,
    repository: str,
    number: int,
    body: str,
    token: str,
    marker: str = DEFAULT_MARKER,
    timeout_s: float = 30.0,
) -> PostedComment:
    """Update the comment carrying ``marker`` on pull request ``number``, or create it.

    Raises ``UserError`` (naming the endpoint and HTTP status, never the token) when the API refuses.
    """
    import httpx

    if not token:
        raise UserError("no GitHub token: set GITHUB_TOKEN (the action passes its github-token input)")
    if "/" not in repository:
        raise UserError(f"GITHUB_REPOSITORY {repository!r}: expected OWNER/NAME")
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "alphaflow-ci",
    }
    text = with_marker(body, marker)
    with httpx.Client(base_url=api_url.rstrip("/"), headers=headers, timeout=timeout_s) as client:
        existing = _find(client, repository, number, marker)
        if existing is not None:
            path = f"/repos/{repository}/issues/comments/{existing}"
            response = _send(client, "PATCH", path, {"body": text})
            action = "updated"
        else:
            path = f"/repos/{repository}/issues/{number}/comments"
            response = _send(client, "POST", path, {"body": text})
            action = "created"
    data = response.json()
    return PostedComment(int(data.get("id", existing or 0)), data.get("html_url"), action)


def _find(client: object, repository: str, number: int, marker: str) -> int | None:
    path = f"/repos/{repository}/issues/{number}/comments"
    for page in range(1, MAX_PAGES + 1):
        response = _send(client, "GET", path, None, params={"per_page": 100, "page": page})
        comments = response.json()
        if not isinstance(comments, list):
            raise UserError(f"GET {path}: unexpected answer (not a list of comments)")
        for comment in comments:
            if isinstance(comment, dict) and marker in str(comment.get("body") or ""):
                return int(comment["id"])
        if len(comments) < 100:
            return None
    return None


def _send(client: object, method: str, path: str, body: dict | None, params: dict | None = None):
    import httpx

    try:
        response = client.request(method, path, json=body, params=params)  # type: ignore[attr-defined]
    except httpx.HTTPError as error:
        raise UserError(f"{method} {path}: {type(error).__name__}: cannot reach the GitHub API") from None
    if response.status_code >= 400:
        hint = ""
        if response.status_code in (401, 403, 404):
            hint = " (does the token have pull-requests: write / issues: write permission?)"
        message = ""
        try:
            message = str(response.json().get("message") or "")
        except ValueError:
            pass
        raise UserError(f"{method} {path}: HTTP {response.status_code} {message}{hint}".rstrip())
    return response
