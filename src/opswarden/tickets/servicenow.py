"""ServiceNow through the Table API: one incident per event and team.

Every request is JSON (``Accept: application/json``) with HTTP Basic authentication against
``{OPSWARDEN_SERVICENOW_URL}/api/now/table/{OPSWARDEN_SERVICENOW_TABLE}`` (``incident`` by default):

* **create** ``POST`` with ``short_description`` (the title on one line, ≤ 160 characters),
  ``description`` (the text, then team, accounts, resources, labels and the event's link),
  ``correlation_id`` = the correlation key, ``correlation_display`` = ``opswarden``, ``impact`` and
  ``urgency`` from the 1–5 priority (see :data:`IMPACT_URGENCY`), and the team's extra fields
  (``assignment_group``, ``category``, ``cmdb_ci`` …) as they are. Creation first looks the key up,
  so a retry after a crash between "created" and "recorded" finds the incident instead of opening a
  second one (ServiceNow has no unique constraint on ``correlation_id``).
* **find** ``GET ?sysparm_query=correlation_id=<key>&sysparm_limit=1``.
* **comment** ``PATCH …/{sys_id}`` with ``work_notes``: work notes are internal, read by the assignment
  group that works the incident; *additional comments* (``comments``) are customer-facing and e-mail
  the incident's caller, who here is opswarden's own integration user.
* **close** ``PATCH state=6`` (Resolved) with ``close_code`` (:data:`CLOSE_CODE`) and ``close_notes``;
  resolution code and notes are mandatory for Resolved on a default instance (a data policy).
* **reopen** ``PATCH state=2`` (In Progress) with ``work_notes``. A *Resolved* incident reopens; a
  *Closed* (7) one is read-only on a default instance, and ServiceNow refuses the update (HTTP 403).
* **state** ``GET …/{sys_id}``: 1 New → open; 2 In Progress, 3 On Hold → in_progress; 6 Resolved,
  7 Closed, 8 Canceled → closed (any other, custom state → in_progress); ``raw_status`` is the number.

Failures go through :func:`~opswarden.notify.channels._http.check` (429 and 5xx recoverable, 401/403
not) with ServiceNow's own error (``{"error": {"message", "detail"}}``) quoted; network failures are
recoverable. Messages name the instance's host, never the user's password.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from opswarden.errors import ConfigurationError, DeliveryError, DeliveryReason
from opswarden.notify.channels._http import check, request
from opswarden.settings import Settings
from opswarden.tickets.base import NewTicket, TicketRef, TicketState, TicketStatus

BACKEND = "servicenow"
TABLE_API = "/api/now/table"

# ServiceNow computes an incident's priority from impact × urgency (its default priority lookup:
# 1/1 → 1 Critical, 1/2 and 2/1 → 2 High, 2/2 → 3 Moderate, 2/3 and 3/2 → 4 Low, 3/3 → 5 Planning),
# so opswarden sets those two and lets the instance derive the priority. Priority 2 is impact 1 /
# urgency 2: an AWS event of high severity touches a lot (many resources, a whole service) but is
# rarely an outage to act on this minute (retirements, deadlines, scheduled changes).
IMPACT_URGENCY: dict[int, tuple[int, int]] = {1: (1, 1), 2: (1, 2), 3: (2, 2), 4: (3, 2), 5: (3, 3)}

# The resolution code set on close. "Resolved by caller" is a choice of the incident's close_code on
# current instances (Tokyo and later): the event was resolved at its source (AWS), not by the service
# desk. Older instances use "Solved (Permanently)" or "Closed/Resolved by Caller"; pass
# ``close_code=`` to :class:`ServiceNowTicketer` for an instance with its own choices.
CLOSE_CODE = "Resolved by caller"

STATE_NEW, STATE_IN_PROGRESS, STATE_ON_HOLD = "1", "2", "3"
STATE_RESOLVED, STATE_CLOSED, STATE_CANCELED = "6", "7", "8"
_STATUS = {
    STATE_NEW: TicketStatus.OPEN,
    STATE_IN_PROGRESS: TicketStatus.IN_PROGRESS,
    STATE_ON_HOLD: TicketStatus.IN_PROGRESS,
    STATE_RESOLVED: TicketStatus.CLOSED,
    STATE_CLOSED: TicketStatus.CLOSED,
    STATE_CANCELED: TicketStatus.CLOSED,
}
CORRELATION_DISPLAY = "opswarden"
SHORT_DESCRIPTION_MAX = 160
CORRELATION_ID_MAX = 100  # task.correlation_id is a string(100)
_ERROR_QUOTE_MAX = 300
_SPACES = re.compile(r"\s+")


class ServiceNowTicketer:
    backend = BACKEND

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        username: str,
        password: str,
        *,
        table: str = "incident",
        close_code: str = CLOSE_CODE,
        team_fields: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.table = table
        self.close_code = close_code
        self.team_fields = team_fields or {}
        self._auth = httpx.BasicAuth(username, password)
        self._password = password
        self._host = urlsplit(self.base_url).hostname or "ServiceNow"

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.Client) -> ServiceNowTicketer:
        password = settings.servicenow_password.get_secret_value() if settings.servicenow_password else ""
        missing = [
            name
            for name, value in (
                ("OPSWARDEN_SERVICENOW_URL", settings.servicenow_url),
                ("OPSWARDEN_SERVICENOW_USERNAME", settings.servicenow_username),
                ("OPSWARDEN_SERVICENOW_PASSWORD", password),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"ServiceNow tickets need {', '.join(missing)}: set "
                + ("it" if len(missing) == 1 else "them")
                + " (the instance URL, e.g. https://your-instance.service-now.com, and an integration "
                "user with the itil role), or choose another OPSWARDEN_TICKETS_BACKEND"
            )
        assert settings.servicenow_url is not None
        assert settings.servicenow_username is not None
        if urlsplit(settings.servicenow_url).scheme not in ("http", "https"):
            raise ConfigurationError(
                "OPSWARDEN_SERVICENOW_URL: write the instance's URL, e.g. https://your-instance.service-now.com"
            )
        if not re.fullmatch(r"[A-Za-z0-9_]+", settings.servicenow_table):
            raise ConfigurationError(
                f"OPSWARDEN_SERVICENOW_TABLE: {settings.servicenow_table!r} is no table name "
                "(write e.g. incident)"
            )
        return cls(
            http,
            settings.servicenow_url,
            settings.servicenow_username,
            password,
            table=settings.servicenow_table,
            team_fields=settings.ticket_fields,
        )

    # -- the Ticketer protocol -----------------------------------------------------------------------

    def find(self, correlation: str) -> TicketRef | None:
        if "^" in correlation:  # ^ separates conditions in an encoded query
            raise DeliveryError(
                f"ServiceNow: the correlation key {correlation!r} contains '^', which an encoded query "
                "cannot match; rename the team",
                reason=DeliveryReason.CLIENT,
                recoverable=False,
            )
        answer = self._request(
            "GET",
            self._table_url(),
            "find the incident",
            params={
                "sysparm_query": f"correlation_id={correlation}",
                "sysparm_limit": "1",
                "sysparm_fields": "sys_id,number,state",
                "sysparm_exclude_reference_link": "true",
            },
        )
        records = answer.get("result")
        if not isinstance(records, list):
            raise self._unexpected("find the incident")
        if not records:
            return None
        return self._ref(records[0], "find the incident")

    def create(self, ticket: NewTicket) -> TicketRef:
        found = self.find(ticket.correlation)
        if found is not None:
            return found
        answer = self._request(
            "POST",
            self._table_url(),
            "create an incident",
            params={"sysparm_fields": "sys_id,number", "sysparm_exclude_reference_link": "true"},
            body=self.record(ticket),
        )
        return self._ref(answer.get("result"), "create an incident")

    def comment(self, ref: TicketRef, text: str) -> None:
        self._patch(ref, {"work_notes": text}, "add a work note")

    def close(self, ref: TicketRef, text: str) -> None:
        body = {"state": STATE_RESOLVED, "close_code": self.close_code, "close_notes": text}
        self._patch(ref, body, "resolve the incident")

    def reopen(self, ref: TicketRef, text: str) -> None:
        body = {"state": STATE_IN_PROGRESS, "work_notes": text}
        self._patch(ref, body, "reopen the incident")

    def state(self, ref: TicketRef) -> TicketState:
        what = "read the incident"
        answer = self._request(
            "GET",
            self._record_url(ref),
            what,
            params={
                "sysparm_fields": "state,assigned_to,sys_updated_on",
                "sysparm_display_value": "all",
                "sysparm_exclude_reference_link": "true",
            },
        )
        record = answer.get("result")
        if not isinstance(record, dict):
            raise self._unexpected(what)
        raw = _value(record.get("state"))
        assignee = _display(record.get("assigned_to")) or None
        return TicketState(
            ref,
            _STATUS.get(raw, TicketStatus.IN_PROGRESS),
            raw,
            assignee,
            _time(_value(record.get("sys_updated_on"))),
        )

    # -- the record ----------------------------------------------------------------------------------

    def record(self, ticket: NewTicket) -> dict[str, str]:
        """The incident's fields for a new ticket. The team's fields (from the ticket, else from
        OPSWARDEN_TICKET_FIELDS) go in as they are and may set impact or urgency themselves; the
        short description, description and correlation fields are opswarden's."""
        if len(ticket.correlation) > CORRELATION_ID_MAX:
            raise DeliveryError(
                f"ServiceNow: the correlation key {ticket.correlation!r} is longer than the "
                f"{CORRELATION_ID_MAX} characters of correlation_id; shorten the team's id",
                reason=DeliveryReason.CLIENT,
                recoverable=False,
            )
        impact, urgency = IMPACT_URGENCY[min(max(ticket.priority, 1), 5)]
        fields = {**self.team_fields.get(ticket.team, {}), **ticket.fields}
        return {
            "impact": str(impact),
            "urgency": str(urgency),
            **{str(k): str(v) for k, v in fields.items()},
            "short_description": short_description(ticket.title),
            "description": description(ticket),
            "correlation_id": ticket.correlation,
            "correlation_display": CORRELATION_DISPLAY,
        }

    def url_of(self, sys_id: str) -> str:
        return f"{self.base_url}/nav_to.do?uri={self.table}.do?sys_id={sys_id}"

    # -- HTTP ----------------------------------------------------------------------------------------

    def _table_url(self) -> str:
        return f"{self.base_url}{TABLE_API}/{self.table}"

    def _record_url(self, ref: TicketRef) -> str:
        sys_id = ref.id or ""
        if not re.fullmatch(r"[0-9a-f]{32}", sys_id):
            raise DeliveryError(
                f"ServiceNow: {ref.key} has no sys_id (got {ref.id!r}); it is no ServiceNow ticket",
                reason=DeliveryReason.CLIENT,
                recoverable=False,
            )
        return f"{self._table_url()}/{sys_id}"

    def _patch(self, ref: TicketRef, body: dict[str, str], what: str) -> None:
        self._request(
            "PATCH",
            self._record_url(ref),
            f"{what} {ref.key}",
            params={"sysparm_fields": "sys_id"},
            body=body,
        )

    def _ref(self, record: Any, what: str) -> TicketRef:
        if not isinstance(record, dict) or not record.get("sys_id") or not record.get("number"):
            raise self._unexpected(what)
        sys_id = str(record["sys_id"])
        return TicketRef(BACKEND, str(record["number"]), self.url_of(sys_id), sys_id)

    def _request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        what = f"ServiceNow ({self._host}): {what}"
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = request(
            self.http,
            method,
            url,
            what,
            params=params,
            content=None if body is None else json.dumps(body).encode(),
            headers=headers,
            auth=self._auth,
        )
        try:
            check(response, what)
        except DeliveryError as exc:
            said = self._quoted_error(response)
            raise DeliveryError(
                f"{exc}{said}", reason=exc.reason, recoverable=exc.recoverable, retry_after=exc.retry_after
            ) from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            # A hibernating developer instance answers 200 with an HTML page: worth trying again later.
            raise DeliveryError(
                f"{what}: the answer (HTTP {response.status_code}) is no JSON; is the instance awake?",
                reason=DeliveryReason.SERVER,
                recoverable=True,
            )
        return answer

    def _quoted_error(self, response: httpx.Response) -> str:
        """`` — ServiceNow: "message" (detail)`` from its error JSON, or nothing."""
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            return ""
        if not isinstance(error, dict):
            return ""
        message = _one_line(str(error.get("message") or ""))
        detail = _one_line(str(error.get("detail") or ""))
        if not message and not detail:
            return ""
        said = f'"{message}"' + (f" ({detail})" if detail and detail != message else "")
        if len(said) > _ERROR_QUOTE_MAX:
            said = said[: _ERROR_QUOTE_MAX - 1] + "…"
        if self._password:
            said = said.replace(self._password, "**********")
        return f" — ServiceNow: {said}"

    def _unexpected(self, what: str) -> DeliveryError:
        return DeliveryError(
            f"ServiceNow ({self._host}): {what}: the answer has no result in the expected shape",
            reason=DeliveryReason.SERVER,
            recoverable=True,
        )


