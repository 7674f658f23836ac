"""Work orders: the lifecycle, validated transitions and the timeline.

State changes are claimed in PostgreSQL with a conditional UPDATE (… WHERE state = old):
only the caller whose update hit the row records the transition, so two processes can
never both move one order.
"""
from __future__ import annotations

from enum import Enum

import psycopg

from maintenance.outbox import Event, enqueue
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
    # new/ready → resolved: the fault cleared at the pile before anyone went (verification follows).
    S.NEW: frozenset({S.TRIAGE, S.READY_FOR_DISPATCH, S.RESOLVED}),
    S.TRIAGE: frozenset({S.READY_FOR_DISPATCH, S.RESOLVED}),  # resolved remotely (R-TRIAGE)
    S.READY_FOR_DISPATCH: frozenset({S.ASSIGNED, S.RESOLVED}),
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

OPEN = tuple(s.value for s in WorkOrderState if s not in (S.CLOSED, S.CANCELLED))
# Entering any of these means someone (or the remote first line) has responded (R-RESPONSE).
RESPONDED = (S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED, S.VERIFIED, S.CLOSED)


def note(conn: psycopg.Connection, order_id: int, text: str, *, actor: str) -> None:
    """A timeline entry without a state change (a reset sent, an SLA warning, a comment)."""
    conn.execute(
        "INSERT INTO work_order_events (work_order_id, actor, from_state, to_state, note) "
        "SELECT id, %s, state, state, %s FROM work_orders WHERE id = %s", (actor, text, order_id))


def transition(conn: psycopg.Connection, order_id: int, to: WorkOrderState, *, actor: str,
               note: str | None = None, resolution: str | None = None) -> WorkOrderState:
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
            "UPDATE work_orders SET state = %(to)s, updated_at = now(), "
            "closed_at = CASE WHEN %(to)s IN ('closed', 'cancelled') THEN now() ELSE closed_at END, "
            "responded_at = coalesce(responded_at, CASE WHEN %(to)s = ANY(%(responded)s) THEN now() END), "
            "resolved_at = CASE WHEN %(to)s = 'resolved' THEN now() "
            "                   WHEN %(to)s = 'ready_for_dispatch' THEN NULL ELSE resolved_at END, "
            "verified_at = CASE WHEN %(to)s = 'verified' THEN now() ELSE verified_at END, "
            "resolution = CASE WHEN %(to)s = 'resolved' THEN coalesce(%(resolution)s, 'repaired') "
            "                  WHEN %(to)s = 'ready_for_dispatch' THEN NULL ELSE resolution END "
            "WHERE id = %(id)s AND state = %(from)s",
            {"to": to.value, "from": current.value, "id": order_id, "resolution": resolution,
             "responded": [r.value for r in RESPONDED]},
        ).rowcount
        if not moved:
            raise Conflict(f"work order {order_id} changed meanwhile; it is no longer {current.value}")
        conn.execute(
            "INSERT INTO work_order_events (work_order_id, actor, from_state, to_state, note) VALUES (%s, %s, %s, %s, %s)",
            (order_id, actor, current.value, to.value, note),
        )
        announce(conn, Event.WORK_ORDER_UPDATED, order_id, {"from": current.value, "state": to.value})
    return current


def announce(conn: psycopg.Connection, event: Event, order_id: int, payload: dict) -> None:
    """Tell the outside world about an order (console stream, the engineer holding it, the
    customer's and integrations' webhooks), in the changing transaction."""
    row = conn.execute(
        "SELECT o.pile_id, o.kind, o.state, o.priority, o.title, o.engineer_id, s.customer_id FROM work_orders o "
        "JOIN piles p ON p.id = o.pile_id JOIN sites s ON s.id = coalesce(o.site_id, p.site_id) WHERE o.id = %s",
        (order_id,)).fetchone()
    pile_id, kind, state, priority, title, engineer_id, customer_id = row
    enqueue(conn, event, {"work_order_id": order_id, "pile_id": pile_id, "kind": kind, "state": state,
                          "priority": priority, "title": title} | payload,
            work_order_id=order_id, engineer_id=engineer_id, customer_id=customer_id)


