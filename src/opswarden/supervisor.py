"""The supervisor: policy, org, channels and the stages that act on stored events, built from settings.

``Supervisor.process()`` runs the stages in order — triage (decide queued events, queue messages),
reminders (queue what fell due), dispatch (send what is due) — and is what ``opswarden ingest`` runs
after storing, what ``opswarden notify send`` runs alone, and what ``opswarden serve`` runs in the
background every few seconds. Each stage is safe to run from several processes at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from opswarden.act.answers import Action, Answered, answer
from opswarden.act.links import LinkSigner, load_secret
from opswarden.core.clock import Clock
from opswarden.errors import ConfigurationError
from opswarden.notify.base import Notifier
from opswarden.notify.channels.console import ConsoleNotifier
from opswarden.notify.channels.email import EmailNotifier
from opswarden.notify.channels.teams import TeamsNotifier
from opswarden.notify.channels.tickets import TicketNotifier
from opswarden.notify.channels.webhook import WebhookNotifier
from opswarden.notify.dispatch import Dispatcher, DispatchSummary
from opswarden.notify.message import DIGEST_EVENT, Kind, Message, digest_message
from opswarden.notify.render.links import ActionLinks
from opswarden.policy import Org, Policy, load_org, load_policy
from opswarden.policy.org import EMPTY_ORG
from opswarden.settings import Settings
from opswarden.store import outbox
from opswarden.store import triage as triage_store
from opswarden.store.sql import SqlStore
from opswarden.tickets.registry import build_ticketer
from opswarden.tickets.sync import SyncSummary, TicketSync
from opswarden.triage import messages
from opswarden.triage.reminders import Reminders
from opswarden.triage.stage import TriageStage, TriageSummary
from opswarden.triage.targets import CONSOLE, TICKETS, Reach, Target

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from opswarden.assistant.triage import AiTriage
    from opswarden.kb.events import EventIndexer
    from opswarden.lake.archive import Archiver

# With no policy.yaml: every event is routed to the console sink with its own severity.
DEFAULT_POLICY = "route:\n  name: default\n  channels: [console]\n"


@dataclass(slots=True)
class ProcessSummary:
    triage: TriageSummary
    reminders: int
    dispatch: DispatchSummary
    archive: dict[str, Any] | None = None  # None: the lake extra is not installed
    kb: dict[str, Any] | None = None  # events indexed in the knowledge base; None: no kb extra
    ai: dict[str, int] | None = None  # AI triage (assistant/triage.py); None: not configured

    def to_dict(self) -> dict[str, Any]:
        return {
            "triage": self.triage.to_dict(),
            "ai": self.ai,
            "reminders": self.reminders,
            "dispatch": self.dispatch.to_dict(),
            "archive": self.archive,
            "kb": self.kb,
        }


def load_rules(settings: Settings) -> tuple[Policy, Org, str]:
    """Policy and org from their files (the default policy and an empty org when a file is absent)."""
    org = EMPTY_ORG
    if settings.org_path.exists():
        org = load_org(_read(settings.org_path), str(settings.org_path))
    text, name = DEFAULT_POLICY, "(default policy)"
    if settings.policy_path.exists():
        text, name = _read(settings.policy_path), str(settings.policy_path)
    return load_policy(text, name, org=org), org, text


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None


class Supervisor:
    def __init__(
        self, settings: Settings, store: SqlStore, clock: Clock, *, model: Model | None = None
    ) -> None:
        """``model`` replaces the one OPSWARDEN_MODEL names (tests pass a FunctionModel)."""
        self.settings = settings
        self.store = store
        self.clock = clock
        self.policy, self.org, policy_text = load_rules(settings)
        self.http = httpx.Client(timeout=settings.notify_timeout_seconds)
        self.channels = build_channels(settings, self.http, clock)
        self.ticketer = build_ticketer(settings, store.engine, clock, self.http)
        self.channels[TICKETS] = TicketNotifier(
            self.ticketer,
            self.org,
            fields=settings.ticket_fields,
            on_resolved=settings.ticket_on_resolved,
            public_url=settings.public_url,
        )
        reach = Reach(
            configured=frozenset(self.channels),
            slack_default=settings.slack_default_channel,
            webhook_url=settings.webhook_url,
        )
        secret = settings.link_secret.get_secret_value() if settings.link_secret else None
        self.signer = LinkSigner(
            load_secret(secret, settings.data_dir), timedelta(hours=settings.link_ttl_hours)
        )
        self.reach = reach
        self.triage = TriageStage(store.engine, self.policy, self.org, reach, clock, policy_text)
        self.ai_triage = self._ai_triage(model, reach)
        self.reminders = Reminders(store.engine, self.org, clock)
        self._expired_at: datetime | None = None
        self._synced_at: datetime | None = None
        self._kb_indexer: EventIndexer | None = None  # built on first use (the kb extra)
        self.dispatcher = Dispatcher(
            store.engine,
            self.channels,
            clock,
            max_attempts=settings.outbox_max_attempts,
            backoff=timedelta(seconds=settings.outbox_backoff_seconds),
            links=self.links if settings.public_url else None,
        )

    def close(self) -> None:
        if self._kb_indexer is not None:
            self._kb_indexer.close()
        self.http.close()

    def _ai_triage(self, model: Model | None, reach: Reach) -> AiTriage | None:
        """The AI triage stage when the policy asks for it (``ai: {triage: true}``) and a model is
        configured; None otherwise (events no rule decides keep the root's defaults)."""
        if not self.policy.ai.triage:
            return None
        from opswarden.assistant.models import build_model

        model = model or build_model(self.settings)
        if model is None:
            return None
        from opswarden.assistant.triage import AiTriage

        return AiTriage(self.store.engine, model, self.org, self.clock, self.policy, reach)

    def process(self, *, deliver: bool = True) -> ProcessSummary:
        triaged = self.triage.run()
        proposed = self.ai_triage.run().to_dict() if self.ai_triage is not None else None
        reminded = self.reminders.run()
        sent = self.dispatcher.run() if deliver else DispatchSummary()
        self._sync_now()
        archiver = self.archiver()
        archived = None
        if archiver is not None:
            archived = archiver.run().to_dict()
            self._expire(archiver)
        return ProcessSummary(triaged, reminded, sent, archived, self._index_kb(), proposed)

    def _index_kb(self) -> dict[str, Any] | None:
        """Events whose current version changed, into the knowledge base (docs/kb.md#events)."""
        if self._kb_indexer is None:
            try:
                from opswarden.kb.events import EventIndexer
            except ImportError:
                return None
            names = {a.id: a.name for a in self.org.accounts if a.name}
            self._kb_indexer = EventIndexer(self.settings, self.store.engine, self.http, names)
        return self._kb_indexer.run()

    def _sync_now(self) -> None:
        """Ticket reconciliation while processing, every OPSWARDEN_TICKET_SYNC_MINUTES."""
        now = self.clock.now()
        every = timedelta(minutes=self.settings.ticket_sync_minutes)
        if self._synced_at is None or now - self._synced_at >= every:
            self.sync_tickets()
            self._synced_at = now

    def _expire(self, archiver: Archiver) -> None:
        """Retention, when configured: at most once an hour (listing a big S3 lake is not free)."""
        days = self.settings.lake_retention_days
        now = self.clock.now()
        if days is None or (self._expired_at is not None and now - self._expired_at < timedelta(hours=1)):
            return
        from opswarden.lake.maintain import expire

        expire(archiver.lake, days, now)
        self._expired_at = now

    def archiver(self) -> Archiver | None:
        """The lake's archiver; None without the lake extra (pyarrow): the queue then waits for it."""
        try:
            from opswarden.lake.archive import Archiver
            from opswarden.lake.fs import Lake
        except ImportError:
            return None
        lake = Lake.open(self.settings.lake, s3_endpoint=self.settings.lake_s3_endpoint)
        return Archiver(self.store.engine, lake, batch_rows=self.settings.lake_batch_rows)

    def answer(
        self,
        event_id: str,
        action: Action,
        *,
        actor: str,
        channel: str,
        note: str | None = None,
        nonce: str | None = None,
    ) -> Answered:
        return answer(
            self.store.engine,
            self.org,
            event_id,
            action,
            actor=actor,
            channel=channel,
            now=self.clock.now(),
            note=note,
            nonce=nonce,
            reach=self.reach,
        )

    def send_digest(self, title: str, markdown: str) -> tuple[list[str], list[str]]:
        """Queue a digest to every ``OPSWARDEN_DIGEST_TO`` target and deliver what is due; the targets
        (``channel address``) and notes on fallbacks. The same digest is never queued twice for a
        target (a timer that fires twice sends once)."""
        now = self.clock.now()
        msg = digest_message(title, markdown, now)
        targets, notes = digest_targets(self.settings, frozenset(self.channels))
        rows = [
            {
                "dedupe_key": outbox.dedupe_key(DIGEST_EVENT, title, t.channel, t.address),
                "event_id": DIGEST_EVENT,
                "channel": t.channel,
                "target": t.address,
                "kind": Kind.DIGEST.value,
                "payload": msg.model_dump(mode="json"),
            }
            for t in targets
        ]
        with self.store.engine.begin() as conn:
            outbox.add(conn, rows, now)
        self.dispatcher.run()
        return [f"{t.channel} {t.address}" for t in targets], notes

    def open_ticket(self, event_id: str, team: str) -> None:
        """Queue a ticket for ``team`` on an event (``tickets create``) and deliver: one per event and
        team, ever (the same key as the policy's), so asking twice opens one."""
        with self.store.engine.begin() as conn:
            [subject] = triage_store.load_subjects(conn, [event_id])
            msg = messages.build(
                subject.event,
                subject.decision,
                self.org,
                kind=Kind.CARD,
                lifecycle=subject.lifecycle,
                now=self.clock.now(),
            )
            outbox.add(
                conn,
                [
                    {
                        "dedupe_key": outbox.dedupe_key(event_id, "card", TICKETS, team),
                        "event_id": event_id,
                        "channel": TICKETS,
                        "target": team,
                        "kind": Kind.CARD.value,
                        "payload": msg.model_dump(mode="json"),
                    }
                ],
                self.clock.now(),
            )
        self.dispatcher.run()

    def sync_tickets(self) -> SyncSummary:
        return TicketSync(
            self.store.engine, self.ticketer, self.clock, self.settings.ticket_on_manual_close
        ).run()

    def links(self, message: Message, recipient: str) -> ActionLinks | None:
        """Signed answer links for one recipient (only with OPSWARDEN_PUBLIC_URL set)."""
        base = (self.settings.public_url or "").rstrip("/")
        if not base:
            return None
        now = self.clock.now()

        def url(action: str) -> str:
            return f"{base}/answers/{self.signer.sign(message.event_id, action, recipient, now)}"

        return ActionLinks(
            acknowledge=url("acknowledge"),
            approve=url("approve") if message.require_approval else None,
            reject=url("reject") if message.require_approval else None,
            event=f"{base}/events/{message.event_id}",
        )


def digest_targets(settings: Settings, configured: frozenset[str]) -> tuple[list[Target], list[str]]:
    """``OPSWARDEN_DIGEST_TO`` as targets; an unconfigured channel falls back to the console."""
    targets: list[Target] = []
    notes: list[str] = []
    for item in settings.digest_to:
        channel, _, address = item.partition(":")
        if channel == "webhook":
            address = address or settings.webhook_url or ""
        if channel not in configured or (channel != CONSOLE and not address):
            notes.append(
                f"{item}: {channel} is not configured or has no address; sent to the console instead"
            )
            channel, address = CONSOLE, CONSOLE
        targets.append(Target(channel, address or CONSOLE))
    return list(dict.fromkeys(targets)), notes


def console_path(settings: Settings) -> Path | None:
    if settings.console_sink == "-":
        return None
    return Path(settings.console_sink) if settings.console_sink else settings.data_dir / "notifications.log"


def build_channels(settings: Settings, http: httpx.Client, clock: Clock) -> dict[str, Notifier]:
    """One notifier per configured channel: the explicit registry of channels."""
    channels: dict[str, Notifier] = {
        CONSOLE: ConsoleNotifier(console_path(settings)),
        "teams": TeamsNotifier(http),  # each team's webhook URL is its own configuration
    }
    if settings.slack_bot_token:
        from opswarden.notify.channels.slack import SlackNotifier

        channels["slack"] = SlackNotifier(
            settings.slack_bot_token.get_secret_value(),
            settings.slack_api_url,
            settings.notify_timeout_seconds,
        )
    if settings.smtp_host:
        channels["email"] = EmailNotifier(
            settings.smtp_host,
            settings.smtp_port,
            settings.email_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.notify_timeout_seconds,
        )
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else None
        channels["webhook"] = WebhookNotifier(http, clock, secret)
    return channels
