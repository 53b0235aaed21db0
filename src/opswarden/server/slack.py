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
  (``X-Slack-Retry-Num``) are answered 200 and do nothing. Other events are answered 200 and ignored
  (a non-2xx answer would make Slack retry).
* ``app_mention``: the text without the bot's mention goes to the assistant (``Application.ask``) and
  the answer is posted as mrkdwn in the mention's thread (``&``, ``<``, ``>`` escaped; long answers in
  several messages). In a thread, its earlier messages (``conversations.replies``) are the
  conversation's history; in an event's thread (its root is an opswarden card, found in the store's
  ``threads`` table by channel id and ``thread_ts``) the event is the context too.
* The slash command ``/opswarden <question>`` (``/opswarden ev-… <question>`` about one event) answers
  privately: an ephemeral message through the command's ``response_url``.

Both are acknowledged at once and answered by a Bolt lazy listener (a worker thread), so that a slow
answer never runs into Slack's 3-second limit. Answers never carry a token, a secret or a signed link.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from opswarden.act.answers import Action, refuse
from opswarden.app import Application
from opswarden.errors import ConfigurationError, LifecycleError, NotFoundError
from opswarden.notify.render.slack import ACKNOWLEDGE, APPROVE, REJECT
from opswarden.server.api import Body
from opswarden.server.ask import ask_in_context
from opswarden.store import triage as work
from opswarden.store.schema import threads

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
COMMAND = "/opswarden"
HOW_TO_ASK = (
    "Ask opswarden a question: mention it with the question (in an event's thread the event is the "
    f"context), or `{COMMAND} <question>` (`{COMMAND} ev-… <question>` about one event)."
)
ANSWER_FAILED = "opswarden could not answer that just now (logged); try again in a moment."
CHUNK = 3_500  # characters per message: under Slack's 4,000 advised for text (40,000 hard limit)
MAX_MESSAGES = 8  # per answer in a thread; respond() allows 5 per response_url
HISTORY_MESSAGES = 20  # earlier thread messages read as history
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]*)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+\|([^>]*)>")
_EVENT_REF = re.compile(r"^(ev-[0-9a-f]{6,32})\b[\s:,-]*", re.IGNORECASE)
_SLACK_TOKEN = re.compile(r"xox[a-z]-[A-Za-z0-9-]+")
_ANSWER_LINK = re.compile(r"(/answers/)[A-Za-z0-9._~%+=-]{8,}")


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
    bolt.event("app_mention")(ack=acknowledge, lazy=[on_mention(app)])
    bolt.command(COMMAND)(ack=acknowledge, lazy=[on_command(app)])
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


def acknowledge(ack: Ack) -> None:
    """Answer Slack at once; the question is answered by the lazy listener."""
    ack()


def on_mention(app: Application) -> Callable[..., None]:
    def answer_mention(event: dict[str, Any], say: Say, client: WebClient, context: Any) -> None:
        channel = str(event.get("channel") or "")
        thread_ts = event.get("thread_ts") or event["ts"]
        bot = getattr(context, "bot_user_id", None)
        question = plain_text(event.get("text") or "", bot)
        try:
            if not question:
                text = HOW_TO_ASK
            else:
                history: list[dict[str, str]] = []
                event_ref = None
                if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
                    event_ref = event_in_thread(app, channel, str(event["thread_ts"]))
                    history = thread_history(
                        client, channel, str(event["thread_ts"]), str(event["ts"]), bot, card=event_ref
                    )
                user = slack_actor({"id": event.get("user")})
                answer = ask_in_context(app, question, event=event_ref, history=history, user=user)
                text = answer.text()
        except Exception:
            log.exception("answering a Slack mention in %s failed", channel)
            text = ANSWER_FAILED
        for part in chunks(mrkdwn(scrub(app, text))):
            say(text=part, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False)

    return answer_mention


def on_command(app: Application) -> Callable[..., None]:
    def answer_command(command: dict[str, Any], respond: Respond) -> None:
        question = plain_text(command.get("text") or "", None)
        try:
            event_ref = None
            if (found := _EVENT_REF.match(question)) is not None:
                try:
                    event_ref = event_context(app, found.group(1))
                    question = question[found.end() :].strip() or "What is this event and what should we do?"
                except NotFoundError:
                    event_ref = None  # not an event we know: the words are part of the question
            user = slack_actor({"id": command.get("user_id"), "username": command.get("user_name")})
            text = (
                ask_in_context(app, question, event=event_ref, user=user).text() if question else HOW_TO_ASK
            )
        except Exception:
            log.exception("answering %s failed", COMMAND)
            text = ANSWER_FAILED
        for part in chunks(mrkdwn(scrub(app, text)), limit=5):
            respond(text=part, response_type="ephemeral", replace_original=False)

    return answer_command