def short_description(title: str) -> str:
    """The title on one line, at most 160 characters (ServiceNow's list views show this field)."""
    line = _one_line(title) or "(no title)"
    return line if len(line) <= SHORT_DESCRIPTION_MAX else line[: SHORT_DESCRIPTION_MAX - 1] + "…"


def description(ticket: NewTicket) -> str:
    """The ticket's text, then where it applies and where to read more (plain text: ServiceNow shows
    the description field as it is)."""
    parts = [ticket.description.strip()]
    facts = [f"Team: {ticket.team_name} ({ticket.team})"]
    if ticket.accounts:
        facts.append(f"AWS accounts: {', '.join(ticket.accounts)}")
    if ticket.resources:
        facts.append("Resources:\n" + "\n".join(f"- {r}" for r in ticket.resources))
    if ticket.labels:
        facts.append(f"Labels: {', '.join(ticket.labels)}")
    facts.append(f"opswarden event: {ticket.link or ticket.event_id}")
    parts.append("\n".join(facts))
    return "\n\n".join(p for p in parts if p)


def _one_line(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _value(field: Any) -> str:
    """A field's value: a plain string, or ``{"value", "display_value"}`` with sysparm_display_value=all."""
    if isinstance(field, dict):
        return str(field.get("value") or "")
    return "" if field is None else str(field)


def _display(field: Any) -> str:
    if isinstance(field, dict):
        return str(field.get("display_value") or field.get("value") or "")
    return "" if field is None else str(field)


def _time(value: str) -> datetime | None:
    """``sys_updated_on``'s value: ``2026-11-26 10:00:00`` in UTC."""
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
