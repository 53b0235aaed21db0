"""Slack through the Web API (slack-sdk): a card per event and target, its thread for the rest.

The card (``chat.postMessage``) starts the thread; its channel and ``ts`` are stored. Updates,
reminders, answers and resolutions are replies in that thread, and answers and updates also refresh
the card itself (``chat.update``) so that it shows the current state and drops its buttons once
someone has answered. Every message carries metadata with its outbox key, so after a crash
mid-send :meth:`SlackNotifier.confirm` can find out whether it arrived instead of posting it twice.
"""

from __future__ import annotations

from typing import Any

from opswarden.errors import ConfigurationError, DeliveryError, DeliveryReason
from opswarden.notify.base import Delivered, Outgoing
from opswarden.notify.message import Kind, Message
from opswarden.notify.render.slack import render_slack, render_slack_card

METADATA_TYPE = "opswarden_message"
_AUTH = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "missing_scope"}
_LATER = {
    "ratelimited",
    "rate_limited",
    "service_unavailable",
    "fatal_error",
    "internal_error",
    "request_timeout",
}


class SlackNotifier:
    channel = "slack"

    def __init__(self, token: str, base_url: str, timeout: float = 10) -> None:
        try:
            from slack_sdk import WebClient
        except ImportError:  # pragma: no cover - the extra is part of dev installs
            raise ConfigurationError("Slack needs the slack extra: pip install 'opswarden[slack]'") from None
        # No retry handlers: the dispatcher's retry stage is the only one (with Retry-After).
        self.client = WebClient(token=token, base_url=base_url, timeout=int(timeout), retry_handlers=[])

    def send(self, out: Outgoing) -> Delivered:
        msg = out.message
        metadata = {
            "event_type": METADATA_TYPE,
            "event_payload": {"outbox": out.dedupe_key, "event": msg.event_id},
        }
        if msg.kind is Kind.CARD or out.thread is None:
            body = render_slack(msg)
            answer = self._call("chat_postMessage", channel=out.target, metadata=metadata, **body)
            ref = {"channel": answer["channel"], "ts": answer["ts"]}
            return Delivered(ref=ref, thread=ref if msg.kind is Kind.CARD else None)
        thread = out.thread
        body = render_slack(msg, buttons=False)
        answer = self._call(
            "chat_postMessage", channel=thread["channel"], thread_ts=thread["ts"], metadata=metadata, **body
        )
        ref = {"channel": answer["channel"], "ts": answer["ts"]}
        if out.card is not None and msg.kind in (Kind.UPDATE, Kind.ANSWER, Kind.RESOLVED, Kind.REOPENED):
            # The reply is out: a failed refresh of the card must not fail the delivery, or the
            # dispatcher's retry would post the reply a second time. The next refresh catches up.
            try:
                self._call(
                    "chat_update", channel=thread["channel"], ts=thread["ts"], **self._card(out.card, msg)
                )
            except DeliveryError as exc:
                ref["card_refresh"] = f"failed: {exc}"
        return Delivered(ref=ref)

    def confirm(self, out: Outgoing) -> Delivered | None:
        """Look for the message's metadata in the channel (a card) or the thread (a reply)."""
        if out.message.kind is Kind.CARD or out.thread is None:
            found = self._channel_id(out.target)
            if found is None:
                return None
            channel = found
            answer = self._call(
                "conversations_history", channel=channel, limit=200, include_all_metadata=True
            )
        else:
            channel = out.thread["channel"]
            answer = self._call(
                "conversations_replies",
                channel=out.thread["channel"],
                ts=out.thread["ts"],
                limit=200,
                include_all_metadata=True,
            )
        for message in answer.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("outbox") == out.dedupe_key:
                ref = {"channel": channel, "ts": message["ts"]}
                return Delivered(ref=ref, thread=ref if out.message.kind is Kind.CARD else None)
        return None

    def _channel_id(self, target: str) -> str | None:
        """A channel's ID: ``conversations.history`` takes only IDs, while org.yaml may name channels
        (``#infra``). Names are looked up with ``conversations.list`` (scope channels:read)."""
        name = target.removeprefix("#")
        if not target.startswith("#") and name[:1] in ("C", "G", "D") and name.isupper():
            return target
        cursor = None
        while True:
            answer = self._call(
                "conversations_list", limit=200, cursor=cursor, types="public_channel,private_channel"
            )
            for channel in answer.get("channels", []):
                if channel.get("name") == name:
                    return str(channel["id"])
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    @staticmethod
    def _card(card: Message, latest: Message) -> dict[str, Any]:
        """The card re-rendered with the latest content and state (and the answer, if that is news)."""
        fresh = latest.model_copy(update={"kind": Kind.CARD, "changes": (), "answer": None})
        return render_slack_card(fresh, latest.lifecycle, latest.answer or card.answer)

    def _call(self, method: str, **kwargs: Any) -> Any:
        from slack_sdk.errors import SlackApiError

        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            raise _delivery_error(method, exc) from None
        except OSError as exc:  # URLError, timeouts, refused connections
            raise DeliveryError(
                f"slack {method}: {type(exc).__name__}", reason=DeliveryReason.NETWORK, recoverable=True
            ) from None


def _delivery_error(method: str, exc: Any) -> DeliveryError:
    response = exc.response
    status = getattr(response, "status_code", 200)
    error = (
        (response.data or {}).get("error", "unknown_error")
        if isinstance(response.data, dict)
        else "unknown_error"
    )
    what = f"slack {method}: {error}"
    if status == 429 or error in ("ratelimited", "rate_limited"):
        after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        return DeliveryError(
            what,
            reason=DeliveryReason.RATE_LIMITED,
            recoverable=True,
            retry_after=float(after) if after and str(after).isdigit() else None,
        )
    if status >= 500 or error in _LATER:
        return DeliveryError(what, reason=DeliveryReason.SERVER, recoverable=True)
    if error in _AUTH:
        return DeliveryError(
            f"{what}: check OPSWARDEN_SLACK_BOT_TOKEN", reason=DeliveryReason.AUTH, recoverable=False
        )
    return DeliveryError(what, reason=DeliveryReason.CLIENT, recoverable=False)
