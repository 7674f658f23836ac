"""Complaints (R-COMPLAINT): recorded with an apology, passed to the supervisor,
investigated, answered with a plan, followed up until the customer is satisfied."""
from __future__ import annotations

import psycopg
from psycopg.rows import tuple_row

from maintenance.servicedesk.requests import MessageKind, add_message, event

APOLOGY = ("We are sorry for the trouble you have had. Your complaint is recorded as {number} and has been passed "
           "to our service supervisor, who will investigate it and come back to you with a plan.")


def record(conn: psycopg.Connection, request_id: int, *, actor: str) -> int:
    """Record the complaint of a request classified as one, with the apology to the
    customer in its thread (R-COMPLAINT); returns the complaint id."""
    with conn.transaction():
        complaint_id = conn.cursor(row_factory=tuple_row).execute(
            "INSERT INTO complaints (request_id, customer_id) SELECT id, customer_id FROM requests WHERE id = %s "
            "RETURNING id", (request_id,)).fetchone()[0]
        conn.execute("INSERT INTO complaint_events (complaint_id, actor, to_state, note) VALUES (%s, %s, 'recorded', %s)",
                     (complaint_id, actor, "complaint recorded"))
        event(conn, request_id, actor, f"complaint {complaint_id} recorded")
        add_message(conn, request_id, direction="out", channel="internal", author=actor, kind=MessageKind.APOLOGY,
                    body=APOLOGY.format(number=f"SR-{request_id}"))
    return complaint_id
