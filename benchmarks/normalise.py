"""Normaliser micro-benchmark: µs per event for each ingest-benchmark template, and for hashing.

    python benchmarks/normalise.py                 # defaults: 500 payloads per round, 12 rounds
    python benchmarks/normalise.py --payloads 200 --rounds 5

Uses the payload templates of ``benchmarks/ingest.py`` (AWS Health, Security Hub, CloudWatch alarm,
GuardDuty, Config), and prints two figures per template, in µs per event:

* ``timeit``: ``registry.normalise(payload)`` timed with :mod:`timeit` on one payload at a time (10
  payloads of the round's slice, best of 3 repeats each, averaged; the best round counts). Every cache
  in the normalisers holds that payload's timestamps and ARNs after the first call: this is the cost of
  the normaliser's own work.
* ``stream``: each round normalises a fresh slice of distinct payloads (new ids, accounts cycling, new
  timestamps) as an ingest does: each payload right after ``orjson.loads`` made it from its JSON line.
  The best round's time for loads + normalise, less the best round's time for the loads alone. Parsing
  each new timestamp is included (the caches only help with repeated ones).

The last line times ``content_dict`` + ``hash_content`` (what the pipeline computes for every event)
over the events of the last round. Stream times are CPU time of this process (``time.process_time``),
so other work on a shared machine inflates them less than wall-clock time would; the garbage collector
is off while timing, as ``timeit`` does. Rounds go through all templates in turn, so each template's
best round is picked from samples spread over the whole run (a shared machine is busy in bursts).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import time
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from opswarden.core.event import Event, content_dict, hash_content
from opswarden.sources.registry import find_source, normalise

Template = Callable[[int, float, random.Random, bool], dict[str, Any]]
T0 = 1_767_225_600.0  # 2026-01-01, as in the ingest benchmark


def _templates() -> dict[str, Template]:
    # benchmarks/ is not a package: load the sibling script by path.
    spec = importlib.util.spec_from_file_location("ingest_benchmark", Path(__file__).with_name("ingest.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {t.__name__: t for t in module.TEMPLATES}


def _payloads(template: Template, start: int, count: int, rng: random.Random) -> list[dict[str, Any]]:
    return [template(n, T0 + n * 30, rng, n % 5 == 0) for n in range(start, start + count)]


@contextmanager
def _no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _time_stream(lines: list[bytes]) -> tuple[float, float, list[Event]]:
    """Seconds for loads + normalise of every line, seconds for the loads alone, and the events."""
    events: list[Event] = []
    with _no_gc():
        started = time.process_time()
        for line in lines:
            orjson.loads(line)
        loads = time.process_time() - started
    with _no_gc():
        started = time.process_time()
        for line in lines:
            events.extend(normalise(orjson.loads(line)))
        return time.process_time() - started, loads, events


def _time_each(payloads: list[dict[str, Any]], number: int = 50) -> float:
    """Mean over the payloads of timeit's best per-call time (timeit turns the collector off itself)."""
    per_call = []
    for payload in payloads:
        events = len(normalise(payload))
        best = min(timeit.repeat(lambda p=payload: normalise(p), number=number, repeat=3))  # type: ignore[misc]
        per_call.append(best / number / events)
    return sum(per_call) / len(per_call)


def _time_hash(events: list[Event]) -> float:
    with _no_gc():
        started = time.process_time()
        for event in events:
            hash_content(content_dict(event))
        return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=500, help="distinct payloads per template and round")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(7)
    templates = _templates()
    both = dict.fromkeys(templates, float("inf"))
    loads = dict.fromkeys(templates, float("inf"))
    each = dict.fromkeys(templates, float("inf"))
    sources: dict[str, str] = {}
    every: list[Event] = []
    for r in range(args.rounds + 1):  # round 0 only warms up
        for name, template in templates.items():
            payloads = _payloads(template, r * args.payloads, args.payloads, rng)
            seconds, parsing, events = _time_stream([orjson.dumps(p) for p in payloads])
            if r:
                both[name] = min(both[name], seconds / len(events))
                loads[name] = min(loads[name], parsing / len(events))
                each[name] = min(each[name], _time_each(payloads[:10]))
            if r == args.rounds:
                every.extend(events)
                sources[name] = find_source(payloads[0]).name
    print(f"{'template':<10} {'source':<12} {'timeit µs':>10} {'stream µs':>10}")
    for name in templates:
        stream = both[name] - loads[name]
        print(f"{name:<10} {sources[name]:<12} {each[name] * 1e6:10.1f} {stream * 1e6:10.1f}")
    hashing = min(_time_hash(every) for _ in range(args.rounds))
    print(f"{'content_dict + hash_content':<34} {hashing / len(every) * 1e6:10.1f}")


if __name__ == "__main__":
    main()
