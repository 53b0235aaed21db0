"""Replays every payload of the shared corpus (``OPSWARDEN_CORPUS``) through the real pipeline.

Every file must either normalise or be rejected with a clear reason; the counts per folder are pinned
so that a change in what is accepted is a deliberate, reviewed change. Skipped when the variable is
not set (the corpus is not part of this repository).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from opswarden.core.clock import FakeClock
from opswarden.ingest.pipeline import Ingestor, IngestSummary
from opswarden.ingest.reader import read_file
from opswarden.store.reader import EventFilter
from opswarden.store.sql import SqlStore

pytestmark = pytest.mark.conformance

CORPUS = os.environ.get("OPSWARDEN_CORPUS")

# folder: (files, files normalised, files rejected, events accepted)
EXPECTED = {
    "cloudwatch/eventbridge": (7, 7, 0, 7),
    "cloudwatch/lambda-alarm-action": (2, 2, 0, 2),
    "cloudwatch/sns": (2, 2, 0, 2),
    "config/api": (1, 1, 0, 3),
    "config/eventbridge": (3, 3, 0, 3),
    "config/rule-invocation": (5, 5, 0, 5),
    "config/sns": (2, 2, 0, 2),
    "guardduty/api": (1, 1, 0, 1),
    "guardduty/eventbridge": (3, 3, 0, 3),
    "guardduty/finding": (3, 3, 0, 3),
    "health/api": (22, 21, 1, 33),
    "health/derived": (1, 1, 0, 1),
    "health/detail-only": (3, 3, 0, 3),
    "health/eventbridge": (23, 23, 0, 23),
    "health/putevents-entries": (4, 3, 1, 3),
    "other/cloudtrail": (7, 6, 1, 6),
    "other/ec2-state-change": (2, 2, 0, 2),
    "other/trusted-advisor": (4, 4, 0, 4),
    "securityhub/api": (6, 5, 1, 29),
    "securityhub/asff": (16, 16, 0, 16),
    "securityhub/eventbridge": (23, 23, 0, 25),
    "securityhub/ocsf": (3, 3, 0, 3),
}

# The four files that are not events, and the reason each must give.
EXPECTED_REJECTIONS = {
    "health/api/healthtools_describe_event_types_all.json": "catalogue of event types",
    "health/putevents-entries/healthtools_abuse_dos_report.json": "field 'time'",
    "securityhub/api/awscli_get_finding_history.json": "change log",
    "other/cloudtrail/custodian_ec2_runinstances_bare_detail.json": "not a recognised event format",
}


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not CORPUS:
        pytest.skip("set OPSWARDEN_CORPUS to the corpus folder to run the conformance test")
    return Path(CORPUS)


@pytest.fixture(scope="module")
def replay(corpus: Path) -> Iterator[tuple[dict[str, IngestSummary], SqlStore]]:
    manifest = json.loads((corpus / "manifest.json").read_text())
    files = [entry["file"] for entry in manifest if entry["counted_as_payload"]]
    store = SqlStore("sqlite://")
    ingestor = Ingestor(store, FakeClock(datetime(2026, 11, 26, tzinfo=UTC)))
    results = {name: ingestor.ingest(read_file(corpus / name)) for name in files}
    yield results, store
    store.close()


def test_every_corpus_file_is_accounted_for(replay: tuple[dict[str, IngestSummary], SqlStore]) -> None:
    results, _ = replay
    assert len(results) == 143
    per_folder: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for name, summary in results.items():
        counts = per_folder[str(Path(name).parent)]
        counts[0] += 1
        counts[1 if not summary.rejected else 2] += 1
        counts[3] += summary.accepted
        assert summary.payloads >= 1, name
        assert summary.accepted or summary.rejected or "empty" in name, f"{name}: neither stored nor rejected"
    assert {k: tuple(v) for k, v in per_folder.items()} == EXPECTED


def test_rejections_say_clearly_why(replay: tuple[dict[str, IngestSummary], SqlStore]) -> None:
    results, store = replay
    rejected = {name: s for name, s in results.items() if s.rejected}
    assert set(rejected) == set(EXPECTED_REJECTIONS)
    for name, summary in rejected.items():
        (rejection,) = summary.rejections
        assert EXPECTED_REJECTIONS[name] in rejection.reason, (name, rejection.reason)
        assert "could not normalise" not in rejection.reason
        assert rejection.origin.endswith(Path(name).name) or Path(name).name in rejection.origin
    letters = store.list_dead_letters(limit=100)
    assert len(letters) == len(EXPECTED_REJECTIONS)
    assert all(letter.body for letter in letters)


def test_the_same_health_event_replayed_later_is_one_record_with_two_versions(
    replay: tuple[dict[str, IngestSummary], SqlStore],
) -> None:
    _, store = replay
    # dynatrace_replay_04 (investigating) and _08 (resolved) share an eventArn and an account.
    (event,) = [
        e
        for e in store.list_events(EventFilter(source="aws.health", limit=10_000))
        if "AWS_EC2_INSTANCE_AVAILABILITY_ISSUE" in e.key and e.version_count == 2
    ]
    versions = store.get_versions(event.id)
    assert [v.event.status.value for v in versions] == ["open", "closed"]
    assert "status" in {c["field"] for c in versions[1].changes}
    assert event.event.status.value == "closed"


def test_ocsf_and_asff_twins_converge_on_one_finding(
    replay: tuple[dict[str, IngestSummary], SqlStore],
) -> None:
    results, store = replay
    for twin in ("compliance_finding_2003_pci_config.1", "vulnerability_finding_2002_inspector"):
        ocsf_name = next(n for n in results if twin in n)
        assert results[ocsf_name].accepted == 1
    total = sum(s.accepted for s in results.values())
    assert store.count_events() < total  # twins and replays merged rather than duplicated
