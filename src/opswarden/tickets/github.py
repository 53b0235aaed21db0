"""GitHub Issues over the REST API (``OPSWARDEN_TICKETS_BACKEND=github``).

Each ticket is an issue in ``OPSWARDEN_GITHUB_REPO`` (``owner/name``), labelled ``opswarden``,
``priority:<1-5>``, the event's source and category, the team's labels and its *correlation label*
(the correlation key with ``-`` for ``:``, e.g. ``opswarden-ev-0123456789abcdef-inf01``). Creation
looks the label up first with the issues list endpoint (``GET /repos/{owner}/{repo}/issues?labels=…``),
which sees an issue as soon as it exists — the search API is eventually consistent and would miss an
issue opened seconds before a crash. The body ends with a hidden marker
``<!-- opswarden:correlation=… -->`` so the key survives someone removing the label.

Closing comments first, then closes (``state_reason=completed``); reopening reopens, then comments.
An open issue with an assignee reads as *in progress*.

Rate limits: GitHub answers a spent primary limit with 403 or 429, ``x-ratelimit-remaining: 0`` and
``x-ratelimit-reset`` (epoch seconds), and a secondary limit with 403 or 429 and ``retry-after`` (or,
sometimes, only a message): those are recoverable with ``retry_after``. A plain 403 is a permission
problem and is not. The token goes only into the ``Authorization`` header, never into a message.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from opswarden.errors import ConfigurationError, DeliveryError, DeliveryReason
from opswarden.notify.channels._http import check, request
from opswarden.notify.channels._http import retry_after as retry_after_header
from opswarden.settings import Settings
from opswarden.tickets.base import NewTicket, TicketRef, TicketState, TicketStatus, label_of

BACKEND = "github"
API_VERSION = "2022-11-28"
MARKER = "<!-- opswarden:correlation={} -->"
MAX_TITLE = 256
MAX_LABEL = 50  # GitHub refuses longer label names (422)
MAX_ASSIGNEES = 10
SECONDARY_WAIT = 60.0  # GitHub's advice when a secondary limit gives no retry-after
_REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_PRIORITY = re.compile(r"^priority:([1-5])$")


class GitHubTicketer:
    backend = BACKEND

    def __init__(
        self,
        http: httpx.Client,
        *,
        repo: str,
        token: str,
        api_url: str = "https://api.github.com",
        now: Callable[[], float] = time.time,
    ) -> None:
        if not _REPO.match(repo):
            raise ConfigurationError(
                f"OPSWARDEN_GITHUB_REPO must be owner/name, e.g. acme/ops-tickets (got {repo!r})"
            )
        self.http = http
        self.repo = repo
        owner, name = repo.split("/", 1)
        self._base = f"{api_url.rstrip('/')}/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }
        self._now = now

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.Client) -> GitHubTicketer:
        repo = (settings.github_repo or "").strip()
        token = settings.github_token.get_secret_value().strip() if settings.github_token else ""
        missing = [
            name
            for name, value in (("OPSWARDEN_GITHUB_REPO", repo), ("OPSWARDEN_GITHUB_TOKEN", token))
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"the github tickets backend needs {' and '.join(missing)} (docs/tickets.md#github-issues)"
            )
        if not settings.github_api_url.startswith(("https://", "http://")):
            raise ConfigurationError(
                "OPSWARDEN_GITHUB_API_URL must be an http(s) URL: https://api.github.com, "
                "or https://<host>/api/v3 for GitHub Enterprise Server"
            )
        return cls(http, repo=repo, token=token, api_url=settings.github_api_url)

    # -- the Ticketer protocol ------------------------------------------------------------------------

    def find(self, correlation: str) -> TicketRef | None:
        # Oldest first, so that if two issues ever carry the key the same one is always the ticket;
        # a page of ten, because pull requests share the list (and the labels) and are skipped.
        params = {
            "labels": correlation_label(correlation),
            "state": "all",
            "sort": "created",
            "direction": "asc",
            "per_page": "10",
        }
        items = self._call("GET", "/issues", "find the issue", params=params)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and "pull_request" not in item:
                return self._ref(item)
        return None

    def create(self, ticket: NewTicket) -> TicketRef:
        payload: dict[str, Any] = {
            "title": issue_title(ticket.title),
            "body": issue_body(ticket),
            "labels": issue_labels(ticket),
        }
        assignees = _split(ticket.fields.get("assignees", ""), strip="@")[:MAX_ASSIGNEES]
        if assignees:
            payload["assignees"] = assignees
        try:
            issue = self._call("POST", "/issues", "create the issue", json=payload)
        except _Unassignable:
            # A login that cannot be assigned (a typo, no access to the repository) refuses the whole
            # issue; an unassigned ticket, with a note, is better than no ticket on every retry.
            del payload["assignees"]
            payload["body"] += f"\n\n_opswarden could not assign: {', '.join(assignees)}_"
            issue = self._call("POST", "/issues", "create the issue", json=payload)
        return self._ref(issue)

    def comment(self, ref: TicketRef, text: str) -> None:
        number = _number(ref)
        self._call("POST", f"/issues/{number}/comments", f"comment on {ref.key}", json={"body": _md(text)})

    def close(self, ref: TicketRef, text: str) -> None:
        if text:
            self.comment(ref, text)
        self._call(
            "PATCH",
            f"/issues/{_number(ref)}",
            f"close {ref.key}",
            json={"state": "closed", "state_reason": "completed"},
        )

    def reopen(self, ref: TicketRef, text: str) -> None:
        self._call("PATCH", f"/issues/{_number(ref)}", f"reopen {ref.key}", json={"state": "open"})
        if text:
            self.comment(ref, text)

    def state(self, ref: TicketRef) -> TicketState:
        issue = self._call("GET", f"/issues/{_number(ref)}", f"read {ref.key}")
        state = str(issue.get("state", "open"))
        reason = issue.get("state_reason")
        assignee = (issue.get("assignee") or {}).get("login")
        if state == "closed":
            status = TicketStatus.CLOSED
        elif assignee:
            status = TicketStatus.IN_PROGRESS
        else:
            status = TicketStatus.OPEN
        raw = f"{state} ({reason})" if reason else state
        return TicketState(ref, status, raw, assignee, _when(issue.get("updated_at")))

    # -- HTTP -------------------------------------------------------------------------------------------

    def _ref(self, issue: dict[str, Any]) -> TicketRef:
        number = int(issue["number"])
        return TicketRef(BACKEND, f"#{number}", issue.get("html_url"), str(number))

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        what = f"github {self.repo}: {what}"
        response = request(self.http, method, self._base + path, what, headers=self._headers, **kwargs)
        if response.is_success:
            return response.json() if response.content else None
        raise self._error(response, what)

    def _error(self, response: httpx.Response, what: str) -> Exception:
        status = response.status_code
        message = _message(response)
        if status in (403, 429):
            wait = self._rate_limit_wait(response, message)
            if wait is not None:
                return DeliveryError(
                    f"{what}: rate limited (HTTP {status})",
                    reason=DeliveryReason.RATE_LIMITED,
                    recoverable=True,
                    retry_after=wait,
                )
        shown = f": {message}" if message else ""
        if status == 401:
            return DeliveryError(
                f"{what}: not authenticated (HTTP 401{shown}); check OPSWARDEN_GITHUB_TOKEN",
                reason=DeliveryReason.AUTH,
                recoverable=False,
            )
        if status == 403:
            return DeliveryError(
                f"{what}: forbidden (HTTP 403{shown}); the token needs Issues: read and write on {self.repo}",
                reason=DeliveryReason.AUTH,
                recoverable=False,
            )
        if status == 404:
            return DeliveryError(
                f"{what}: not found (HTTP 404); no such repository or issue, or the token cannot see it",
                reason=DeliveryReason.CLIENT,
                recoverable=False,
            )
        if status == 422:
            if _names_field(response, "assignees"):
                return _Unassignable()
            return DeliveryError(
                f"{what}: refused (HTTP 422{shown})", reason=DeliveryReason.CLIENT, recoverable=False
            )
        try:
            check(response, what)  # 429 without GitHub's headers, 5xx, other 4xx
        except DeliveryError as exc:
            return exc
        return DeliveryError(  # pragma: no cover - check() raises for every non-2xx
            f"{what}: HTTP {status}", reason=DeliveryReason.CLIENT, recoverable=False
        )

    def _rate_limit_wait(self, response: httpx.Response, message: str) -> float | None:
        """Seconds to wait when a 403/429 is a rate limit (primary or secondary), else None."""
        after = retry_after_header(response.headers)
        if after is not None:
            return after
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = response.headers.get("x-ratelimit-reset", "")
            try:
                return max(0.0, float(reset) - self._now())
            except ValueError:
                return SECONDARY_WAIT
        if response.status_code == 429 or "rate limit" in message.lower():
            return SECONDARY_WAIT
        return None


class _Unassignable(Exception):
    """422 naming the assignees: create() retries without them."""


# -- what an issue says ---------------------------------------------------------------------------------


def correlation_label(correlation: str) -> str:
    """The correlation key as a label name: ``label_of`` (colons to dashes), no commas (the list
    endpoint's ``labels`` filter is comma-separated), and, past GitHub's 50 characters, a prefix with
    a digest of the whole key so that it stays unique."""
    label = label_of(correlation).replace(",", "-")
    if len(label) <= MAX_LABEL:
        return label
    digest = hashlib.blake2b(correlation.encode(), digest_size=6).hexdigest()
    return f"{label[: MAX_LABEL - len(digest) - 1]}-{digest}"


def issue_title(title: str) -> str:
    line = " ".join(title.split()) or "opswarden event"
    return line if len(line) <= MAX_TITLE else line[: MAX_TITLE - 1].rstrip() + "…"


def issue_labels(ticket: NewTicket) -> list[str]:
    wanted = [
        "opswarden",
        correlation_label(ticket.correlation),
        f"priority:{ticket.priority}",
        *ticket.labels,
        *_split(ticket.fields.get("labels", "")),
    ]
    labels: list[str] = []
    for raw in wanted:
        label = _label(raw)
        if label and label.lower() not in {seen.lower() for seen in labels}:
            labels.append(label)
    return labels


def issue_body(ticket: NewTicket) -> str:
    """The description as Markdown, then the accounts, resources and event link where the description
    does not already carry them, then the hidden correlation marker."""
    parts = [_md(ticket.description)]
    details: list[str] = [f"**Team:** {_md(ticket.team_name)} (`{ticket.team}`)"]
    if ticket.accounts:
        details.append("**Accounts:** " + ", ".join(f"`{a}`" for a in ticket.accounts))
    resources = [r for r in ticket.resources if r not in ticket.description]
    if resources:
        details.append("**Resources:**\n" + "\n".join(f"- `{r}`" for r in resources))
    if ticket.link:
        details.append(f"**Event:** [{ticket.event_id}]({ticket.link})")
    else:
        details.append(f"**Event:** `{ticket.event_id}`")
    parts.append("\n\n".join(details))
    parts.append(MARKER.format(ticket.correlation))
    return "\n\n".join(parts)


def _md(text: str) -> str:
    """Plain text into an issue: GitHub keeps its line breaks; ``<`` is escaped so that nothing in it
    becomes HTML (or a comment that hides the rest, or a forged marker)."""
    return text.replace("<", "&lt;")


def _label(raw: str) -> str:
    label = " ".join(raw.replace(",", " ").split())
    return label[:MAX_LABEL].rstrip()


def _split(value: str, strip: str = "") -> list[str]:
    return [part.strip().lstrip(strip) for part in value.split(",") if part.strip().lstrip(strip)]


def _number(ref: TicketRef) -> int:
    raw = ref.id or ref.key.removeprefix("#")
    if not raw.isdigit():
        raise DeliveryError(
            f"{ref.key} is not a GitHub issue (they are numbered #1, #2 …)",
            reason=DeliveryReason.CLIENT,
            recoverable=False,
        )
    return int(raw)


def _message(response: httpx.Response) -> str:
    """GitHub's own ``message`` (``Bad credentials``, ``Validation Failed`` …), one line, short."""
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    return " ".join(str(message).split())[:200] if message else ""


def _names_field(response: httpx.Response, name: str) -> bool:
    try:
        data = response.json()
    except ValueError:
        return False
    errors = data.get("errors") if isinstance(data, dict) else None
    return any(isinstance(e, dict) and e.get("field") == name for e in errors or [])


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
