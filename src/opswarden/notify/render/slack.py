"""Slack Block Kit renderings: the card that starts a thread, the messages in the thread, the card
re-rendered once answered.

Event text is untrusted: every piece of it that lands in mrkdwn has ``&``, ``<`` and ``>`` escaped,
so it can neither mention (``<!channel>``, ``<@U…>``) nor forge links. Slack's limits are respected
by clipping (header 150, section text 3000, field 2000, button text 75, 50 blocks). Buttons carry
the event id as their value; block and action ids are stable so that the interaction handler and a
later ``chat.update`` can find them.
"""

from __future__ import annotations

from typing import Any

from opswarden.core.event import Severity
from opswarden.notify.message import Answer, Kind, Message
from opswarden.notify.render import _common as c

HEADER_LIMIT = 150
TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
CONTEXT_LIMIT = 2000
BUTTON_LIMIT = 75
MAX_BLOCKS = 50
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
SHOW_RESOURCES = 10

ACTIONS_BLOCK = "opswarden_actions"
ACKNOWLEDGE = "opswarden_acknowledge"
APPROVE = "opswarden_approve"
REJECT = "opswarden_reject"

_SEVERITY_EMOJI = {
    Severity.CRITICAL: ":rotating_light:",
    Severity.HIGH: ":red_circle:",
    Severity.MEDIUM: ":large_orange_circle:",
    Severity.LOW: ":large_yellow_circle:",
    Severity.INFORMATIONAL: ":large_blue_circle:",
}
_KIND_EMOJI = {
    Kind.UPDATE: ":arrows_counterclockwise:",
    Kind.REMINDER: ":alarm_clock:",
    Kind.ANSWER: ":white_check_mark:",
    Kind.RESOLVED: ":large_green_circle:",
    Kind.REOPENED: ":red_circle:",
}
_ANSWER_EMOJI = {"acknowledge": ":eyes:", "approve": ":white_check_mark:", "reject": ":no_entry:"}


def escape(text: str) -> str:
    """Slack's mrkdwn escaping of the three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip_escaped(text: str, limit: int) -> str:
    """Escaped ``text`` cut to ``limit`` characters without splitting an ``&amp;``-like entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(len(cut) - 4, 0))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _mrkdwn(text: str, limit: int = TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip_escaped(text, limit) or " "}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": c.clip(text, limit) or " ", "emoji": True}


def _code(text: str) -> str:
    return "`" + escape(text.replace("`", "'")) + "`"


def _link(title: str, url: str) -> str:
    return f"<{escape(url).replace('|', '%7C')}|{escape(title)}>"


def render_slack(msg: Message, *, buttons: bool = True) -> dict[str, Any]:
    """``{"text": fallback, "blocks": [...]}`` for ``chat.postMessage`` / ``chat.update``.

    A card for :attr:`Kind.CARD`, a short section and context for the thread kinds. Buttons
    (acknowledge; approve and reject when the decision requires approval) when ``buttons`` and the
    message is actionable.
    """
    if msg.kind == Kind.DIGEST:
        from opswarden.notify.render.digest import digest_slack

        return digest_slack(msg)
    if msg.kind == Kind.CARD:
        text = c.header(msg)
        blocks = _card_blocks(msg)
    else:
        text = f"{c.thread_headline(msg)} — {c.header(msg)}"
        blocks = _thread_blocks(msg)
    if buttons and msg.actionable:
        blocks.append(_actions(msg))
    return {"text": clip_escaped(escape(text), TEXT_LIMIT), "blocks": blocks[:MAX_BLOCKS]}


def render_slack_card(msg_card: Message, lifecycle: str, answer: Answer | None) -> dict[str, Any]:
    """The original card re-rendered where the event now stands (``lifecycle``): a state line
    ("Acknowledged by alice at …") and no buttons once it no longer awaits an answer."""
    card = msg_card.model_copy(update={"kind": Kind.CARD, "lifecycle": lifecycle, "answer": answer})
    return render_slack(card, buttons=True)


