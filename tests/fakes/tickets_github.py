"""A loopback GitHub REST API for the issues subset opswarden uses, and the contract harness on it.

:class:`FakeGitHub` keeps issues (and pull requests: they share the numbering and the issues list)
in memory, numbered 1, 2 … per repository, and answers as api.github.com does:

* ``GET /repos/{owner}/{repo}/issues`` — ``labels`` (comma-separated, all must match), ``state``
  (open by default, closed, all), ``sort=created`` / ``direction``, ``per_page``; pull requests are
  in the list, with a ``pull_request`` key.
* ``POST /repos/{owner}/{repo}/issues`` — title required; labels created on the fly (over 50
  characters: 422); assignees checked against ``assignable`` when set (422 naming ``assignees``).
* ``GET`` / ``PATCH /repos/{owner}/{repo}/issues/{number}`` — state open/closed with state_reason
  (``reopened`` on reopening), title, body, labels, assignees.
* ``GET`` / ``POST /repos/{owner}/{repo}/issues/{number}/comments``.
* ``Authorization: Bearer <token>`` (or ``token <token>``), else 401 ``Bad credentials``; an
  unknown repository is 404 ``Not Found``; every answer has ``x-ratelimit-*`` headers.

Failures: :meth:`FakeGitHub.fail_next` (any status, ``Retry-After`` when given),
:meth:`FakeGitHub.rate_limit_next` (403 with ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``,
a spent primary limit) and :meth:`FakeGitHub.forbid_next` (a plain 403, no rate-limit headers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from opswarden.tickets.base import TicketRef
from opswarden.tickets.github import GitHubTicketer
from tests.fakes._http import HTTPRequest, LoopbackHTTPServer, Reply
from tests.fakes.tickets_harness import Harness

TOKEN = "ghp_FakeGitHubToken0123456789abcdefABCDEF"
WRONG_TOKEN = "ghp_WrongToken9876543210zyxwvuZYXWVU"
REPO = "acme/ops-tickets"
DOCS = "https://docs.github.com/rest"
RATE_LIMIT = 5000


@dataclass
class _Issue:
    number: int
    title: str
    body: str
    labels: list[str]
    assignees: list[str]
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    pull_request: bool = False
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


class FakeGitHub:
    def __init__(self, token: str = TOKEN, repos: tuple[str, ...] = (REPO,)) -> None:
        self.token = token
        self.assignable: set[str] | None = None  # None: anyone can be assigned
        self._lock = threading.Lock()
        self._repos: dict[str, dict[int, _Issue]] = {repo: {} for repo in repos}
        self._next: dict[str, int] = dict.fromkeys(repos, 1)
        self._failures: list[_Failure] = []
        self._remaining = RATE_LIMIT
        self._comment_ids = 1000
        self.requests: list[HTTPRequest] = []
        self._http = LoopbackHTTPServer(self._dispatch)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return self._http.origin

    # -- set-up -------------------------------------------------------------------------------------

    def fail_next(self, status: int, retry_after: float | None = None) -> None:
        """The next request answers ``status`` (with ``Retry-After`` when given)."""
        headers = {} if retry_after is None else {"Retry-After": _number_text(retry_after)}
        messages = {429: "You have exceeded a secondary rate limit.", 503: "Service Unavailable"}
        message = messages.get(status, f"HTTP {status}")
        with self._lock:
            self._failures.append(_Failure(status, headers, {"message": message, "documentation_url": DOCS}))

    def rate_limit_next(self, reset_in: float = 30, status: int = 403) -> int:
        """The next request finds the primary rate limit spent; returns the reset time (epoch seconds)."""
        reset = int(time.time() + reset_in)
        headers = {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": str(RATE_LIMIT),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "core",
        }
        body = {
            "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
            "for help, please include the request ID.",
            "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
        }
        with self._lock:
            self._failures.append(_Failure(status, headers, body))
        return reset

    def forbid_next(self) -> None:
        """The next request answers a plain 403: the token may not do that (no rate-limit headers)."""
        body = {
            "message": "Resource not accessible by personal access token",
            "documentation_url": f"{DOCS}/issues/issues#create-an-issue",
        }
        with self._lock:
            self._failures.append(_Failure(403, {}, body))

    def add_pull_request(self, title: str, labels: list[str], repo: str = REPO) -> int:
        """A pull request in the repository (it shares numbers and the issues list with issues)."""
        with self._lock:
            issue = self._new(repo, title, "", labels, [])
            issue.pull_request = True
            return issue.number

    def add_issue(self, title: str, labels: list[str], body: str = "", repo: str = REPO) -> int:
        """An issue someone opened by hand."""
        with self._lock:
            return self._new(repo, title, body, labels, []).number

    def assign(self, number: int, login: str, repo: str = REPO) -> None:
        """Someone assigns the issue (a person picking it up)."""
        with self._lock:
            issue = self._repos[repo][number]
            issue.assignees = [login]
            issue.updated_at = _now()

    # -- inspection ---------------------------------------------------------------------------------

    def issue(self, number: int, repo: str = REPO) -> dict[str, Any]:
        with self._lock:
            return self._json(repo, self._repos[repo][number])

    def comments(self, number: int, repo: str = REPO) -> list[str]:
        with self._lock:
            return [c["body"] for c in self._repos[repo][number].comments]

    # -- HTTP ---------------------------------------------------------------------------------------

    def _dispatch(self, request: HTTPRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._failures:
                failure = self._failures.pop(0)
                return Reply.json(failure.body, failure.status, failure.headers)
            auth = request.headers.get("authorization", "")
            if auth not in (f"Bearer {self.token}", f"token {self.token}"):
                return Reply.json({"message": "Bad credentials", "documentation_url": DOCS}, 401)
            self._remaining = max(0, self._remaining - 1)
            reply = self._route(request)
            reply.headers.update(
                {
                    "x-ratelimit-limit": str(RATE_LIMIT),
                    "x-ratelimit-remaining": str(self._remaining),
                    "x-ratelimit-reset": str(int(time.time()) + 3600),
                    "x-ratelimit-resource": "core",
                    "x-github-api-version-selected": request.headers.get(
                        "x-github-api-version", "2022-11-28"
                    ),
                }
            )
            return reply

    def _route(self, request: HTTPRequest) -> Reply:
        parts = request.path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "repos" or parts[3] != "issues":
            return _not_found()
        repo = f"{parts[1]}/{parts[2]}"
        if repo not in self._repos:
            return _not_found()
        rest = parts[4:]
        method = request.method
        if not rest:
            if method == "GET":
                return self._list(repo, request.query)
            if method == "POST":
                return self._create(repo, request.json())
            return _not_found()
        if not rest[0].isdigit() or int(rest[0]) not in self._repos[repo]:
            return _not_found()
        issue = self._repos[repo][int(rest[0])]
        if len(rest) == 1:
            if method == "GET":
                return Reply.json(self._json(repo, issue))
            if method == "PATCH":
                return self._update(repo, issue, request.json())
        if len(rest) == 2 and rest[1] == "comments":
            if method == "GET":
                return Reply.json(issue.comments)
            if method == "POST":
                return self._comment(repo, issue, request.json())
        return _not_found()

    def _list(self, repo: str, query: dict[str, str]) -> Reply:
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            return _invalid("state", state)
        wanted = [label.strip().lower() for label in query.get("labels", "").split(",") if label.strip()]
        items = [
            issue
            for issue in self._repos[repo].values()
            if state in ("all", issue.state)
            and all(label in {x.lower() for x in issue.labels} for label in wanted)
        ]
        items.sort(key=lambda i: (i.created_at, i.number), reverse=query.get("direction", "desc") != "asc")
        per_page = min(100, int(query.get("per_page", "30")))
        page = int(query.get("page", "1"))
        chosen = items[(page - 1) * per_page : page * per_page]
        return Reply.json([self._json(repo, issue) for issue in chosen])

    def _create(self, repo: str, data: dict[str, Any]) -> Reply:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            return _invalid("title", title, code="missing_field")
        labels = [str(x) for x in data.get("labels", [])]
        for label in labels:
            if len(label) > 50:
                return _invalid("name", label, resource="Label")
        assignees = [str(x) for x in data.get("assignees", [])]
        for login in assignees:
            if self.assignable is not None and login not in self.assignable:
                return _invalid("assignees", login)
        issue = self._new(repo, title, str(data.get("body") or ""), labels, assignees)
        return Reply.json(self._json(repo, issue), 201)

    def _update(self, repo: str, issue: _Issue, data: dict[str, Any]) -> Reply:
        state = data.get("state")
        if state is not None:
            if state not in ("open", "closed"):
                return _invalid("state", state)
            reason = data.get("state_reason")
            if state == "closed":
                issue.state_reason = reason or "completed"
                if issue.state != "closed":
                    issue.closed_at = _now()
            elif issue.state == "closed":
                issue.state_reason = "reopened"
                issue.closed_at = None
            issue.state = state
        for key in ("title", "body"):
            if key in data:
                setattr(issue, key, str(data[key]))
        if "labels" in data:
            issue.labels = [str(x) for x in data["labels"]]
        if "assignees" in data:
            issue.assignees = [str(x) for x in data["assignees"]]
        issue.updated_at = _now()
        return Reply.json(self._json(repo, issue))

    def _comment(self, repo: str, issue: _Issue, data: dict[str, Any]) -> Reply:
        body = data.get("body")
        if not isinstance(body, str) or not body:
            return _invalid("body", body, resource="IssueComment", code="missing_field")
        self._comment_ids += 1
        now = _now().isoformat().replace("+00:00", "Z")
        comment = {
            "id": self._comment_ids,
            "body": body,
            "user": {"login": "opswarden-bot", "type": "Bot"},
            "created_at": now,
            "updated_at": now,
            "html_url": f"https://github.com/{repo}/issues/{issue.number}#issuecomment-{self._comment_ids}",
        }
        issue.comments.append(comment)
        issue.updated_at = _now()
        return Reply.json(comment, 201)

    def _new(self, repo: str, title: str, body: str, labels: list[str], assignees: list[str]) -> _Issue:
        number = self._next[repo]
        self._next[repo] = number + 1
        now = _now()
        issue = _Issue(number, title, body, labels, assignees, now, now)
        self._repos[repo][number] = issue
        return issue

    @staticmethod
    def _json(repo: str, issue: _Issue) -> dict[str, Any]:
        kind = "pull" if issue.pull_request else "issues"

        def when(value: datetime | None) -> str | None:
            return value.isoformat().replace("+00:00", "Z") if value else None

        users = [{"login": login, "type": "User"} for login in issue.assignees]
        data: dict[str, Any] = {
            "id": 100000 + issue.number,
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "labels": [{"name": label} for label in issue.labels],
            "assignee": users[0] if users else None,
            "assignees": users,
            "comments": len(issue.comments),
            "created_at": when(issue.created_at),
            "updated_at": when(issue.updated_at),
            "closed_at": when(issue.closed_at),
            "html_url": f"https://github.com/{repo}/{kind}/{issue.number}",
            "url": f"https://api.github.com/repos/{repo}/issues/{issue.number}",
        }
        if issue.pull_request:
            data["pull_request"] = {"url": f"https://api.github.com/repos/{repo}/pulls/{issue.number}"}
        return data


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _not_found() -> Reply:
    return Reply.json({"message": "Not Found", "documentation_url": DOCS}, 404)


def _invalid(name: str, value: Any, resource: str = "Issue", code: str = "invalid") -> Reply:
    error = {"resource": resource, "field": name, "code": code, "value": value}
    return Reply.json({"message": "Validation Failed", "errors": [error], "documentation_url": DOCS}, 422)


def stored_view(fake: FakeGitHub, ref: TicketRef) -> dict[str, Any]:
    """The issue as the contract suite reads it back."""
    issue = fake.issue(int(ref.id or ref.key.removeprefix("#")))
    priorities = [
        int(label["name"].split(":", 1)[1])
        for label in issue["labels"]
        if label["name"].startswith("priority:") and label["name"].split(":", 1)[1].isdigit()
    ]
    open_status = "in_progress" if issue["assignee"] else "open"
    status = "closed" if issue["state"] == "closed" else open_status
    return {
        "title": issue["title"],
        "description": issue["body"],
        "priority": priorities[0] if priorities else None,
        "status": status,
        "comments": fake.comments(issue["number"]),
        "labels": [label["name"] for label in issue["labels"]],
        "assignees": [user["login"] for user in issue["assignees"]],
    }


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    with FakeGitHub() as fake, httpx.Client(timeout=5) as http:
        ticketer = GitHubTicketer(http, repo=REPO, token=TOKEN, api_url=fake.api_url)

        def bad_credentials() -> GitHubTicketer:
            return GitHubTicketer(http, repo=REPO, token=WRONG_TOKEN, api_url=fake.api_url)

        yield Harness(
            ticketer=ticketer,
            stored=lambda ref: stored_view(fake, ref),
            fail_next=fake.fail_next,
            bad_credentials=bad_credentials,
            secrets=[TOKEN, WRONG_TOKEN],
        )
