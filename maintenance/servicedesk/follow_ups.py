"""Follow-ups (R-FOLLOWUP): after a job, an agent calls the customer back to confirm the
problem is solved and records their satisfaction; a survey link (no login) is a second
channel for the same answer.

What is followed up, once each (the unique indexes of follow_ups; never again when the job
reopens and finishes again):

- every corrective or installation work order entering `resolved`. The desk learns of it
  from the outbox (`work_order.updated` with state `resolved`), never by being called from
  the orders room;
- every request entering `resolved` that has no work order (a request linked to one gets
  only the order's follow-up) and is not a complaint (a complaint has follow-ups of its own,
  complaints.follow_up());
- a complaint each time its plan is carried out (complaints.py).

The pass reads the outbox and request_events after the desk's cursor (desk_cursor), in
(txid, id) order and only from finished transactions (pilecare.db.TXID_HORIZON), with the
cursor row locked FOR UPDATE: several workers take turns, and a row that commits late
behind a higher id is not skipped.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from enum import Enum

import psycopg
from psycopg.rows import tuple_row

from maintenance.orders import REOPENED_FROM, WorkOrderState, desk, note
from maintenance.policy import Policy
from maintenance.servicedesk import complaints, linked_orders
from maintenance.servicedesk.requests import RequestState, event, state_of
from maintenance.servicedesk.requests import move as move_request
from pilecare.db import TXID_HORIZON
from pilecare.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)

ACTOR = "pilecare"
SURVEY_ACTOR = "survey"   # the customer, answering through the survey link
BATCH = 500


class FollowUpChannel(str, Enum):
    """How the customer's answer reached the desk (R-FOLLOWUP)."""

    CALL = "call"      # an agent called the customer back
    SURVEY = "survey"  # the customer answered the survey link


@dataclass(frozen=True)
class Outcome:
    """What a recorded answer set in motion."""

    follow_up_id: int
    reopened: str | None = None         # "work_order", "request", "complaint", or None
    work_order_id: int | None = None    # the order that carries the job on (reopened, or the open one linked)


def token() -> str:
    """A new survey token: the link's only secret (192 random bits)."""
    return secrets.token_urlsafe(24)


def survey_path(survey_token: str) -> str:
    """The survey page's path, for the link mailed to the customer."""
    return f"/survey/{survey_token}"


def schedule(conn: psycopg.Connection, policy: Policy, *, batch: int = BATCH) -> int:
    """One pass: schedule the follow-ups of orders and requests resolved since the last pass,
    due policy.desk.follow_up_days after they were resolved, for the order's (its site's)
    customer or the request's; and follow up planned complaints whose last deadline passed.
    Returns the follow-ups scheduled. Safe to run in several workers at once."""
    scheduled = 0
    for step in (_orders, _requests):
        while True:
            made, more = step(conn, policy, batch)
            scheduled += made
            if not more:
                break
    return scheduled + complaints.follow_up_overdue_plans(conn, actor=ACTOR)


def _cursor(conn: psycopg.Connection) -> tuple:
    """The desk's cursor, locked for this transaction; recreated when missing (an emptied
    table): its defaults read from the start."""
    sql = ("SELECT last_outbox_txid::text, last_outbox_id, last_request_event_txid::text, last_request_event_id "
           "FROM desk_cursor FOR UPDATE")
    cur = conn.cursor(row_factory=tuple_row)
    row = cur.execute(sql).fetchone()
    if row is None:
        cur.execute("INSERT INTO desk_cursor DEFAULT VALUES ON CONFLICT DO NOTHING")
        row = cur.execute(sql).fetchone()
    return row


