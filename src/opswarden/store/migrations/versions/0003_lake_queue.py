"""The lake queue, filled by triggers on event_versions, decisions and audit_log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (trigger, table, event, kind, condition) — a version is queued again, as a "revision", when its
# content or its "what changed" changes (a merge of pages, a late version slotting in before it):
# its new row in the lake supersedes the one archived before.
_TRIGGERS = (
    ("lake_version_insert", "event_versions", "INSERT", "version", None),
    (
        "lake_version_update",
        "event_versions",
        "UPDATE",
        "revision",
        "NEW.content_hash IS NOT OLD.content_hash OR NEW.changes IS NOT OLD.changes",
    ),
    ("lake_decision_insert", "decisions", "INSERT", "decision", None),
    ("lake_audit_insert", "audit_log", "INSERT", "audit", None),
)


def upgrade() -> None:
    op.create_table(
        "lake_queue",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref_id", sa.Integer, nullable=False),
        # AUTOINCREMENT: SQLite must never reuse a sequence number once the queue has been emptied;
        # lake_seq orders the archived copies of a row.
        sqlite_autoincrement=True,
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            "CREATE FUNCTION opswarden_lake_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN INSERT INTO lake_queue (kind, ref_id) VALUES (TG_ARGV[0], NEW.id); RETURN NULL; END $$"
        )
    for name, table, event, kind, condition in _TRIGGERS:
        if postgres:
            when = f" WHEN ({condition.replace('IS NOT', 'IS DISTINCT FROM')})" if condition else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
                f"EXECUTE FUNCTION opswarden_lake_enqueue('{kind}')"
            )
        else:
            when = f" WHEN {condition}" if condition else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
                f"BEGIN INSERT INTO lake_queue (kind, ref_id) VALUES ('{kind}', NEW.id); END"
            )
    # Everything stored before the lake existed is archived too.
    for kind, table in (("version", "event_versions"), ("decision", "decisions"), ("audit", "audit_log")):
        op.execute(f"INSERT INTO lake_queue (kind, ref_id) SELECT '{kind}', id FROM {table} ORDER BY id")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, *_ in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}" if postgres else f"DROP TRIGGER {name}")
    if postgres:
        op.execute("DROP FUNCTION opswarden_lake_enqueue()")
    op.drop_table("lake_queue")
