"""Triage and notification: decisions, triage queue, outbox, threads, used tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from opswarden.store.schema import decisions, outbox, threads, triage_queue, used_tokens

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Created from the schema module's tables as they are at this revision. A later change to one of them
# comes as a new migration that alters it (and this one then takes a frozen copy of the old definition).
_TABLES = (triage_queue, decisions, outbox, threads, used_tokens)


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("decision_id", sa.Integer))
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
    with op.batch_alter_table("events") as batch:
        batch.drop_column("decision_id")