def _orders(conn: psycopg.Connection, policy: Policy, batch: int) -> tuple[int, bool]:
    cur = conn.cursor(row_factory=tuple_row)
    with conn.transaction():
        txid, last_id, _, _ = _cursor(conn)
        # Every move of an order, each read once in commit-safe order: the place to tell
        # other desk work of an order's moves too.
        rows = cur.execute(
            "SELECT txid::text, id, work_order_id, payload ->> 'from', payload ->> 'state', at FROM outbox "
            "WHERE event = 'work_order.updated' "
            f"AND (txid, id) > (%s::xid8, %s) AND txid < {TXID_HORIZON} ORDER BY txid, id LIMIT %s",
            (txid, last_id, batch)).fetchall()
        if not rows:
            return 0, False
        first = {}
        for _, _, order_id, from_state, to_state, at in rows:
            if to_state == WorkOrderState.RESOLVED.value:
                first.setdefault(order_id, at)  # resolved twice in one batch: the first counts
            linked_orders.on_order_moved(conn, order_id, from_state, to_state)
        made = cur.execute(
            "INSERT INTO follow_ups (work_order_id, customer_id, due_at, survey_token) "
            "SELECT o.id, s.customer_id, x.at + make_interval(secs => %s), x.token "
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[]) AS x (order_id, at, token) "
            "JOIN work_orders o ON o.id = x.order_id LEFT JOIN piles p ON p.id = o.pile_id "
            "JOIN sites s ON s.id = coalesce(o.site_id, p.site_id) "
            "WHERE o.kind IN ('corrective', 'installation') AND s.customer_id IS NOT NULL "
            "ON CONFLICT DO NOTHING RETURNING id, work_order_id, due_at",
            (policy.desk.follow_up_days * 86_400, list(first), list(first.values()),
             [token() for _ in first])).fetchall()
        for follow_up_id, order_id, due in made:
            note(conn, order_id, f"follow-up {follow_up_id} scheduled: the customer is called back "
                                 f"from {due:%Y-%m-%d %H:%M}Z", actor=ACTOR)
        cur.execute("UPDATE desk_cursor SET last_outbox_txid = %s::xid8, last_outbox_id = %s",
                    (rows[-1][0], rows[-1][1]))
    if made:
        log.info("follow-ups scheduled for %d finished work order(s)", len(made))
    return len(made), len(rows) == batch


def _requests(conn: psycopg.Connection, policy: Policy, batch: int) -> tuple[int, bool]:
    cur = conn.cursor(row_factory=tuple_row)
    with conn.transaction():
        _, _, txid, last_id = _cursor(conn)
        rows = cur.execute(
            "SELECT txid::text, id, request_id, at FROM request_events WHERE to_state = 'resolved' "
            f"AND (txid, id) > (%s::xid8, %s) AND txid < {TXID_HORIZON} ORDER BY txid, id LIMIT %s",
            (txid, last_id, batch)).fetchall()
        if not rows:
            return 0, False
        first = {}
        for _, _, request_id, at in rows:
            first.setdefault(request_id, at)
        made = cur.execute(
            "INSERT INTO follow_ups (request_id, customer_id, due_at, survey_token) "
            "SELECT r.id, r.customer_id, x.at + make_interval(secs => %s), x.token "
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[]) AS x (request_id, at, token) "
            "JOIN requests r ON r.id = x.request_id "
            "WHERE r.work_order_id IS NULL AND r.customer_id IS NOT NULL AND r.class IS DISTINCT FROM 'complaint' "
            "ON CONFLICT DO NOTHING RETURNING id, request_id, due_at",
            (policy.desk.follow_up_days * 86_400, list(first), list(first.values()),
             [token() for _ in first])).fetchall()
        for follow_up_id, request_id, due in made:
            event(conn, request_id, ACTOR, f"follow-up {follow_up_id} scheduled: the customer is called back "
                                           f"from {due:%Y-%m-%d %H:%M}Z")
        cur.execute("UPDATE desk_cursor SET last_request_event_txid = %s::xid8, last_request_event_id = %s",
                    (rows[-1][0], rows[-1][1]))
    if made:
        log.info("follow-ups scheduled for %d resolved request(s)", len(made))
    return len(made), len(rows) == batch


