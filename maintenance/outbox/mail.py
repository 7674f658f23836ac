"""Outbound e-mail through the outbox: queued in the caller's transaction, sent after commit
over SMTP to the configured relay by the deliverer, with its bounded retries and outcome rows
(maintenance/outbox/delivery.py).

`enqueue_mail` writes a `request.mail` outbox row that carries only ids (the console's stream
and webhooks see that a mail went out, never the address or the text) and an `outbox_mail`
row with the mail itself; fan-out gives it one `email` delivery, and `MailTransport` sends it.
"""
from __future__ import annotations

import smtplib
import socket
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import psycopg

from maintenance.outbox.events import Event, enqueue
from maintenance.outbox.transports import Delivery, TransportError

# RFC 3834: mail a program sends is marked, so well-behaved responders (out-of-office,
# vacation, list servers) do not answer it and no mail loop starts. A person's answer goes
# out marked too: the customer's out-of-office would otherwise reply to every answer.
AUTO_SUBMITTED = "auto-generated"


@dataclass(frozen=True)
class OutgoingMail:
    """One outbound mail. Message-IDs are without angle brackets; `references` oldest first."""

    to: str
    subject: str
    body: str
    message_id: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = field(default_factory=tuple)


def enqueue_mail(conn: psycopg.Connection, mail: OutgoingMail, payload: dict, *, request_id: int | None = None,
                 customer_id: str | None = None, event: Event = Event.REQUEST_MAIL) -> int:
    """Queue `mail` for delivery after the surrounding transaction commits; returns the outbox id.
    `payload` is the event's data (ids only: it reaches the console's stream and webhooks);
    `event` what the mail is about (a request's mail, a report's)."""
    outbox_id = enqueue(conn, event, payload, customer_id=customer_id, request_id=request_id)
    conn.execute("INSERT INTO outbox_mail (outbox_id, mail_to, subject, message_id, in_reply_to, refs, body) "
                 "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 (outbox_id, mail.to, mail.subject, mail.message_id, mail.in_reply_to, list(mail.references),
                  mail.body))
    return outbox_id


def compose(mail: OutgoingMail, sender: str, at: datetime | None = None) -> EmailMessage:
    """The RFC 5322 message: From `sender` (the desk's address), Auto-Submitted, the thread's
    In-Reply-To and References so the customer's mail program and our listener keep the thread."""
    message = EmailMessage()
    message["From"] = f"pilecare service desk <{sender}>"
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(at) if at else format_datetime(datetime.now().astimezone())
    message["Message-ID"] = f"<{mail.message_id}>"
    if mail.in_reply_to:
        message["In-Reply-To"] = f"<{mail.in_reply_to}>"
    if mail.references:
        message["References"] = " ".join(f"<{ref}>" for ref in mail.references)
    message["Auto-Submitted"] = AUTO_SUBMITTED
    # Exchange and Outlook honour this one rather than Auto-Submitted.
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(mail.body)
    return message


class MailTransport:
    """Sends an `email` delivery to the relay with smtplib, one SMTP session per mail (the desk
    sends a few mails a minute; a kept-open session would only go stale).

    The relay's 5xx answer is permanent (the address or the mail is refused: retrying cannot
    help); 4xx, a refused connection or a timeout are retried by the deliverer."""

    def __init__(self, relay: tuple[str, int], sender: str, *, timeout_s: float = 30.0):
        self.relay = relay
        self.sender = sender
        self.timeout_s = timeout_s

    def send(self, delivery: Delivery) -> int | None:
        mail = delivery.mail
        if mail is None:
            raise TransportError("email delivery without its mail (outbox_mail row)", permanent=True)
        at = datetime.fromisoformat(delivery.body["at"]) if delivery.body.get("at") else None
        message = compose(mail, self.sender, at)
        host, port = self.relay
        try:
            with smtplib.SMTP(host, port, timeout=self.timeout_s) as smtp:
                refused = smtp.send_message(message, from_addr=self.sender, to_addrs=[mail.to])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise TransportError(f"the relay refused {mail.to}: {code} {_text(text)}", permanent=code >= 500,
                                 status=code)
        except smtplib.SMTPResponseException as error:
            raise TransportError(f"the relay answered {error.smtp_code} {_text(error.smtp_error)}",
                                 permanent=error.smtp_code >= 500, status=error.smtp_code)
        except (smtplib.SMTPException, OSError, socket.timeout) as error:
            raise TransportError(f"cannot send through the relay {host}:{port}: {type(error).__name__}: {error}")
        if refused:
            raise TransportError(f"the relay refused {', '.join(refused)}", permanent=True)
        return 250

    def close(self) -> None:
        pass


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
