"""A generic JSON webhook: the message as JSON, signed, with an idempotency key.

Body: ``{"kind", "event_id", "message": {...}, "links": {...}}``. Headers: ``Idempotency-Key`` (the
same on every retry of one message: receivers drop repeats), ``X-Opswarden-Timestamp`` and, when
``OPSWARDEN_WEBHOOK_SECRET`` is set, ``X-Opswarden-Signature: sha256=<hex>``, an HMAC-SHA256 of
``"<timestamp>.<body>"`` — the scheme ``POST /events`` accepts, so two opswardens can chain.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict

import httpx
import orjson

from opswarden.core.clock import Clock
from opswarden.notify.base import Delivered, Outgoing
from opswarden.notify.channels._http import post_json


class WebhookNotifier:
    channel = "webhook"

    def __init__(self, client: httpx.Client, clock: Clock, secret: bytes | None = None) -> None:
        self.client = client
        self.clock = clock
        self.secret = secret

    def send(self, out: Outgoing) -> Delivered:
        body = orjson.dumps(
            {
                "kind": out.message.kind.value,
                "event_id": out.message.event_id,
                "message": out.message.model_dump(mode="json"),
                "links": asdict(out.links) if out.links else None,
            }
        )
        timestamp = str(int(self.clock.now().timestamp()))
        headers = {"Idempotency-Key": out.dedupe_key, "X-Opswarden-Timestamp": timestamp}
        if self.secret:
            digest = hmac.new(self.secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers["X-Opswarden-Signature"] = f"sha256={digest}"
        response = post_json(self.client, out.target, body, headers)
        return Delivered(ref={"status": response.status_code})

    def confirm(self, out: Outgoing) -> Delivered | None:
        return None
