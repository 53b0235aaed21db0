"""Authentication of webhook deliveries: an API key, or an HMAC-SHA256 signature with a timestamp.

* ``X-Api-Key: <key>`` — compared in constant time with ``OPSWARDEN_API_KEY``.
* ``X-Opswarden-Timestamp: <unix seconds>`` and ``X-Opswarden-Signature: sha256=<hex>`` where the hex
  is HMAC-SHA256(``OPSWARDEN_HMAC_SECRET``, ``"<timestamp>." + body``) — the scheme Slack and Stripe
  use. Requests older or newer than five minutes are refused, so a captured request cannot be replayed
  later.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pydantic import SecretStr

MAX_SKEW_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for a body (what a sender computes)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check(
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    api_key: SecretStr | None,
    hmac_secret: SecretStr | None,
) -> str | None:
    """``None`` when the request is authentic, else the reason it is refused (safe to show)."""
    given_key = headers.get("x-api-key")
    if given_key is not None and api_key is not None:
        if hmac.compare_digest(given_key.encode(), api_key.get_secret_value().encode()):
            return None
        return "invalid API key"
    signature = headers.get("x-opswarden-signature")
    if signature is not None and hmac_secret is not None:
        stamp = headers.get("x-opswarden-timestamp", "")
        if not stamp.isdigit():
            return "missing or malformed X-Opswarden-Timestamp"
        if abs(now - int(stamp)) > MAX_SKEW_SECONDS:
            return "request timestamp outside the 5-minute window"
        expected = sign(hmac_secret.get_secret_value(), int(stamp), body)
        if hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        return "invalid signature"
    return "authentication required: send X-Api-Key or X-Opswarden-Signature"
