from __future__ import annotations

import pytest

from opswarden.core.event import Status, content_hash
from opswarden.core.versions import material_changes, merge, version_key
from tests.factories import make_event

pytestmark = pytest.mark.unit


def test_pages_merge_into_the_union_of_entities_in_any_order() -> None:
    p1 = make_event(resources=(("i-1", "PENDING"), ("i-2", "PENDING")), page=(1, 2))
    p2 = make_event(resources=(("i-3", "PENDING"),), page=(2, 2))
    ab, ba = merge(p1, p2), merge(p2, p1)
    assert content_hash(ab) == content_hash(ba)
    assert [r.id for r in ab.resources] == ["i-1", "i-2", "i-3"]
    assert ab.page is not None
    assert ab.page.numbers == (1, 2)
    assert content_hash(merge(ab, p1)) == content_hash(ab)  # idempotent


def test_partial_fragment_fills_but_does_not_override_the_full_delivery() -> None:
    full = make_event(description="full text", resources=(("i-1", None),))
    fragment = make_event(description="", resources=(("i-2", "IMPAIRED"),), details={"partial": True})
    merged = merge(fragment, full)
    assert merged.description == "full text"
    assert "partial" not in merged.details
    assert {r.id for r in merged.resources} == {"i-1", "i-2"}


def test_merge_refuses_different_keys() -> None:
    with pytest.raises(ValueError, match="different events"):
        merge(make_event("a"), make_event("b"))


def test_material_changes_name_what_changed() -> None:
    old = make_event(resources=(("i-1", "PENDING"), ("i-2", "PENDING")))
    new = make_event(
        minutes=5,
        status=Status.CLOSED,
        description="now resolved",
        resources=(("i-1", "RESOLVED"), ("i-3", "PENDING")),
    )
    changes = {c["field"]: c for c in material_changes(old, new)}
    assert changes["status"] == {"field": "status", "old": "open", "new": "closed"}
    assert changes["description"]["new"] == "now resolved"
    assert changes["resources"]["added"] == ["i-3"]
    assert changes["resources"]["removed"] == ["i-2"]
    assert changes["resources"]["status_changed"] == [{"id": "i-1", "old": "PENDING", "new": "RESOLVED"}]
    assert "severity" not in changes


def test_no_change_and_first_version() -> None:
    event = make_event()
    assert material_changes(event, make_event(minutes=3)) == []
    assert material_changes(None, event) == []


def test_workflow_status_is_material() -> None:
    old = make_event(details={"workflow_status": "NEW"})
    new = make_event(minutes=1, details={"workflow_status": "NOTIFIED"})
    assert material_changes(old, new) == [{"field": "workflow_status", "old": "NEW", "new": "NOTIFIED"}]


def test_version_keys_sort_like_time() -> None:
    keys = [version_key(make_event(minutes=m).updated_at) for m in (0, 1, 60, 60 * 24 * 400)]
    assert keys == sorted(keys)
    assert version_key(None) == ""
