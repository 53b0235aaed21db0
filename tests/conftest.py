"""Shared test helpers. Fixtures are real-shaped JSON files under tests/fixtures, loaded in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

pytest_plugins = ["tests.fakes.fixtures"]  # slack_api, slack_client, webhook_server, smtp_server(_auth)
FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> Any:
    """``load_fixture("health/ec2_retirement.json")`` → the parsed JSON."""
    return orjson.loads((FIXTURES / name).read_bytes())


@pytest.fixture
def fixture() -> Any:
    return load_fixture


# ----------------------------------------------------------------------------------------------------
# Stores: every store test runs on SQLite and, when OPSWARDEN_TEST_POSTGRES_URL is set, on PostgreSQL
# (each test in a schema of its own, dropped afterwards).

import os  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402

POSTGRES_URL = os.environ.get("OPSWARDEN_TEST_POSTGRES_URL")


def _postgres_schema_url() -> Iterator[str]:
    import sqlalchemy as sa

    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'opswarden.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("set OPSWARDEN_TEST_POSTGRES_URL to run the PostgreSQL store tests")
    yield from _postgres_schema_url()
