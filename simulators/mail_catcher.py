"""A stand-in for the world's mail servers: an SMTP server that keeps what it is sent.

`pilecare run` points the desk's outbound relay at one (mail lands in .pilecare/mail/ as
.eml files, one per recipient), and the tests read the caught messages from `messages`.
"""
from __future__ import annotations

import email
import email.policy
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

from pilecare.embedded import free_port


class _Keep:
    def __init__(self, catcher: "MailCatcher"):
        self.catcher = catcher

    async def handle_DATA(self, server, session, envelope) -> str:
        self.catcher.keep(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        return "250 OK: caught"


class MailCatcher:
    """Accepts every mail on (host, port) — port 0 picks a free one — and keeps it in memory
    and, with `folder`, as <folder>/<n>-<recipient>.eml."""

    def __init__(self, folder: Path | None = None, *, host: str = "127.0.0.1", port: int = 0):
        self.folder = folder
        self.host, self.port = host, port or free_port()
        self.messages: list[tuple[str, list[str], EmailMessage]] = []   # (mail from, recipients, message)
        self._lock = threading.Condition()
        self._count = 0
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            self._count = len(list(folder.glob("*.eml")))
        self.controller = Controller(_Keep(self), hostname=host, port=self.port)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "MailCatcher":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def keep(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self._lock:
            self._count += 1
            self.messages.append((mail_from, rcpt_tos, message))
            if self.folder is not None:
                name = "".join(c if c.isalnum() or c in "@.-_" else "_" for c in ",".join(rcpt_tos))[:80]
                (self.folder / f"{self._count:06d}-{name}.eml").write_bytes(raw)
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The caught messages once there are at least `count` (TimeoutError after `timeout` s)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {count} mails caught after {timeout:g} s")
                self._lock.wait(left)
            return [m for _, _, m in self.messages]
