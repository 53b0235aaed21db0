"""A fake SMTP server on loopback: aiosmtpd in a thread, recording every accepted message.

Usage::

    with FakeSMTPServer(auth=("opswarden", "s3cret")) as smtp:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
            client.login("opswarden", "s3cret")
            client.send_message(msg)
        assert smtp.messages[0].message["Subject"] == msg["Subject"]

Failure injection: ``smtp.fail_next(451)`` (default ``451 4.3.0 try again later``) or
``smtp.fail_next(550, "5.7.1 relaying denied", stage="rcpt")`` for the next N messages.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["FakeSMTPServer", "ReceivedMail"]

Stage = Literal["mail", "rcpt", "data"]

_DEFAULT_TEXT = {
    421: "4.3.2 service not available, closing transmission channel",
    450: "4.2.1 mailbox unavailable, try again later",
    451: "4.3.0 try again later",
    452: "4.3.1 insufficient system storage",
    550: "5.1.1 mailbox unavailable",
    552: "5.3.4 message size exceeds fixed limit",
    554: "5.7.1 transaction failed",
}


@dataclass(frozen=True)
class ReceivedMail:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage  # parsed with email.policy.default
    raw: bytes
    login: str | None  # the AUTH user, when the client authenticated

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])


@dataclass
class _Failure:
    code: int
    text: str
    stage: Stage
    remaining: int


class _EphemeralController(Controller):
    """aiosmtpd's Controller bound to port 0: learns the real port before its readiness probe."""

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = int(self.server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


class FakeSMTPServer:
    """SMTP on ``127.0.0.1:<ephemeral port>``; ``auth=(user, password)`` enables AUTH PLAIN/LOGIN."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        auth: tuple[str, str] | None = None,
        require_auth: bool | None = None,
        data_size_limit: int = 10 * 1024 * 1024,
    ) -> None:
        self.host = host
        self._auth = auth
        self._require_auth = auth is not None if require_auth is None else require_auth
        self._data_size_limit = data_size_limit
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._failures: list[_Failure] = []
        self._auth_attempts: list[tuple[str, bool]] = []
        self._controller: _EphemeralController | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeSMTPServer:
        if self._controller is not None:
            raise RuntimeError("SMTP server already started")
        kwargs: dict[str, Any] = {
            "data_size_limit": self._data_size_limit,
            "auth_require_tls": False,
            # AUTH is enforced in handle_MAIL instead of with auth_required=True, which warns without TLS
        }
        if self._auth is not None:
            kwargs["authenticator"] = self._authenticate
        controller = _EphemeralController(
            _Handler(self),
            hostname=self.host,
            port=0,
            ready_timeout=10.0,
            server_hostname="fake-smtp.test",
            **kwargs,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> FakeSMTPServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("SMTP server not started")
        return int(self._controller.port)

    @property
    def credentials(self) -> tuple[str, str] | None:
        return self._auth

    # -- set-up / inspection -----------------------------------------------------------------------

    def fail_next(
        self, code: int = 451, text: str | None = None, *, times: int = 1, stage: Stage = "data"
    ) -> None:
        """The next ``times`` messages are refused with ``code text`` at MAIL, RCPT or DATA (default).

        At RCPT each recipient counts: ``times=2`` refuses the next two addresses.
        """
        if stage not in ("mail", "rcpt", "data"):
            raise ValueError(f"unknown stage {stage!r}")
        with self._lock:
            self._failures.append(_Failure(code, text or _DEFAULT_TEXT.get(code, "error"), stage, times))

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    @property
    def auth_attempts(self) -> list[tuple[str, bool]]:
        """``(login, succeeded)`` for every AUTH attempt."""
        with self._lock:
            return list(self._auth_attempts)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._failures.clear()
            self._auth_attempts.clear()

    # -- called from the aiosmtpd thread -----------------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self._auth is None:
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = (login, password) == self._auth
        with self._lock:
            self._auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _take_failure(self, stage: Stage) -> str | None:
        with self._lock:
            for failure in self._failures:
                if failure.stage == stage:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    return f"{failure.code} {failure.text}"
        return None

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)


class _Handler:
    """aiosmtpd's event handler (it introspects the object, so it is kept apart from the fake)."""

    def __init__(self, fake: FakeSMTPServer) -> None:
        self._fake = fake

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self._fake._require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        refused = self._fake._take_failure("mail")
        if refused is not None:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refused = self._fake._take_failure("rcpt")
        if refused is not None:
            return refused
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refused = self._fake._take_failure("data")
        if refused is not None:
            return refused
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        auth_data = session.auth_data
        login = auth_data.login if isinstance(auth_data, LoginPassword) else None
        self._fake._record(
            ReceivedMail(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                raw=raw,
                login=login.decode() if isinstance(login, bytes) else login,
            )
        )
        return "250 Message accepted for delivery"