def _card_blocks(msg: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "block_id": "opswarden_header",
            "text": _plain(c.one_line(msg.title) or msg.type_code, HEADER_LIMIT),
        }
    ]
    fields = []
    for fact in c.facts(msg)[:MAX_FIELDS]:
        value = escape(fact.value)
        if fact.label == "Severity":
            value = f"{_SEVERITY_EMOJI.get(msg.severity, '')} {value}".strip()
        fields.append(_mrkdwn(f"*{fact.label}*\n{value}", FIELD_LIMIT))
    blocks.append({"type": "section", "block_id": "opswarden_facts", "fields": fields})
    state = c.state_line(msg)
    if state:
        emoji = _ANSWER_EMOJI.get(msg.answer.action, ":information_source:") if msg.answer else ":lock:"
        blocks.append(
            {"type": "section", "block_id": "opswarden_state", "text": _mrkdwn(f"{emoji} *{escape(state)}*")}
        )
    description = "\n".join(c.clean_lines(msg.description))
    if description:
        blocks.append(
            {"type": "section", "block_id": "opswarden_description", "text": _mrkdwn(escape(description))}
        )
    blocks.append(_context(msg, full=True))
    return blocks


def _thread_blocks(msg: Message) -> list[dict[str, Any]]:
    emoji = _KIND_EMOJI.get(msg.kind, "")
    if msg.kind == Kind.ANSWER and msg.answer is not None:
        emoji = _ANSWER_EMOJI.get(msg.answer.action, emoji)
    lines = [f"{emoji} *{escape(c.thread_headline(msg))}*".strip()]
    if msg.kind == Kind.UPDATE:
        lines.extend(f"• {escape(line)}" for line in c.change_lines(msg))
    elif msg.kind == Kind.REOPENED:
        lines.append(f"Status: {escape(c.one_line(msg.status))}")
    deadline = c.deadline_text(msg)
    if deadline and msg.kind in (Kind.UPDATE, Kind.REMINDER):
        lines.append(f"Deadline: {escape(deadline)}")
    return [
        {"type": "section", "block_id": "opswarden_thread", "text": _mrkdwn("\n".join(lines))},
        _context(msg, full=False),
    ]


def _context(msg: Message, *, full: bool) -> dict[str, Any]:
    """Why, resources, source links (cards); and always what the event is."""
    texts: list[str] = []
    if full:
        if msg.why:
            texts.append("*Why*\n" + "\n".join(f"• {escape(c.one_line(w))}" for w in msg.why))
        ids, more = c.resources(msg)
        if ids:
            shown = ids[:SHOW_RESOURCES]
            more += len(ids) - len(shown)
            total = max(msg.resource_count, len(ids))
            texts.append(
                f"*Resources ({total})* "
                + ", ".join(_code(r) for r in shown)
                + (f" … and {more} more" if more > 0 else "")
            )
        links = c.source_links(msg)
        if links:
            texts.append(" · ".join(_link(title, url) for title, url in links))
        texts.append(f"{escape(c.source_text(msg))} · {_code(msg.key)}")
    else:
        texts.append(f"{escape(c.header(msg))} · {_code(msg.key)}")
    return {
        "type": "context",
        "block_id": "opswarden_context",
        "elements": [_mrkdwn(t, CONTEXT_LIMIT) for t in texts[:MAX_CONTEXT_ELEMENTS]],
    }


def _button(action_id: str, label: str, msg: Message, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label, BUTTON_LIMIT),
        "value": msg.event_id,
    }
    if style:
        button["style"] = style
    return button


def _actions(msg: Message) -> dict[str, Any]:
    elements = [] if msg.lifecycle == "acknowledged" else [_button(ACKNOWLEDGE, "Acknowledge", msg)]
    if msg.require_approval:
        elements.append(_button(APPROVE, "Approve", msg, "primary"))
        reject = _button(REJECT, "Reject", msg, "danger")
        reject["confirm"] = {
            "title": _plain("Reject this event?", 100),
            "text": _mrkdwn(f"Reject *{escape(c.one_line(msg.title))}*?", 300),
            "confirm": _plain("Reject", 30),
            "deny": _plain("Cancel", 30),
            "style": "danger",
        }
        elements.append(reject)
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}
