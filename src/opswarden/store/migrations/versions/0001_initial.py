"""Initial schema: events, versions, raw payloads, dead letters, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opswarden.store.schema import JSONData, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
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
        sa.Column("accounts", sa.Text, nullable=False),
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
    )
    op.create_index("ix_events_updated", "events", ["updated_at"])
    op.create_index("ix_events_deadline", "events", ["deadline_at"])
    op.create_table(
        "event_versions",
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
    op.create_table(
        "raw_payloads",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("origin", sa.Text),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("error_type", sa.String(64), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(32)),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("detail", JSONData, nullable=False),
    )
    op.create_index("ix_audit_event", "audit_log", ["event_id", "at"])


def downgrade() -> None:
    for table in ("audit_log", "dead_letters", "raw_payloads", "event_versions", "events"):
        op.drop_table(table)
