"""A loopback Jira Cloud: the part of REST API v3 the Jira ticket backend uses, issues in memory.

Implemented (everything else answers 404 with Jira's error JSON):

* ``POST /rest/api/3/issue`` — validates as Jira does: the project key, the issue type, a summary
  (required, one line, ≤ 255 characters), the description as an ADF document (``doc`` version 1;
  ``paragraph``, ``text`` (not empty), ``hardBreak``, ``link`` marks with an ``href``; anything else
  is refused), ``priority.name`` (Highest … Lowest), labels (strings without spaces), components by
  name (``Network``, ``Database`` exist), ``assignee.accountId``, ``customfield_<n>`` strings.
  Answers 201 ``{"id", "key": "OPS-<n>", "self"}``; refusals are 400 ``{"errorMessages", "errors"}``.
* ``GET /rest/api/3/search/jql`` and the older ``GET /rest/api/3/search``: JQL ``labels = "x"``
  only (any other query answers 400 like a JQL syntax error); ``fields`` filters what is returned.
  ``legacy_only=True`` makes ``/search/jql`` answer 404 (a site without it).
* ``GET /rest/api/3/issue/{idOrKey}`` (``fields`` honoured), ``POST …/comment`` (ADF body),
  ``GET …/transitions`` and ``POST …/transitions``.

The workflow: statuses "To Do" (category ``new``), "In Progress" (``indeterminate``), "Done"
(``done``); by default every status has one transition to each other status, named like its
target (Jira's simplified workflow); ``transitions=`` gives other names.

Every request needs Basic auth with the configured e-mail and token (else 401 with Jira's message).
``fail_next(status, retry_after)`` makes the next request answer ``status`` (with Retry-After).
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from opswarden.tickets.base import TicketRef
from opswarden.tickets.jira import JiraTicketer
from tests.fakes._http import HTTPRequest, LoopbackHTTPServer, Reply
from tests.fakes.tickets_harness import Harness

EMAIL = "opswarden@example.com"
TOKEN = "ATATT3xFfGF0-fake-jira-token-do-not-leak"
PROJECT = "OPS"

STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
CATEGORY_NAMES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
PRIORITIES = {"Highest": 1, "High": 2, "Medium": 3, "Low": 4, "Lowest": 5}
COMPONENTS = ("Network", "Database")
ISSUE_TYPES = ("Task", "Bug", "Story", "Incident")
SIMPLE_TRANSITIONS = {"To Do": "To Do", "In Progress": "In Progress", "Done": "Done"}

_JQL_LABELS = re.compile(r'\s*labels\s*=\s*"((?:[^"\\]|\\.)*)"\s*', re.IGNORECASE)
_ISSUE_PATH = re.compile(r"/rest/api/3/issue/([^/]+)(/comment|/transitions)?")


@dataclass
class Issue:
    id: str
    key: str
    fields: dict[str, Any]  # as created (summary, description ADF, priority, labels, …)
    status: str = "To Do"
    assignee: dict[str, str] | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)  # ADF bodies
    updated: str = ""


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any


class FakeJira:
    def __init__(
        self,
        *,
        email: str = EMAIL,
        token: str = TOKEN,
        project: str = PROJECT,
        transitions: dict[str, str] | None = None,  # transition name → target status
        legacy_only: bool = False,
        labels_searchable: bool = True,
    ) -> None:
        self.email = email
        self.token = token
        self.project = project
        self.transitions = dict(transitions or SIMPLE_TRANSITIONS)
        self.legacy_only = legacy_only
        self.labels_searchable = labels_searchable  # False: "Field 'labels' does not exist …" (400)
        self.issues: dict[str, Issue] = {}  # by key
        self.requests: list[Seen] = []
        self._failures: list[tuple[int, float | None]] = []
        self._lock = threading.Lock()
        self._http = LoopbackHTTPServer(self._dispatch)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeJira:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    @property
    def url(self) -> str:
        return self._http.origin

    def ticketer(self, client: httpx.Client, token: str | None = None, **kwargs: Any) -> JiraTicketer:
        return JiraTicketer(
            client,
            url=self.url,
            email=self.email,
            api_token=self.token if token is None else token,
            project=self.project,
            **kwargs,
        )

    # -- set-up and inspection -------------------------------------------------------------------

    def fail_next(self, status: int, retry_after: float | None = None) -> None:
        with self._lock:
            self._failures.append((status, retry_after))

    def set_status(self, key: str, status: str) -> None:
        """Someone moves the issue in Jira's UI."""
        with self._lock:
            self.issues[key].status = status

    def assign(self, key: str, account_id: str, name: str) -> None:
        with self._lock:
            self.issues[key].assignee = {"accountId": account_id, "displayName": name}

    def issue(self, ref: TicketRef) -> Issue:
        return self.issues[ref.key]

    def stored(self, ref: TicketRef) -> dict[str, Any]:
        issue = self.issue(ref)
        return {
            "title": issue.fields["summary"],
            "description": flatten(issue.fields.get("description")),
            "priority": PRIORITIES[issue.fields["priority"]["name"]],
            "status": {"new": "open", "indeterminate": "in_progress", "done": "closed"}[
                STATUSES[issue.status]
            ],
            "comments": [flatten(body) for body in issue.comments],
        }

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # -- HTTP ------------------------------------------------------------------------------------

    def _dispatch(self, request: HTTPRequest) -> Reply:
        with self._lock:
            body: Any = None
            if request.body:
                try:
                    body = request.json()
                except ValueError:
                    return _error(400, ["Unexpected character in the request body."])
            self.requests.append(Seen(request.method, request.path, dict(request.query), body))
            if self._failures:
                status, retry_after = self._failures.pop(0)
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                return _error(status, [f"fake failure (HTTP {status})"], headers=headers)
            if request.headers.get("authorization") != self._expected_auth():
                return _error(401, ["Client must be authenticated to access this resource."])
            return self._route(request, body)

    def _expected_auth(self) -> str:
        return "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()

    def _route(self, request: HTTPRequest, body: Any) -> Reply:
        method, path = request.method, request.path
        if method == "POST" and path == "/rest/api/3/issue":
            return self._create(body)
        if method == "GET" and path == "/rest/api/3/search/jql" and not self.legacy_only:
            return self._search(request.query, legacy=False)
        if method == "GET" and path == "/rest/api/3/search":
            return self._search(request.query, legacy=True)
        match = _ISSUE_PATH.fullmatch(path)
        if match is None:
            return _error(404, ["Not found."])
        issue = self._find_issue(match.group(1))
        if issue is None:
            return _error(404, ["Issue does not exist or you do not have permission to see it."])
        action = match.group(2)
        if action is None and method == "GET":
            return Reply.json(self._issue_json(issue, request.query.get("fields")))
        if action == "/comment" and method == "POST":
            return self._comment(issue, body)
        if action == "/transitions" and method == "GET":
            return Reply.json({"expand": "transitions", "transitions": self._available(issue)})
        if action == "/transitions" and method == "POST":
            return self._transition(issue, body)
        return _error(405, [f"Method {method} not allowed."])

    def _find_issue(self, id_or_key: str) -> Issue | None:
        return self.issues.get(id_or_key) or next(
            (i for i in self.issues.values() if i.id == id_or_key), None
        )

    def _create(self, body: Any) -> Reply:
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return _error(400, ["No fields."])
        errors: dict[str, str] = {}
        if (fields.get("project") or {}).get("key") != self.project:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "Specify a valid issue type"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        if "description" in fields and not valid_adf(fields["description"]):
            errors["description"] = (
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
            )
        if (fields.get("priority") or {}).get("name") not in PRIORITIES:
            errors["priority"] = "Specify the Priority (name) in the string format"
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            errors["labels"] = "data was not an array"
        else:
            for label in labels:
                if not label or any(c.isspace() for c in label) or len(label) > 255:
                    errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        for component in fields.get("components", []):
            if not isinstance(component, dict) or component.get("name") not in COMPONENTS:
                errors["components"] = f"Component name '{(component or {}).get('name')}' is not valid"
        assignee = fields.get("assignee")
        if assignee is not None and not (isinstance(assignee, dict) and assignee.get("accountId")):
            errors["assignee"] = "Specify the user's accountId"
        known = {
            "project",
            "issuetype",
            "summary",
            "description",
            "priority",
            "labels",
            "components",
            "assignee",
        }
        for name, value in fields.items():
            if name in known:
                continue
            if not re.fullmatch(r"customfield_\d+", name):
                errors[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                )
            elif not isinstance(value, str):
                errors[name] = "Operation value must be a string"
        if errors:
            return _error(400, [], errors)
        number = len(self.issues) + 1
        issue = Issue(
            id=str(10000 + number),
            key=f"{self.project}-{number}",
            fields=fields,
            assignee={"accountId": assignee["accountId"], "displayName": assignee["accountId"]}
            if assignee
            else None,
            updated=_now(),
        )
        self.issues[issue.key] = issue
        return Reply.json({"id": issue.id, "key": issue.key, "self": self._self(issue)}, status=201)

    def _search(self, query: dict[str, str], *, legacy: bool) -> Reply:
        jql = query.get("jql", "")
        match = _JQL_LABELS.fullmatch(jql)
        if match is None:
            return _error(400, [f"Error in the JQL Query: the query {jql!r} is not supported by this fake."])
        if not self.labels_searchable:
            return _error(400, ["Field 'labels' does not exist or you do not have permission to view it."])
        label = re.sub(r"\\(.)", r"\1", match.group(1))
        found = [i for i in self.issues.values() if label in i.fields.get("labels", [])]
        limit = int(query.get("maxResults") or 50)
        wanted = query.get("fields", "")
        issues = [self._issue_json(i, wanted or "id") for i in found[:limit]]
        if legacy:
            return Reply.json({"startAt": 0, "maxResults": limit, "total": len(found), "issues": issues})
        return Reply.json({"issues": issues, "isLast": len(found) <= limit})

    def _issue_json(self, issue: Issue, wanted: str | None) -> dict[str, Any]:
        category = STATUSES[issue.status]
        everything = {
            **issue.fields,
            "status": {
                "name": issue.status,
                "statusCategory": {"key": category, "name": CATEGORY_NAMES[category]},
            },
            "assignee": issue.assignee,
            "updated": issue.updated,
            "comment": {"comments": [{"body": c} for c in issue.comments], "total": len(issue.comments)},
        }
        names = [n.strip() for n in wanted.split(",")] if wanted else ["*all"]
        fields = everything if "*all" in names else {n: everything[n] for n in names if n in everything}
        return {"id": issue.id, "key": issue.key, "self": self._self(issue), "fields": fields}

    def _comment(self, issue: Issue, body: Any) -> Reply:
        adf = body.get("body") if isinstance(body, dict) else None
        if not isinstance(adf, dict) or not valid_adf(adf):
            return _error(400, [], {"comment": "Comment body is not a valid Atlassian Document."})
        issue.comments.append(adf)
        issue.updated = _now()
        return Reply.json({"id": str(len(issue.comments)), "body": adf}, status=201)

    def _available(self, issue: Issue) -> list[dict[str, Any]]:
        out = []
        for number, (name, target) in enumerate(self.transitions.items(), start=1):
            if target == issue.status:
                continue
            category = STATUSES[target]
            out.append(
                {
                    "id": str(number * 10 + 1),
                    "name": name,
                    "to": {"name": target, "statusCategory": {"key": category}},
                }
            )
        return out

    def _transition(self, issue: Issue, body: Any) -> Reply:
        wanted = ((body or {}).get("transition") or {}).get("id") if isinstance(body, dict) else None
        for transition in self._available(issue):
            if transition["id"] == wanted:
                issue.status = transition["to"]["name"]
                issue.updated = _now()
                return Reply(status=204)
        return _error(400, [f"Transition id '{wanted}' is not valid for this issue."])

    def _self(self, issue: Issue) -> str:
        return f"{self.url}/rest/api/3/issue/{issue.id}"


