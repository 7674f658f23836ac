"""The outbox: events for the outside world, written in the caller's transaction.

Delivery (MQTT to engineers and to staff roles, signed webhooks, the console's event
stream) happens after commit, from the rows; see maintenance/outbox/delivery.py.
"""
from __future__ import annotations

import json
from enum import Enum

import psycopg


class Event(str, Enum):
    """What the platform tells engineers, customers, staff and integrations (docs/webhooks.md)."""

    ASSIGNMENT_OFFERED = "assignment.offered"      # an order offered to an engineer
    ASSIGNMENT_WITHDRAWN = "assignment.withdrawn"  # taken back (declined, timed out, overridden)
    WORK_ORDER_UPDATED = "work_order.updated"      # any state change worth showing
    ARRIVAL_ETA = "arrival.eta"                    # the customer's arrival-time notice
    ESCALATED = "work_order.escalated"             # to the supervisor
    WORK_ORDER_CREATED = "work_order.created"      # a new order (fault, plan, inspection, by hand)
    ALARM_RAISED = "alarm.raised"                  # a new active alarm
    ALARM_CLEARED = "alarm.cleared"
    NOTICE = "notice"                              # to people in a role (maintenance/outbox/notices.py)
    REQUEST_MAIL = "request.mail"                  # a mail to a customer about a request (outbox/mail.py)
    REPORT_MAIL = "report.mail"                    # a management report mailed to its recipients (reports)


def enqueue(conn: psycopg.Connection, event: Event, payload: dict, *, work_order_id: int | None = None,
            engineer_id: str | None = None, customer_id: str | None = None, role: str | None = None,
            request_id: int | None = None) -> int:
    """Record an event for delivery after the surrounding transaction commits; returns its id.

    `role` addresses it to people in that role (notices): the console's stream shows it
    only to them and the roles above them, and it goes out on the role's MQTT topic.
    """
    row = conn.execute(
        "INSERT INTO outbox (event, work_order_id, engineer_id, customer_id, role, request_id, payload) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (event.value, work_order_id, engineer_id, customer_id, role, request_id, json.dumps(payload, default=str)),
    ).fetchone()
    # Wakes the deliverer at commit (one notification per transaction), instead of a poll.
    conn.execute("NOTIFY pilecare_outbox")
    return row[0] if isinstance(row, tuple) else row["id"]