def _check(solved, satisfaction, comments) -> str | None:
    if not isinstance(solved, bool):
        raise InvalidInput(f"solved: yes (true) or no (false), got {solved!r}")
    if satisfaction is not None and (isinstance(satisfaction, bool) or not isinstance(satisfaction, int)
                                     or not 1 <= satisfaction <= 5):
        raise InvalidInput(f"satisfaction: a whole number from 1 to 5, got {satisfaction!r}")
    text = (comments or "").strip()
    if len(text) > 4000:
        raise InvalidInput("comments: at most 4000 characters")
    return text or None


def record(conn: psycopg.Connection, follow_up_id: int, *, solved: bool, satisfaction: int | None,
           comments: str | None, actor: str, channel: FollowUpChannel | str = FollowUpChannel.CALL) -> Outcome:
    """Record the customer's answer (R-FOLLOWUP), once: whether the problem is solved (for
    a complaint: whether they are satisfied with its handling), satisfaction 1–5 (None when
    they would not say) and comments, by `channel`.

    "Not solved" reopens what was followed up: a finished work order goes back to dispatch
    for a new visit (orders.desk.reopen; a closed order whose pile has another open order
    for the fault is linked to that one instead), a resolved or closed request is opened
    again, a complaint goes back to investigation for a new plan. Every step is in the
    timelines with who and when.

    Raises NotFound; Conflict when the answer was recorded already (by anyone, on any
    channel) or the follow-up was withdrawn; InvalidInput naming the field."""
    text = _check(solved, satisfaction, comments)
    try:
        channel = FollowUpChannel(channel)
    except ValueError:
        raise InvalidInput(f"channel: {channel!r} is not one of call, survey") from None
    cur = conn.cursor(row_factory=tuple_row)
    with conn.transaction():
        # Claimed: of two agents (or an agent and the survey) answering at once, one records.
        row = cur.execute(
            "UPDATE follow_ups SET done_at = now(), solved = %(solved)s, satisfaction = %(satisfaction)s, "
            "comments = %(comments)s, channel = %(channel)s, recorded_by = %(actor)s, "
            "agent = coalesce(agent, CASE WHEN %(channel)s = 'call' THEN %(actor)s END) "
            "WHERE id = %(id)s AND done_at IS NULL AND withdrawn_at IS NULL "
            "RETURNING work_order_id, request_id, complaint_id",
            {"solved": solved, "satisfaction": satisfaction, "comments": text, "channel": channel.value,
             "actor": actor, "id": follow_up_id}).fetchone()
        if row is None:
            raise _why_not(conn, follow_up_id)
        order_id, request_id, complaint_id = row
        said = (f"follow-up {follow_up_id} ({'survey' if channel is FollowUpChannel.SURVEY else 'call by ' + actor}): "
                f"{'solved' if solved else 'NOT solved'}"
                + (f", satisfaction {satisfaction}/5" if satisfaction is not None else "")
                + (f": {text if len(text) <= 200 else text[:199] + '…'}" if text else ""))
        if order_id is not None:
            return _answer_order(conn, follow_up_id, order_id, solved, said, actor)
        if request_id is not None:
            event(conn, request_id, actor, said)
            current = state_of(conn, request_id)
            if not solved and current in (RequestState.RESOLVED, RequestState.CLOSED):
                move_request(conn, request_id, RequestState.OPEN, actor=actor, expect=current,
                             note=f"reopened: the customer says it is not solved (follow-up {follow_up_id})")
                return Outcome(follow_up_id, reopened="request")
            return Outcome(follow_up_id)
        complaints.note(conn, complaint_id, actor, said)
        complaints.answered(conn, complaint_id, satisfied=solved, actor=actor, follow_up_id=follow_up_id)
        return Outcome(follow_up_id, reopened=None if solved else "complaint")