def plain_text(text: str, bot_user_id: str | None) -> str:
    """Slack's message text as the question: the bot's mention removed (every leading mention when the
    bot's id is unknown), links and channels as written, ``&amp;`` ``&lt;`` ``&gt;`` unescaped."""
    if bot_user_id:
        text = _MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else m.group(0), text)
    else:
        text = re.sub(r"^(\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>)+", "", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _CHANNEL.sub(lambda m: "#" + m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def event_context(app: Application, ref: str) -> dict[str, Any]:
    """``{"id", "title"}`` of an event (NotFoundError if unknown)."""
    found = app.event_json(ref)
    return {"id": found["id"], "title": found.get("title")}


def event_in_thread(app: Application, channel: str, thread_ts: str) -> dict[str, Any] | None:
    """The event whose opswarden card is the root of this thread (``threads``: channel id + ts)."""
    query = sa.select(threads.c.event_id, threads.c.ref).where(
        threads.c.channel != "tickets", sa.cast(threads.c.ref, sa.Text).contains(thread_ts, autoescape=True)
    )
    with app.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    for row in rows:
        ref = row.ref if isinstance(row.ref, dict) else {}
        if ref.get("channel") == channel and ref.get("ts") == thread_ts:
            try:
                return event_context(app, row.event_id)
            except NotFoundError:  # pruned from the store: the thread is a plain thread now
                return None
    return None


def thread_history(
    client: WebClient, channel: str, thread_ts: str, before_ts: str, bot: str | None, *, card: Any = None
) -> list[dict[str, str]]:
    """The thread's messages before ``before_ts``, oldest first, as ``{"role", "content"}`` (the bot's
    are the assistant's); an event card (the root, when ``card``) is left out: the event is the context."""
    try:
        found = client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
    except Exception:  # history is a help, not a must
        log.warning("could not read the Slack thread %s/%s", channel, thread_ts, exc_info=True)
        return []
    messages = [m for m in found.get("messages") or [] if isinstance(m, dict)]
    history = []
    for message in messages:
        ts = str(message.get("ts") or "")
        if not ts or float(ts) >= float(before_ts) or (card and ts == thread_ts):
            continue
        from_bot = bool(message.get("bot_id")) or (bot is not None and message.get("user") == bot)
        content = plain_text(str(message.get("text") or ""), bot)
        if content:
            history.append({"role": "assistant" if from_bot else "user", "content": content})
    return history[-HISTORY_MESSAGES:]


def scrub(app: Application, text: str) -> str:
    """No credential leaves in an answer: configured secrets, Slack tokens, signed answer links."""
    settings = app.settings
    for secret in (
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.api_key,
        settings.hmac_secret,
    ):
        value = secret.get_secret_value() if secret is not None else ""
        if len(value) >= 8:
            text = text.replace(value, "[redacted]")
    text = _SLACK_TOKEN.sub("[redacted]", text)
    return _ANSWER_LINK.sub(r"\1…", text)


def mrkdwn(text: str) -> str:
    """Plain text as Slack mrkdwn: only ``&``, ``<`` and ``>`` are escaped (Slack's control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chunks(text: str, *, size: int = CHUNK, limit: int = MAX_MESSAGES) -> list[str]:
    """``text`` in parts of at most ``size`` characters, split at line breaks where possible and never
    inside an ``&…;`` escape; at most ``limit`` parts (the last says what was left out)."""
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= size:
            parts.append(rest)
            break
        cut = _cut(rest, size)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if len(parts) > limit:
        last = parts[limit - 1]
        parts = [*parts[: limit - 1], last[: _cut(last, size - 60)].rstrip() + "\n… (answer cut: too long)"]
    return parts or [HOW_TO_ASK]


def _cut(text: str, size: int) -> int:
    """Where to end a part of at most ``size`` characters: a line break, else a space, else ``size``
    (moved back before an ``&…;`` escape it would split)."""
    if len(text) <= size:
        return len(text)
    cut = text.rfind("\n", 0, size)
    if cut < size // 2:
        cut = text.rfind(" ", 0, size)
    if cut < size // 2:
        cut = size
        amp = text.rfind("&", max(0, cut - 5), cut)
        if amp != -1 and ";" not in text[amp:cut]:
            cut = amp
    return cut


def on_other_event(event: dict[str, Any]) -> None:
    log.debug("Slack event %s: nothing to do", event.get("type"))
