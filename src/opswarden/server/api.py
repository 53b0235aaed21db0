"""The HTTP API (FastAPI). Thin: requests become Application calls, results become JSON.

* ``POST /events`` — one JSON value, an array, or NDJSON; answered only after the durable write, with
  the ingest summary. 200 when anything was accepted (rejections listed), 400 when all was rejected.
* ``GET /events``, ``GET /events/{id}`` — the JSON contract of the CLI.
* ``GET /healthz`` — liveness and database reachability (no authentication).
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from opswarden import __version__
from opswarden.app import Application
from opswarden.errors import NotFoundError
from opswarden.server import auth
from opswarden.store.reader import EventFilter


def create_api(app: Application) -> FastAPI:
    api = FastAPI(title="opswarden", version=__version__)
    settings = app.settings
    write_lock = threading.Lock()  # one writer at a time per process (SQLite has one anyway)

    async def authenticated(request: Request) -> None:
        body = await request.body()
        reason = auth.check(request.headers, body, time.time(), settings.api_key, settings.hmac_secret)
        if reason is not None:
            raise HTTPException(status_code=401, detail=reason)

    @api.get("/healthz")
    def healthz() -> dict[str, Any]:
        app.store.count_events()
        return {"status": "ok", "version": __version__, "database": app.store.backend}

    @api.post("/events", dependencies=[Depends(authenticated)])
    async def post_events(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            raise HTTPException(413, f"body over {settings.max_body_bytes} bytes: split the batch")
        if not body.strip():
            raise HTTPException(400, "empty body: send a JSON event, an array of events, or NDJSON")

        def work() -> dict[str, Any]:
            with write_lock:
                return app.ingest_body(body, "request").to_dict()

        import anyio.to_thread

        summary = await anyio.to_thread.run_sync(work)
        status = 400 if summary["rejected"] and not summary["accepted"] else 200
        return JSONResponse(summary, status_code=status)

    @api.get("/events", dependencies=[Depends(authenticated)])
    def list_events(
        source: str | None = None,
        category: str | None = None,
        status: str | None = None,
        severity: str | None = None,
        account: str | None = None,
        region: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[dict[str, Any]]:
        flt = EventFilter(
            source=source,
            category=category,
            status=status,
            severity=severity,
            account=account,
            region=region,
            limit=limit,
            offset=offset,
        )
        return app.events_json(flt)

    @api.get("/events/{ref}", dependencies=[Depends(authenticated)])
    def show_event(ref: str) -> dict[str, Any]:
        try:
            return app.event_json(ref)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from None

    return api
