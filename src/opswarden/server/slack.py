"""Slack's requests to opswarden: the cards' buttons (interactivity) and the Events API, via Slack Bolt.

``POST /slack/interactivity`` and ``POST /slack/events`` both go to one Bolt app (sync
``slack_bolt.App``, ``process_before_response=True``: listeners finish before Slack gets its answer).

* Signatures and the 5-minute timestamp window are checked by Bolt (``RequestVerification``). Bolt
  answers a forged or stale request 401 before any listener runs; this module audits it as
  ``refused`` (actor ``(slack)``, channel ``slack``) with the reason.
* Block actions ``opswarden_acknowledge|approve|reject`` (the card's buttons, whose value is the event
  id) record the clicking user's answer, ``@username (U123)``, through the ``slack`` channel, and wake
  the supervisor, which posts the answer into the event's threads and refreshes the cards. A refused
  answer ("already acknowledged by …") comes back to that user alone, as an ephemeral message.
* Events API: Bolt answers ``url_verification``. Each event callback is handled at most once: its
  envelope ``event_id`` is spent as a single-use key before it is handled, so Slack's retries
  (``X-Slack-Retry-Num``) are answered 200 and do nothing. ``app_mention`` gets a short reply in its
  thread; other events are answered 200 and ignored (a non-2xx answer would make Slack retry).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from opswarden.act.answers import Action, refuse
from opswarden.app import Application
from opswarden.errors import ConfigurationError, LifecycleError, NotFoundError
from opswarden.notify.render.slack import ACKNOWLEDGE, APPROVE, REJECT
from opswarden.server.api import Body
from opswarden.store import triage as work

try:
    from slack_bolt import Ack, App, BoltResponse, Respond, Say
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
    from slack_sdk import WebClient
except ImportError:  # pragma: no cover - the extra is part of dev installs
    raise ConfigurationError("Slack needs the slack extra: pip install 'opswarden[slack]'") from None

log = logging.getLogger("opswarden.server.slack")

ACTOR = "(slack)"  # who a refused request is audited as: nobody known
STALE_AFTER = 60 * 5  # seconds; Bolt's (slack_sdk SignatureVerifier's) window
BUTTONS = {ACKNOWLEDGE: Action.ACKNOWLEDGE, APPROVE: Action.APPROVE, REJECT: Action.REJECT}
MENTION_REPLY = (
    "opswarden here. Questions in Slack are not answered yet (that comes with the AI assistant). "
    "Meanwhile: answer an event with the buttons on its card, or look events up with "
    "`opswarden events list` and `opswarden events show <id>` (GET /events on the API)."
)


def mount_slack(api: FastAPI, app: Application) -> None:
    """Add ``POST /slack/interactivity`` and ``POST /slack/events`` to ``api``."""
    settings = app.settings
    if settings.slack_signing_secret is None:
        raise ConfigurationError("Slack requests need OPSWARDEN_SLACK_SIGNING_SECRET")
    if settings.slack_bot_token is None:
        raise ConfigurationError(
            "OPSWARDEN_SLACK_SIGNING_SECRET is set but OPSWARDEN_SLACK_BOT_TOKEN is not: "
            "Slack's buttons and events need the bot token too"
        )
    bolt = build_bolt(
        app, settings.slack_signing_secret.get_secret_value(), settings.slack_bot_token.get_secret_value()
    )

    def refused(why: str, status: int = 401) -> Response:
        refuse(app.store.engine, None, actor=ACTOR, channel="slack", now=app.clock.now(), why=why)
        return JSONResponse({"error": "invalid request"}, status_code=status)

    def handle(request: Request, body: bytes) -> Response:
        why = malformed(request.headers)
        if why is not None:  # Bolt's verifier cannot even read these headers: refuse here, the same way
            return refused(why)
        try:
            bolt_request = to_bolt_request(request, body)
        except UnicodeDecodeError:
            return refused("body is not UTF-8", 400)
        received = time.time()
        answered = bolt.dispatch(bolt_request)
        if answered.status == 401:  # Bolt's RequestVerification refused it: audit why
            refused(refusal(request.headers, received))
        return to_starlette_response(answered)

    async def slack_endpoint(request: Request, body: Body) -> Response:
        # Bolt's App is synchronous (and writes to the store): off the event loop
        return await anyio.to_thread.run_sync(handle, request, body)

    api.add_api_route("/slack/interactivity", slack_endpoint, methods=["POST"], include_in_schema=False)
    api.add_api_route("/slack/events", slack_endpoint, methods=["POST"], include_in_schema=False)


def build_bolt(app: Application, signing_secret: str, token: str) -> App:
    """The Bolt app: no network call at start-up (``auth.test`` runs on the first request)."""
    client = WebClient(token=token, base_url=app.settings.slack_api_url)
    bolt = App(
        signing_secret=signing_secret,
        client=client,
        token_verification_enabled=False,
        process_before_response=True,
        logger=log,
    )
    bolt.middleware(once_per_event(app))
    for action_id, action in BUTTONS.items():
        bolt.action(action_id)(on_button(app, action))
    bolt.event("app_mention")(on_mention)
    bolt.event(re.compile(".*"))(on_other_event)  # last: answered 200, so that Slack does not retry it
    return bolt


def malformed(headers: Mapping[str, str]) -> str | None:
    """Why the signature headers cannot be checked at all, or None."""
    stamp = headers.get("x-slack-request-timestamp")
    if not stamp or not headers.get("x-slack-signature"):
        return "missing Slack signature"
    if not (stamp.isascii() and stamp.strip().isdigit()):
        return "malformed Slack timestamp"
    return None


def refusal(headers: Mapping[str, str], now: float) -> str:
    """Why Bolt refused a well-formed request: its timestamp is out of the window, or its signature."""
    stamp = int(headers["x-slack-request-timestamp"])
    return "stale timestamp" if abs(now - stamp) > STALE_AFTER else "invalid Slack signature"


def once_per_event(app: Application) -> Callable[..., BoltResponse | None]:
    """Global middleware: an event callback whose envelope ``event_id`` was seen before (a retry) is
    answered 200 and goes no further."""

    def middleware(body: dict[str, Any], next_: Callable[[], BoltResponse | None]) -> BoltResponse | None:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and event_id:
            with app.store.engine.begin() as conn:
                first = work.spend_token(conn, f"slack-event:{event_id}", "slack_event", app.clock.now())
            if not first:
                log.info("Slack event %s seen before: ignored", event_id)
                return BoltResponse(status=200, body="")
        return next_()

    return middleware


def slack_actor(user: Any) -> str:
    """``@username (U123)`` for the user in an interaction payload."""
    if not isinstance(user, dict):
        return "(unknown Slack user)"
    uid = str(user.get("id") or "")
    name = user.get("username") or user.get("name")
    if name and uid:
        return f"@{name} ({uid})"
    return f"@{name}" if name else (uid or "(unknown Slack user)")


def on_button(app: Application, answer: Action) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        event_id = action.get("value")
        actor = slack_actor(body.get("user"))
        if not isinstance(event_id, str) or not event_id:
            tell(respond, "Not recorded: this button carries no event id.")
            return
        try:
            app.supervisor.answer(event_id, answer, actor=actor, channel="slack")
        except (LifecycleError, NotFoundError) as exc:
            tell(respond, f"Not recorded: {exc}")
            return
        except Exception:
            log.exception("recording %s of %s by %s failed", answer.value, event_id, actor)
            tell(respond, f"Not recorded: opswarden could not record the {answer.value} (logged); try again.")
            return
        app.wake()

    listener.__name__ = f"on_{answer.value}"
    return listener


def tell(respond: Respond, text: str) -> None:
    """An ephemeral message to the user who clicked (through the interaction's ``response_url``)."""
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:  # the answer (or refusal) is recorded and audited either way
        log.exception("could not tell the Slack user: %s", text)


def on_mention(event: dict[str, Any], say: Say) -> None:
    say(text=MENTION_REPLY, thread_ts=event.get("thread_ts") or event["ts"])


def on_other_event(event: dict[str, Any]) -> None:
    log.debug("Slack event %s: nothing to do", event.get("type"))
