"""Placeholder: being written. Matches nothing yet."""

from __future__ import annotations

from opswarden.core.event import Event
from opswarden.sources.base import Payload, Source


def _normalise(payload: Payload) -> list[Event]:
    return []


SOURCE = Source(name="config", matches=lambda payload: False, normalise=_normalise)