def _error(
    status: int,
    messages: list[str],
    errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    return Reply.json({"errorMessages": messages, "errors": errors or {}}, status=status, headers=headers)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


# -- ADF ---------------------------------------------------------------------------------------------


def valid_adf(doc: Any) -> bool:
    """The subset of ADF the backend may send: doc > paragraph > (text | hardBreak), link marks."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return False
    blocks = doc.get("content")
    if not isinstance(blocks, list):
        return False
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "paragraph":
            return False
        for node in block.get("content", []):
            if not isinstance(node, dict):
                return False
            if node.get("type") == "hardBreak":
                continue
            if node.get("type") != "text" or not isinstance(node.get("text"), str) or not node["text"]:
                return False
            for mark in node.get("marks", []):
                if mark.get("type") != "link" or not (mark.get("attrs") or {}).get("href"):
                    return False
    return True


def flatten(doc: Any) -> str:
    """ADF as plain text: paragraphs separated by a blank line, hard breaks as line breaks."""
    if not isinstance(doc, dict):
        return ""
    paragraphs = []
    for block in doc.get("content", []):
        parts = []
        for node in block.get("content", []):
            parts.append("\n" if node.get("type") == "hardBreak" else node.get("text", ""))
        paragraphs.append("".join(parts))
    return "\n\n".join(paragraphs)


# -- the contract harness ----------------------------------------------------------------------------


@contextmanager
def fake_jira(**kwargs: Any) -> Iterator[FakeJira]:
    jira = FakeJira(**kwargs).start()
    try:
        yield jira
    finally:
        jira.stop()


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    with fake_jira() as jira, httpx.Client(timeout=5) as client:
        basic = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
        yield Harness(
            ticketer=jira.ticketer(client),
            stored=jira.stored,
            fail_next=jira.fail_next,
            bad_credentials=lambda: jira.ticketer(client, token="wrong-token"),
            secrets=[TOKEN, basic],
        )


__all__ = ["FakeJira", "Issue", "fake_jira", "flatten", "harness", "valid_adf"]
