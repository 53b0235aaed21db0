"""The assistant without a model: retrieval mode.

With no model configured (``OPSWARDEN_MODEL`` unset), ``opswarden ask`` still answers usefully: it
searches the knowledge base (documents and every event) and returns the ranked passages with their
citations, each event enriched from the store with what a person asks about first — its status and
lifecycle, deadline, owner teams, tickets and how many versions it has had and what changed last. It
says plainly that a model would read these and answer in prose. Everything here is read-only.

Event and document text is untrusted data: it is quoted, never followed. Nothing a model could read
later (this answer included) carries a secret, a signed link or an action token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opswarden.policy.org import EMPTY_ORG, Org
from opswarden.views import describe_changes

NO_MODEL = (
    "No model is configured (OPSWARDEN_MODEL), so this is retrieval mode: the most relevant events and "
    "passages, ranked, with their sources. A model would read them and answer in a few sentences."
)
SNIPPET = 320


@dataclass(slots=True)
class Source:
    """One ranked result with its citation."""

    rank: int
    citation: str
    kind: str  # event | doc
    snippet: str
    event: dict[str, Any] | None = None  # for events: what the store says about it now

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "citation": self.citation,
            "kind": self.kind,
            "snippet": self.snippet,
            "event": self.event,
        }


@dataclass(slots=True)
class RetrievalAnswer:
    question: str
    mode: str = "retrieval"
    note: str = NO_MODEL
    sources: list[Source] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "mode": self.mode,
            "note": self.note,
            "sources": [s.to_dict() for s in self.sources],
        }

    def text(self) -> str:
        """The answer as plain text, each source numbered with its citation."""
        lines = [self.note, ""]
        if not self.sources:
            lines.append("Nothing in the knowledge base matches. Add documents with `opswarden kb add PATH`.")
        for source in self.sources:
            lines.append(f"[{source.rank}] {source.citation}")
            if source.event is not None:
                lines.extend(f"    {line}" for line in _event_lines(source.event))
            lines.append(f"    “{source.snippet}”")
            lines.append("")
        return "\n".join(lines).rstrip()


def answer(question: str, hits: list[Any], event_detail: Any, org: Org = EMPTY_ORG) -> RetrievalAnswer:
    """Build the answer from knowledge-base ``hits``; ``event_detail(id)`` reads an event's JSON; the
    org names accounts and teams."""
    result = RetrievalAnswer(question)
    for rank, hit in enumerate(hits, 1):
        chunk = hit.chunk
        facts = None
        if chunk.kind == "event":
            try:
                facts = _facts(event_detail(chunk.source.removeprefix("event:")), org)
            except Exception:  # the event was pruned from the store: the passage still stands
                facts = None
        result.sources.append(Source(rank, hit.citation, chunk.kind, _snippet(chunk.text), facts))
    return result


def _facts(detail: dict[str, Any], org: Org) -> dict[str, Any]:
    decision = detail.get("decision") or {}
    versions = detail.get("versions") or []
    last_change = next((v["changes"] for v in reversed(versions) if v.get("changes")), None)
    return {
        "id": detail["id"],
        "title": detail["title"],
        "source": detail["source"],
        "status": detail["status"],
        "lifecycle": detail["lifecycle"],
        "severity": decision.get("severity") or detail["severity"],
        "deadline_at": detail.get("deadline_at"),
        "accounts": [_account(a, org) for a in detail.get("accounts", [])],
        "teams": [t.name if (t := org.team(ref)) else ref for ref in decision.get("teams", [])],
        "tickets": [f"{t['key']} ({t['backend']}, {t['status']})" for t in detail.get("tickets", [])],
        "versions": len(versions),
        "last_change": describe_changes(last_change) if last_change else None,
    }


def _event_lines(facts: dict[str, Any]) -> list[str]:
    lines = [f"{facts['title']} — {facts['severity']}, {facts['status']}, lifecycle {facts['lifecycle']}"]
    if facts["deadline_at"]:
        lines.append(f"deadline {facts['deadline_at']}")
    if facts["accounts"]:
        lines.append(
            "accounts " + ", ".join(facts["accounts"][:5]) + (" …" if len(facts["accounts"]) > 5 else "")
        )
    if facts["teams"]:
        lines.append("teams " + ", ".join(facts["teams"]))
    if facts["tickets"]:
        lines.append("tickets " + ", ".join(facts["tickets"]))
    lines.append(
        f"{facts['versions']} version(s)"
        + (f"; last change: {facts['last_change']}" if facts["last_change"] else "")
    )
    return lines


def _account(account: str, org: Org) -> str:
    known = org.account(account)
    return f"{account} {known.name}" if known is not None and known.name else account


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET else flat[: SNIPPET - 1] + "…"
