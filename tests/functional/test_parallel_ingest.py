"""Large inputs are prepared in worker processes: the stored result must be exactly the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from opswarden.core.clock import FakeClock
from opswarden.ingest.pipeline import Ingestor
from opswarden.ingest.reader import read_paths
from opswarden.store.schema import dead_letters, event_versions, events
from opswarden.store.sql import SqlStore

pytestmark = pytest.mark.functional


def alarm(n: int, minute: int, state: str) -> dict[str, Any]:
    arn = f"arn:aws:cloudwatch:eu-west-1:111111111111:alarm:a{n}"
    return {
        "version": "0",
        "id": f"id-{n}-{minute}",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "111111111111",
        "time": f"2026-03-01T10:{minute:02d}:00Z",
        "region": "eu-west-1",
        "resources": [arn],
        "detail": {
            "alarmName": f"a{n}",
            "state": {"value": state, "reason": "r", "timestamp": f"2026-03-01T10:{minute:02d}:00.000+0000"},
            "previousState": {"value": "OK", "reason": "r", "timestamp": "2026-03-01T09:00:00.000+0000"},
            "configuration": {"metrics": []},
        },
    }


@pytest.fixture
def ndjson(tmp_path: Path) -> Path:
    lines = []
    for n in range(60):
        lines.append(json.dumps(alarm(n, 5, "ALARM")))
        lines.append(json.dumps(alarm(n, 9, "OK")))
        if n % 10 == 0:
            lines.append(json.dumps(alarm(n, 5, "ALARM")))  # a redelivery
            lines.append('{"not": "an event"}')
            lines.append("{broken")
    path = tmp_path / "many.ndjson"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(path: Path, db: Path, workers: int) -> tuple[dict[str, Any], Any]:
    store = SqlStore(f"sqlite:///{db}")
    ingestor = Ingestor(
        store, FakeClock(datetime(2026, 3, 2, tzinfo=UTC)), workers=workers, parallel_after=10, batch_size=7
    )
    summary = ingestor.ingest(read_paths([str(path)], lazy=workers > 1)).to_dict()
    with store.engine.connect() as conn:
        state = (
            conn.execute(
                sa.select(events.c.id, events.c.status, events.c.version_count).order_by(events.c.id)
            ).all(),
            conn.execute(
                sa.select(
                    event_versions.c.event_id, event_versions.c.content_hash, event_versions.c.origin
                ).order_by(event_versions.c.event_id, event_versions.c.version_key)
            ).all(),
            conn.execute(
                sa.select(dead_letters.c.origin, dead_letters.c.error).order_by(dead_letters.c.id)
            ).all(),
        )
    store.close()
    return summary, state


def test_workers_store_exactly_what_one_process_stores(ndjson: Path, tmp_path: Path) -> None:
    one_summary, one_state = run(ndjson, tmp_path / "one.db", workers=1)
    two_summary, two_state = run(ndjson, tmp_path / "two.db", workers=2)
    assert two_summary == one_summary
    assert two_state == one_state
    assert one_summary["new"] == 60
    assert one_summary["updated"] == 60
    assert one_summary["unchanged"] == 6
    assert one_summary["rejected"] == 12
    events_rows, _, letters = one_state
    assert {row.status for row in events_rows} == {"closed"}
    assert any("invalid JSON" in error for _, error in letters)
