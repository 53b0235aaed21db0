"""What the assistant's agents share during one question, and what they hand back.

:class:`AssistantDeps` is every tool's context: the application, who asks, the event the question is
about (a Slack thread's event) and the character budget of one tool output. It also records, as the
run goes, the citations the tools returned (an answer may cite only those), the proposals the tools
recorded for a person to approve, and which tools ran.
"""

from __future__ import annotations

import shlex
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from opswarden.assistant.fence import clip

if TYPE_CHECKING:
    from opswarden.app import Application

DEFAULT_BUDGET = 6000  # characters of one tool output (about 1,500 tokens)


class Proposal(BaseModel):
    """A change the assistant suggests and a person must make: recorded in the audit log
    (``assistant_proposal``), never carried out by the assistant, never holding a token or a link."""

    id: int = Field(description="the audit row that records the proposal")
    action: Literal["create_ticket", "comment_ticket"]
    event_id: str
    team: str | None = None
    ticket: str | None = None
    comment: str | None = None
    reason: str
    proposed_for: str = Field(description="the person whose question led to it")
    status: Literal["awaiting approval"] = "awaiting approval"
    approve_with: str = Field(description="the command a person runs to carry it out")

    def summary(self) -> str:
        if self.action == "create_ticket":
            return f"open a ticket for team {self.team} on event {self.event_id}"
        return f"comment on ticket {self.ticket} (event {self.event_id})"


class Reply(BaseModel):
    """What the model answers: prose and the citation strings of the sources it used."""

    text: str = Field(description="the answer, in a few sentences")
    citations: list[str] = Field(
        default_factory=list, description="citation strings exactly as the tools gave them ('cite as: …')"
    )


class Answer(BaseModel):
    """The assistant's answer as a program reads it (``opswarden ask --format json``: ``to_dict()``).

    The prose is the field ``text`` (``answer.body`` in Python); ``text()`` renders the whole answer
    for people, like retrieval mode's answer does."""

    question: str
    mode: Literal["model"] = "model"
    model: str
    body: str = Field(alias="text", description="the answer's prose")
    citations: list[str] = Field(default_factory=list, description="only sources a tool returned")
    unverified_citations: list[str] = Field(
        default_factory=list, description="citations the model gave that no tool returned (dropped)"
    )
    proposals: list[Proposal] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list, description="the tools that ran, in order")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def text(self) -> str:
        """The answer as plain text: prose, numbered sources, proposals awaiting approval."""
        lines = [self.body.strip(), ""]
        lines.extend(f"[{n}] {citation}" for n, citation in enumerate(self.citations, 1))
        if self.proposals:
            lines += ["", "Proposed, awaiting a person's approval (nothing was changed):"]
            for p in self.proposals:
                lines.append(f"  - {p.summary()}: {p.reason}")
                lines.append(f"    to approve: {p.approve_with}")
        return "\n".join(lines).rstrip()


@dataclass
class AssistantDeps:
    app: Application
    user: str
    event_id: str | None = None  # the event the conversation is about, if any
    budget: int = DEFAULT_BUDGET
    citations: set[str] = field(default_factory=set)
    proposals: list[Proposal] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)  # tools run in threads: one at a time

    def cite(self, citation: str) -> str:
        """Record a citation a tool returned; the line that tells the model how to cite it."""
        self.citations.add(citation)
        return f"cite as: {citation}"

    def out(self, tool: str, text: str) -> str:
        """A tool's output, recorded and cut to the budget."""
        self.tools.append(tool)
        return clip(text, self.budget)

    def verified(self, citations: list[str]) -> tuple[list[str], list[str]]:
        """(citations a tool returned, the rest); a longer form of a returned citation counts."""
        good: list[str] = []
        bad: list[str] = []
        for citation in dict.fromkeys(c.strip() for c in citations if c.strip()):
            known = citation in self.citations or any(citation.startswith(f"{c} ") for c in self.citations)
            (good if known else bad).append(citation)
        return good, bad

    def mentioned(self, text: str) -> list[str]:
        """Returned citations the text names (for a model that answered in plain text)."""
        return sorted(c for c in self.citations if c in text)


def approve_command(*args: str) -> str:
    return " ".join(shlex.quote(a) for a in ("opswarden", *args))
