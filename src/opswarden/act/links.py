"""Signed, expiring, single-use action links (approve / reject / acknowledge from an e-mail or a card).

A token is ``<claims>.<signature>``: the claims (event id, action, who it was sent to, expiry, a
random nonce) as base64url JSON, and an HMAC-SHA256 of them under the link secret. Verifying checks
the signature (constant time), then the expiry; the nonce is spent when the answer is recorded, in the
same transaction, so a link works once. Tokens go only into messages to people, never into the store,
logs or anything a language model reads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from opswarden.errors import ConfigurationError, LinkError

ACTIONS = ("acknowledge", "approve", "reject")


@dataclass(frozen=True, slots=True)
class Claim:
    event_id: str
    action: str
    recipient: str
    expires: datetime
    nonce: str


class LinkSigner:
    def __init__(self, secret: bytes, ttl: timedelta) -> None:
        if len(secret) < 16:
            raise ConfigurationError("OPSWARDEN_LINK_SECRET: use at least 16 characters")
        self._secret = secret
        self.ttl = ttl

    def sign(self, event_id: str, action: str, recipient: str, now: datetime) -> str:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        claims = {
            "e": event_id,
            "a": action,
            "r": recipient,
            "x": int((now + self.ttl).timestamp()),
            "n": secrets.token_urlsafe(12),
        }
        body = _b64(orjson.dumps(claims))
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, now: datetime) -> Claim:
        """The claim of a genuine, unexpired token; LinkError saying what is wrong otherwise."""
        body, dot, mac = token.partition(".")
        if not dot or not body or not mac:
            raise LinkError("malformed link: it was cut short or altered")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise LinkError("invalid link signature: the link was altered or signed with another key")
        try:
            claims = orjson.loads(_unb64(body))
            claim = Claim(
                event_id=str(claims["e"]),
                action=str(claims["a"]),
                recipient=str(claims["r"]),
                expires=datetime.fromtimestamp(int(claims["x"]), UTC),
                nonce=str(claims["n"]),
            )
        except (ValueError, KeyError, TypeError):
            raise LinkError("malformed link claims") from None
        if claim.action not in ACTIONS:
            raise LinkError(f"unknown action {claim.action!r} in link")
        if now >= claim.expires:
            raise LinkError(f"link expired at {claim.expires.isoformat()}")
        return claim

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())


def load_secret(configured: str | None, data_dir: Path) -> bytes:
    """The configured secret, or a random one kept (0600) in the data dir so links survive restarts."""
    if configured:
        return configured.encode()
    path = data_dir / "link.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(32).encode()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "xb") as handle:  # O_EXCL: two processes starting together agree on one key
            path.chmod(0o600)
            handle.write(key)
    except FileExistsError:
        return path.read_bytes().strip()
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
