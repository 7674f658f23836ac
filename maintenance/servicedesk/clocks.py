"""The desk's watchdog (R-RESPONSE): a request near its due time is warned to the agents,
one past it is escalated to the supervisor — once each, however many workers run.

Each notice is claimed by inserting its notification row (unique per request and kind;
maintenance/outbox/notices.py). A request waiting for the customer is paused: its due
times move on when it resumes (requests.move), so it is neither warned nor breached while
it waits.
"""
from __future__ import annotations

import psycopg
from psycopg.rows import tuple_row

from maintenance.outbox import notify
from maintenance.policy import Policy
from maintenance.servicedesk.requests import event, number

ACTOR = "sla"

# (due column, done column, label, who is warned); breaches go to the supervisor.
_CLOCKS = (("response_due_at", "responded_at", "response", "agent"),
           ("resolve_due_at", "resolved_at", "resolve", "agent"))
# The clock runs only while the desk holds the ball.
_RUNNING = "state IN ('new', 'open')"


def watch(conn: psycopg.Connection, policy: Policy) -> int:
    """Send the due warnings and escalations of customers' requests; returns how many.

    Warning: past policy.sla.warn_at of the window from arrival to due (the same share as
    work orders). Breach: past due with the clock's event (first response, resolution)
    still missing: the supervisor is told and the request marked breached."""
    cur = conn.cursor(row_factory=tuple_row)
    sent = 0
    for due_col, done_col, label, role in _CLOCKS:
        with conn.transaction():
            for request_id, subject, due in cur.execute(
                    f"SELECT id, subject, {due_col} FROM requests WHERE {_RUNNING} AND {done_col} IS NULL "
                    f"AND now() <= {due_col} AND now() >= created_at + ({due_col} - created_at) * %s "
                    f"ORDER BY {due_col}", (policy.sla.warn_at,)).fetchall():
                text = f"Request {number(request_id)} ({subject}): {label} due {due:%Y-%m-%d %H:%M}Z"
                if notify(conn, f"desk_{label}_warning", role, text, request_id=request_id):
                    conn.execute("UPDATE requests SET sla_warned_at = coalesce(sla_warned_at, now()) WHERE id = %s",
                                 (request_id,))
                    event(conn, request_id, ACTOR, f"SLA warning: {label} due {due:%Y-%m-%d %H:%M}Z")
                    sent += 1
            for request_id, subject, due in cur.execute(
                    f"SELECT id, subject, {due_col} FROM requests WHERE {_RUNNING} AND {done_col} IS NULL "
                    f"AND now() > {due_col} ORDER BY {due_col}").fetchall():
                text = (f"Request {number(request_id)} ({subject}) breached its {label} time "
                        f"(due {due:%Y-%m-%d %H:%M}Z): escalated")
                if notify(conn, f"desk_{label}_breach", "supervisor", text, request_id=request_id):
                    conn.execute("UPDATE requests SET sla_breached_at = coalesce(sla_breached_at, now()), "
                                 "updated_at = now() WHERE id = %s", (request_id,))
                    event(conn, request_id, ACTOR, f"SLA breached ({label} due {due:%Y-%m-%d %H:%M}Z): "
                                                   f"escalated to the supervisor")
                    sent += 1
    return sent
