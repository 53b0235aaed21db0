"""HTTP delivery shared by the webhook-style channels: status → DeliveryError, secrets kept out.

A webhook URL is a credential (Teams and Slack webhook URLs carry their secret in the path), so errors
name only the URL's host.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx

from opswarden.errors import DeliveryError, DeliveryReason


class _HideURLPaths(logging.Filter):
    """httpx logs each request's full URL at INFO (``HTTP Request: POST https://…``); a webhook URL's
    path and query are its secret, so those records keep only the scheme, host and port."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(_shown(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _shown(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}/…"


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _HideURLPaths) for f in _httpx_log.filters):
    _httpx_log.addFilter(_HideURLPaths())


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


def request(client: httpx.Client, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
    """One HTTP request; a timeout or a connection failure is a recoverable NETWORK DeliveryError
    that names ``what`` and never the URL (it may carry a secret)."""
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise DeliveryError(f"{what}: timed out", reason=DeliveryReason.NETWORK, recoverable=True) from None
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"{what}: {type(exc).__name__}", reason=DeliveryReason.NETWORK, recoverable=True
        ) from None


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
