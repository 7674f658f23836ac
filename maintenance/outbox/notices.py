"""Notices to people in a role (dispatcher, supervisor): SLA warnings and breaches
(R-RESPONSE), safety faults and escalations (R-REPAIR), orders no engineer can take.

A notice is a `notifications` row and a `notice` outbox event, written together in the
caller's transaction: a change that rolls back tells nobody, one that commits always goes
out — on the console's event stream, to webhooks subscribed to `notice`, and on the role's
MQTT topic `{prefix}/staff/{role}/notices` (maintenance/outbox/delivery.py). The row's
unique indexes (SLA and no-engineer kinds) make a notice of the same kind for the same
order go out once, however many workers try: the event is enqueued only when the row was
actually inserted. Escalations go out each time one happens.

Kinds: `sla_response_warning`, `sla_resolve_warning`, `sla_response_breach`,
`sla_resolve_breach`, `safety`, `escalation`, `dispatch_no_engineer`, `complaint` (a complaint
passed to the supervisor, maintenance/servicedesk/complaints.py); for customers' requests
(issue 13) `desk_response_warning`, `desk_resolve_warning`, `desk_response_breach`,
`desk_resolve_breach`, once per request.
"""
from __future__ import annotations

from contextlib import nullcontext

import psycopg
from psycopg.rows import tuple_row

from maintenance.outbox.events import Event, enqueue
from pilecare.domain import Role

# Who reads a notice addressed to a role: that role and those that may do everything it
# may (docs/roles.md: a supervisor everything a dispatcher may, an admin everything).
# Agents and viewers do not run dispatch or decide escalations; engineers get only their own.
_READERS = {
    Role.DISPATCHER: (Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN),
    Role.SUPERVISOR: (Role.SUPERVISOR, Role.ADMIN),
    # The service desk's clocks (issue 13): agents answer requests, supervisors escalate.
    Role.AGENT: (Role.AGENT, Role.SUPERVISOR, Role.ADMIN),
}
ROLES = tuple(r.value for r in _READERS)  # the roles a notice may be addressed to


def readable_by(role: str) -> list[str]:
    """The roles whose notices people in `role` see: ["dispatcher", "supervisor", "agent"]
    for a supervisor or an admin, ["dispatcher"] for a dispatcher, ["agent"] for an agent,
    [] for anyone else."""
    return [addressee.value for addressee, readers in _READERS.items() if role in readers]


def notify(conn: psycopg.Connection, kind: str, role: str, message: str, *, work_order_id: int | None = None,
           pile_id: str | None = None, request_id: int | None = None) -> bool:
    """Record a notice for `role` and enqueue its event; False, with nothing enqueued, when
    this kind was already sent for the order (or the customer's request). Raises ValueError
    for a role not in ROLES.

    The event's data: {"notification_id", "kind", "role", "message", "work_order_id", "pile_id", "request_id"}.
    """
    if role not in _READERS:
        raise ValueError(f"notices go to {', '.join(ROLES)}, not {role!r}")
    # Both rows in one transaction, or a notice could be written without the event that
    # delivers it: the caller's, or on an autocommit connection one of its own.
    with conn.transaction() if conn.autocommit else nullcontext():
        row = conn.cursor(row_factory=tuple_row).execute(
            "INSERT INTO notifications (kind, recipient_role, work_order_id, pile_id, request_id, message) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            (kind, role, work_order_id, pile_id, request_id, message)).fetchone()
        if row is None:
            return False
        enqueue(conn, Event.NOTICE, {"notification_id": row[0], "kind": kind, "role": role, "message": message,
                                     "work_order_id": work_order_id, "pile_id": pile_id, "request_id": request_id},
                work_order_id=work_order_id, role=role)
    return True
