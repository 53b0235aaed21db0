"""The dispatcher on a real store (SQLite, and PostgreSQL when configured) with a scripted notifier.

What it promises (notify/dispatch.py, store/outbox.py): a delivery marks the row sent and moves the
event routed → notified, audited; a recoverable failure is retried after the backoff and never
before the channel's Retry-After; attempts run out into ``dead`` with a ``delivery_failed`` audit row;
an unrecoverable failure is dead at once; messages to one target about one event go in order; and a
row a stopped process left mid-send is never sent again: it is ``uncertain`` unless the channel's
``confirm()`` proves it arrived.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from opswarden.core.clock import FakeClock
from opswarden.errors import DeliveryError, DeliveryReason
from opswarden.notify.base import Delivered, Outgoing
from opswarden.notify.dispatch import Dispatcher
from opswarden.notify.message import Kind, Message, message_for
from opswarden.store import outbox
from opswarden.store.outbox import Row
from opswarden.store.schema import events
from opswarden.store.schema import outbox as outbox_table
from opswarden.store.sql import Prepared, SqlStore
from tests.factories import make_event

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHANNEL = "fake"
TARGET = "#infra"
BACKOFF = timedelta(seconds=10)
LEASE = timedelta(minutes=5)
EVENT = make_event("dispatch:one")


class ScriptedNotifier:
    """Records every send; raises the scripted DeliveryErrors first; confirm() answers as told."""

    channel = CHANNEL

    def __init__(self) -> None:
        self.attempts: list[Outgoing] = []  # every call of send(), failed or not
        self.sent: list[Outgoing] = []  # the deliveries
        self.script: list[DeliveryError] = []
        self.confirms: list[Outgoing] = []
        self.confirm_answer: Delivered | DeliveryError | None = None

    def fail(self, *errors: DeliveryError) -> None:
        self.script.extend(errors)

    def send(self, out: Outgoing) -> Delivered:
        self.attempts.append(out)
        if self.script:
            raise self.script.pop(0)
        self.sent.append(out)
        ref = {"n": len(self.sent), "key": out.dedupe_key}
        return Delivered(
            ref=ref, thread={"thread": out.dedupe_key} if out.message.kind is Kind.CARD else None
        )

    def confirm(self, out: Outgoing) -> Delivered | None:
        self.confirms.append(out)
        if isinstance(self.confirm_answer, DeliveryError):
            raise self.confirm_answer
        return self.confirm_answer


def server_error(retry_after: float | None = None) -> DeliveryError:
    return DeliveryError(
        "fake: HTTP 503", reason=DeliveryReason.SERVER, recoverable=True, retry_after=retry_after
    )


def rate_limited(seconds: float) -> DeliveryError:
    return DeliveryError(
        "fake: HTTP 429", reason=DeliveryReason.RATE_LIMITED, recoverable=True, retry_after=seconds
    )


def bad_auth() -> DeliveryError:
    return DeliveryError("fake: invalid_auth", reason=DeliveryReason.AUTH, recoverable=False)


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    store = SqlStore(database_url)
    body = EVENT.model_dump_json()
    store.apply([Prepared.of(EVENT, hashlib.sha256(body.encode()).hexdigest(), body, "test")], T0)
    with store.engine.begin() as conn:
        conn.execute(events.update().where(events.c.id == EVENT.id).values(lifecycle="routed"))
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def notifier() -> ScriptedNotifier:
    return ScriptedNotifier()


@pytest.fixture
def dispatcher(store: SqlStore, notifier: ScriptedNotifier, clock: FakeClock) -> Dispatcher:
    """One delivery thread: the scripted failures hit the messages in a known order."""
    return Dispatcher(
        store.engine, {CHANNEL: notifier}, clock, max_attempts=3, backoff=BACKOFF, lease=LEASE, concurrency=1
    )


# -- helpers ----------------------------------------------------------------------------------------


def message(kind: Kind = Kind.CARD, minutes: int = 0) -> Message:
    changes = ({"field": "status", "old": "open", "new": "closed"},) if kind is Kind.UPDATE else ()
    return message_for(EVENT, kind=kind, at=T0 + timedelta(minutes=minutes), changes=changes)


def queue(store: SqlStore, clock: FakeClock, *msgs: Message, target: str = TARGET) -> list[int]:
    """Add outbox rows for ``msgs`` (in order) to ``target``; their ids."""
    keys = [outbox.dedupe_key(EVENT.id, CHANNEL, target, m.kind.value, str(i)) for i, m in enumerate(msgs)]
    rows = [
        {
            "dedupe_key": key,
            "event_id": EVENT.id,
            "channel": CHANNEL,
            "target": target,
            "kind": m.kind.value,
            "payload": m.model_dump(mode="json"),
        }
        for key, m in zip(keys, msgs, strict=True)
    ]
    with store.engine.begin() as conn:
        outbox.add(conn, rows, clock.now())
        found = conn.execute(
            sa.select(outbox_table.c.id, outbox_table.c.dedupe_key).where(outbox_table.c.dedupe_key.in_(keys))
        ).all()
    ids = {key: row_id for row_id, key in found}
    return [ids[k] for k in keys]


def row(store: SqlStore, row_id: int) -> Row:
    with store.engine.connect() as conn:
        [found] = [r for r in outbox.rows(conn, event_id=EVENT.id, limit=1000) if r.id == row_id]
    return found


def lifecycle(store: SqlStore) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(sa.select(events.c.lifecycle).where(events.c.id == EVENT.id)).scalar_one())


def audits(store: SqlStore, action: str) -> list[dict[str, Any]]:
    return [a for a in store.audit_entries(EVENT.id) if a["action"] == action]


# -- delivery ---------------------------------------------------------------------------------------


def test_success_marks_sent_and_moves_routed_to_notified(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    [card_id] = queue(store, clock, message())

    summary = dispatcher.run()

    assert summary.sent == {CHANNEL: 1}
    [out] = notifier.sent
    assert out.outbox_id == card_id
    assert out.target == TARGET
    assert out.message == message()
    sent = row(store, card_id)
    assert sent.status == outbox.SENT
    assert sent.sent_at == T0
    assert sent.attempts == 1
    assert sent.result == {"n": 1, "key": out.dedupe_key}
    assert lifecycle(store) == "notified"
    [moved] = audits(store, "transition")
    assert moved["detail"]["from"] == "routed"
    assert moved["detail"]["to"] == "notified"
    assert moved["channel"] == CHANNEL
    assert moved["actor"] == "opswarden"
    with store.engine.connect() as conn:
        assert outbox.thread(conn, EVENT.id, CHANNEL, TARGET) == {"thread": out.dedupe_key}

    assert dispatcher.run().sent == {}  # nothing left: never sent twice
    assert len(notifier.sent) == 1


def test_a_reply_goes_to_the_cards_thread_and_the_transition_happens_once(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    queue(store, clock, message(), message(Kind.UPDATE, minutes=5))

    assert dispatcher.run().sent == {CHANNEL: 2}

    card, reply = notifier.sent
    assert card.thread is None
    assert reply.thread == {"thread": card.dedupe_key}
    assert reply.card == card.message
    assert len(audits(store, "transition")) == 1


def test_a_recoverable_failure_is_retried_after_the_backoff_not_before(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    [card_id] = queue(store, clock, message())
    notifier.fail(server_error())

    summary = dispatcher.run()

    assert summary.retried == 1
    assert summary.sent == {}
    waiting = row(store, card_id)
    assert waiting.status == outbox.PENDING
    assert waiting.attempts == 1
    assert waiting.next_attempt_at == T0 + BACKOFF
    assert waiting.last_error is not None
    assert "server" in waiting.last_error
    assert lifecycle(store) == "routed"

    assert dispatcher.run().sent == {}  # not due yet
    clock.advance(BACKOFF - timedelta(seconds=1))
    assert dispatcher.run().sent == {}
    assert len(notifier.attempts) == 1

    clock.advance(timedelta(seconds=1))
    assert dispatcher.run().sent == {CHANNEL: 1}
    done = row(store, card_id)
    assert (done.status, done.attempts, done.last_error) == (outbox.SENT, 2, None)
    assert lifecycle(store) == "notified"
    first, second = notifier.attempts
    assert first.dedupe_key == second.dedupe_key  # the same idempotency key on the retry


def test_backoff_doubles(store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier) -> None:
    dispatcher = Dispatcher(store.engine, {CHANNEL: notifier}, clock, max_attempts=5, backoff=BACKOFF)
    [card_id] = queue(store, clock, message())
    notifier.fail(server_error(), server_error(), server_error())

    dispatcher.run()
    assert row(store, card_id).next_attempt_at == T0 + BACKOFF
    clock.set(T0 + BACKOFF)
    dispatcher.run()
    assert row(store, card_id).next_attempt_at == T0 + BACKOFF + 2 * BACKOFF
    clock.set(T0 + 3 * BACKOFF)
    dispatcher.run()
    assert row(store, card_id).next_attempt_at == T0 + 3 * BACKOFF + 4 * BACKOFF


def test_retry_after_is_honoured(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    [card_id] = queue(store, clock, message())
    notifier.fail(rate_limited(120))

    dispatcher.run()

    waiting = row(store, card_id)
    assert waiting.status == outbox.PENDING
    assert waiting.next_attempt_at >= T0 + timedelta(seconds=120)
    assert "rate_limited" in (waiting.last_error or "")
    clock.advance(timedelta(seconds=119))
    assert dispatcher.run().sent == {}
    assert len(notifier.attempts) == 1
    clock.set(waiting.next_attempt_at)
    assert dispatcher.run().sent == {CHANNEL: 1}


def test_a_short_retry_after_does_not_shorten_the_backoff(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    [card_id] = queue(store, clock, message())
    notifier.fail(rate_limited(1))
    dispatcher.run()
    assert row(store, card_id).next_attempt_at == T0 + BACKOFF


def test_after_max_attempts_the_row_is_dead_and_audited(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    [card_id] = queue(store, clock, message())
    notifier.fail(*(server_error() for _ in range(5)))

    for _ in range(3):  # max_attempts=3
        dispatcher.run()
        clock.advance(timedelta(hours=2))  # past any backoff
    summary = dispatcher.run()

    assert len(notifier.attempts) == 3
    assert notifier.sent == []
    assert summary.sent == {}
    dead = row(store, card_id)
    assert (dead.status, dead.attempts) == (outbox.DEAD, 3)
    [failed] = audits(store, "delivery_failed")
    assert failed["detail"]["outbox_id"] == card_id
    assert failed["detail"]["kind"] == "card"
    assert "3 attempts" in failed["detail"]["why"]
    assert failed["channel"] == CHANNEL
    assert lifecycle(store) == "routed"


def test_an_unrecoverable_failure_is_dead_at_once(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    [card_id] = queue(store, clock, message())
    notifier.fail(bad_auth())

    summary = dispatcher.run()

    assert summary.dead == 1
    assert summary.retried == 0
    dead = row(store, card_id)
    assert (dead.status, dead.attempts) == (outbox.DEAD, 1)
    assert "auth" in (dead.last_error or "")
    [failed] = audits(store, "delivery_failed")
    assert failed["detail"]["why"] == "not recoverable"
    clock.advance(timedelta(days=1))
    dispatcher.run()
    assert len(notifier.attempts) == 1


def test_an_unconfigured_channel_is_dead_not_stuck(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier
) -> None:
    dispatcher = Dispatcher(store.engine, {}, clock, max_attempts=3, backoff=BACKOFF)
    [card_id] = queue(store, clock, message())
    assert dispatcher.run().dead == 1
    assert row(store, card_id).status == outbox.DEAD
    assert len(audits(store, "delivery_failed")) == 1


# -- ordering ---------------------------------------------------------------------------------------


def test_a_later_message_waits_while_the_first_is_pending_a_retry(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    card_id, update_id = queue(store, clock, message(), message(Kind.UPDATE, minutes=5))
    [other_id] = queue(store, clock, message(), target="#alerts")  # another target: not held up
    notifier.fail(server_error())

    summary = dispatcher.run()

    assert [o.outbox_id for o in notifier.attempts] == [card_id, other_id]
    assert summary.sent == {CHANNEL: 1}
    assert row(store, update_id).status == outbox.PENDING
    assert row(store, update_id).attempts == 0

    clock.advance(BACKOFF / 2)
    dispatcher.run()
    assert [o.outbox_id for o in notifier.sent] == [other_id]  # the update still waits

    clock.advance(BACKOFF)
    dispatcher.run()
    assert [o.outbox_id for o in notifier.sent] == [other_id, card_id, update_id]
    card, update = notifier.sent[1:]
    assert update.thread == {"thread": card.dedupe_key}  # the reply found the card's thread
    assert row(store, update_id).status == outbox.SENT


def test_parallel_delivery_never_lets_a_reply_overtake_its_card(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier
) -> None:
    targets = [f"#team-{i}" for i in range(12)]
    for target in targets:
        queue(
            store,
            clock,
            message(),
            message(Kind.UPDATE, minutes=5),
            message(Kind.ANSWER, minutes=9),
            target=target,
        )
    parallel = Dispatcher(store.engine, {CHANNEL: notifier}, clock, lease=LEASE, concurrency=4)

    runs = 0
    while parallel.run().sent:
        runs += 1

    assert len(notifier.sent) == 36
    for target in targets:
        kinds = [o.message.kind for o in notifier.sent if o.target == target]
        assert kinds == [Kind.CARD, Kind.UPDATE, Kind.ANSWER], target
    assert runs == 1  # one run drains every thread, batch after batch, in order


def test_a_dead_first_message_does_not_block_the_rest(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    card_id, update_id = queue(store, clock, message(), message(Kind.UPDATE, minutes=5))
    notifier.fail(bad_auth())
    dispatcher.run()
    assert row(store, card_id).status == outbox.DEAD
    assert row(store, update_id).status == outbox.SENT
    [update] = notifier.sent
    assert update.thread is None  # no card arrived: no thread to reply in


# -- crash recovery ---------------------------------------------------------------------------------


def crash_mid_send(store: SqlStore, clock: FakeClock) -> int:
    """Queue a card and claim it as a dispatcher would, then 'stop' before recording the result."""
    [card_id] = queue(store, clock, message())
    with store.engine.begin() as conn:
        [claimed] = outbox.claim(conn, clock.now(), LEASE, 10)
    assert claimed.id == card_id
    assert row(store, card_id).status == outbox.SENDING
    return card_id


def test_a_claim_still_held_is_left_alone(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    card_id = crash_mid_send(store, clock)
    clock.advance(LEASE - timedelta(seconds=1))
    summary = dispatcher.run()
    assert (summary.sent, summary.uncertain, summary.confirmed) == ({}, 0, 0)
    assert row(store, card_id).status == outbox.SENDING
    assert notifier.attempts == []
    assert notifier.confirms == []


def test_an_abandoned_send_becomes_uncertain_and_is_not_sent_again(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    card_id = crash_mid_send(store, clock)
    clock.advance(LEASE + timedelta(seconds=1))

    summary = dispatcher.run()

    assert summary.uncertain == 1
    assert summary.sent == {}
    assert [o.outbox_id for o in notifier.confirms] == [card_id]
    assert notifier.attempts == []
    uncertain = row(store, card_id)
    assert uncertain.status == outbox.UNCERTAIN
    assert len(audits(store, "delivery_uncertain")) == 1
    assert lifecycle(store) == "routed"

    clock.advance(timedelta(days=1))
    again = dispatcher.run()
    assert (again.sent, again.uncertain) == ({}, 0)
    assert notifier.attempts == []
    assert len(notifier.confirms) == 1


def test_an_abandoned_send_the_channel_confirms_is_sent(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    card_id = crash_mid_send(store, clock)
    clock.advance(LEASE + timedelta(seconds=1))
    notifier.confirm_answer = Delivered(ref={"ts": "1.000001"}, thread={"ts": "1.000001"})

    summary = dispatcher.run()

    assert summary.confirmed == 1
    assert summary.uncertain == 0
    assert notifier.attempts == []
    sent = row(store, card_id)
    assert sent.status == outbox.SENT
    assert sent.result == {"ts": "1.000001"}
    assert lifecycle(store) == "notified"
    with store.engine.connect() as conn:
        assert outbox.thread(conn, EVENT.id, CHANNEL, TARGET) == {"ts": "1.000001"}
    clock.advance(timedelta(days=1))
    dispatcher.run()
    assert notifier.attempts == []


def test_a_failing_confirm_counts_as_unproven(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    card_id = crash_mid_send(store, clock)
    clock.advance(LEASE + timedelta(seconds=1))
    notifier.confirm_answer = server_error()

    assert dispatcher.run().uncertain == 1
    assert row(store, card_id).status == outbox.UNCERTAIN
    assert notifier.attempts == []


def test_an_uncertain_row_holds_back_nothing_and_an_operator_can_requeue_it(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier, dispatcher: Dispatcher
) -> None:
    card_id = crash_mid_send(store, clock)
    [update_id] = queue(store, clock, message(Kind.UPDATE, minutes=5))
    dispatcher.run()  # the update waits behind the card's claim
    assert notifier.attempts == []
    clock.advance(LEASE + timedelta(seconds=1))
    dispatcher.run()  # the card is uncertain; the update goes out
    assert row(store, card_id).status == outbox.UNCERTAIN
    assert [o.outbox_id for o in notifier.sent] == [update_id]

    with store.engine.begin() as conn:
        assert outbox.retry(conn, card_id, clock.now())
    dispatcher.run()
    assert [o.outbox_id for o in notifier.sent] == [update_id, card_id]
    assert row(store, card_id).status == outbox.SENT


def test_a_stop_mid_batch_leaves_only_the_row_in_flight_uncertain(
    store: SqlStore, clock: FakeClock, notifier: ScriptedNotifier
) -> None:
    """An exception out of send() (a bug, Ctrl-C) stops the run; the rows claimed with the one in
    flight were never tried and must be sent later, not written off as uncertain. (One delivery
    thread, so that exactly one row is in flight; with several, each row in flight is.)"""
    dispatcher = Dispatcher(
        store.engine, {CHANNEL: notifier}, clock, max_attempts=3, backoff=BACKOFF, lease=LEASE, concurrency=1
    )
    [first_id] = queue(store, clock, message())
    [second_id] = queue(store, clock, message(), target="#alerts")
    [third_id] = queue(store, clock, message(), target="#security")

    def stop(out: Outgoing) -> Delivered:
        notifier.attempts.append(out)
        raise KeyboardInterrupt

    original = notifier.send
    notifier.send = stop  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        dispatcher.run()
    notifier.send = original  # type: ignore[method-assign]
    assert [o.outbox_id for o in notifier.attempts] == [first_id]

    clock.advance(LEASE + timedelta(seconds=1))
    summary = dispatcher.run()

    assert summary.uncertain == 1
    assert row(store, first_id).status == outbox.UNCERTAIN  # in flight: may have arrived
    assert sorted(o.outbox_id for o in notifier.sent) == [second_id, third_id]
    assert row(store, second_id).status == outbox.SENT
    assert row(store, second_id).attempts == 1
    assert row(store, third_id).status == outbox.SENT
