"""The ingest pipeline: raw items → unwrap → normalise → store, in batches, losing nothing.

Every item ends as stored events or as a dead letter with its error and origin; one bad payload never
stops the rest of its batch. The same code path serves the CLI, the HTTP endpoint and the benchmark.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from opswarden.core.clock import Clock
from opswarden.errors import InputError
from opswarden.ingest.envelopes import unwrap
from opswarden.ingest.reader import RawItem
from opswarden.sources.base import Source
from opswarden.sources.registry import DEFAULT_REGISTRY, find_source
from opswarden.store.sql import Incoming, Outcome, Rejected, SqlStore

MAX_REPORTED_REJECTS = 1000


@dataclass(frozen=True)
class Rejection:
    origin: str
    reason: str


@dataclass
class IngestSummary:
    """What happened to a run of deliveries: events by outcome, and every rejection with its reason."""

    payloads: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    by_source: Counter[str] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        return sum(self.outcomes.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "payloads": self.payloads,
            "accepted": self.accepted,
            "new": self.outcomes[Outcome.NEW],
            "updated": self.outcomes[Outcome.UPDATED],
            "unchanged": self.outcomes[Outcome.UNCHANGED],
            "history": self.outcomes[Outcome.HISTORY],
            "rejected": self.rejected,
            "rejections": [{"origin": r.origin, "reason": r.reason} for r in self.rejections],
            "by_source": dict(self.by_source),
        }


class Ingestor:
    """Turns raw items into stored events and dead letters."""

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        registry: Sequence[Source] = DEFAULT_REGISTRY,
        batch_size: int = 1000,
    ) -> None:
        self.store = store
        self.clock = clock
        self.registry = registry
        self.batch_size = batch_size

    def ingest(self, items: Iterable[RawItem]) -> IngestSummary:
        summary = IngestSummary()
        pending: list[Incoming] = []
        rejected: list[Rejected] = []
        for item in items:
            summary.payloads += 1
            self._normalise_item(item, pending, rejected, summary)
            if len(pending) >= self.batch_size or len(rejected) >= self.batch_size:
                self._flush(pending, rejected, summary)
        self._flush(pending, rejected, summary)
        return summary

    def _normalise_item(
        self,
        item: RawItem,
        pending: list[Incoming],
        rejected: list[Rejected],
        summary: IngestSummary,
    ) -> None:
        if item.error is not None:
            self._reject(item, item.origin, item.error, rejected, summary)
            return
        sha = hashlib.sha256(item.body.encode()).hexdigest()
        for part in unwrap(item.value):
            if isinstance(part, InputError):
                # Located like the payloads of the same delivery: "<origin> Records[1].body".
                at = f"{item.origin} {part.where}" if part.where else item.origin
                self._reject(item, at, part, rejected, summary)
                continue
            where = f"{item.origin} {part.path}" if part.path else item.origin
            try:
                source = find_source(part.payload, self.registry)
                events = source.normalise(part.payload)
            except InputError as exc:
                self._reject(item, where, exc, rejected, summary)
                continue
            except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
                # A bug or a shape no normaliser foresaw: keep the payload, say what broke.
                self._reject(item, where, _unexpected(exc), rejected, summary)
                continue
            summary.by_source[source.name] += len(events)
            pending.extend(Incoming(event, sha, item.body, where) for event in events)

    def _reject(
        self,
        item: RawItem,
        where: str,
        error: InputError,
        rejected: list[Rejected],
        summary: IngestSummary,
    ) -> None:
        reason = error.message
        if error.where and error.where not in where:
            reason = f"{error.where}: {reason}"
        rejected.append(Rejected(where, type(error).__name__, reason, item.body))
        summary.rejected += 1
        if len(summary.rejections) < MAX_REPORTED_REJECTS:
            summary.rejections.append(Rejection(where, reason))

    def _flush(self, pending: list[Incoming], rejected: list[Rejected], summary: IngestSummary) -> None:
        now = self.clock.now()
        if pending:
            for outcome in self.store.apply(pending, now):
                summary.outcomes[outcome] += 1
            pending.clear()
        if rejected:
            self.store.dead_letter(rejected, now)
            rejected.clear()


def _unexpected(exc: Exception) -> InputError:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return InputError(f"normalised event is invalid: {loc}: {first.get('msg')}")
    return InputError(f"could not normalise ({type(exc).__name__}: {exc})")