def _answer_order(conn: psycopg.Connection, follow_up_id: int, order_id: int, solved: bool, said: str,
                  actor: str) -> Outcome:
    note(conn, order_id, said, actor=actor)
    requests = [r[0] for r in conn.cursor(row_factory=tuple_row).execute(
        "SELECT id FROM requests WHERE work_order_id = %s", (order_id,)).fetchall()]
    for request_id in requests:
        event(conn, request_id, actor, f"work order {order_id}: {said}")
    if solved:
        return Outcome(follow_up_id, work_order_id=order_id)
    state = WorkOrderState(conn.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0])
    if state not in REOPENED_FROM:
        # Open again already (its verification failed meanwhile), or cancelled: nothing to reopen.
        note(conn, order_id, f"not reopened by follow-up {follow_up_id}: the order is {state.value}", actor=actor)
        return Outcome(follow_up_id, work_order_id=order_id)
    carried = desk.reopen(conn, order_id, actor=actor,
                          reason=f"the customer says the problem is not solved (follow-up {follow_up_id})")
    for request_id in requests:
        event(conn, request_id, actor, f"work order {order_id} reopened" if carried == order_id else
              f"work order {order_id} not reopened: the pile's open work order {carried} carries it on")
    return Outcome(follow_up_id, reopened="work_order", work_order_id=carried)


def _why_not(conn: psycopg.Connection, follow_up_id: int) -> Exception:
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT done_at, recorded_by, channel, withdrawn_at FROM follow_ups WHERE id = %s", (follow_up_id,)).fetchone()
    if row is None:
        return NotFound(f"follow-up {follow_up_id} does not exist")
    done_at, recorded_by, channel, withdrawn_at = row
    if withdrawn_at is not None:
        return Conflict(f"follow-up {follow_up_id} was withdrawn at {withdrawn_at:%Y-%m-%d %H:%M}Z: its complaint "
                        "is closed")
    return Conflict(f"follow-up {follow_up_id} was answered already at {done_at:%Y-%m-%d %H:%M}Z "
                    f"({'by survey' if channel == 'survey' else 'by ' + recorded_by})")


def by_token(conn: psycopg.Connection, survey_token: str) -> dict:
    """What a survey link asks about, for its page: {"follow_up_id", "customer", "subject",
    "about": "work_order" | "request" | "complaint"}.
    Raises NotFound for an unknown token and Conflict for one answered already or withdrawn
    (a link works once)."""
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT f.id, f.done_at, f.withdrawn_at, c.name, "
        "       CASE WHEN f.work_order_id IS NOT NULL THEN 'work_order' WHEN f.request_id IS NOT NULL THEN 'request' "
        "            ELSE 'complaint' END, "
        "       CASE WHEN f.work_order_id IS NOT NULL THEN 'the ' || o.kind || ' job on charging point ' || o.pile_id "
        "                 || ': ' || o.title "
        "            WHEN f.request_id IS NOT NULL THEN 'your request SR-' || r.id || ': ' || r.subject "
        "            ELSE 'how we handled your complaint (request SR-' || k.request_id || ')' END "
        "FROM follow_ups f JOIN customers c ON c.id = f.customer_id "
        "LEFT JOIN work_orders o ON o.id = f.work_order_id LEFT JOIN requests r ON r.id = f.request_id "
        "LEFT JOIN complaints k ON k.id = f.complaint_id WHERE f.survey_token = %s", (survey_token,)).fetchone()
    if row is None:
        raise NotFound("token: no such survey link")
    follow_up_id, done_at, withdrawn_at, customer, about, subject = row
    if done_at is not None or withdrawn_at is not None:
        raise Conflict("token: this survey has been answered already; thank you")
    return {"follow_up_id": follow_up_id, "customer": customer, "subject": subject, "about": about}


def answer_survey(conn: psycopg.Connection, survey_token: str, *, solved: bool, satisfaction: int | None,
                  comments: str | None) -> Outcome:
    """The customer's answer through the survey link: the same as an agent's call, recorded
    once (actor "survey", channel survey). Raises NotFound, Conflict, InvalidInput as
    by_token() and record()."""
    follow_up_id = by_token(conn, survey_token)["follow_up_id"]
    return record(conn, follow_up_id, solved=solved, satisfaction=satisfaction, comments=comments,
                  actor=SURVEY_ACTOR, channel=FollowUpChannel.SURVEY)
