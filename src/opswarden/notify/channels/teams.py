"""Microsoft Teams: an Adaptive Card posted to an incoming webhook or a Workflows URL.

Incoming webhooks cannot receive button presses, so the card's actions are signed links (approve,
reject, acknowledge) to ``opswarden serve``. The classic connector answers HTTP 200 even when it
throttles, with the error in the body; that case is read as a 429.
"""

from __future__ import annotations

import httpx

from opswarden.errors import DeliveryError, DeliveryReason
from opswarden.notify.base import Delivered, Outgoing
from opswarden.notify.channels._http import host_of, post_json
from opswarden.notify.render.teams import render_teams


class TeamsNotifier:
    channel = "teams"

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def send(self, out: Outgoing) -> Delivered:
        response = post_json(self.client, out.target, render_teams(out.message, out.links))
        if "429" in response.text and "error" in response.text.lower():
            raise DeliveryError(
                f"POST to {host_of(out.target)}: throttled (HTTP 429 in the answer)",
                reason=DeliveryReason.RATE_LIMITED,
                recoverable=True,
            )
        return Delivered(ref={"status": response.status_code})

    def confirm(self, out: Outgoing) -> Delivered | None:
        return None
