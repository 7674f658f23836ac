"""Customer requests from every channel (R-INTAKE) and their two clocks (R-RESPONSE).

One request whatever the channel: a call logged by an agent, an e-mail taken by the SMTP
listener, a portal form. Each has a first-response due time and a resolution target from
the policy's desk clocks for the customer's tier; waiting for the customer pauses both
(on resume both due times move by the wait, so the watchdog compares plain columns).

State changes are claimed in PostgreSQL (… WHERE state = old) and recorded in
request_events with who and when, as for work orders.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum

import psycopg
from psycopg.rows import tuple_row

from maintenance.policy import Policy
from pilecare.errors import Conflict, InvalidInput, NotFound


class RequestState(str, Enum):
    """Where a request stands (issue 13)."""

    NEW = "new"                            # received, nobody has answered yet
    OPEN = "open"                          # answered at least once, being worked
    WAITING_CUSTOMER = "waiting_customer"  # the ball is with the customer: clocks paused
    RESOLVED = "resolved"                  # answered, or its job done
    CLOSED = "closed"


class RequestClass(str, Enum):
    """What a request is about (R-INTAKE); the agent decides, pilecare may suggest."""

    CONSULTATION = "consultation"
    FAULT_REPORT = "fault_report"
    INSTALLATION_REQUEST = "installation_request"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"


class Channel(str, Enum):
    """How a request reached the desk (R-INTAKE). Orders the piles open themselves are
    work orders, not requests; they join the customer's history beside requests."""

    PHONE = "phone"
    EMAIL = "email"
    WEB = "web"


class MessageKind(str, Enum):
    """What a message in a request's thread is."""

    MESSAGE = "message"                  # the customer's words (in), or a free reply (out)
    ACKNOWLEDGEMENT = "acknowledgement"  # automatic receipt; not a response (R-RESPONSE)
    ANSWER = "answer"                    # a person's answer to the question
    PROGRESS = "progress"                # a progress update on a complex request
    APOLOGY = "apology"                  # the complaint's apology (R-COMPLAINT)
    SURVEY = "survey"                    # the follow-up survey link (R-FOLLOWUP)
    NOTE = "note"                        # internal, never shown to the customer


S = RequestState
ACTIVE = (S.NEW.value, S.OPEN.value, S.WAITING_CUSTOMER.value)
# Outbound kinds written by a person that count as the first response (R-RESPONSE).
RESPONSES = (MessageKind.ANSWER, MessageKind.PROGRESS, MessageKind.MESSAGE, MessageKind.APOLOGY)

TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    S.NEW: frozenset({S.OPEN, S.WAITING_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.OPEN: frozenset({S.WAITING_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.WAITING_CUSTOMER: frozenset({S.OPEN, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.OPEN, S.CLOSED}),   # reopened: not solved after all
    S.CLOSED: frozenset({S.OPEN}),               # a follow-up's "not solved" reopens it
}


def number(request_id: int) -> str:
    """The request's number as customers see it, e.g. "SR-123" (in mail subjects)."""
    return f"SR-{request_id}"


def event(conn: psycopg.Connection, request_id: int, actor: str, text: str, *, from_state: str | None = None,
          to_state: str | None = None) -> None:
    """A timeline entry (a decision, a note) with who and when."""
    conn.execute("INSERT INTO request_events (request_id, actor, from_state, to_state, note) VALUES (%s, %s, %s, %s, %s)",
                 (request_id, actor, from_state, to_state, text))


def open_request(conn: psycopg.Connection, policy: Policy, *, customer_id: str | None, channel: Channel, subject: str,
                 actor: str, description: str | None = None, contact_id: int | None = None,
                 pile_id: str | None = None, site_id: str | None = None, caller: str | None = None,
                 request_class: RequestClass | None = None, suggested_class: RequestClass | None = None,
                 at: datetime | None = None) -> int:
    """Record a new request and start its clocks; returns its id.

    Clocks: response and resolution hours of the customer's tier (policy.desk.clocks;
    R-RESPONSE: first response within 24 h at most), from `at` (default now). A pile or site
    must belong to the customer; `customer_id` None is a sender no contact has (the
    standard tier's clocks until an agent links the customer). Raises NotFound for an unknown customer, contact, pile or
    site and InvalidInput when one belongs to another customer."""
    cur = conn.cursor(row_factory=tuple_row)
    tier = "standard"   # a sender no contact has: the standard promise until an agent links a customer
    if customer_id is not None:
        row = cur.execute("SELECT tier FROM customers WHERE id = %s", (customer_id,)).fetchone()
        if row is None:
            raise NotFound(f"customer_id: customer {customer_id!r} does not exist")
        tier = row[0]
    _belongs(cur, customer_id, contact_id=contact_id, pile_id=pile_id, site_id=site_id)
    if pile_id is not None and site_id is None:
        site_id = cur.execute("SELECT site_id FROM piles WHERE id = %s", (pile_id,)).fetchone()[0]
    clock = policy.desk.clock_for(tier)
    with conn.transaction():
        request_id = cur.execute(
            "INSERT INTO requests (customer_id, contact_id, pile_id, site_id, channel, class, suggested_class, subject, "
            " description, caller, tier, created_at, created_by, response_due_at, resolve_due_at) "
            "VALUES (%(customer)s, %(contact)s, %(pile)s, %(site)s, %(channel)s, %(class)s, %(suggested)s, %(subject)s, "
            " %(description)s, %(caller)s, %(tier)s, coalesce(%(at)s, now()), %(actor)s, "
            " coalesce(%(at)s, now()) + %(response)s, coalesce(%(at)s, now()) + %(resolve)s) RETURNING id",
            {"customer": customer_id, "contact": contact_id, "pile": pile_id, "site": site_id,
             "channel": Channel(channel).value, "class": request_class.value if request_class else None,
             "suggested": suggested_class.value if suggested_class else None, "subject": subject.strip()[:300] or "(no subject)",
             "description": description, "caller": caller, "tier": tier, "at": at, "actor": actor,
             "response": timedelta(hours=clock.response_h), "resolve": timedelta(hours=clock.resolve_h)}).fetchone()[0]
        event(conn, request_id, actor, f"received by {Channel(channel).value}", to_state=S.NEW.value)
    return request_id


def _belongs(cur, customer_id: str, *, contact_id: int | None, pile_id: str | None, site_id: str | None) -> None:
    checks = (("contact_id", contact_id, "SELECT customer_id FROM customer_contacts WHERE id = %s", "contact"),
              ("pile_id", pile_id, "SELECT s.customer_id FROM piles p JOIN sites s ON s.id = p.site_id WHERE p.id = %s",
               "pile"),
              ("site_id", site_id, "SELECT customer_id FROM sites WHERE id = %s", "site"))
    for field, value, sql, noun in checks:
        if value is None:
            continue
        row = cur.execute(sql, (value,)).fetchone()
        if row is None:
            raise NotFound(f"{field}: {noun} {value!r} does not exist")
        if row[0] != customer_id:
            raise InvalidInput(f"{field}: {noun} {value!r} belongs to another customer")


def state_of(conn: psycopg.Connection, request_id: int) -> RequestState:
    """The request's state; raises NotFound for an unknown request."""
    row = conn.cursor(row_factory=tuple_row).execute("SELECT state FROM requests WHERE id = %s", (request_id,)).fetchone()
    if row is None:
        raise NotFound(f"request {request_id} does not exist")
    return RequestState(row[0])


def move(conn: psycopg.Connection, request_id: int, to: RequestState, *, actor: str, note: str | None = None,
         expect: RequestState | None = None) -> RequestState:
    """Move a request to `to`, recording who and when; returns the state it left.

    Entering waiting_customer pauses the clocks; leaving it moves both due times by the
    wait. Resolving sets resolved_at (and the first response, if none was given: resolving
    is an answer); reopening clears it. Raises NotFound, and Conflict for an illegal move or
    when another process moved the request first."""
    current = state_of(conn, request_id)
    if expect is not None and current is not expect:
        raise Conflict(f"request {request_id} is {current.value}, no longer {expect.value}")
    if current is to:
        raise Conflict(f"request {request_id} is already {to.value}")
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
        raise Conflict(f"request {request_id} cannot go from {current.value} to {to.value}; allowed: {allowed}")
    with conn.transaction():
        moved = conn.execute(
            "UPDATE requests SET state = %(to)s, updated_at = now(), "
            # Leaving the customer's turn: both clocks move on by the time waited.
            " response_due_at = response_due_at + CASE WHEN waiting_since IS NOT NULL AND responded_at IS NULL "
            "                   THEN now() - waiting_since ELSE interval '0' END, "
            " resolve_due_at = resolve_due_at + CASE WHEN waiting_since IS NOT NULL THEN now() - waiting_since "
            "                  ELSE interval '0' END, "
            " waited_s = waited_s + CASE WHEN waiting_since IS NOT NULL THEN extract(epoch FROM now() - waiting_since) "
            "            ELSE 0 END, "
            " waiting_since = CASE WHEN %(to)s = 'waiting_customer' THEN now() END, "
            " resolved_at = CASE WHEN %(to)s = 'resolved' THEN now() WHEN %(to)s = 'open' THEN NULL "
            "               ELSE resolved_at END, "
            " responded_at = CASE WHEN %(to)s = 'resolved' THEN coalesce(responded_at, now()) ELSE responded_at END, "
            " closed_at = CASE WHEN %(to)s = 'closed' THEN now() WHEN %(to)s = 'open' THEN NULL ELSE closed_at END "
            "WHERE id = %(id)s AND state = %(from)s",
            {"to": to.value, "from": current.value, "id": request_id}).rowcount
        if not moved:
            raise Conflict(f"request {request_id} changed meanwhile; it is no longer {current.value}")
        event(conn, request_id, actor, note, from_state=current.value, to_state=to.value)
    return current


def add_message(conn: psycopg.Connection, request_id: int, *, direction: str, channel: str, author: str, body: str,
                kind: MessageKind = MessageKind.MESSAGE, message_id: str | None = None,
                in_reply_to: str | None = None) -> int:
    """Append a message to the thread; returns its id. direction: in (from the customer),
    out (to the customer), note (internal). A person's first outbound answer, progress
    update, message or apology is the request's first response (R-RESPONSE) and opens a
    new request; the customer writing while the request waits for them resumes its clocks;
    a customer's message on a resolved or closed request reopens it. Raises NotFound."""
    state_of(conn, request_id)
    with conn.transaction():
        # Locked: of two messages at once, the second sees the state the first left (both are kept).
        current = RequestState(conn.cursor(row_factory=tuple_row).execute(
            "SELECT state FROM requests WHERE id = %s FOR UPDATE", (request_id,)).fetchone()[0])
        message = conn.cursor(row_factory=tuple_row).execute(
            "INSERT INTO request_messages (request_id, direction, channel, author, kind, body, message_id, in_reply_to) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (request_id, direction, channel, author, MessageKind(kind).value, body, message_id, in_reply_to)).fetchone()[0]
        if direction == "out" and MessageKind(kind) in RESPONSES:
            conn.execute("UPDATE requests SET responded_at = coalesce(responded_at, now()), updated_at = now() "
                         "WHERE id = %s", (request_id,))
            if current is S.NEW:
                move(conn, request_id, S.OPEN, actor=author, note="first response", expect=S.NEW)
        elif direction == "in":
            conn.execute("UPDATE requests SET updated_at = now() WHERE id = %s", (request_id,))
            if current in (S.WAITING_CUSTOMER, S.RESOLVED, S.CLOSED):
                move(conn, request_id, S.OPEN, actor=author, note="the customer wrote", expect=current)
    return message


def link_customer(conn: psycopg.Connection, request_id: int, customer_id: str, *, actor: str,
                  contact_id: int | None = None) -> None:
    """Link a request from an unknown sender to its customer (and contact); its clocks stay
    those it started with. Raises NotFound, InvalidInput for a contact of another
    customer, Conflict when the request already has a customer."""
    state_of(conn, request_id)
    cur = conn.cursor(row_factory=tuple_row)
    if cur.execute("SELECT 1 FROM customers WHERE id = %s", (customer_id,)).fetchone() is None:
        raise NotFound(f"customer_id: customer {customer_id!r} does not exist")
    _belongs(cur, customer_id, contact_id=contact_id, pile_id=None, site_id=None)
    with conn.transaction():
        if not cur.execute("UPDATE requests SET customer_id = %s, contact_id = %s, updated_at = now() "
                           "WHERE id = %s AND customer_id IS NULL", (customer_id, contact_id, request_id)).rowcount:
            raise Conflict(f"request {request_id} already has a customer")
        event(conn, request_id, actor, f"linked to customer {customer_id}")


def take(conn: psycopg.Connection, request_id: int, *, actor: str, pile_id: str | None = None) -> None:
    """`actor` takes the request (it becomes theirs), optionally setting its pile (which
    must be the request's customer's). Raises NotFound, InvalidInput."""
    state_of(conn, request_id)
    cur = conn.cursor(row_factory=tuple_row)
    customer_id = cur.execute("SELECT customer_id FROM requests WHERE id = %s", (request_id,)).fetchone()[0]
    if pile_id is not None:
        _belongs(cur, customer_id, contact_id=None, pile_id=pile_id, site_id=None)
    with conn.transaction():
        cur.execute("UPDATE requests SET agent = %s, pile_id = coalesce(%s, pile_id), "
                    "site_id = coalesce((SELECT site_id FROM piles WHERE id = %s), site_id), updated_at = now() "
                    "WHERE id = %s", (actor, pile_id, pile_id, request_id))
        event(conn, request_id, actor, f"taken by {actor}" + (f"; pile {pile_id}" if pile_id else ""))


def promise(conn: psycopg.Connection, request_id: int, promised_at: datetime, *, actor: str) -> None:
    """A complex question: record when the full answer is promised (R-RESPONSE). The promise
    is itself a response. Raises InvalidInput for a time in the past, NotFound."""
    current = state_of(conn, request_id)
    if current not in (S.NEW, S.OPEN, S.WAITING_CUSTOMER):
        raise Conflict(f"request {request_id} is {current.value}: nothing left to promise")
    now = conn.cursor(row_factory=tuple_row).execute("SELECT now()").fetchone()[0]
    if promised_at <= now:
        raise InvalidInput("promised_at: must be in the future")
    with conn.transaction():
        conn.execute("UPDATE requests SET promised_at = %s, responded_at = coalesce(responded_at, now()), "
                     "updated_at = now() WHERE id = %s", (promised_at, request_id))
        event(conn, request_id, actor, f"answer promised by {promised_at.astimezone(timezone.utc):%Y-%m-%d %H:%M}Z")
        if current is S.NEW:
            move(conn, request_id, S.OPEN, actor=actor, note="answer promised", expect=S.NEW)
