"""The URLs a rendering may offer besides buttons: signed elsewhere, only placed here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionLinks:
    """Signed answer links and the event's page; ``None`` for any the caller does not offer."""

    acknowledge: str | None = None
    approve: str | None = None
    reject: str | None = None
    event: str | None = None
