"""Work orders: the lifecycle, validated transitions and the timeline.

State changes are claimed in PostgreSQL with a conditional UPDATE (… WHERE state = old):
only the caller whose update hit the row records the transition, so two processes can
never both move one order.
"""
from __future__ import annotations

from enum import Enum

import psycopg

from pilecare.errors import Conflict, NotFound


class WorkOrderState(str, Enum):
    """Lifecycle of a work order (issue 3)."""

    NEW = "new"
    TRIAGE = "triage"
    READY_FOR_DISPATCH = "ready_for_dispatch"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    ESCALATED = "escalated"


class WorkOrderKind(str, Enum):
    CORRECTIVE = "corrective"
    PREVENTIVE = "preventive"
    INSPECTION = "inspection"
    INSTALLATION = "installation"


S = WorkOrderState
_ACTIVE = {S.NEW, S.TRIAGE, S.READY_FOR_DISPATCH, S.ASSIGNED, S.ACCEPTED, S.EN_ROUTE, S.ON_SITE}
TRANSITIONS: dict[WorkOrderState, frozenset[WorkOrderState]] = {
    S.NEW: frozenset({S.TRIAGE, S.READY_FOR_DISPATCH}),
    S.TRIAGE: frozenset({S.READY_FOR_DISPATCH, S.RESOLVED}),  # resolved remotely (R-TRIAGE)
    S.READY_FOR_DISPATCH: frozenset({S.ASSIGNED}),
    S.ASSIGNED: frozenset({S.ACCEPTED, S.READY_FOR_DISPATCH}),  # declined → back to dispatch
    S.ACCEPTED: frozenset({S.EN_ROUTE}),
    S.EN_ROUTE: frozenset({S.ON_SITE}),
    S.ON_SITE: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset({S.VERIFIED, S.READY_FOR_DISPATCH}),  # verification failed → reopen
    S.VERIFIED: frozenset({S.CLOSED}),
    S.ON_HOLD: frozenset({S.TRIAGE, S.READY_FOR_DISPATCH, S.ASSIGNED}),
    S.ESCALATED: frozenset({S.READY_FOR_DISPATCH, S.ASSIGNED, S.CANCELLED, S.CLOSED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}
# Any active order may be put on hold, escalated or cancelled.
for _state in _ACTIVE:
    TRANSITIONS[_state] = TRANSITIONS[_state] | {S.ON_HOLD, S.ESCALATED, S.CANCELLED}


def transition(conn: psycopg.Connection, order_id: int, to: WorkOrderState, *, actor: str,
               note: str | None = None) -> WorkOrderState:
    """Move an order to `to`, recording who and when; return the state it left.

    Raises NotFound for an unknown order and Conflict (HTTP 409) for an illegal move or
    when another process moved the order first.
    """
    row = conn.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"work order {order_id} does not exist")
    current = WorkOrderState(row[0])
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (final state)"
        raise Conflict(f"work order {order_id} cannot go from {current.value} to {to.value}; allowed: {allowed}")
    with conn.transaction():
        moved = conn.execute(
            "UPDATE work_orders SET state = %s, updated_at = now(), "
            "closed_at = CASE WHEN %s IN ('closed', 'cancelled') THEN now() ELSE closed_at END "
            "WHERE id = %s AND state = %s",
            (to.value, to.value, order_id, current.value),
        ).rowcount
        if not moved:
            raise Conflict(f"work order {order_id} changed meanwhile; it is no longer {current.value}")
        conn.execute(
            "INSERT INTO work_order_events (work_order_id, actor, from_state, to_state, note) VALUES (%s, %s, %s, %s, %s)",
            (order_id, actor, current.value, to.value, note),
        )
    return current


def open_corrective(conn: psycopg.Connection, pile_id: str, fault_category: str, *, title: str, priority: int,
                    actor: str, alarm_id: int | None = None) -> tuple[int, bool]:
    """The open corrective order for (pile, fault category), created if there is none.

    Returns (order id, created). The partial unique index decides between concurrent
    callers: exactly one insert wins, the others attach to its order.
    """
    for _ in range(3):  # the open order may be closed between our insert and select
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO work_orders (kind, pile_id, fault_category, title, priority, created_by) "
                "VALUES ('corrective', %s, %s, %s, %s, %s) "
                "ON CONFLICT (pile_id, fault_category) WHERE kind = 'corrective' AND state NOT IN ('closed', 'cancelled') "
                "DO NOTHING RETURNING id",
                (pile_id, fault_category, title, priority, actor),
            ).fetchone()
            created = row is not None
            if created:
                order_id = row[0]
                conn.execute("INSERT INTO work_order_events (work_order_id, actor, to_state, note) "
                             "VALUES (%s, %s, 'new', %s)", (order_id, actor, title))
            else:
                found = conn.execute(
                    "SELECT id FROM work_orders WHERE pile_id = %s AND fault_category = %s AND kind = 'corrective' "
                    "AND state NOT IN ('closed', 'cancelled')", (pile_id, fault_category)).fetchone()
                if found is None:
                    continue
                order_id = found[0]
            if alarm_id is not None:
                conn.execute("INSERT INTO work_order_alarms VALUES (%s, %s) ON CONFLICT DO NOTHING", (order_id, alarm_id))
            return order_id, created
    raise Conflict(f"could not settle the open {fault_category} order of pile {pile_id}; try again")
