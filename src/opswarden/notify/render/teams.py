"""Microsoft Teams: an Adaptive Card (1.4) in the message body an incoming webhook or a Workflows
URL accepts.

Incoming webhooks cannot receive ``Action.Submit``, so answers are ``Action.OpenUrl`` to signed
links. Teams renders a subset of Markdown in TextBlocks; event text is untrusted, so its link syntax
is broken up (``[x](url)`` cannot become a disguised link) and only http(s) URLs are placed.
"""

from __future__ import annotations

import re
from typing import Any

from opswarden.notify.message import Kind, Message
from opswarden.notify.render import _common as c
from opswarden.notify.render.links import ActionLinks

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SHOW_RESOURCES = 10

_ACTION_STYLES = {"approve": "positive", "reject": "destructive"}
_MARKDOWN_LINK = re.compile(r"\]\s*\(")


def _safe(text: str) -> str:
    """Untrusted text for a Markdown TextBlock: no link syntax (``[x](url)`` stays text)."""
    return _MARKDOWN_LINK.sub("] (", text)


def _text(text: str, **props: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **props}


def render_teams(msg: Message, links: ActionLinks | None) -> dict[str, Any]:
    """The webhook body: one Adaptive Card with the title, facts, description and OpenUrl actions."""
    if msg.kind == Kind.DIGEST:
        from opswarden.notify.render.digest import digest_teams

        return digest_teams(msg)
    title_props: dict[str, Any] = {"weight": "Bolder", "size": "Medium"}
    if c.is_urgent(msg):
        title_props["color"] = "Attention"
    body: list[dict[str, Any]] = [_text(_safe(c.header(msg)), **title_props)]

    if msg.kind != Kind.CARD:
        body.append(_text(_safe(c.thread_headline(msg)), weight="Bolder"))
    if msg.kind == Kind.UPDATE and msg.changes:
        body.append(_text("\n".join(f"- {_safe(line)}" for line in c.change_lines(msg))))
    if msg.kind == Kind.CARD:
        state = c.state_line(msg)
        if state:
            body.append(_text(_safe(state), weight="Bolder"))

    body.append(
        {
            "type": "FactSet",
            "facts": [{"title": f.label, "value": _safe(f.value)} for f in c.facts(msg)],
        }
    )
    description = "\n\n".join(line for line in c.clean_lines(msg.description) if line)
    if description and msg.kind in (Kind.CARD, Kind.REOPENED):
        body.append(_text(_safe(description)))
    if msg.kind == Kind.CARD:
        resources = c.resources_text(msg, SHOW_RESOURCES)
        if resources:
            total = max(msg.resource_count, len(msg.resources))
            body.append(_text(_safe(f"Resources ({total}): {resources}"), isSubtle=True, size="Small"))
        if msg.why:
            why = "\n".join(f"- {_safe(c.one_line(w))}" for w in msg.why)
            body.append(_text(f"Why:\n{why}", isSubtle=True, size="Small"))
        source_links = c.source_links(msg)
        if source_links:
            body.append(
                _text(
                    " · ".join(f"[{_link_title(t)}]({_link_url(url)})" for t, url in source_links),
                    isSubtle=True,
                    size="Small",
                )
            )
    body.append(_text(_safe(f"{c.source_text(msg)} · {msg.key}"), isSubtle=True, size="Small"))

    actions: list[dict[str, Any]] = []
    for button in c.link_buttons(msg, links):
        action: dict[str, Any] = {"type": "Action.OpenUrl", "title": button.label, "url": button.url}
        if button.action in _ACTION_STYLES:
            action["style"] = _ACTION_STYLES[button.action]
        actions.append(action)

    content: dict[str, Any] = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


def _link_title(title: str) -> str:
    return _safe(title).replace("[", "(").replace("]", ")")


def _link_url(url: str) -> str:
    return url.replace("(", "%28").replace(")", "%29")
