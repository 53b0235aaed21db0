"""A fake webhook receiver on loopback: Microsoft Teams (incoming webhook / Workflows) and generic JSON.

It records every POST (path, query, headers, body) and answers a configurable reply per path, with
``fail_next`` to inject failures. Real-world answers it can play:

* Teams incoming webhook (Office 365 connector): HTTP 200, body ``1`` (text/plain) — see
  :meth:`FakeWebhookReceiver.teams_incoming_webhook`.
* Teams Workflows (Power Automate "When a Teams webhook request is received"): HTTP 202, empty body —
  :meth:`FakeWebhookReceiver.teams_workflow`.
* A generic JSON webhook: HTTP 200 (default) with ``{"ok": true}`` or whatever is configured.

Usage::

    with FakeWebhookReceiver() as hooks:
        url = hooks.teams_workflow()
        httpx.post(url, json={"type": "message"})
        assert hooks.requests[0].json() == {"type": "message"}
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from tests.fakes._http import HTTPRequest, LoopbackHTTPServer, Reply

__all__ = ["FakeWebhookReceiver", "ReceivedRequest"]


@dataclass(frozen=True)
class ReceivedRequest:
    """One POST the receiver got, with the status it answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass
class _Route:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@dataclass
class _Failure:
    path: str | None
    status: int
    retry_after: float | int | None
    body: bytes
    remaining: int


class FakeWebhookReceiver:
    """Records POSTs to any path on ``http://127.0.0.1:<port>``; other HTTP methods answer 405."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._default = _Route()
        self._failures: list[_Failure] = []
        self._requests: list[ReceivedRequest] = []
        self._http = LoopbackHTTPServer(self._dispatch, host=host)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeWebhookReceiver:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def __enter__(self) -> FakeWebhookReceiver:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return self._http.origin

    @property
    def port(self) -> int:
        return self._http.port

    def url(self, path: str = "/hook", **query: str) -> str:
        """The full URL for ``path`` (query parameters optional, e.g. Workflows' ``sig``)."""
        if not path.startswith("/"):
            path = "/" + path
        return f"{self.base_url}{path}" + (f"?{urlencode(query)}" if query else "")

    # -- set-up ------------------------------------------------------------------------------------

    def respond(
        self,
        path: str,
        status: int = 200,
        body: bytes | str | Any = b"",
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Answer POSTs to ``path`` with ``status`` and ``body`` (bytes/str verbatim, else JSON). Returns the URL."""
        if isinstance(body, bytes | str):
            raw = body.encode() if isinstance(body, str) else body
            ctype = content_type or "text/plain; charset=utf-8"
        else:
            raw = json.dumps(body).encode()
            ctype = content_type or "application/json"
        hdrs = {"Content-Type": ctype, **(headers or {})} if raw or content_type else dict(headers or {})
        with self._lock:
            self._routes[path] = _Route(status=status, body=raw, headers=hdrs)
        return self.url(path)

    def teams_incoming_webhook(self, path: str = "/webhookb2/incoming") -> str:
        """A Teams incoming-webhook (connector) URL: answers 200 with body ``1``."""
        return self.respond(path, 200, "1")

    def teams_workflow(self, path: str = "/workflows/trigger", **query: str) -> str:
        """A Teams Workflows (Power Automate) URL: answers 202 Accepted with an empty body."""
        self.respond(path, 202, b"")
        return self.url(path, **(query or {"api-version": "2016-06-01", "sig": "fake-signature"}))

    def fail_next(
        self,
        status: int = 500,
        retry_after: float | int | None = None,
        *,
        path: str | None = None,
        times: int = 1,
        body: bytes | str = b"",
    ) -> None:
        """The next ``times`` POSTs (to ``path``, or to any path when None) answer ``status``.

        ``retry_after`` adds a ``Retry-After`` header (seconds). Failed requests are recorded too.
        """
        raw = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._failures.append(_Failure(path, status, retry_after, raw, times))

    # -- inspection --------------------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._failures.clear()

    # -- HTTP --------------------------------------------------------------------------------------

    def _dispatch(self, request: HTTPRequest) -> Reply:
        if request.method != "POST":
            return Reply(status=405, headers={"Allow": "POST"})
        with self._lock:
            reply = self._take_failure(request.path)
            if reply is None:
                route = self._routes.get(request.path, self._default)
                reply = Reply(status=route.status, body=route.body, headers=dict(route.headers))
            self._requests.append(
                ReceivedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers=dict(request.headers),
                    body=request.body,
                    status=reply.status,
                )
            )
        return reply

    def _take_failure(self, path: str) -> Reply | None:
        for failure in self._failures:
            if failure.path is None or failure.path == path:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                headers = {"Content-Type": "text/plain; charset=utf-8"} if failure.body else {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                return Reply(status=failure.status, body=failure.body, headers=headers)
        return None
