"""The one protocol every channel implements, and what it is handed.

A channel (``notify/channels/<name>.py``) turns an :class:`Outgoing` — a stored :class:`Message`, the
event's thread on that target if one exists, signed action links — into a delivery. It raises
:class:`~opswarden.errors.DeliveryError` with ``recoverable`` and a reason; the dispatcher alone
decides about retries. No channel puts a secret (token, password, signed link) in an error message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from opswarden.notify.message import Message
from opswarden.notify.render.links import ActionLinks


@dataclass(frozen=True, slots=True)
class Outgoing:
    outbox_id: int
    dedupe_key: str  # stable across retries: an idempotency key for receivers that honour one
    target: str  # the address on the channel: Slack channel, webhook URL, e-mail address …
    message: Message
    thread: dict[str, Any] | None = None  # where the event's conversation is on this target
    card: Message | None = None  # the card that started the thread (re-rendered on answers)
    links: ActionLinks | None = None


@dataclass(frozen=True, slots=True)
class Delivered:
    """A delivery; ``thread`` is set by the message that starts a conversation (the card)."""

    ref: dict[str, Any] | None = None
    thread: dict[str, Any] | None = None


class Notifier(Protocol):
    channel: str

    def send(self, out: Outgoing) -> Delivered:
        """Deliver one message or raise DeliveryError."""
        ...

    def confirm(self, out: Outgoing) -> Delivered | None:
        """After a crash mid-send: the delivery if the channel can prove it arrived, else None."""
        ...
