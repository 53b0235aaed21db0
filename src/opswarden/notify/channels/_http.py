"""HTTP delivery shared by the webhook-style channels: status → DeliveryError, secrets kept out.

A webhook URL is a credential (Teams and Slack webhook URLs carry their secret in the path), so errors
name only the URL's host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from opswarden.errors import DeliveryError, DeliveryReason


def host_of(url: str) -> str:
    return urlsplit(url).hostname or "(webhook)"


def retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare for these APIs; the backoff applies


def check(response: httpx.Response, what: str) -> None:
    """Raise the DeliveryError a non-2xx answer means (429 and 5xx recoverable, 401/403 auth)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429:
        raise DeliveryError(
            f"{what}: rate limited (HTTP 429)",
            reason=DeliveryReason.RATE_LIMITED,
            recoverable=True,
            retry_after=retry_after(response.headers),
        )
    if status >= 500:
        raise DeliveryError(
            f"{what}: server error (HTTP {status})", reason=DeliveryReason.SERVER, recoverable=True
        )
    if status in (401, 403):
        raise DeliveryError(
            f"{what}: not authorised (HTTP {status}); check the URL or credentials",
            reason=DeliveryReason.AUTH,
            recoverable=False,
        )
    raise DeliveryError(f"{what}: refused (HTTP {status})", reason=DeliveryReason.CLIENT, recoverable=False)


def post_json(
    client: httpx.Client, url: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    what = f"POST to {host_of(url)}"
    try:
        response = client.post(
            url, content=_dumps(body), headers={"Content-Type": "application/json", **(headers or {})}
        )
    except httpx.TimeoutException:
        raise DeliveryError(f"{what}: timed out", reason=DeliveryReason.NETWORK, recoverable=True) from None
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"{what}: {type(exc).__name__}", reason=DeliveryReason.NETWORK, recoverable=True
        ) from None
    check(response, what)
    return response


def _dumps(body: Any) -> bytes:
    import orjson

    return body if isinstance(body, bytes) else orjson.dumps(body)
