"""From one raw item to records ready for the store, or to rejections: pure, so it can run anywhere.

:func:`prepare_item` unwraps the transport, picks the source, normalises, and serialises each event
once (:class:`~opswarden.store.records.Prepared`). Whatever goes wrong becomes a
:class:`~opswarden.store.sql.Rejected` with the raw payload, a reason and where it happened — never an
exception. The pipeline runs it in-process, or in worker processes for large inputs
(:func:`prepare_chunk`), where the registry is rebuilt from the fingerprint rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from pydantic import ValidationError

from opswarden.errors import InputError, PayloadError
from opswarden.ingest.envelopes import unwrap
from opswarden.ingest.reader import RawItem
from opswarden.sources.base import Source
from opswarden.sources.eventbridge import FingerprintRule
from opswarden.sources.registry import build_registry, find_source
from opswarden.store.records import Prepared
from opswarden.store.sql import Rejected


@dataclass(slots=True)
class ItemResult:
    """What one raw item became: records to store, rejections, and event counts by source."""

    records: list[Prepared] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    by_source: dict[str, int] = field(default_factory=dict)


def prepare_item(item: RawItem, registry: Sequence[Source]) -> ItemResult:
    out = ItemResult()
    if item.unparsed:
        try:
            item.value = orjson.loads(item.body)
        except orjson.JSONDecodeError as exc:
            item.error = PayloadError(f"invalid JSON: {exc}", item.origin)
    if item.error is not None:
        out.rejected.append(_rejected(item, item.origin, item.error))
        return out
    sha = hashlib.sha256(item.body.encode()).hexdigest()
    for part in unwrap(item.value):
        if isinstance(part, InputError):
            # Located like the payloads of the same delivery: "<origin> Records[1].body".
            at = f"{item.origin} {part.where}" if part.where else item.origin
            out.rejected.append(_rejected(item, at, part))
            continue
        where = f"{item.origin} {part.path}" if part.path else item.origin
        try:
            source = find_source(part.payload, registry)
            events = source.normalise(part.payload)
            records = [Prepared.of(event, sha, item.body, where) for event in events]
        except InputError as exc:
            out.rejected.append(_rejected(item, where, exc))
            continue
        except Exception as exc:  # a bug or a shape no normaliser foresaw: keep the payload, say what broke
            out.rejected.append(_rejected(item, where, _unexpected(exc)))
            continue
        for record in records:
            source_name = record.content.columns()["source"]
            out.by_source[source_name] = out.by_source.get(source_name, 0) + 1
        out.records.extend(records)
    return out


def _rejected(item: RawItem, where: str, error: InputError) -> Rejected:
    reason = error.message
    if error.where and error.where not in where:
        reason = f"{error.where}: {reason}"
    return Rejected(where, type(error).__name__, reason, item.body)


def _unexpected(exc: Exception) -> InputError:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return InputError(f"normalised event is invalid: {loc}: {first.get('msg')}")
    return InputError(f"could not normalise ({type(exc).__name__}: {exc})")


# -- worker processes --------------------------------------------------------------------------------

_worker_registry: tuple[Source, ...] = ()


def init_worker(fingerprints: tuple[FingerprintRule, ...]) -> None:
    global _worker_registry  # noqa: PLW0603 - one registry per worker process, built once
    _worker_registry = build_registry(fingerprints)


def prepare_chunk(items: list[RawItem]) -> list[ItemResult]:
    """:func:`prepare_item` for a chunk, with records made cheap to send back to the parent."""
    results = [prepare_item(item, _worker_registry) for item in items]
    for result in results:
        result.records = [record.portable() for record in result.records]
    return results
