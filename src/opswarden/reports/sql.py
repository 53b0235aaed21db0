"""SQL pieces the reports share: literals and the common table expressions over the lake's views.

The lake's query runner takes one SELECT and no parameters, so values are written as literals: times
as ``TIMESTAMPTZ '…'`` from aware datetimes, text with its quotes doubled."""

from __future__ import annotations

from datetime import UTC, datetime

# Answers: the first of these after a notification stops the clock of "time to acknowledge".
ANSWERED = ("acknowledged", "approved", "rejected")
AWAITING = ("routed", "notified")

# The latest policy decision per event (what it is now: teams, severity, notify or not).
LATEST_DECISION = (
    "latest AS (SELECT * FROM decisions "
    'QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY "at" DESC, decision_id DESC) = 1)'
)

# The lifecycle per event: the ``to_state`` of its latest transition (ties at one instant: audit order).
LIFECYCLE = (
    'state AS (SELECT event_id, to_state AS lifecycle, "at" AS state_at FROM transitions '
    "WHERE action = 'transition' AND to_state IS NOT NULL "
    'QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY "at" DESC, audit_id DESC) = 1)'
)


def ts(moment: datetime) -> str:
    """A UTC timestamp literal."""
    if moment.tzinfo is None:
        raise ValueError("report times must be timezone-aware")
    return f"TIMESTAMPTZ '{moment.astimezone(UTC).isoformat()}'"


def text(value: str) -> str:
    """A string literal."""
    return "'" + value.replace("'", "''") + "'"


def in_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(text(v) for v in values) + ")"


def severity_rank(column: str) -> str:
    """Critical first, unknown last."""
    return (
        f"CASE {column} WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 "
        "WHEN 'low' THEN 3 WHEN 'informational' THEN 4 ELSE 5 END"
    )
