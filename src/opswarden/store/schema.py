"""Tables of the operational store (SQLAlchemy Core). Alembic migrations create and evolve them.

* ``events``: the current state of every event, one row per identity key: searchable columns copied
  out of the current version, whose full content is in ``event_versions.data``. The primary key is
  a hash of the identity key (``core.event.event_id``), so the key itself needs no index.
* ``event_versions``: every version (one per source update time), its content hash, what materially
  changed from the version before, and the sha256 of the raw payload that brought it.
* ``raw_payloads``: every distinct payload as received (by sha256, so a redelivery stores nothing).
* ``dead_letters``: what could not be ingested: the raw payload, the error, and where it came from.
* ``audit_log``: who did what to which event, when, through which channel; lifecycle transitions are
  rows with action ``transition``.
* ``triage_queue``: events whose current version the policy has not decided yet (written in the
  ingest transaction, consumed by the triage stage: a crash between the two loses nothing).
* ``decisions``: every policy decision with its explanation; ``events.decision_id`` is the latest.
* ``outbox``: every message to send, its attempts and result (docs/notifications.md#the-outbox).
* ``threads``: where each event's conversation lives per channel and target (Slack channel + ts …).
* ``used_tokens``: single-use keys already spent (approval link nonces, Slack retry ids).
* ``tickets``, ``ticket_comments``: the built-in ticket tracker (docs/tickets.md).
* ``lake_queue``: rows the event lake has not archived yet. Database triggers fill it in the same
  transaction as the row itself (a new or changed version, a decision, an audit row), so no writer
  can forget it and a crash loses nothing (docs/lake.md#the-archive).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect


class JSONData(sa.types.TypeDecorator[Any]):
    """JSON as TEXT (orjson) on SQLite, JSONB on PostgreSQL."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        if isinstance(value, str):  # already serialised by the caller
            return value
        return orjson.dumps(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or not isinstance(value, str | bytes):
            return value
        return orjson.loads(value)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("type_code", sa.Text, nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("service", sa.String(128)),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("region", sa.String(64)),
    sa.Column("accounts", sa.Text, nullable=False, doc="space-separated, for LIKE filters"),
    sa.Column("start_at", UTCDateTime),
    sa.Column("end_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime),
    sa.Column("deadline_at", UTCDateTime),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("version_count", sa.Integer, nullable=False),
    sa.Column("current_version", sa.String(32), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("lifecycle", sa.String(16), nullable=False, server_default="new"),
    sa.Column("decision_id", sa.Integer),
    sa.Index("ix_events_updated", "updated_at"),
    sa.Index("ix_events_deadline", "deadline_at"),
)

event_versions = sa.Table(
    "event_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(32), sa.ForeignKey("events.id"), nullable=False),
    sa.Column("version_key", sa.String(32), nullable=False),
    sa.Column("updated_at", UTCDateTime),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("changes", JSONData, nullable=False),
    sa.Column("raw_sha256", sa.String(64)),
    sa.Column("origin", sa.Text),
    sa.Column("data", JSONData, nullable=False),
    sa.UniqueConstraint("event_id", "version_key", name="uq_event_versions_event_version"),
)

raw_payloads = sa.Table(
    "raw_payloads",
    metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("origin", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("error_type", sa.String(64), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(32)),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("detail", JSONData, nullable=False),
    sa.Index("ix_audit_event", "event_id", "at"),
)

triage_queue = sa.Table(
    "triage_queue",
    metadata,
    sa.Column("event_id", sa.String(32), primary_key=True),
    sa.Column("enqueued_at", UTCDateTime, nullable=False),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(32), nullable=False),
    sa.Column("version_key", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False, doc="policy | ai | human"),
    sa.Column("policy_hash", sa.String(64)),
    sa.Column("suppressed", sa.Boolean, nullable=False),
    sa.Column("notify", sa.Boolean, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("teams", sa.Text, nullable=False, doc="space-separated team ids"),
    sa.Column("require_approval", sa.Boolean, nullable=False),
    sa.Column("open_ticket", sa.Boolean, nullable=False),
    sa.Column("data", JSONData, nullable=False, doc="the whole decision with its explanation"),
    sa.Index("ix_decisions_event", "event_id", "id"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
    sa.Column("event_id", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("payload", JSONData, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, doc="pending | sending | sent | dead | uncertain"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claimed_until", UTCDateTime),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("result", JSONData),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
    sa.Index("ix_outbox_event", "event_id", "channel", "target", "id"),
)

threads = sa.Table(
    "threads",
    metadata,
    sa.Column("event_id", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(16), primary_key=True),
    sa.Column("target", sa.Text, primary_key=True),
    sa.Column("ref", JSONData, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

used_tokens = sa.Table(
    "used_tokens",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("event_id", sa.String(32)),
)

lake_queue = sa.Table(
    "lake_queue",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False, doc="version | revision | decision | audit"),
    sa.Column("ref_id", sa.Integer, nullable=False, doc="event_versions.id, decisions.id or audit_log.id"),
    sqlite_autoincrement=True,  # sequence numbers are never reused, even after the queue empties
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("correlation", sa.String(200), nullable=False, unique=True),
    sa.Column("event_id", sa.String(32), nullable=False),
    sa.Column("team", sa.String(128), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, doc="open | in_progress | closed"),
    sa.Column("assignee", sa.String(256)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime),
    sa.Index("ix_tickets_event", "event_id"),
    sqlite_autoincrement=True,
)

ticket_comments = sa.Table(
    "ticket_comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("author", sa.String(256), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)
