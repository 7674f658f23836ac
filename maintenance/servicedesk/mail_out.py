"""Mail to a customer about their request (R-INTAKE, R-RESPONSE, R-COMPLAINT, R-FOLLOWUP):
acknowledgements, answers, progress updates, apologies, survey links.

`send` writes the outbound message into the request's thread and queues the mail through the
outbox in one transaction: a change that rolls back sends nothing, one that commits is sent
after commit with the deliverer's bounded retries (maintenance/outbox/mail.py). The mail's
Message-ID is on the thread's row, so the customer's reply threads on it (mail_in.py).
"""
from __future__ import annotations

import uuid
from contextlib import nullcontext

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from maintenance.outbox.mail import OutgoingMail, enqueue_mail
from maintenance.servicedesk.contacts import normalise_email
from maintenance.servicedesk.requests import MessageKind, add_message, number
from pilecare.errors import InvalidInput, NotFound

# References kept on a reply: enough for any mail program to place it, bounded for a long thread.
MAX_REFERENCES = 20


def new_message_id(request_id: int) -> str:
    """A fresh Message-ID (without angle brackets) naming its request, e.g. "sr12.9f…@pilecare"."""
    return f"sr{request_id}.{uuid.uuid4().hex}@pilecare"


def send(conn: psycopg.Connection, request_id: int, *, kind: MessageKind, body: str, author: str,
         to: str | None = None) -> int:
    """Record an outbound mail in request `request_id`'s thread and queue it; returns the
    thread message's id.

    To: `to`, else the address the request came from, else its contact's e-mail. Subject
    "[SR-<n>] <the request's subject>"; In-Reply-To the customer's last mail, References
    the thread's Message-IDs. A person's answer, progress update or apology is the request's
    first response (requests.add_message; an acknowledgement is not, R-RESPONSE).
    Raises NotFound for an unknown request, InvalidInput naming `to` when there is no
    address to write to and `kind` for an internal note."""
    kind = MessageKind(kind)
    if kind is MessageKind.NOTE:
        raise InvalidInput("kind: a note is internal; it is never mailed")
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute("SELECT r.subject, r.customer_id, r.caller, c.email FROM requests r "
                      "LEFT JOIN customer_contacts c ON c.id = r.contact_id WHERE r.id = %s", (request_id,)).fetchone()
    if row is None:
        raise NotFound(f"request {request_id} does not exist")
    subject, customer_id, caller, contact_email = row
    address = _recipient(to, caller, contact_email, request_id)
    thread = cur.execute("SELECT message_id, direction FROM request_messages WHERE request_id = %s "
                         "AND message_id IS NOT NULL ORDER BY at, id", (request_id,)).fetchall()
    in_reply_to = next((m for m, direction in reversed(thread) if direction == "in"), None)
    references = [m for m, _ in thread][-MAX_REFERENCES:]
    message_id = new_message_id(request_id)
    mail = OutgoingMail(to=address, subject=f"[{number(request_id)}] {subject}", body=body, message_id=message_id,
                        in_reply_to=in_reply_to, references=tuple(references))
    # Its own transaction, or the caller's (mail_in takes a mail in one): no savepoint needed.
    in_transaction = conn.info.transaction_status == TransactionStatus.INTRANS
    with nullcontext() if in_transaction else conn.transaction():
        message = add_message(conn, request_id, direction="out", channel="email", author=author, body=body, kind=kind,
                              message_id=message_id, in_reply_to=in_reply_to)
        enqueue_mail(conn, mail, {"request_id": request_id, "request_message_id": message, "kind": kind.value,
                                  "message_id": message_id},
                     request_id=request_id, customer_id=customer_id)
    return message


def _recipient(to: str | None, caller: str | None, contact_email: str | None, request_id: int) -> str:
    if to:
        return normalise_email(to, field="to")
    for candidate in (caller, contact_email):
        if candidate and "@" in candidate:
            return normalise_email(candidate, field="to")
    raise InvalidInput(f"to: request {number(request_id)} has no e-mail address to write to; give one")


def reply(conn: psycopg.Connection, request_id: int, *, kind: MessageKind, body: str, author: str,
          channel: str | None = None) -> int:
    """Tell the customer something about their request by `channel` (default: the channel
    the request came by): by e-mail (`send`) when that is e-mail and the request has an
    address, else as a message in the thread, which the portal shows and the agent says on
    the phone. Returns the thread message's id. Raises NotFound for an unknown request."""
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT r.channel, r.caller, c.email FROM requests r LEFT JOIN customer_contacts c ON c.id = r.contact_id "
        "WHERE r.id = %s", (request_id,)).fetchone()
    if row is None:
        raise NotFound(f"request {request_id} does not exist")
    request_channel, caller, contact_email = row
    channel = channel or request_channel
    if channel == "email" and any(a and "@" in a for a in (caller, contact_email)):
        return send(conn, request_id, kind=kind, body=body, author=author)
    return add_message(conn, request_id, direction="out", channel=channel, author=author, kind=kind, body=body)
