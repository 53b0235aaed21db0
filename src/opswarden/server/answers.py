"""Answer links: ``GET /answers/{token}`` shows what the link will do; ``POST`` does it.

Links arrive by e-mail and in Teams cards. Mail scanners and link previews fetch every URL in a
message, so a GET only shows a confirmation page; the answer is recorded by the form's POST, which
verifies the signature and the expiry and spends the link's nonce in the same transaction as the
answer. A forged, expired or reused link is refused with 403 and audited.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from opswarden.act.answers import Action, refuse
from opswarden.app import Application
from opswarden.errors import LifecycleError, LinkError, NotFoundError

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>opswarden</title>
<meta name="viewport" content="width=device-width"><meta name="robots" content="noindex">
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}}
button{{font-size:1.1em;padding:.5em 1.5em}}</style></head><body>{body}</body></html>"""


def page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(body=body), status_code=status, headers={"Cache-Control": "no-store"})


def personal(recipient: str) -> bool:
    """Whether a link was signed for a person (an e-mail address) rather than a shared channel."""
    return "@" in recipient


def mount_answers(api: FastAPI, app: Application) -> None:
    @api.get("/answers/{token}", response_class=HTMLResponse)
    def confirm(token: str) -> HTMLResponse:
        signer = app.supervisor.signer
        try:
            claim = signer.verify(token, app.clock.now())
            stored = app.store.get_event(claim.event_id)
        except (LinkError, NotFoundError) as exc:
            return page(f"<h1>Link refused</h1><p>{html.escape(str(exc))}</p>", 403)
        title = html.escape(stored.event.title)
        verb = html.escape(claim.action.capitalize())
        if personal(claim.recipient):
            who = f"<button type=submit>{verb} as {html.escape(claim.recipient)}</button>"
        else:  # a link posted to a shared channel names nobody: ask who answers
            who = (
                '<p><label>Your name <input name="by" required maxlength="120"></label></p>'
                f"<button type=submit>{verb}</button>"
            )
        return page(
            f"<h1>{verb}?</h1><p><b>{title}</b><br>event {html.escape(stored.id)} · "
            f"{html.escape(stored.lifecycle)}</p>"
            '<form method="post"><p><label>Note <input name="note" maxlength="500"></label></p>'
            f"{who}</form>"
        )

    @api.post("/answers/{token}", response_class=HTMLResponse)
    async def answer(token: str, request: Request) -> HTMLResponse:
        form = parse_qs((await request.body())[:10_000].decode("utf-8", "replace"))
        note = (form.get("note") or [""])[0].strip()[:500] or None
        by = (form.get("by") or [""])[0].strip()[:120] or None
        return await anyio.to_thread.run_sync(lambda: _record(token, note, by))

    def _record(token: str, note: str | None, by: str | None) -> HTMLResponse:
        now = app.clock.now()
        try:
            claim = app.supervisor.signer.verify(token, now)
        except LinkError as exc:
            refuse(app.store.engine, None, actor="(link)", channel="link", now=now, why=str(exc))
            return page(f"<h1>Link refused</h1><p>{html.escape(str(exc))}</p>", 403)
        if personal(claim.recipient):
            actor = claim.recipient
        elif by:
            actor = f"{by} (link in {claim.recipient})"
        else:
            return page("<h1>Not recorded</h1><p>Say who answers: go back and fill in your name.</p>", 400)
        try:
            with app.write_lock:
                done = app.supervisor.answer(
                    claim.event_id,
                    Action(claim.action),
                    actor=actor,
                    channel="link",
                    note=note,
                    nonce=claim.nonce,
                )
        except (LinkError, LifecycleError) as exc:
            return page(
                f"<h1>Not recorded</h1><p>{html.escape(str(exc))}</p>",
                403 if isinstance(exc, LinkError) else 409,
            )
        except NotFoundError as exc:
            return page(f"<h1>Not found</h1><p>{html.escape(str(exc))}</p>", 404)
        app.wake()
        return page(
            f"<h1>Recorded</h1><p>Event {html.escape(done.event_id)} is now <b>{done.new.value}</b> "
            f"({html.escape(done.actor)}, {done.at:%Y-%m-%d %H:%M} UTC).</p>"
        )
