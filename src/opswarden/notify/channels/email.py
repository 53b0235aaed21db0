"""E-mail over SMTP: HTML and text, with signed approve / reject links, threaded per event.

The card's ``Message-ID`` is derived from its outbox key and stored as the thread; later messages
about the event carry ``In-Reply-To`` and ``References`` to it, so mail clients thread them.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from opswarden.errors import DeliveryError, DeliveryReason
from opswarden.notify.base import Delivered, Outgoing
from opswarden.notify.message import Kind
from opswarden.notify.render.email import render_email


class EmailNotifier:
    channel = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self.password = starttls, username, password
        self.timeout = timeout

    def send(self, out: Outgoing) -> Delivered:
        subject, text, html = render_email(out.message, out.links)
        mail = EmailMessage()
        mail["Subject"] = subject
        mail["From"] = self.sender
        mail["To"] = out.target
        mail["Date"] = formatdate(out.message.at.timestamp(), usegmt=True)
        message_id = f"<{out.dedupe_key[:40]}@opswarden>"
        mail["Message-ID"] = message_id
        if out.thread and out.message.kind is not Kind.CARD:
            mail["In-Reply-To"] = out.thread["message_id"]
            mail["References"] = out.thread["message_id"]
        mail.set_content(text)
        mail.add_alternative(html, subtype="html")
        self._send(mail)
        ref = {"message_id": message_id}
        return Delivered(ref=ref, thread=ref if out.message.kind is Kind.CARD else None)

    def confirm(self, out: Outgoing) -> Delivered | None:
        return None

    def _send(self, mail: EmailMessage) -> None:
        where = f"smtp {self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(
                            f"{where}: the server does not offer STARTTLS; refusing to send in clear text "
                            "(set OPSWARDEN_SMTP_STARTTLS=false only for a relay on a trusted network)",
                            reason=DeliveryReason.CLIENT,
                            recoverable=False,
                        )
                    smtp.starttls()
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{where}: authentication failed ({exc.smtp_code}); check OPSWARDEN_SMTP_USERNAME/PASSWORD",
                reason=DeliveryReason.AUTH,
                recoverable=False,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryError(
                f"{where}: recipient refused ({', '.join(map(str, codes))})",
                reason=DeliveryReason.RATE_LIMITED if all(c < 500 for c in codes) else DeliveryReason.CLIENT,
                recoverable=all(c < 500 for c in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            temporary = 400 <= exc.smtp_code < 500
            raise DeliveryError(
                f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}",
                reason=DeliveryReason.SERVER if temporary else DeliveryReason.CLIENT,
                recoverable=temporary,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"{where}: {type(exc).__name__}", reason=DeliveryReason.NETWORK, recoverable=True
            ) from None


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())[:200]
