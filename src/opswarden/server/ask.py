"""``POST /ask``: a question to the assistant over HTTP, answered as a stream of NDJSON lines.

The body is a JSON object ``{"question": "…", "event_id": "ev-…" (optional), "k": 6 (optional)}``,
authenticated like ``POST /events`` (``X-Api-Key`` or the HMAC signature headers). The answer is
``application/x-ndjson``: one ``{"type": "source", …}`` line per source as it is produced, then one
``{"type": "answer", "text": …, "answer": {…}}`` line with the whole answer (``answer`` is the
answer's ``to_dict()``). In retrieval mode that is simply the ranked sources, then the answer text.
An error after the first line (the stream has started, so the status is already 200) is reported
as a last ``{"type": "error", "error": …}`` line.

:func:`ask_in_context` is shared with Slack: it asks :meth:`Application.ask` with an event and
earlier turns as context — as keyword arguments when ``ask`` takes them (model-backed agents), else
written into the question, clearly labelled, after the question itself (retrieval mode searches with
the question's first words).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio.to_thread
import orjson
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse

from opswarden.app import Application
from opswarden.errors import NotFoundError
from opswarden.server import auth
from opswarden.server.api import Body

MAX_QUESTION = 4_000  # characters
MAX_K = 50
CONTEXT_TURNS = 6  # earlier turns written into the question when ask() takes no history
TURN_CHARS = 300  # each such turn, at most


def accepts(function: Any, name: str) -> bool:
    """Whether ``function`` takes a keyword argument ``name``."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def with_context(
    question: str, *, event: dict[str, Any] | None = None, history: Sequence[dict[str, str]] = ()
) -> str:
    """The question followed by labelled context: the event it is about, then the last few turns."""
    parts = [question.strip()]
    if event is not None:
        parts.append(
            f"Context — the question is about event {event['id']}: {event.get('title') or ''}".rstrip()
        )
    turns = [t for t in history if t.get("content", "").strip()][-CONTEXT_TURNS:]
    if turns:
        parts.append("Context — earlier in this conversation:")
        for turn in turns:
            text = " ".join(turn["content"].split())
            if len(text) > TURN_CHARS:
                text = text[: TURN_CHARS - 1] + "…"
            who = "assistant" if turn.get("role") == "assistant" else "user"
            parts.append(f"- {who}: {text}")
    return "\n".join(parts)


def ask_in_context(
    app: Application,
    question: str,
    *,
    k: int = 6,
    event: dict[str, Any] | None = None,
    history: Sequence[dict[str, str]] = (),
    user: str | None = None,
) -> Any:
    """``app.ask`` with an event (``{"id", "title"}``) and earlier turns (``[{"role": "user" |
    "assistant", "content": …}]``, oldest first) as context, for ``user`` (who proposals are recorded
    for, where ``ask`` takes it). Returns what ``ask`` returns (``text()`` and ``to_dict()``)."""
    kwargs: dict[str, Any] = {}
    ask = app.ask
    if user is not None and accepts(ask, "user"):
        kwargs["user"] = user
    if event is not None and accepts(ask, "event_id"):
        kwargs["event_id"] = event["id"]
        event = None
    if history and accepts(ask, "history"):
        kwargs["history"] = list(history)
        history = ()
    return ask(with_context(question, event=event, history=history), k, **kwargs)


def parse_request(body: bytes) -> tuple[str, str | None, int]:
    """(question, event ref or None, k) from the request body; HTTPException 400 when unusable."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise HTTPException(400, 'body is not JSON: send {"question": "…"}') from None
    if not isinstance(data, dict):
        raise HTTPException(400, 'body must be a JSON object: {"question": "…", "event_id": "…"}')
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise HTTPException(400, 'empty question: send {"question": "…"} with some text')
    if len(question) > MAX_QUESTION:
        raise HTTPException(400, f"question over {MAX_QUESTION} characters")
    event_ref = data.get("event_id")
    if event_ref is not None and (not isinstance(event_ref, str) or not event_ref.strip()):
        raise HTTPException(400, "event_id must be an event id, prefix or key")
    k = data.get("k", 6)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise HTTPException(400, f"k must be a whole number from 1 to {MAX_K}")
    return question.strip(), event_ref, k


def line(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data) + b"\n"


async def answer_lines(answer: Any) -> AsyncIterator[bytes]:
    """The NDJSON lines of an answer: its sources one by one, then the whole answer."""
    try:
        whole = answer.to_dict()
        for source in whole.get("sources") or []:
            yield line({"type": "source", "source": source})
        text = await anyio.to_thread.run_sync(answer.text)
        yield line({"type": "answer", "text": text, "answer": whole})
    except Exception as exc:  # the status is sent already: say so in the stream
        yield line({"type": "error", "error": f"the answer failed: {type(exc).__name__}"})


def mount_ask(api: FastAPI, app: Application) -> None:
    """Add ``POST /ask`` to ``api``."""
    settings = app.settings

    async def authenticated(request: Request, body: Body) -> None:
        reason = auth.check(request.headers, body, time.time(), settings.api_key, settings.hmac_secret)
        if reason is not None:
            raise HTTPException(status_code=401, detail=reason)

    @api.post("/ask", dependencies=[Depends(authenticated)])
    async def post_ask(body: Body) -> StreamingResponse:
        question, event_ref, k = parse_request(body)

        def work() -> Any:
            event = None
            if event_ref is not None:
                try:
                    found = app.event_json(event_ref.strip())
                except NotFoundError as exc:
                    raise HTTPException(404, str(exc)) from None
                event = {"id": found["id"], "title": found.get("title")}
            return ask_in_context(app, question, k=k, event=event, user="api")

        answer = await anyio.to_thread.run_sync(work)
        return StreamingResponse(answer_lines(answer), media_type="application/x-ndjson")
