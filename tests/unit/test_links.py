"""Signed answer links: what verifies and what does not."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from opswarden.act.links import LinkSigner, load_secret
from opswarden.errors import ConfigurationError, LinkError

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SIGNER = LinkSigner(b"0123456789abcdef-secret", timedelta(hours=72))


def test_a_signed_link_verifies_to_its_claim_until_it_expires() -> None:
    token = SIGNER.sign("ev-1", "approve", "app@example.com", NOW)

    claim = SIGNER.verify(token, NOW + timedelta(hours=71))

    assert (claim.event_id, claim.action, claim.recipient) == ("ev-1", "approve", "app@example.com")
    assert claim.expires == NOW + timedelta(hours=72)
    with pytest.raises(LinkError, match="link expired at 2026-11-29T12:00:00"):
        SIGNER.verify(token, NOW + timedelta(hours=72))


def test_two_links_for_the_same_answer_have_different_nonces() -> None:
    one = SIGNER.verify(SIGNER.sign("ev-1", "approve", "a", NOW), NOW)
    two = SIGNER.verify(SIGNER.sign("ev-1", "approve", "a", NOW), NOW)

    assert one.nonce != two.nonce


def test_altered_claims_fail_the_signature() -> None:
    token = SIGNER.sign("ev-1", "acknowledge", "a", NOW)
    body, _, mac = token.partition(".")
    claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["a"] = "approve"
    forged = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode() + "." + mac

    with pytest.raises(LinkError, match="invalid link signature"):
        SIGNER.verify(forged, NOW)


def test_another_key_and_malformed_tokens_are_refused() -> None:
    token = LinkSigner(b"another-secret-of-16+", timedelta(hours=1)).sign("ev-1", "approve", "a", NOW)

    with pytest.raises(LinkError, match="invalid link signature"):
        SIGNER.verify(token, NOW)
    for bad in ("", "abc", "abc.", ".abc"):
        with pytest.raises(LinkError, match="malformed"):
            SIGNER.verify(bad, NOW)


def test_a_short_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        LinkSigner(b"short", timedelta(hours=1))


def test_the_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_secret(None, tmp_path)
    again = load_secret(None, tmp_path)

    assert first == again
    assert len(first) >= 32
    assert (tmp_path / "link.key").stat().st_mode & 0o777 == 0o600
    assert load_secret("configured-secret-value", tmp_path) == b"configured-secret-value"
