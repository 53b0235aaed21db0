"""Functional tests of the entry points: settings only from what each test sets."""

from __future__ import annotations

import pytest

from opswarden.settings import Settings


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what a test sets, never from the shell that runs the suite."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"OPSWARDEN_{name.upper()}", raising=False)
        monkeypatch.delenv(f"OPSWARDEN_{name.upper()}_FILE", raising=False)
