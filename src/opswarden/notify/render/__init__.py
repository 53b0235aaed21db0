"""Pure renderings of a :class:`~opswarden.notify.message.Message`, one module per channel.

No I/O beyond reading the package's own e-mail template. Event text is untrusted: each renderer
escapes it for its channel (Slack mrkdwn, Teams Markdown, HTML) and keeps single-line fields on one
line (text, e-mail subject).
"""

from __future__ import annotations

from opswarden.notify.render.email import email_subject, render_email
from opswarden.notify.render.links import ActionLinks
from opswarden.notify.render.slack import render_slack, render_slack_card
from opswarden.notify.render.teams import render_teams
from opswarden.notify.render.text import render_text

__all__ = [
    "ActionLinks",
    "email_subject",
    "render_email",
    "render_slack",
    "render_slack_card",
    "render_teams",
    "render_text",
]
