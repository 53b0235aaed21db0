"""Shared test helpers. Fixtures are real-shaped JSON files under tests/fixtures, loaded in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> Any:
    """``load_fixture("health/ec2_retirement.json")`` → the parsed JSON."""
    return orjson.loads((FIXTURES / name).read_bytes())


@pytest.fixture
def fixture() -> Any:
    return load_fixture
