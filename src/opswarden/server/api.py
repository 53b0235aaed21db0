"""The HTTP API (FastAPI). Thin: requests become Application calls, results become JSON.

* ``POST /events`` — one JSON value, an array, or NDJSON; answered only after the durable write, with
  the ingest summary. 200 when anything was accepted (rejections listed), 400 when all was rejected.
* ``GET /events``, ``GET /events/{ref}`` — the JSON contract of the CLI; ``ref`` may be an identity
  key with ``/`` in it (AWS Health keys).
* ``GET /healthz`` — liveness and database reachability (no authentication).
* ``GET|POST /answers/{token}`` — signed answer links (:mod:`opswarden.server.answers`).
* ``POST /ask`` — a question to the assistant, answered as NDJSON lines (:mod:`opswarden.server.ask`).
* ``POST /slack/events``, ``POST /slack/interactivity`` — Slack, when a signing secret is set
  (:mod:`opswarden.server.slack`).

A background thread runs the supervisor (triage → reminders → delivery) every
``OPSWARDEN_PROCESS_INTERVAL_SECONDS`` and as soon as events or answers arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from opswarden import __version__
from opswarden.app import Application
from opswarden.core.timeparse import parse_since
from opswarden.errors import NotFoundError, TimestampError
from opswarden.server import auth
from opswarden.server.answers import mount_answers
from opswarden.store.reader import EventFilter


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over the limit: by its
    ``Content-Length`` before anything is read, else (chunked) while it is read. Never buffered whole."""
    limit: int = request.app.state.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body over {limit} bytes: split the batch")
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise HTTPException(413, f"body over {limit} bytes: split the batch")
    return bytes(received)


Body = Annotated[bytes, Depends(read_body)]  # read once per request, by auth and by the endpoint


log = logging.getLogger("opswarden.server")


class _HideAnswerTokens(logging.Filter):
    """Access-log lines show ``/answers/…`` instead of a signed answer token (a working credential)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                "/answers/…" if isinstance(a, str) and a.startswith("/answers/") else a for a in record.args
            )
        return True


_ACCESS_LOG = logging.getLogger("uvicorn.access")
if not any(isinstance(f, _HideAnswerTokens) for f in _ACCESS_LOG.filters):
    _ACCESS_LOG.addFilter(_HideAnswerTokens())


def supervise(app: Application, stop: threading.Event, interval: float) -> None:
    """The background loop: process now, then whenever woken or every ``interval`` seconds."""
    while not stop.is_set():
        try:
            with app.write_lock:
                summary = app.process()
            if summary.triage.decided or summary.dispatch.sent or summary.dispatch.dead:
                log.info("processed: %s", summary.to_dict())
        except Exception:  # keep supervising: one bad round must not stop notifications for good
            log.exception("processing failed; trying again in %s s", interval)
        app.wakeup.wait(interval)
        app.wakeup.clear()


def create_api(app: Application, *, background: bool = True) -> FastAPI:
    settings = app.settings
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker = None
        if background:
            worker = threading.Thread(
                target=supervise,
                args=(app, stop, settings.process_interval_seconds),
                name="opswarden-supervisor",
                daemon=True,
            )
            worker.start()
        yield
        stop.set()
        app.wake()
        if worker is not None:
            worker.join(timeout=30)

    api = FastAPI(title="opswarden", version=__version__, lifespan=lifespan)
    api.state.max_body_bytes = settings.max_body_bytes
    write_lock = app.write_lock  # one writer at a time per process (SQLite has one anyway)

    async def authenticated(request: Request, body: Body) -> None:
        reason = auth.check(request.headers, body, time.time(), settings.api_key, settings.hmac_secret)
        if reason is not None:
            raise HTTPException(status_code=401, detail=reason)

    def moment(name: str, value: str | None) -> datetime | None:
        if value is None:
            return None
        try:
            return parse_since(value, app.clock.now())
        except TimestampError as exc:
            raise HTTPException(422, f"{name}: {exc}") from None

    @api.get("/healthz")
    def healthz() -> dict[str, Any]:
        app.store.count_events()
        return {"status": "ok", "version": __version__, "database": app.store.backend}

    @api.post("/events", dependencies=[Depends(authenticated)])
    async def post_events(body: Body) -> JSONResponse:
        if not body.strip():
            raise HTTPException(400, "empty body: send a JSON event, an array of events, or NDJSON")

        def work() -> dict[str, Any]:
            with write_lock:
                return app.ingest_body(body, "request").to_dict()

        import anyio.to_thread

        summary = await anyio.to_thread.run_sync(work)
        app.wake()
        status = 400 if summary["rejected"] and not summary["accepted"] else 200
        return JSONResponse(summary, status_code=status)

    @api.get("/events", dependencies=[Depends(authenticated)])
    def list_events(
        source: str | None = None,
        type_code: Annotated[str | None, Query(alias="type")] = None,
        category: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        account: str | None = None,
        region: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[dict[str, Any]]:
        flt = EventFilter(
            source=source,
            type_code=type_code,
            category=category,
            status=status,
            severity=severity,
            account=account,
            region=region,
            since=moment("since", since),
            until=moment("until", until),
            limit=limit,
            offset=offset,
        )
        return app.events_json(flt)

    @api.get("/events/{ref:path}", dependencies=[Depends(authenticated)])
    def show_event(ref: str) -> dict[str, Any]:
        try:
            return app.event_json(ref)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None

    mount_answers(api, app)
    from opswarden.server.ask import mount_ask  # imports this module: mounted here

    mount_ask(api, app)
    if settings.slack_signing_secret is not None:
        from opswarden.server.slack import mount_slack

        mount_slack(api, app)
    return api
