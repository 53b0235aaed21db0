"""A database that cannot be reached or written is a StoreError that names it (password hidden)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opswarden.errors import StoreError
from opswarden.store.sql import Rejected, SqlStore

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
PASSWORD = "pw-5b7d9f1a3c"
# Nothing listens on port 1: the connection is refused at once.
UNREACHABLE = f"postgresql://ops:{PASSWORD}@127.0.0.1:1/opswarden"
SHOWN = "postgresql://ops:***@127.0.0.1:1/opswarden"


def test_an_unreachable_postgresql_fails_to_open_with_a_store_error() -> None:
    with pytest.raises(StoreError) as raised:
        SqlStore(UNREACHABLE)

    message = str(raised.value)
    assert message.startswith(f"database {SHOWN}: opening the store failed: connection failed: ")
    assert "Connection refused" in message
    assert PASSWORD not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("doing", "call"),
    [
        ("listing events", lambda s: s.list_events()),
        ("reading an event", lambda s: s.get_event("ev-0000000000000000")),
        ("reading versions", lambda s: s.get_versions("ev-0000000000000000")),
        ("counting events", lambda s: s.count_events()),
        ("listing dead letters", lambda s: s.list_dead_letters()),
        (
            "storing dead letters",
            lambda s: s.dead_letter([Rejected("x.json", "PayloadError", "bad", "{}")], NOW),
        ),
        ("writing the audit log", lambda s: s.audit(at=NOW, actor="a", action="ack", channel="cli")),
        ("reading the audit log", lambda s: s.audit_entries()),
    ],
)
def test_every_store_operation_on_an_unreachable_database_is_a_store_error(
    doing: str, call: Callable[[SqlStore], Any]
) -> None:
    store = SqlStore(UNREACHABLE, create=False)
    try:
        with pytest.raises(StoreError, match=f"^database {re.escape(SHOWN)}: {doing} failed: ") as raised:
            call(store)
    finally:
        store.close()
    assert PASSWORD not in str(raised.value)


def test_a_sqlite_path_that_is_a_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as raised:
        SqlStore(f"sqlite:///{tmp_path}")

    assert str(raised.value) == (
        f"database sqlite:///{tmp_path}: opening the store failed: unable to open database file"
    )


def test_a_sqlite_file_whose_directory_cannot_be_created_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    url = f"sqlite:///{tmp_path}/file/sub/opswarden.db"

    with pytest.raises(StoreError) as raised:
        SqlStore(url)

    assert (
        str(raised.value)
        == f"database {url}: cannot create its directory {tmp_path}/file/sub: Not a directory"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_sqlite_file_in_a_read_only_directory_is_a_store_error(tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="opening the store failed: unable to open database file"):
            SqlStore(f"sqlite:///{folder / 'opswarden.db'}")
    finally:
        folder.chmod(0o755)
