"""What a request's linked work order tells its customer (R-RESPONSE: progress updates).

The desk learns of an order's moves from outbox events (it depends on orders, never the
reverse). For each request linked to the order: an engineer setting off or arriving is a
progress update in the request's thread; the order resolved resolves the request; a repair
that did not hold, or a follow-up's "not solved" (resolved, verified or closed → back to
dispatch), reopens it.
"""
from __future__ import annotations

import psycopg
from psycopg.rows import tuple_row

from maintenance.servicedesk.mail_out import reply
from maintenance.servicedesk.requests import ACTIVE, MessageKind, RequestState, move

ACTOR = "pilecare"
_FINISHED = ("resolved", "verified", "closed")   # an order leaving these for dispatch: the job is not done
_DONE = (RequestState.RESOLVED.value, RequestState.CLOSED.value)
_PROGRESS = {
    "accepted": "An engineer has taken on the work for your request.",
    "en_route": "An engineer is on the way to your charging pile.",
    "on_site": "The engineer has arrived at your charging pile.",
}


def on_order_moved(conn: psycopg.Connection, order_id: int, from_state: str | None, to_state: str) -> int:
    """Tell the requests linked to `order_id` that it moved from `from_state` to `to_state`;
    returns how many requests changed or got a message. Idempotent per move only as far as
    the caller reads each event once (the desk's outbox cursor)."""
    cur = conn.cursor(row_factory=tuple_row)
    touched = 0
    for request_id, state in cur.execute(
            "SELECT id, state FROM requests WHERE work_order_id = %s ORDER BY id", (order_id,)).fetchall():
        if to_state in _PROGRESS and state in ACTIVE:
            reply(conn, request_id, kind=MessageKind.PROGRESS, body=_PROGRESS[to_state], author=ACTOR)
            touched += 1
        elif to_state == "resolved" and state in ACTIVE:
            reply(conn, request_id, kind=MessageKind.PROGRESS, author=ACTOR,
                  body=f"Your charging pile has been repaired (work order {order_id}).")
            move(conn, request_id, RequestState.RESOLVED, actor=ACTOR, note=f"work order {order_id} resolved")
            touched += 1
        elif from_state in _FINISHED and to_state == "ready_for_dispatch" and state in _DONE:
            move(conn, request_id, RequestState.OPEN, actor=ACTOR,
                 note=f"work order {order_id}: the repair did not hold; back to dispatch")
            touched += 1
    return touched
