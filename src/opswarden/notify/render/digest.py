"""A digest (a report, not an event) for every channel: the report's Markdown, shown as it is.

A digest travels as a :class:`Message` of kind ``digest`` whose ``title`` is the report's title and
whose ``description`` is its Markdown; the renderers of the other kinds never see it. Slack and
Teams do not render Markdown tables, so the text goes in a monospaced block there.
"""

from __future__ import annotations

import html
from typing import Any

from opswarden.notify.message import Message
from opswarden.notify.render import _common as c

SLACK_SECTION = 2900  # under Slack's 3,000 characters per section, with the code fence
SLACK_BLOCKS = 45


def digest_text(msg: Message) -> str:
    return f"{c.one_line(msg.title)}\n\n{msg.description}"


def digest_slack(msg: Message) -> dict[str, Any]:
    title = c.one_line(msg.title)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    chunk: list[str] = []
    size = 0
    for line in msg.description.splitlines():
        if size + len(line) + 1 > SLACK_SECTION and chunk:
            blocks.append(_code(chunk))
            chunk, size = [], 0
        chunk.append(line[:SLACK_SECTION])
        size += len(line) + 1
    if chunk:
        blocks.append(_code(chunk))
    if len(blocks) > SLACK_BLOCKS:
        blocks = [
            *blocks[: SLACK_BLOCKS - 1],
            _code(["… cut: the whole digest is in opswarden report digest"]),
        ]
    return {"text": title, "blocks": blocks}


def _code(lines: list[str]) -> dict[str, Any]:
    body = "\n".join(lines).replace("```", "'''")
    escaped = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"type": "section", "text": {"type": "mrkdwn", "text": f"```{escaped}```"}}


def digest_teams(msg: Message) -> dict[str, Any]:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": c.one_line(msg.title),
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": msg.description, "fontType": "Monospace", "wrap": True},
        ],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def digest_email(msg: Message) -> tuple[str, str, str]:
    subject = f"[opswarden] {c.one_line(msg.title)}"
    page = (
        '<!doctype html><html><body style="font-family:system-ui,sans-serif">'
        f"<h2>{html.escape(c.one_line(msg.title))}</h2>"
        f'<pre style="font-size:13px">{html.escape(msg.description)}</pre></body></html>'
    )
    return subject, digest_text(msg), page
