"""A fake ServiceNow instance on loopback: the Table API subset opswarden's ServiceNow backend uses.

``/api/now/table/<table>`` — ``GET`` (list; ``sysparm_query`` supports only ``correlation_id=<value>``,
plus ``sysparm_limit`` and ``sysparm_fields``) and ``POST`` (insert, 201); ``/api/now/table/<table>/
<sys_id>`` — ``GET`` (``sysparm_fields``, ``sysparm_display_value`` true/all/false) and ``PATCH``/``PUT``.
Records live in memory: numbers ``INC0010001``, ``INC0010002`` … (the table's prefix), sys_ids 32 hex
digits, every value a string as ServiceNow answers them, ``priority`` derived from impact × urgency
by the default lookup. ``work_notes``, ``comments`` and ``close_notes`` are kept as a journal, in order.

What it plays from the real thing:

* Basic authentication: a missing or wrong ``Authorization`` answers 401
  ``{"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
  "status": "failure"}``.
* An unknown sys_id answers 404 ``No Record found``; an unknown table 400 ``Invalid table``.
* Resolving (state 6) without ``close_code`` and ``close_notes`` answers 403 with the data policy's
  ``Operation Failed`` / ``Data Policy Exception`` (the default instance's incident data policy).
* ``fail_next(status, retry_after)``: the next request answers that status (with ``Retry-After``), e.g.
  429 or 503; ``hibernate()``: the next request answers 200 with an HTML page, as a sleeping developer
  instance does.
* ``work(sys_id, state=…, assigned_to=…)``: a person working the incident in ServiceNow.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from opswarden.tickets.base import TicketRef
from opswarden.tickets.servicenow import ServiceNowTicketer
from tests.fakes._http import HTTPRequest, LoopbackHTTPServer, Reply
from tests.fakes.tickets_harness import Harness

__all__ = ["FakeServiceNow", "harness"]

USERNAME = "opswarden.integration"
PASSWORD = "Sn0w-p4ss-9f2c41e7"
WRONG_PASSWORD = "wrong-Sn0w-7d1e"

PREFIXES = {"incident": "INC", "problem": "PRB", "change_request": "CHG", "sc_task": "SCTASK"}
STATE_LABELS = {
    "1": "New",
    "2": "In Progress",
    "3": "On Hold",
    "6": "Resolved",
    "7": "Closed",
    "8": "Canceled",
}
STATUS = {"1": "open", "2": "in_progress", "3": "in_progress", "6": "closed", "7": "closed", "8": "closed"}
JOURNAL = ("work_notes", "comments", "close_notes")


def _error(status: int, message: str, detail: str) -> Reply:
    return Reply.json({"error": {"message": message, "detail": detail}, "status": "failure"}, status=status)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class _Failure:
    status: int
    retry_after: float | None
    body: bytes | None = None
    content_type: str = "application/json"


class FakeServiceNow:
    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = users if users is not None else {USERNAME: PASSWORD}
        self.tables: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in PREFIXES}
        self.journal: dict[str, list[tuple[str, str]]] = {}  # sys_id → [(field, text), …]
        self.requests: list[HTTPRequest] = []
        self._numbers: dict[str, int] = {}
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._http = LoopbackHTTPServer(self._dispatch)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeServiceNow:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> FakeServiceNow:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self._http.origin

    # -- set-up and inspection ---------------------------------------------------------------------

    def fail_next(self, status: int, retry_after: float | None = None) -> None:
        with self._lock:
            self._failures.append(_Failure(status, retry_after))

    def hibernate(self) -> None:
        """The next request answers like a sleeping developer instance: 200 with an HTML page."""
        page = b"<html><body>Your instance is hibernating. Sign in to wake it.</body></html>"
        with self._lock:
            self._failures.append(_Failure(200, None, page, "text/html; charset=UTF-8"))

    def record(self, sys_id: str, table: str = "incident") -> dict[str, Any]:
        with self._lock:
            return dict(self.tables[table][sys_id])

    def notes(self, sys_id: str) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.journal.get(sys_id, []))

    def work(
        self,
        sys_id: str,
        *,
        state: str | None = None,
        assigned_to: str | None = None,
        table: str = "incident",
    ) -> None:
        """Someone working the incident in ServiceNow."""
        with self._lock:
            record = self.tables[table][sys_id]
            if state is not None:
                record["state"] = state
            if assigned_to is not None:
                record["assigned_to"] = assigned_to
            record["sys_updated_on"] = _now()

    def stored(self, ref: TicketRef, table: str = "incident") -> dict[str, Any]:
        """What the contract suite reads: title, description, priority 1–5, status, comments."""
        assert ref.id is not None
        record = self.record(ref.id, table)
        return {
            "title": record["short_description"],
            "description": record["description"],
            "priority": int(record["priority"]),
            "status": STATUS.get(record["state"], "in_progress"),
            "comments": [text for _, text in self.notes(ref.id)],
        }

    # -- HTTP --------------------------------------------------------------------------------------

    def _dispatch(self, request: HTTPRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._failures:
                return self._failure(self._failures.pop(0))
            if not self._authenticated(request):
                return _error(401, "User Not Authenticated", "Required to provide Auth information")
            parts = request.path.strip("/").split("/")
            if parts[:3] != ["api", "now", "table"] or len(parts) not in (4, 5):
                return _error(400, "Requested URI does not represent any resource", request.path)
            table = parts[3]
            if table not in self.tables:
                return _error(400, "Invalid table " + table, "")
            if len(parts) == 4:
                if request.method == "GET":
                    return self._list(table, request)
                if request.method == "POST":
                    return self._insert(table, request)
            else:
                if request.method == "GET":
                    return self._get(table, parts[4], request)
                if request.method in ("PATCH", "PUT"):
                    return self._update(table, parts[4], request)
            return _error(405, "Method not Supported", f"{request.method} {request.path}")

    @staticmethod
    def _failure(failure: _Failure) -> Reply:
        headers = {} if failure.retry_after is None else {"Retry-After": str(int(failure.retry_after))}
        if failure.body is not None:
            return Reply(failure.status, failure.body, {"Content-Type": failure.content_type, **headers})
        message = "Too Many Requests" if failure.status == 429 else "Service Unavailable"
        reply = _error(failure.status, message, "injected by the fake")
        reply.headers.update(headers)
        return reply

    def _authenticated(self, request: HTTPRequest) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return user in self.users and secrets.compare_digest(self.users[user], password)

    def _list(self, table: str, request: HTTPRequest) -> Reply:
        query = request.query.get("sysparm_query", "")
        records = list(self.tables[table].values())
        if query:
            field, eq, value = query.partition("=")
            if field != "correlation_id" or not eq or "^" in value:
                return _error(400, "The fake supports only sysparm_query=correlation_id=<value>", query)
            records = [r for r in records if r.get("correlation_id") == value]
        limit = int(request.query.get("sysparm_limit") or 10_000)
        shown = [self._shown(r, request) for r in records[:limit]]
        return Reply.json({"result": shown}, headers={"X-Total-Count": str(len(records))})

    def _insert(self, table: str, request: HTTPRequest) -> Reply:
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        self._numbers[table] = self._numbers.get(table, 10_000) + 1
        sys_id = secrets.token_hex(16)
        now = _now()
        record: dict[str, Any] = {
            "sys_id": sys_id,
            "number": f"{PREFIXES[table]}{self._numbers[table]:07d}",
            "state": "1",
            "impact": "3",
            "urgency": "3",
            "short_description": "",
            "description": "",
            "correlation_id": "",
            "correlation_display": "",
            "assigned_to": "",
            "close_code": "",
            "close_notes": "",
            "sys_created_on": now,
            "sys_updated_on": now,
        }
        self.journal[sys_id] = []
        refused = self._apply(record, body)
        if refused is not None:
            del self.journal[sys_id]
            return refused
        self.tables[table][sys_id] = record
        return Reply.json(
            {"result": self._shown(record, request)},
            status=201,
            headers={"Location": request.path + "/" + sys_id},
        )

    def _get(self, table: str, sys_id: str, request: HTTPRequest) -> Reply:
        record = self.tables[table].get(sys_id)
        if record is None:
            return _error(
                404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
            )
        return Reply.json({"result": self._shown(record, request)})

    def _update(self, table: str, sys_id: str, request: HTTPRequest) -> Reply:
        record = self.tables[table].get(sys_id)
        if record is None:
            return _error(
                404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
            )
        body = self._body(request)
        if isinstance(body, Reply):
            return body
        draft = dict(record)
        notes_before = len(self.journal[sys_id])
        refused = self._apply(draft, body)
        if refused is not None:
            del self.journal[sys_id][notes_before:]
            return refused
        draft["sys_updated_on"] = _now()
        record.update(draft)
        return Reply.json({"result": self._shown(record, request)})

    @staticmethod
    def _body(request: HTTPRequest) -> dict[str, Any] | Reply:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "Exception while reading request", "Request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "Exception while reading request", "The payload is not a JSON object")
        return body

    def _apply(self, record: dict[str, Any], body: dict[str, Any]) -> Reply | None:
        """Writes the fields (journal fields to the journal), derives priority, enforces the data policy."""
        for field, value in body.items():
            text = "" if value is None else str(value)
            if field in ("sys_id", "number", "sys_created_on", "sys_updated_on", "priority"):
                continue  # read-only; ServiceNow ignores them silently
            if field in ("work_notes", "comments"):
                if text:
                    self.journal[record["sys_id"]].append((field, text))
                continue
            record[field] = text
        if "close_notes" in body and record["close_notes"]:
            self.journal[record["sys_id"]].append(("close_notes", record["close_notes"]))
        if record["state"] == "6" and not (record["close_code"] and record["close_notes"]):
            return _error(
                403,
                "Operation Failed",
                "Data Policy Exception: \n\tThe following fields are mandatory: Resolution code, Resolution notes\n",
            )
        record["priority"] = str(_priority(record["impact"], record["urgency"]))
        return None

    @staticmethod
    def _shown(record: dict[str, Any], request: HTTPRequest) -> dict[str, Any]:
        wanted = request.query.get("sysparm_fields")
        names = [f.strip() for f in wanted.split(",") if f.strip()] if wanted else [*record, *JOURNAL]
        display = request.query.get("sysparm_display_value", "false").lower()
        shown: dict[str, Any] = {}
        for name in names:
            value = "" if name in JOURNAL else str(record.get(name, ""))
            label = STATE_LABELS.get(value, value) if name == "state" else value
            if display == "all":
                shown[name] = {"display_value": label, "value": value}
            elif display == "true":
                shown[name] = label
            else:
                shown[name] = value
        return shown


def _priority(impact: str, urgency: str) -> int:
    """ServiceNow's default priority lookup: 1/1 → 1, 1/2 and 2/1 → 2, 2/2, 1/3 and 3/1 → 3, 2/3 and
    3/2 → 4, 3/3 → 5."""
    try:
        return min(max(int(impact) + int(urgency) - 1, 1), 5)
    except ValueError:
        return 5


@contextmanager
def harness(tmp_path: Path) -> Iterator[Harness]:
    with FakeServiceNow() as fake, httpx.Client(timeout=10) as http:

        def ticketer(password: str = PASSWORD) -> ServiceNowTicketer:
            return ServiceNowTicketer(http, fake.base_url, USERNAME, password)

        yield Harness(
            ticketer=ticketer(),
            stored=fake.stored,
            fail_next=fake.fail_next,
            bad_credentials=lambda: ticketer(WRONG_PASSWORD),
            secrets=[PASSWORD, WRONG_PASSWORD],
        )
