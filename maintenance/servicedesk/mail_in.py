"""Taking one received mail (R-INTAKE): it opens a request, joins the request it answers, or
goes to quarantine — in one transaction, with a mail_received row whichever it is. The SMTP
listener (smtp_listener.py) answers the sending server 250 only after that commit.

Rules, in order:
1. A Message-ID already taken is the sender's retry (we committed, they never saw our 250):
   the earlier outcome again, nothing new. A mail without one is known by a hash of its bytes.
2. Quarantine (the raw mail kept, reason in mail_quarantine.reason): a program's mail —
   bounce, null_sender, auto_submitted, precedence, auto_reply (mail_parse.auto_reason);
   loop: a Message-ID already in a thread (our own mail coming back); rate_limit: more than
   policy.desk.mail_per_sender_per_h mails from the sender in the last hour; no_sender.
3. A reply joins its request, found by In-Reply-To / References among the threads' Message-IDs
   (ours and theirs), then by "SR-<n>" in the subject; only a request of the sender's customer,
   or one the sender's own address opened. A customer's reply on a waiting, resolved or closed
   request reopens it (requests.add_message).
4. Otherwise a new request: the sender's customer and contact (contacts.by_email; none for an
   unknown sender), a suggested class, the mail as its first message, an acknowledgement back.

Mail of one sender is taken one at a time (an advisory lock on the address), so concurrent
mails cannot all slip under the hourly limit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone

import psycopg
from psycopg.rows import tuple_row

from maintenance.policy import Policy
from maintenance.servicedesk import contacts, intake, mail_out
from maintenance.servicedesk.mail_parse import ReceivedMail, parse
from maintenance.servicedesk.requests import Channel, MessageKind, add_message, event, number, open_request
from pilecare.errors import Conflict, InvalidInput, NotFound

ACTOR = "smtp"          # who opened a request that came by mail (request_events.actor)
DESK = "pilecare"       # the author of the automatic acknowledgement
ACKNOWLEDGEMENT = (
    "Thank you for your message. We have recorded it as request {number} and will answer by "
    "{due:%Y-%m-%d %H:%M} UTC at the latest.\n\n"
    "Please keep \"[{number}]\" in the subject when you write to us about it again, or simply reply "
    "to this mail.\n\n"
    "-- \npilecare service desk\n(This message was sent automatically.)")


@dataclass(frozen=True)
class Taken:
    """What became of one mail. action: opened, joined, quarantined, or duplicate (a retry of a
    mail already taken: request_id / quarantine_id are the earlier outcome's)."""

    action: str
    request_id: int | None = None
    quarantine_id: int | None = None
    reason: str | None = None

    @property
    def reference(self) -> str:
        """What the SMTP answer names: "SR-<n>", or "held" for a quarantined mail."""
        return number(self.request_id) if self.request_id is not None else "held"


def take(conn: psycopg.Connection, policy: Policy, raw: bytes, *, mail_from: str) -> Taken:
    """Take one mail (the raw DATA bytes; `mail_from` the envelope sender, '' or '<>' for a
    null path) and commit its outcome. `conn` must be in autocommit mode: the transaction is
    this function's. Raises psycopg errors (database away: the listener answers 4xx and the
    sending server retries); a concurrent retry of the same mail is answered as a duplicate."""
    if not conn.autocommit:
        raise ValueError("mail_in.take commits its own transaction: give it an autocommit connection")
    mail_from = "" if (mail_from or "").strip() in ("", "<>") else mail_from.strip().replace("\x00", "")  # '' (0034)
    mail = parse(raw, mail_from=mail_from)
    try:
        with conn.transaction():
            return _take(conn, policy, mail, raw, mail_from)
    except psycopg.errors.UniqueViolation:
        # The same Message-ID was committed meanwhile on another connection (a retry that
        # overtook the first attempt): everything here rolled back; answer as it was taken.
        earlier = _earlier(conn.cursor(row_factory=tuple_row), mail.message_id)
        if earlier is None:
            raise
        return earlier


def _take(conn: psycopg.Connection, policy: Policy, mail: ReceivedMail, raw: bytes, mail_from: str) -> Taken:
    cur = conn.cursor(row_factory=tuple_row)
    key = mail.sender or (mail_from or "").strip("<>").lower()
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
    # After the lock (a statement of its own: its snapshot must see what the sender's previous
    # mail committed), everything the decision needs in one round trip.
    taken, request_id, quarantine_id, known, last_hour = cur.execute(
        "SELECT r.id IS NOT NULL, r.request_id, r.quarantine_id, "
        "       EXISTS (SELECT 1 FROM request_messages WHERE message_id = %(id)s), "
        "       (SELECT count(*) FROM mail_received WHERE sender = %(sender)s AND at > now() - interval '1 hour') "
        "FROM (SELECT NULL) AS one LEFT JOIN mail_received r ON r.message_id = %(id)s",
        {"id": mail.message_id, "sender": key}).fetchone()
    if taken:
        return Taken("duplicate", request_id=request_id, quarantine_id=quarantine_id)
    # A Message-ID that is already in a thread but was never received here is one of ours
    # (an acknowledgement, an answer) coming back: a forwarding rule or a misconfigured relay.
    reason = mail.auto_reason or ("loop" if known else None) or (None if mail.sender else "no_sender") \
        or ("rate_limit" if last_hour >= policy.desk.mail_per_sender_per_h else None)
    if reason:
        quarantine_id = cur.execute(
            "INSERT INTO mail_quarantine (mail_from, from_header, subject, message_id, reason, raw) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (mail_from, mail.from_header[:500], mail.subject[:500], mail.message_id, reason, raw)).fetchone()[0]
        _received(cur, key, mail.message_id, quarantine_id=quarantine_id)
        return Taken("quarantined", quarantine_id=quarantine_id, reason=reason)
    taken = _deliver(conn, policy, mail)
    _received(cur, key, mail.message_id, request_id=taken.request_id)
    return taken


def _deliver(conn: psycopg.Connection, policy: Policy, mail: ReceivedMail) -> Taken:
    """Join the request the mail answers, or open a new one with an acknowledgement."""
    cur = conn.cursor(row_factory=tuple_row)
    match = contacts.by_email(conn, mail.sender)
    request_id = _thread_of(cur, mail, match)
    if request_id is not None:
        add_message(conn, request_id, direction="in", channel="email", author=mail.sender, body=mail.body,
                    message_id=mail.message_id, in_reply_to=mail.replies_to[0] if mail.replies_to else None)
        return Taken("joined", request_id=request_id)
    request_id = open_request(
        conn, policy, customer_id=match.customer_id if match else None, channel=Channel.EMAIL,
        subject=mail.subject or "(no subject)", description=mail.body, contact_id=match.contact_id if match else None,
        caller=mail.sender, suggested_class=intake.suggest(f"{mail.subject}\n{mail.body}"), actor=ACTOR)
    add_message(conn, request_id, direction="in", channel="email", author=mail.sender, body=mail.body,
                message_id=mail.message_id, in_reply_to=mail.replies_to[0] if mail.replies_to else None)
    due = cur.execute("SELECT response_due_at FROM requests WHERE id = %s", (request_id,)).fetchone()[0]
    mail_out.send(conn, request_id, kind=MessageKind.ACKNOWLEDGEMENT, author=DESK, to=mail.sender,
                  body=ACKNOWLEDGEMENT.format(number=number(request_id), due=due.astimezone(timezone.utc)))
    return Taken("opened", request_id=request_id)


def release(conn: psycopg.Connection, policy: Policy, quarantine_id: int, *, actor: str) -> Taken:
    """An agent releases a quarantined mail (a person's mail held by mistake, e.g. over the
    hourly limit): it joins its request or opens one, as if it had passed the checks, and
    the quarantine row records who released it and when. Raises NotFound for an unknown
    quarantine id and Conflict when it was released already."""
    cur = conn.cursor(row_factory=tuple_row)
    with conn.transaction():
        row = cur.execute("UPDATE mail_quarantine SET released_at = now(), released_by = %s "
                          "WHERE id = %s AND released_at IS NULL RETURNING raw, mail_from", (actor, quarantine_id)).fetchone()
        if row is None:
            if cur.execute("SELECT 1 FROM mail_quarantine WHERE id = %s", (quarantine_id,)).fetchone() is None:
                raise NotFound(f"quarantined mail {quarantine_id} does not exist")
            raise Conflict(f"quarantined mail {quarantine_id} was released already")
        mail = parse(bytes(row[0]), mail_from=row[1] or "")
        if not mail.sender:
            raise InvalidInput(f"quarantined mail {quarantine_id} names no sender to answer; it cannot open a request")
        taken = _deliver(conn, policy, mail)
        cur.execute("UPDATE mail_received SET request_id = %s WHERE quarantine_id = %s", (taken.request_id, quarantine_id))
        event(conn, taken.request_id, actor, f"mail released from quarantine ({quarantine_id}) by {actor}")
    return taken


def _earlier(cur, message_id: str) -> Taken | None:
    row = cur.execute("SELECT request_id, quarantine_id FROM mail_received WHERE message_id = %s",
                      (message_id,)).fetchone()
    return Taken("duplicate", request_id=row[0], quarantine_id=row[1]) if row else None


def _thread_of(cur, mail: ReceivedMail, match: contacts.Match | None) -> int | None:
    """The request this mail answers and the sender may write to, or None."""
    candidates: list[tuple[int, str | None, str | None]] = []
    if mail.replies_to:
        # In the mail's order: In-Reply-To first, then the newest reference.
        candidates += cur.execute(
            "SELECT r.id, r.customer_id, r.caller FROM request_messages m JOIN requests r ON r.id = m.request_id "
            "WHERE m.message_id = ANY(%s) ORDER BY array_position(%s, m.message_id)",
            (list(mail.replies_to), list(mail.replies_to))).fetchall()
    for n in mail.numbers:
        candidates += cur.execute("SELECT id, customer_id, caller FROM requests WHERE id = %s", (n,)).fetchall()
    for request_id, customer_id, caller in candidates:
        if (match is not None and customer_id == match.customer_id) or caller == mail.sender:
            return request_id
    return None


def _received(cur, sender: str, message_id: str, *, request_id: int | None = None,
              quarantine_id: int | None = None) -> None:
    cur.execute("INSERT INTO mail_received (sender, message_id, request_id, quarantine_id) VALUES (%s, %s, %s, %s)",
                (sender, message_id, request_id, quarantine_id))
