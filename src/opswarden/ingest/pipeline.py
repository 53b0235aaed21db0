"""The ingest pipeline: raw items → unwrap → normalise → store, in batches, losing nothing.

Every item ends as stored events or as a dead letter with its error and origin; one bad payload never
stops the rest of its batch. The same code path serves the CLI, the HTTP endpoint and the benchmark.

Preparing items (parse, unwrap, normalise, serialise) is pure CPU work; for large inputs it runs in
worker processes while this process writes batches to the store, in input order. Small inputs — a
request, a few files — never start workers.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field

from opswarden.core.clock import Clock
from opswarden.ingest.prepare import ItemResult, init_worker, prepare_chunk, prepare_item
from opswarden.ingest.reader import RawItem
from opswarden.sources.base import Source
from opswarden.sources.eventbridge import FingerprintRule
from opswarden.sources.registry import build_registry
from opswarden.store.sql import Outcome, Prepared, Rejected, SqlStore

PARALLEL_AFTER = 5000  # items prepared in-process before worker processes are worth starting
CHUNK = 250  # items per task sent to a worker

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
    """Turns raw items into stored events and dead letters.

    ``registry`` replaces the sources (tests); with it, preparation always stays in this process.
    """

    def __init__(
        self,
        store: SqlStore,
        clock: Clock,
        *,
        fingerprints: Sequence[FingerprintRule] = (),
        registry: Sequence[Source] | None = None,
        batch_size: int = 1000,
        workers: int = 1,
        parallel_after: int = PARALLEL_AFTER,
    ) -> None:
        self.store = store
        self.clock = clock
        self.fingerprints = tuple(fingerprints)
        self.registry = tuple(registry) if registry is not None else build_registry(self.fingerprints)
        self.batch_size = batch_size
        self.workers = workers if registry is None else 1
        self.parallel_after = parallel_after

    def ingest(self, items: Iterable[RawItem]) -> IngestSummary:
        with _fewer_collections():
            return self._ingest(items)

    def _ingest(self, items: Iterable[RawItem]) -> IngestSummary:
        batch = _Batch(self, IngestSummary())
        stream = iter(items)
        head = list(itertools.islice(stream, self.parallel_after))
        for item in head:
            batch.add(prepare_item(item, self.registry))
        if self.workers > 1 and len(head) == self.parallel_after:
            self._ingest_in_workers(stream, batch)
        else:
            for item in stream:
                batch.add(prepare_item(item, self.registry))
        batch.flush()
        return batch.summary

    def _ingest_in_workers(self, stream: Iterator[RawItem], batch: _Batch) -> None:
        # fork, not spawn/forkserver: workers start in milliseconds and never re-import the caller's
        # __main__. They only compute (no database handle is used in a child; they leave with _exit).
        context = multiprocessing.get_context("fork")
        inflight: deque[tuple[Future[list[ItemResult]], list[RawItem]]] = deque()
        with ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=init_worker, initargs=(self.fingerprints,)
        ) as pool:
            while chunk := list(itertools.islice(stream, CHUNK)):
                inflight.append((pool.submit(prepare_chunk, chunk), chunk))
                while len(inflight) > 2 * self.workers:  # bounded: memory stays flat
                    self._collect(*inflight.popleft(), batch)
            while inflight:
                self._collect(*inflight.popleft(), batch)

    def _collect(self, future: Future[list[ItemResult]], chunk: list[RawItem], batch: _Batch) -> None:
        try:
            results = future.result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): prepare its chunk here; nothing is lost.
            results = [prepare_item(item, self.registry) for item in chunk]
        for result in results:
            batch.add(result)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while ingesting.

    Ingest allocates millions of short-lived, acyclic objects (dicts, models); with the default
    threshold the collector runs every 700 allocations and rescans the caches each time — about a
    tenth of ingest CPU (benchmarks/ingest.py). Reference counting still frees everything promptly.
    """
    before = gc.get_threshold()
    gc.set_threshold(50_000, before[1], before[2])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass
class _Batch:
    """Prepared records and rejections waiting to be written, and the running summary."""

    ingestor: Ingestor
    summary: IngestSummary
    pending: list[Prepared] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, result: ItemResult) -> None:
        summary = self.summary
        summary.payloads += 1
        self.pending.extend(result.records)
        for name, count in result.by_source.items():
            summary.by_source[name] += count
        for rejected in result.rejected:
            self.rejected.append(rejected)
            summary.rejected += 1
            if len(summary.rejections) < MAX_REPORTED_REJECTS:
                summary.rejections.append(Rejection(rejected.origin, rejected.error))
        size = self.ingestor.batch_size
        if len(self.pending) >= size or len(self.rejected) >= size:
            self.flush()

    def flush(self) -> None:
        store, now = self.ingestor.store, self.ingestor.clock.now()
        if self.pending:
            for outcome in store.apply(self.pending, now):
                self.summary.outcomes[outcome] += 1
            self.pending.clear()
        if self.rejected:
            store.dead_letter(self.rejected, now)
            self.rejected.clear()
