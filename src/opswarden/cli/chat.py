"""``opswarden chat``: the assistant in the terminal, one question after another.

A read–answer loop on ``input()`` (line editing and ↑ history with the standard ``readline`` module
where Python has it). Each question goes to :meth:`Application.ask`; the earlier turns of the session
are its context — as ``history=`` when ``ask`` takes it (model-backed agents), else the last few are
written after the question, clearly labelled (retrieval mode searches with the question's words
first). Commands: ``/sources N`` shows source N of the last answer in full, ``/clear`` forgets the
conversation, ``/help``, ``/quit`` (or end of input, Ctrl-D).
"""

from __future__ import annotations

import contextlib
import getpass
import inspect
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from opswarden.app import Application
from opswarden.cli.common import console, get_app, print_error
from opswarden.errors import OpswardenError

PROMPT = "you> "
CONTEXT_TURNS = 6  # earlier turns written into the question when ask() takes no history
TURN_CHARS = 300  # each such turn, at most
HELP = (
    "Ask a question about your events, their history or your runbooks. Earlier questions and answers "
    "in this session are the context of the next one.\n"
    "  /sources N   show source N of the last answer in full\n"
    "  /clear       forget the conversation so far\n"
    "  /help        this help\n"
    "  /quit        leave (or Ctrl-D)"
)


@dataclass
class Session:
    """One chat: the transcript and the last answer (for ``/sources``)."""

    app: Application
    k: int = 6
    user: str = "cli"  # who proposals are recorded for (model-backed agents)
    turns: list[dict[str, str]] = field(default_factory=list)  # {"role": "user"|"assistant", "content"}
    last_question: str | None = None
    last_answer: dict[str, Any] | None = None

    def ask(self, question: str) -> str:
        """Ask with the conversation so far as context; remember the turn; the answer's text."""
        ask: Any = self.app.ask  # may take history= and user= (model-backed agents)
        kwargs: dict[str, Any] = {"user": self.user} if _accepts(ask, "user") else {}
        if self.turns and _accepts(ask, "history"):
            asked = question
            answer = ask(question, self.k, history=list(self.turns), **kwargs)
        else:
            asked = with_history(question, self.turns)
            answer = ask(asked, self.k, **kwargs)
        text: str = answer.text()
        self.turns += [{"role": "user", "content": question}, {"role": "assistant", "content": text}]
        self.last_question, self.last_answer = asked, answer.to_dict()
        return text

    def clear(self) -> None:
        self.turns.clear()
        self.last_question = self.last_answer = None

    def source(self, number: int) -> str:
        """Source ``number`` of the last answer in full: its citation, what the store says about an
        event, and the whole passage (looked up again in the knowledge base by its citation)."""
        sources = (self.last_answer or {}).get("sources") or []
        if not sources:
            return "No sources yet: ask a question first."
        if not 1 <= number <= len(sources):
            return f"No source {number}: the last answer has {len(sources)} (1–{len(sources)})."
        source = sources[number - 1]
        citation = str(source.get("citation") or "")
        lines = [f"[{number}] {citation}"]
        event = source.get("event")
        if isinstance(event, dict):
            lines += [
                f"    {key}: {_flat(value)}" for key, value in event.items() if value not in (None, [], "")
            ]
        lines += ["", self._passage(citation) or str(source.get("snippet") or "")]
        return "\n".join(lines).rstrip()

    def _passage(self, citation: str) -> str | None:
        if not citation or self.last_question is None:
            return None
        try:
            hits = self.app.kb_search(self.last_question, max(self.k, 10))
        except Exception:  # the snippet stands in for it
            return None
        return next((h.chunk.text for h in hits if h.citation == citation), None)


def with_history(question: str, turns: list[dict[str, str]]) -> str:
    """The question, then the last few turns, labelled as context."""
    recent = turns[-CONTEXT_TURNS:]
    if not recent:
        return question
    lines = [question, "Context — earlier in this conversation:"]
    for turn in recent:
        text = " ".join(turn["content"].split())
        if len(text) > TURN_CHARS:
            text = text[: TURN_CHARS - 1] + "…"
        lines.append(f"- {turn['role']}: {text}")
    return "\n".join(lines)


def _accepts(function: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _flat(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _enable_line_editing() -> None:
    with contextlib.suppress(ImportError):  # Windows without pyreadline: plain input()
        import readline  # noqa: F401 - importing it gives input() line editing and history


def say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def chat_command(
    ctx: typer.Context,
    k: Annotated[int, typer.Option(min=1, max=50, help="how many sources per answer")] = 6,
) -> None:
    """Chat with the assistant: questions one after another, earlier turns as context (/help)."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (a container)
        user = "cli"
    session = Session(get_app(ctx), k=k, user=user)
    _enable_line_editing()
    say("opswarden chat — ask about your events and runbooks; /help for commands, /quit to leave.")
    while True:
        try:
            line = input(PROMPT)
        except EOFError:
            say("")
            break
        except KeyboardInterrupt:
            say("")
            continue
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            command, _, argument = line.partition(" ")
            command = command.lower()
            if command in ("/quit", "/exit", "/q"):
                break
            if command == "/clear":
                session.clear()
                say("Conversation cleared.")
            elif command == "/help":
                say(HELP)
            elif command in ("/sources", "/source"):
                if not argument.strip().isdigit():
                    say("Usage: /sources N (a source number of the last answer)")
                else:
                    say(session.source(int(argument.strip())))
            else:
                say(f"Unknown command {command}. /help lists them.")
            continue
        try:
            say(session.ask(line))
        except KeyboardInterrupt:
            say("(stopped)")
        except OpswardenError as exc:  # say why, and stay in the chat
            print_error(str(exc))
        say("")
