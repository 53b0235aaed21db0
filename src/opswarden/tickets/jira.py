"""Jira Cloud: tickets as issues, over the REST API v3 (https://<site>.atlassian.net/rest/api/3/…).

Authentication is HTTP Basic with the account's e-mail and an API token
(``OPSWARDEN_JIRA_EMAIL`` / ``OPSWARDEN_JIRA_API_TOKEN``). What each operation sends:

* **create** — ``POST /rest/api/3/issue``: project key, issue type name, summary (the title on one
  line, at most 255 characters), description in Atlassian Document Format (one paragraph per
  blank-line-separated block of the text, line breaks as ``hardBreak``, URLs and the event link as
  ``link`` marks), ``priority.name`` (1 Highest, 2 High, 3 Medium, 4 Low, 5 Lowest) and labels:
  ``opswarden``, the correlation key as a label (``opswarden-<event id>-<team>``) and the ticket's
  own labels, spaces made dashes. The team's extra fields (``OPSWARDEN_TICKET_FIELDS``) map as
  :data:`FIELD_KEYS` says.
* **find** — ``GET /rest/api/3/search/jql?jql=labels = "<correlation label>"``; where that endpoint
  answers 404 (an older site), the former ``GET /rest/api/3/search`` with the same query.
* **comment** — ``POST /rest/api/3/issue/{key}/comment`` with an ADF body.
* **close / reopen** — ``GET …/transitions``, the one named ``OPSWARDEN_JIRA_DONE_TRANSITION`` /
  ``OPSWARDEN_JIRA_REOPEN_TRANSITION`` (case-insensitive; else the one leading to a status of that
  name), ``POST …/transitions``, then the comment. When no transition matches but the issue already
  is where it should go (closed, or not closed), only the comment is added — a retry after a failed
  comment does not fail on the transition it already made.
* **state** — ``GET /rest/api/3/issue/{key}?fields=status,assignee,updated``: the status category
  (``new`` → open, ``indeterminate`` → in progress, ``done`` → closed), the status name as
  ``raw_status``.

Every answer goes through :func:`~opswarden.notify.channels._http.check` (429 and 5xx recoverable,
401/403 not); a refusal (other 4xx) adds Jira's own ``errorMessages`` / ``errors``, which name the
field at fault. Network failures are recoverable. No message carries the token or the
``Authorization`` header.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from opswarden.errors import ConfigurationError, DeliveryError, DeliveryReason
from opswarden.notify.channels._http import check, host_of, request
from opswarden.settings import Settings
from opswarden.tickets.base import NewTicket, TicketRef, TicketState, TicketStatus, label_of

BACKEND = "jira"

# 1 (highest) … 5: Jira's default priority scheme.
PRIORITY_NAMES = {1: "Highest", 2: "High", 3: "Medium", 4: "Low", 5: "Lowest"}
STATUS_CATEGORIES = {
    "new": TicketStatus.OPEN,
    "indeterminate": TicketStatus.IN_PROGRESS,
    "done": TicketStatus.CLOSED,
}
# The per-team extra fields Jira takes (OPSWARDEN_TICKET_FIELDS={"<team>": {"<key>": "<value>"}}):
FIELD_KEYS = {
    "components": 'component names, comma-separated: "Network, DNS" → [{"name": "Network"}, {"name": "DNS"}]',
    "assignee": 'an Atlassian account id: "5b10a2844c20165700ede21g" → {"accountId": …}',
    "customfield_<n>": 'a custom field that takes a plain string: "customfield_10010": "eu-west-1"',
}
SUMMARY_MAX = 255
LABEL_MAX = 255
TEXT_MAX = 30_000  # with a margin under Jira's 32,767-character limit on a description or comment
_CLIPPED = "\n\n… (cut: see the event in opswarden for the rest)"
_CUSTOM_FIELD = re.compile(r"customfield_\d+")
_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]}'’]")
_DETAIL_MAX = 400


class JiraTicketer:
    backend = BACKEND

    def __init__(
        self,
        client: httpx.Client,
        *,
        url: str,
        email: str,
        api_token: str,
        project: str,
        issue_type: str = "Task",
        done_transition: str = "Done",
        reopen_transition: str = "To Do",
    ) -> None:
        self.client = client
        self.base = url.rstrip("/")
        self.project = project
        self.issue_type = issue_type
        self.done_transition = done_transition
        self.reopen_transition = reopen_transition
        self._auth = httpx.BasicAuth(email, api_token)
        self._host = host_of(self.base)
        self._legacy_search = False  # set once /search/jql answered 404

    def __repr__(self) -> str:  # no credentials
        return f"JiraTicketer({self.base!r}, project={self.project!r})"

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.Client) -> JiraTicketer:
        required = {
            "OPSWARDEN_JIRA_URL": settings.jira_url,
            "OPSWARDEN_JIRA_EMAIL": settings.jira_email,
            "OPSWARDEN_JIRA_API_TOKEN": (
                settings.jira_api_token.get_secret_value() if settings.jira_api_token else None
            ),
            "OPSWARDEN_JIRA_PROJECT": settings.jira_project,
        }
        missing = [name for name, value in required.items() if not value]
        if missing:
            raise ConfigurationError(
                f"the Jira ticket backend (OPSWARDEN_TICKETS_BACKEND=jira) needs {', '.join(missing)}: "
                "set the site URL (https://your-site.atlassian.net), the account's e-mail, an API token "
                "(id.atlassian.com → Security → API tokens) and the project key (e.g. OPS)"
            )
        url = str(settings.jira_url)
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError(
                f"OPSWARDEN_JIRA_URL: {url!r} is no URL: write https://your-site.atlassian.net"
            )
        for team, fields in settings.ticket_fields.items():
            for key in fields:
                if not _known_field(key):
                    raise ConfigurationError(
                        f"OPSWARDEN_TICKET_FIELDS: team {team!r}: Jira takes no field {key!r}; "
                        f"known: {', '.join(FIELD_KEYS)}"
                    )
        return cls(
            http,
            url=url,
            email=str(settings.jira_email),
            api_token=str(required["OPSWARDEN_JIRA_API_TOKEN"]),
            project=str(settings.jira_project),
            issue_type=settings.jira_issue_type,
            done_transition=settings.jira_done_transition,
            reopen_transition=settings.jira_reopen_transition,
        )

    # -- the Ticketer protocol -------------------------------------------------------------------

    def find(self, correlation: str) -> TicketRef | None:
        jql = f'labels = "{_jql_string(correlation_label(correlation))}"'
        params = {"jql": jql, "fields": "status", "maxResults": "1"}
        what = f"Jira search on {self._host}"
        if not self._legacy_search:
            response = self._send("GET", "/rest/api/3/search/jql", what, params=params, allow=(404,))
            if response.status_code == 404:
                self._legacy_search = True
        if self._legacy_search:
            response = self._send("GET", "/rest/api/3/search", what, params=params)
        issues = _json(response, what).get("issues") or []
        if not issues:
            return None
        return self._ref(issues[0], what)

    def create(self, ticket: NewTicket) -> TicketRef:
        what = f"Jira create issue in {self.project} on {self._host}"
        body = {"fields": self.issue_fields(ticket)}
        response = self._send("POST", "/rest/api/3/issue", what, json=body)
        return self._ref(_json(response, what), what)

    def comment(self, ref: TicketRef, text: str) -> None:
        what = f"Jira comment on {ref.key} on {self._host}"
        self._send("POST", f"{self._issue_path(ref)}/comment", what, json={"body": adf(text)})

    def close(self, ref: TicketRef, text: str) -> None:
        self._transition(ref, self.done_transition, closing=True)
        if text:
            self.comment(ref, text)

    def reopen(self, ref: TicketRef, text: str) -> None:
        self._transition(ref, self.reopen_transition, closing=False)
        if text:
            self.comment(ref, text)

    def state(self, ref: TicketRef) -> TicketState:
        what = f"Jira read {ref.key} on {self._host}"
        response = self._send(
            "GET", self._issue_path(ref), what, params={"fields": "status,assignee,updated"}
        )
        fields = _json(response, what).get("fields") or {}
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key", "")
        assignee = fields.get("assignee") or None
        return TicketState(
            ref=ref,
            status=STATUS_CATEGORIES.get(str(category), TicketStatus.OPEN),
            raw_status=str(status.get("name", "")),
            assignee=(assignee.get("displayName") or assignee.get("accountId")) if assignee else None,
            updated_at=_timestamp(fields.get("updated")),
        )

    # -- what is sent ----------------------------------------------------------------------------

    def issue_fields(self, ticket: NewTicket) -> dict[str, Any]:
        """The ``fields`` of the create request."""
        labels = ["opswarden", correlation_label(ticket.correlation)]
        for label in ticket.labels:
            clean = sanitise_label(label)
            if clean and clean not in labels:
                labels.append(clean)
        fields: dict[str, Any] = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": summary(ticket.title),
            "description": adf(ticket.description, ticket.link),
            "priority": {"name": PRIORITY_NAMES.get(ticket.priority, PRIORITY_NAMES[3])},
            "labels": labels,
        }
        for key, value in ticket.fields.items():
            fields[key] = _extra_field(key, value)
        return fields

    # -- transitions -----------------------------------------------------------------------------

    def _transition(self, ref: TicketRef, name: str, *, closing: bool) -> None:
        path = f"{self._issue_path(ref)}/transitions"
        what = f"Jira transitions of {ref.key} on {self._host}"
        available = _json(self._send("GET", path, what), what).get("transitions") or []
        chosen = _pick(available, name)
        if chosen is None:
            current = self.state(ref).status
            if (current is TicketStatus.CLOSED) == closing:
                return  # already there (a retry after the transition went through)
            names = ", ".join(repr(str(t.get("name"))) for t in available) or "none"
            setting = "OPSWARDEN_JIRA_DONE_TRANSITION" if closing else "OPSWARDEN_JIRA_REOPEN_TRANSITION"
            raise DeliveryError(
                f"Jira {ref.key}: no transition {name!r} from its status; available: {names} "
                f"(set {setting} to one of them)",
                reason=DeliveryReason.CLIENT,
                recoverable=False,
            )
        what = f"Jira transition {ref.key} ({chosen.get('name')}) on {self._host}"
        self._send("POST", path, what, json={"transition": {"id": str(chosen["id"])}})

    # -- HTTP ------------------------------------------------------------------------------------

    def _issue_path(self, ref: TicketRef) -> str:
        return f"/rest/api/3/issue/{quote(ref.id or ref.key, safe='')}"

    def _ref(self, issue: Any, what: str) -> TicketRef:
        if not isinstance(issue, dict) or not issue.get("key"):
            raise DeliveryError(
                f"{what}: unexpected answer (no issue key)", reason=DeliveryReason.SERVER, recoverable=True
            )
        key = str(issue["key"])
        found_id = issue.get("id")
        return TicketRef(BACKEND, key, f"{self.base}/browse/{key}", str(found_id) if found_id else None)

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        content = None
        if json is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(json)
        response = request(
            self.client,
            method,
            self.base + path,
            what,
            params=params,
            content=content,
            headers=headers,
            auth=self._auth,
        )
        if response.status_code in allow:
            return response
        try:
            check(response, what)
        except DeliveryError as exc:
            if exc.reason is not DeliveryReason.CLIENT:
                raise
            detail = _jira_errors(response)
            raise DeliveryError(
                f"{exc}: {detail}" if detail else str(exc), reason=exc.reason, recoverable=exc.recoverable
            ) from None
        return response


# -- Atlassian Document Format ---------------------------------------------------------------------


def adf(text: str, link: str | None = None) -> dict[str, Any]:
    """``text`` as an ADF document: one paragraph per blank-line-separated block, line breaks as
    ``hardBreak``, URLs as ``link`` marks; ``link`` (the event's page) closes it unless the text
    already names it. Text over :data:`TEXT_MAX` characters is cut, with a note."""
    text = text.replace("\r\n", "\n").strip()
    if len(text) > TEXT_MAX:
        text = text[: TEXT_MAX - len(_CLIPPED)].rstrip() + _CLIPPED
    blocks = [b for b in re.split(r"\n[ \t]*\n", text) if b.strip()]
    content = [_paragraph(block) for block in blocks]
    if link and link not in text:
        content.append(
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Event in opswarden: "},
                    {"type": "text", "text": link, "marks": [{"type": "link", "attrs": {"href": link}}]},
                ],
            }
        )
    if not content:
        content.append({"type": "paragraph", "content": []})
    return {"type": "doc", "version": 1, "content": content}


def _paragraph(block: str) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = []
    for number, line in enumerate(block.strip("\n").split("\n")):
        if number:
            nodes.append({"type": "hardBreak"})
        nodes.extend(_inline(line.rstrip()))
    return {"type": "paragraph", "content": nodes}


def _inline(line: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    at = 0
    for match in _URL.finditer(line):
        if match.start() > at:
            nodes.append({"type": "text", "text": line[at : match.start()]})
        url = match.group(0)
        nodes.append({"type": "text", "text": url, "marks": [{"type": "link", "attrs": {"href": url}}]})
        at = match.end()
    if at < len(line):
        nodes.append({"type": "text", "text": line[at:]})
    return nodes  # ADF text nodes may not be empty: an empty line gives none


# -- small helpers ---------------------------------------------------------------------------------


def summary(title: str) -> str:
    """The title on one line, at most 255 characters (Jira refuses longer or multi-line summaries)."""
    line = " ".join(title.split())
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1].rstrip() + "…"


def sanitise_label(label: str) -> str:
    """A Jira label: no whitespace (each run becomes one dash), at most 255 characters."""
    return "-".join(label.split())[:LABEL_MAX]


def correlation_label(correlation: str) -> str:
    return sanitise_label(label_of(correlation))


def _known_field(key: str) -> bool:
    return key in ("components", "assignee") or bool(_CUSTOM_FIELD.fullmatch(key))


def _extra_field(key: str, value: str) -> Any:
    if key == "components":
        return [{"name": name.strip()} for name in value.split(",") if name.strip()]
    if key == "assignee":
        return {"accountId": value}
    if _CUSTOM_FIELD.fullmatch(key):
        return value
    raise DeliveryError(
        f"Jira: no such ticket field {key!r} (known: {', '.join(FIELD_KEYS)}); fix OPSWARDEN_TICKET_FIELDS",
        reason=DeliveryReason.CLIENT,
        recoverable=False,
    )


def _pick(transitions: list[Any], name: str) -> dict[str, Any] | None:
    wanted = name.strip().casefold()
    for by_target in (False, True):
        for transition in transitions:
            if not isinstance(transition, dict) or "id" not in transition:
                continue
            named = (transition.get("to") or {}).get("name") if by_target else transition.get("name")
            if str(named or "").strip().casefold() == wanted:
                return transition
    return None


def _jql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise DeliveryError(
            f"{what}: unexpected answer (not JSON, HTTP {response.status_code})",
            reason=DeliveryReason.SERVER,
            recoverable=True,
        ) from None
    if not isinstance(data, dict):
        raise DeliveryError(
            f"{what}: unexpected answer (not a JSON object)", reason=DeliveryReason.SERVER, recoverable=True
        )
    return data


def _jira_errors(response: httpx.Response) -> str:
    """Jira's ``{"errorMessages": [...], "errors": {"field": "message"}}``, as one short line."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(m) for m in data.get("errorMessages") or []]
    errors = data.get("errors")
    if isinstance(errors, dict):
        parts.extend(f"{field}: {message}" for field, message in errors.items())
    detail = " ".join("; ".join(parts).split())
    return detail if len(detail) <= _DETAIL_MAX else detail[: _DETAIL_MAX - 1] + "…"


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
