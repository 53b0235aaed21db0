"""The console channel: each message as text, appended to a file (or printed). The embedded default."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from opswarden.errors import DeliveryError, DeliveryReason
from opswarden.notify.base import Delivered, Outgoing
from opswarden.notify.message import Kind
from opswarden.notify.render.text import render_text

RULE = "─" * 78


class ConsoleNotifier:
    channel = "console"

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: standard output
        self._lock = threading.Lock()

    def send(self, out: Outgoing) -> Delivered:
        msg = out.message
        about = msg.title if msg.kind is Kind.DIGEST else msg.event_id
        text = f"{RULE}\n{msg.kind.value} · {about}\n{render_text(msg, out.links)}\n"
        with self._lock:
            if self.path is None:
                sys.stdout.write(text)
                sys.stdout.flush()
            else:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    with self.path.open("a", encoding="utf-8") as sink:
                        sink.write(text)
                except OSError as exc:
                    raise DeliveryError(
                        f"console sink {self.path}: {exc.strerror or exc}",
                        reason=DeliveryReason.SERVER,
                        recoverable=True,
                    ) from None
        where = str(self.path) if self.path else "stdout"
        thread = {"sink": where} if out.thread is None else None
        return Delivered(ref={"sink": where}, thread=thread)

    def confirm(self, out: Outgoing) -> Delivered | None:
        return None
