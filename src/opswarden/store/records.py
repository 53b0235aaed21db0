"""What the store takes in: a normalised event with its content serialised and hashed once.

A :class:`Prepared` record is built where the event is normalised — possibly in a worker process —
and carries everything the batch writer needs for the common case (a new event, or a newer version)
without rebuilding the :class:`Event`: the identity, the version key, the canonical JSON and its hash,
and the columns of the ``events`` table. The event itself is rebuilt from the JSON only when a merge or
a "what changed" comparison needs it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from opswarden.core.event import Event, content_dict, event_id
from opswarden.core.versions import version_key


def serialise(event: Event) -> tuple[str, str]:
    """The event's canonical content JSON (sorted keys, no delivery metadata) and its SHA-256."""
    data = orjson.dumps(content_dict(event), option=orjson.OPT_SORT_KEYS)
    return data.decode(), hashlib.sha256(data).hexdigest()


def summary_columns(event: Event) -> dict[str, Any]:
    """The searchable columns of the ``events`` table for this content."""
    return {
        "source": event.source,
        "type_code": event.type_code,
        "category": event.category.value,
        "service": event.service,
        "title": event.title,
        "severity": event.severity.value,
        "status": event.status.value,
        "region": event.region,
        "accounts": " ".join(event.accounts),
        "start_at": event.start_at,
        "end_at": event.end_at,
        "updated_at": event.updated_at,
        "deadline_at": event.deadline_at,
    }


@dataclass(slots=True)
class Content:
    """One version's content in whichever forms exist: the event, its JSON, its parsed JSON."""

    json: str | None = None
    hash: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    _event: Event | None = None
    _data: dict[str, Any] | None = None

    @classmethod
    def of(cls, event: Event) -> Content:
        text, digest = serialise(event)
        return cls(text, digest, summary_columns(event), event)

    @classmethod
    def stored(cls, data: dict[str, Any], digest: str) -> Content:
        return cls(None, digest, {}, None, data)

    @property
    def event(self) -> Event:
        if self._event is None:
            if self._data is not None:
                self._event = Event.model_validate(self._data)
            else:
                assert self.json is not None
                self._event = Event.model_validate_json(self.json)
            if not self.summary:
                self.summary = summary_columns(self._event)
        return self._event

    def text(self) -> str:
        if self.json is None:
            self.json, self.hash = serialise(self.event)
        return self.json

    def columns(self) -> dict[str, Any]:
        if not self.summary:
            self.summary = summary_columns(self.event)
        return self.summary

    def portable(self) -> Content:
        """Without the in-memory event: cheap to send to another process."""
        return Content(self.text(), self.hash, self.columns())


@dataclass(slots=True)
class Prepared:
    """One normalised event and the payload it came in, ready for :func:`writer.apply_batch`."""

    key: str
    id: str
    version_key: str
    partial: bool
    content: Content
    raw_sha256: str
    raw_body: str
    origin: str

    @classmethod
    def of(cls, event: Event, raw_sha256: str, raw_body: str, origin: str) -> Prepared:
        return cls(
            event.key,
            event_id(event.key),
            version_key(event.updated_at),
            bool(event.details.get("partial")),
            Content.of(event),
            raw_sha256,
            raw_body,
            origin,
        )

    @property
    def event(self) -> Event:
        return self.content.event

    @property
    def updated_at(self) -> datetime | None:
        updated: datetime | None = self.content.columns()["updated_at"]
        return updated

    def portable(self) -> Prepared:
        return Prepared(
            self.key,
            self.id,
            self.version_key,
            self.partial,
            self.content.portable(),
            self.raw_sha256,
            self.raw_body,
            self.origin,
        )