def open_corrective(conn: psycopg.Connection, pile_id: str, fault_category: str, *, title: str, priority: int,
                    actor: str, alarm_id: int | None = None, severity: str | None = None, safety: bool = False,
                    description: str | None = None, response_h: float | None = None, resolve_h: float | None = None,
                    repeat_days: int = 30) -> tuple[int, bool]:
    """The open corrective order for (pile, fault category), created if there is none.

    Returns (order id, created). The partial unique index decides between concurrent
    callers: exactly one insert wins, the others attach to its order (raising its
    priority and safety flag if the new fault is worse). A new order for a fault that
    was closed on this pile within `repeat_days` is linked to it (R-NO-REPEAT).
    """
    for _ in range(3):  # the open order may be closed between our insert and select
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO work_orders (kind, pile_id, fault_category, title, priority, created_by, severity, safety, "
                "description, response_due_at, resolve_due_at, repeat_of) "
                "VALUES ('corrective', %(pile)s, %(category)s, %(title)s, %(priority)s, %(actor)s, %(severity)s, "
                "%(safety)s, %(description)s, now() + make_interval(secs => %(response_s)s), "
                "now() + make_interval(secs => %(resolve_s)s), "
                "(SELECT id FROM work_orders WHERE pile_id = %(pile)s AND fault_category = %(category)s "
                " AND kind = 'corrective' AND state = 'closed' AND closed_at > now() - make_interval(days => %(days)s) "
                " ORDER BY closed_at DESC LIMIT 1)) "
                "ON CONFLICT (pile_id, fault_category) WHERE kind = 'corrective' AND state NOT IN ('closed', 'cancelled') "
                "DO NOTHING RETURNING id, repeat_of",
                {"pile": pile_id, "category": fault_category, "title": title, "priority": priority, "actor": actor,
                 "severity": severity, "safety": safety, "description": description,
                 "response_s": response_h * 3600 if response_h else None,
                 "resolve_s": resolve_h * 3600 if resolve_h else None, "days": repeat_days},
            ).fetchone()
            created = row is not None
            if created:
                order_id = row[0]
                conn.execute("INSERT INTO work_order_events (work_order_id, actor, to_state, note) "
                             "VALUES (%s, %s, 'new', %s)", (order_id, actor, title))
                announce(conn, Event.WORK_ORDER_CREATED, order_id, {"fault_category": fault_category})
                if row[1] is not None:
                    note(conn, order_id, f"repeat repair: same fault on this pile as order {row[1]}, "
                                         f"closed within {repeat_days} days", actor=actor)
            else:
                found = conn.execute(
                    "SELECT id FROM work_orders WHERE pile_id = %s AND fault_category = %s AND kind = 'corrective' "
                    "AND state NOT IN ('closed', 'cancelled')", (pile_id, fault_category)).fetchone()
                if found is None:
                    continue
                order_id = found[0]
                conn.execute("UPDATE work_orders SET priority = least(priority, %s), safety = safety OR %s, "
                             "updated_at = now() WHERE id = %s", (priority, safety, order_id))
            if alarm_id is not None:
                conn.execute("INSERT INTO work_order_alarms VALUES (%s, %s) ON CONFLICT DO NOTHING", (order_id, alarm_id))
                conn.execute("UPDATE alarms SET work_order_id = %s WHERE id = %s", (order_id, alarm_id))
            return order_id, created
    raise Conflict(f"could not settle the open {fault_category} order of pile {pile_id}; try again")


def create_installation(conn: psycopg.Connection, pile_id: str, *, title: str, actor: str,
                        description: str | None = None, due_at=None) -> int:
    """An installation/commissioning job (R-INSTALL): scheduled with the customer, no fault."""
    with conn.transaction():
        order_id = conn.execute(
            "INSERT INTO work_orders (kind, pile_id, title, description, priority, created_by, due_at) "
            "VALUES ('installation', %s, %s, %s, 3, %s, %s) RETURNING id",
            (pile_id, title, description, actor, due_at)).fetchone()[0]
        conn.execute("INSERT INTO work_order_events (work_order_id, actor, to_state, note) VALUES (%s, %s, 'new', %s)",
                     (order_id, actor, title))
        announce(conn, Event.WORK_ORDER_CREATED, order_id, {})
    return order_id
