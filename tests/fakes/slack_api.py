"""A fake Slack Web API on loopback, for the methods opswarden uses.

Implements (shapes per https://api.slack.com/methods): ``auth.test``, ``chat.postMessage``,
``chat.update``, ``conversations.history`` and ``conversations.replies``. Every method answers
HTTP 200 with ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}`` like Slack does; injected
failures answer other statuses (429 with ``Retry-After``, 5xx).

Requests may be form-encoded (``application/x-www-form-urlencoded``; ``blocks``/``metadata`` as JSON
strings), JSON (``application/json``) or ``multipart/form-data``, with parameters in the query string
too; the token comes from ``Authorization: Bearer xoxb-...`` or a ``token`` parameter.

Usage::

    with FakeSlackAPI(channels={"#infra": "C0INFRA"}) as slack:
        client = WebClient(token=slack.token, base_url=slack.base_url, retry_handlers=[])
        client.chat_postMessage(channel="#infra", text="hi")
        assert slack.messages("#infra")[0]["text"] == "hi"

Deliberate strictness (so code that passes here also works against Slack):

* ``chat.postMessage`` accepts a channel ID, ``#name`` or ``name``; ``chat.update`` and
  ``conversations.*`` accept only the channel ID (as Slack requires), else ``channel_not_found``.
* ``conversations.history`` / ``.replies`` include a message's ``metadata`` only when
  ``include_all_metadata`` is true.
* A reply to an unknown ``thread_ts`` is rejected with ``thread_not_found``.
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes._http import HTTPRequest, LoopbackHTTPServer, Reply

__all__ = ["DEFAULT_CHANNELS", "DEFAULT_TOKEN", "FakeSlackAPI", "SlackCall"]

DEFAULT_TOKEN = "xoxb-opswarden-test-token"
DEFAULT_CHANNELS: Mapping[str, str] = {
    "#infra": "C0INFRA",
    "#alerts": "C0ALERTS",
    "#security": "C0SECURITY",
}
API_PREFIX = "/api/"


@dataclass(frozen=True)
class SlackCall:
    """One request to the fake, whatever its outcome."""

    method: str  # e.g. "chat.postMessage"
    params: dict[str, Any]  # query + body, JSON-ish values decoded where the method expects JSON
    headers: dict[str, str]  # lower-cased names
    status: int  # HTTP status answered
    response: Any  # the JSON answered (or None)

    @property
    def ok(self) -> bool:
        return isinstance(self.response, dict) and bool(self.response.get("ok"))

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip()


@dataclass
class _Failure:
    status: int
    retry_after: float | int | None
    error: str
    remaining: int
    body: bytes | None = None


@dataclass
class _Channel:
    id: str
    name: str  # without "#"
    member: bool = True
    archived: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)  # post order, replies included


class _SlackError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes"}


def _ts_key(ts: Any, error: str) -> Decimal:
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        raise _SlackError(error) from None


class FakeSlackAPI:
    """A thread-safe in-memory Slack workspace served over HTTP on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        channels: Mapping[str, str] | None = None,
        team: str = "opswarden-test",
        team_id: str = "T0OPSWARDEN",
        bot_user: str = "opswarden",
        bot_user_id: str = "U0OPSBOT",
        bot_id: str = "B0OPSBOT",
        app_id: str = "A0OPSAPP",
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.team, self.team_id = team, team_id
        self.bot_user, self.bot_user_id, self.bot_id, self.app_id = bot_user, bot_user_id, bot_id, app_id
        self._clock = clock
        self._lock = threading.RLock()
        self._channels: dict[str, _Channel] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._delays: dict[str, list[float]] = {}
        self._calls: list[SlackCall] = []
        self._last_ts_us = 0
        self._stopping = threading.Event()
        for name, cid in (DEFAULT_CHANNELS if channels is None else channels).items():
            self.add_channel(name, cid)
        self._http = LoopbackHTTPServer(self._dispatch, host=host)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeSlackAPI:
        self._stopping.clear()
        self._http.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._http.stop()

    def __enter__(self) -> FakeSlackAPI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """For ``WebClient(base_url=...)``: ends with "/" so that the method name is appended."""
        return f"{self._http.origin}{API_PREFIX}"

    @property
    def port(self) -> int:
        return self._http.port

    # -- set-up ------------------------------------------------------------------------------------

    def add_channel(self, name: str, channel_id: str, *, member: bool = True, archived: bool = False) -> None:
        """Create a channel. ``member=False`` → posting answers ``not_in_channel``; ``archived`` → ``is_archived``."""
        with self._lock:
            self._channels[channel_id] = _Channel(
                id=channel_id, name=name.lstrip("#"), member=member, archived=archived
            )

    def channel_id(self, channel: str) -> str:
        """The ID for "#name", "name" or an ID; KeyError if unknown."""
        with self._lock:
            found = self._lookup(channel, allow_names=True)
        if found is None:
            raise KeyError(channel)
        return found.id

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: float | int | None = None,
        times: int = 1,
        error: str | None = None,
        body: bytes | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("*" for any) fail with HTTP ``status``.

        429 answers ``Retry-After`` (default 3 s) and ``{"ok": false, "error": "ratelimited"}``;
        other statuses answer ``{"ok": false, "error": error or "internal_error"}``, or ``body``
        verbatim when given (e.g. an HTML error page). A status of 200 with ``error`` makes an
        API-level failure (``{"ok": false, "error": error}``). The call is recorded, state is unchanged.
        """
        if status == 429 and retry_after is None:
            retry_after = 3
        default_error = "ratelimited" if status == 429 else "internal_error"
        with self._lock:
            self._failures.setdefault(method, []).append(
                _Failure(status, retry_after, error or default_error, times, body)
            )

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` ("*" for any) answer after ``seconds`` (timeouts)."""
        with self._lock:
            self._delays.setdefault(method, []).extend([seconds] * times)

    # -- inspection --------------------------------------------------------------------------------

    @property
    def calls(self) -> list[SlackCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message in ``channel`` (ID or name), oldest first, thread replies included, updates applied.

        Each is Slack's message object (``text``, ``ts``, ``blocks``, ``metadata``, ``thread_ts``,
        ``edited``, ...); a copy.
        """
        with self._lock:
            found = self._lookup(channel, allow_names=True)
            if found is None:
                raise KeyError(channel)
            return copy.deepcopy(found.messages)

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The parent message and its replies, oldest first."""
        return [m for m in self.messages(channel) if m["ts"] == ts or m.get("thread_ts") == ts]

    def clear(self) -> None:
        """Forget calls, messages and pending failures (channels stay)."""
        with self._lock:
            self._calls.clear()
            self._failures.clear()
            self._delays.clear()
            for ch in self._channels.values():
                ch.messages.clear()

    # -- HTTP --------------------------------------------------------------------------------------

    def _dispatch(self, request: HTTPRequest) -> Reply:
        method = request.path[len(API_PREFIX) :] if request.path.startswith(API_PREFIX) else request.path
        try:
            params = self._params(request)
        except _SlackError as exc:
            params = {}
            return self._answer(method, params, request, Reply.json({"ok": False, "error": exc.error}))

        delay = self._take_delay(method)
        if delay:
            self._stopping.wait(delay)

        failure = self._take_failure(method)
        if failure is not None:
            return self._answer(method, params, request, self._failure_reply(failure))

        handler = self._METHODS.get(method)
        if handler is None:
            reply = Reply.json({"ok": False, "error": "unknown_method", "req_method": method}, status=404)
            return self._answer(method, params, request, reply)
        try:
            self._check_auth(request, params)
            with self._lock:
                payload = handler(self, params)
        except _SlackError as exc:
            payload = {"ok": False, "error": exc.error}
        return self._answer(method, params, request, Reply.json(payload))

    def _answer(self, method: str, params: dict[str, Any], request: HTTPRequest, reply: Reply) -> Reply:
        try:
            response = json.loads(reply.body) if reply.body else None
        except ValueError:
            response = None
        reply.headers.setdefault("X-Slack-Req-Id", f"fake-{len(self._calls)}")
        with self._lock:
            self._calls.append(SlackCall(method, params, dict(request.headers), reply.status, response))
        return reply

    @staticmethod
    def _failure_reply(failure: _Failure) -> Reply:
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        if failure.body is not None:
            headers["Content-Type"] = "text/html; charset=utf-8"
            return Reply(status=failure.status, body=failure.body, headers=headers)
        return Reply.json({"ok": False, "error": failure.error}, status=failure.status, headers=headers)

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            for key in (method, "*"):
                queue = self._failures.get(key)
                if queue:
                    failure = queue[0]
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        queue.pop(0)
                    return failure
        return None

    def _take_delay(self, method: str) -> float:
        with self._lock:
            for key in (method, "*"):
                queue = self._delays.get(key)
                if queue:
                    return queue.pop(0)
        return 0.0

    @staticmethod
    def _params(request: HTTPRequest) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if not request.body:
            return params
        if ctype == "application/json":
            try:
                body = json.loads(request.body)
            except ValueError:
                raise _SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise _SlackError("invalid_json")
            params.update(body)
        elif ctype == "multipart/form-data":
            raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.body
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if isinstance(name, str):
                    payload = part.get_payload(decode=True)
                    params[name] = payload.decode() if isinstance(payload, bytes) else payload
        else:  # form-encoded (Slack's default)
            params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
        return params

    def _check_auth(self, request: HTTPRequest, params: dict[str, Any]) -> None:
        auth = request.headers.get("authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else params.pop("token", None)
        params.pop("token", None)
        if not token:
            raise _SlackError("not_authed")
        if token != self.token:
            raise _SlackError("invalid_auth")

    # -- model -------------------------------------------------------------------------------------

    def _lookup(self, channel: Any, *, allow_names: bool) -> _Channel | None:
        if not isinstance(channel, str) or not channel:
            return None
        if channel in self._channels:
            return self._channels[channel]
        if allow_names:
            name = channel.lstrip("#")
            for ch in self._channels.values():
                if ch.name == name:
                    return ch
        return None

    def _channel(self, params: Mapping[str, Any], *, allow_names: bool) -> _Channel:
        found = self._lookup(params.get("channel"), allow_names=allow_names)
        if found is None:
            raise _SlackError("channel_not_found")
        return found

    def _next_ts(self) -> str:
        now_us = int(self._clock() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    @staticmethod
    def _json_param(params: dict[str, Any], name: str, error: str) -> Any:
        value = params.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                value = json.loads(value)
            except ValueError:
                raise _SlackError(error) from None
            params[name] = value
        return value

    def _blocks(self, params: dict[str, Any]) -> list[Any] | None:
        blocks = self._json_param(params, "blocks", "invalid_blocks_format")
        if blocks is not None and (
            not isinstance(blocks, list) or not all(isinstance(b, dict) and "type" in b for b in blocks)
        ):
            raise _SlackError("invalid_blocks")
        return blocks

    def _metadata(self, params: dict[str, Any]) -> dict[str, Any] | None:
        metadata = self._json_param(params, "metadata", "invalid_metadata_format")
        if metadata is None:
            return None
        if not isinstance(metadata, dict):
            raise _SlackError("invalid_metadata_format")
        if metadata == {}:
            return {}
        if not isinstance(metadata.get("event_type"), str) or not isinstance(
            metadata.get("event_payload"), dict
        ):
            raise _SlackError("invalid_metadata_schema")
        return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}

    def _find(self, ch: _Channel, ts: Any) -> dict[str, Any] | None:
        return next((m for m in ch.messages if m["ts"] == ts), None)

    @staticmethod
    def _public(message: Mapping[str, Any], *, with_metadata: bool = True) -> dict[str, Any]:
        out = copy.deepcopy(dict(message))
        if not with_metadata:
            out.pop("metadata", None)
        return out

    # -- methods -----------------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team}.slack.com/",
            "team": self.team,
            "user": self.bot_user,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(params, allow_names=True)
        if ch.archived:
            raise _SlackError("is_archived")
        if not ch.member:
            raise _SlackError("not_in_channel")
        blocks = self._blocks(params)
        metadata = self._metadata(params)
        text = params.get("text")
        if not text and not blocks and not params.get("attachments"):
            raise _SlackError("no_text")
        if isinstance(text, str) and len(text) > 40_000:
            raise _SlackError("msg_too_long")
        thread_ts = params.get("thread_ts") or None
        parent: dict[str, Any] | None = None
        if thread_ts is not None:
            parent = self._find(ch, str(thread_ts))
            if parent is None:
                raise _SlackError("thread_not_found")
            if parent.get("thread_ts") not in (None, parent["ts"]):  # a reply's ts: use its parent
                parent = self._find(ch, parent["thread_ts"]) or parent
            thread_ts = parent["ts"]

        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text or "",
            "ts": ts,
        }
        if blocks is not None:
            message["blocks"] = blocks
        if metadata:
            message["metadata"] = metadata
        if parent is not None:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = parent.get("user", self.bot_user_id)
            if _truthy(params.get("reply_broadcast", False)):
                message["subtype"] = "thread_broadcast"
            parent["thread_ts"] = parent["ts"]
            parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
            parent["reply_users"] = sorted({*parent.get("reply_users", []), self.bot_user_id})
            parent["reply_users_count"] = len(parent["reply_users"])
            parent["latest_reply"] = ts
        ch.messages.append(message)
        return {"ok": True, "channel": ch.id, "ts": ts, "message": self._public(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(params, allow_names=False)
        message = self._find(ch, params.get("ts"))
        if message is None:
            raise _SlackError("message_not_found")
        if ch.archived:
            raise _SlackError("is_archived")
        blocks = self._blocks(params)
        metadata = self._metadata(params)
        if "text" in params and params["text"] is not None:
            message["text"] = params["text"]
        if blocks is not None:  # omitted → previous blocks kept; [] removes them
            if blocks:
                message["blocks"] = blocks
            else:
                message.pop("blocks", None)
        if metadata is not None:  # omitted → kept; {} removes it
            if metadata:
                message["metadata"] = metadata
            else:
                message.pop("metadata", None)
        if not message.get("text") and not message.get("blocks"):
            raise _SlackError("no_text")
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": ch.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": self._public(message),
        }

    @staticmethod
    def _page(
        items: list[dict[str, Any]], params: Mapping[str, Any], default_limit: int
    ) -> tuple[list[dict[str, Any]], str]:
        try:
            limit = int(params.get("limit") or default_limit)
        except ValueError:
            raise _SlackError("invalid_limit") from None
        limit = max(1, min(limit, 999))
        start = 0
        cursor = params.get("cursor")
        if cursor:
            try:
                start = int(base64.b64decode(str(cursor)).decode().removeprefix("offset:"))
            except ValueError:
                raise _SlackError("invalid_cursor") from None
        page = items[start : start + limit]
        more = start + limit < len(items)
        next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return page, next_cursor

    def _window(self, params: Mapping[str, Any]) -> Callable[[dict[str, Any]], bool]:
        inclusive = _truthy(params.get("inclusive", False))
        oldest = (
            _ts_key(params["oldest"], "invalid_ts_oldest") if params.get("oldest") not in (None, "") else None
        )
        latest = (
            _ts_key(params["latest"], "invalid_ts_latest") if params.get("latest") not in (None, "") else None
        )

        def keep(message: dict[str, Any]) -> bool:
            ts = Decimal(message["ts"])
            if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
                return False
            return not (latest is not None and (ts > latest or (ts == latest and not inclusive)))

        return keep

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(params, allow_names=False)
        with_metadata = _truthy(params.get("include_all_metadata", False))
        keep = self._window(params)
        top = [
            m
            for m in ch.messages
            if (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast") and keep(m)
        ]
        top.reverse()  # newest first
        page, next_cursor = self._page(top, params, default_limit=100)
        return {
            "ok": True,
            "messages": [self._public(m, with_metadata=with_metadata) for m in page],
            "has_more": bool(next_cursor),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(params, allow_names=False)
        message = self._find(ch, params.get("ts"))
        if message is None:
            raise _SlackError("thread_not_found")
        parent_ts = message.get("thread_ts") or message["ts"]
        with_metadata = _truthy(params.get("include_all_metadata", False))
        keep = self._window(params)
        thread = [
            m
            for m in ch.messages
            if (m["ts"] == parent_ts or m.get("thread_ts") == parent_ts) and (m["ts"] == parent_ts or keep(m))
        ]
        page, next_cursor = self._page(thread, params, default_limit=1000)
        return {
            "ok": True,
            "messages": [self._public(m, with_metadata=with_metadata) for m in page],
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        """Channels the bot can see (``conversations.list``), paginated; ``is_member`` as Slack says."""
        with self._lock:
            items = [
                {
                    "id": ch.id,
                    "name": ch.name,
                    "is_channel": True,
                    "is_member": ch.member,
                    "is_archived": ch.archived,
                }
                for ch in self._channels.values()
            ]
        unique = list({item["id"]: item for item in items}.values())
        page, next_cursor = self._page(unique, params, default_limit=100)
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": next_cursor}}

    _METHODS: Mapping[str, Callable[[FakeSlackAPI, dict[str, Any]], dict[str, Any]]] = {
        "conversations.list": _conversations_list,
        "auth.test": _auth_test,
        "chat.postMessage": _chat_post_message,
        "chat.update": _chat_update,
        "conversations.history": _conversations_history,
        "conversations.replies": _conversations_replies,
    }
