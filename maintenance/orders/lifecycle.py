"""Work orders: the lifecycle, validated transitions and the timeline.

State changes are claimed in PostgreSQL with a conditional UPDATE (… WHERE state = old):
only the caller whose update hit the row records the transition, so two processes can
never both move one order.
"""
from __future__ import annotations

import logging
from enum import Enum

import psycopg

from maintenance.outbox import Event, enqueue
from pilecare.errors import Conflict, NotFound

log = logging.getLogger(__name__)


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


# Contracted work that follows a plan or a checklist, not a fault: no diagnosis, warranty or
# quote before work, its report is the ticked checklist (R-PM, R-INSPECT, R-INSTALL), it is
# dispatched ahead of its due date and takes at most the planned-work slot of an engineer.
PLANNED_KINDS = frozenset({WorkOrderKind.PREVENTIVE.value, WorkOrderKind.INSPECTION.value,
                           WorkOrderKind.INSTALLATION.value})


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
    # The customer's follow-up says it is not solved after all (R-FOLLOWUP): reopened, with a
    # new visit (maintenance/orders/desk.py reopen(), which minds the one-open-order rule).
    S.VERIFIED: frozenset({S.CLOSED, S.READY_FOR_DISPATCH}),
    S.ON_HOLD: frozenset({S.TRIAGE, S.READY_FOR_DISPATCH, S.ASSIGNED}),
    S.ESCALATED: frozenset({S.READY_FOR_DISPATCH, S.ASSIGNED, S.CANCELLED, S.CLOSED}),
    S.CLOSED: frozenset({S.READY_FOR_DISPATCH}),
    S.CANCELLED: frozenset(),
}
# Any active order may be put on hold, escalated or cancelled.
for _state in _ACTIVE:
    TRANSITIONS[_state] = TRANSITIONS[_state] | {S.ON_HOLD, S.ESCALATED, S.CANCELLED}

OPEN = tuple(s.value for s in WorkOrderState if s not in (S.CLOSED, S.CANCELLED))
# Entering any of these takes the order out of the engineer's hands (not by completing it).
RELEASED = frozenset({S.ON_HOLD, S.ESCALATED, S.CANCELLED, S.READY_FOR_DISPATCH, S.TRIAGE})
# A finished order sent back to dispatch: the visit did not hold, the next one starts afresh.
REOPENED_FROM = frozenset({S.RESOLVED, S.VERIFIED, S.CLOSED})
# Entering any of these means someone (or the remote first line) has responded (R-RESPONSE).
RESPONDED = (S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED, S.VERIFIED, S.CLOSED)


def note(conn: psycopg.Connection, order_id: int, text: str, *, actor: str) -> None:
    """A timeline entry without a state change (a reset sent, an SLA warning, a comment)."""
    conn.execute(
        "INSERT INTO work_order_events (work_order_id, actor, from_state, to_state, note) "
        "SELECT id, %s, state, state, %s FROM work_orders WHERE id = %s", (actor, text, order_id))


def transition(conn: psycopg.Connection, order_id: int, to: WorkOrderState, *, actor: str,
               note: str | None = None, resolution: str | None = None,
               expect: WorkOrderState | None = None) -> WorkOrderState:
    """Move an order to `to`, recording who and when; return the state it left.

    An order leaving the engineer's hands other than by completion (RELEASED) ends the
    live offer or assignment in the same transaction; a finished order (resolved, verified
    or closed) sent back to dispatch starts a fresh visit and is no longer closed or
    verified. A closed corrective order reopened while the pile has another open order for
    the fault breaks the one-open-order rule: psycopg's UniqueViolation (use
    desk.reopen(), which links to the open order instead). Raises NotFound for an unknown order and Conflict
    (HTTP 409) for an illegal move, when the order is not in `expect` (if given), or
    when another process moved the order first.
    """
    row = conn.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"work order {order_id} does not exist")
    current = WorkOrderState(row[0])
    if expect is not None and current is not expect:
        raise Conflict(f"work order {order_id} is {current.value}, no longer {expect.value}")
    if to not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none (final state)"
        raise Conflict(f"work order {order_id} cannot go from {current.value} to {to.value}; allowed: {allowed}")
    with conn.transaction():
        moved = conn.execute(
            "UPDATE work_orders SET state = %(to)s, updated_at = now(), "
            "closed_at = CASE WHEN %(to)s IN ('closed', 'cancelled') THEN now() "
            "                 WHEN %(to)s = 'ready_for_dispatch' THEN NULL ELSE closed_at END, "
            "responded_at = coalesce(responded_at, CASE WHEN %(to)s = ANY(%(responded)s) THEN now() END), "
            "resolved_at = CASE WHEN %(to)s = 'resolved' THEN now() "
            "                   WHEN %(to)s = 'ready_for_dispatch' THEN NULL ELSE resolved_at END, "
            "verified_at = CASE WHEN %(to)s = 'verified' THEN now() "
            "                   WHEN %(to)s = 'ready_for_dispatch' THEN NULL ELSE verified_at END, "
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
        log.info("work order %s: %s → %s by %s%s", order_id, current.value, to.value, actor, f" ({note})" if note else "")
        if to in RELEASED:
            _release(conn, order_id, f"{to.value.replace('_', ' ')} by {actor}" + (f": {note}" if note else ""))
        if current in REOPENED_FROM and to is S.READY_FOR_DISPATCH:
            _new_visit(conn, order_id)
        announce(conn, Event.WORK_ORDER_UPDATED, order_id, {"from": current.value, "state": to.value})
    return current


def _release(conn: psycopg.Connection, order_id: int, reason: str) -> None:
    """End the order's live offer or assignment and tell the engineer: the order is no
    longer theirs. Left live, it would block the next offer (one live offer per order),
    keep the order on their phone and count against their capacity. Offers already ended
    by dispatch (declined, timed out, withdrawn) are not live, so nothing is recorded twice."""
    for assignment_id, engineer_id in conn.execute(
            "UPDATE assignments SET state = 'withdrawn', decided_at = now(), reason = %s "
            "WHERE work_order_id = %s AND state IN ('offered', 'accepted') RETURNING id, engineer_id",
            (reason, order_id)).fetchall():
        enqueue(conn, Event.ASSIGNMENT_WITHDRAWN, {"assignment_id": assignment_id, "work_order_id": order_id,
                                                   "outcome": "withdrawn", "reason": reason},
                work_order_id=order_id, engineer_id=engineer_id)
    conn.execute("UPDATE work_orders SET engineer_id = NULL WHERE id = %s AND engineer_id IS NOT NULL", (order_id,))


_REPORT_COLUMNS = ("diagnosis", "cause_class", "fault_cause", "action_taken", "no_parts", "test_passed", "test_notes",
                   "customer_opinion", "customer_rating", "customer_signoff_name", "completed_at", "completed_by",
                   "updated_at", "updated_by")


def _new_visit(conn: psycopg.Connection, order_id: int) -> None:
    """A repair that did not hold: the finished visit's report, parts, quotes, photos and the
    customer's signature become an earlier visit (one superseded_at, this transaction's now()), and the warranty decision
    is cleared, so the next engineer diagnoses, quotes and signs off afresh instead of
    completing with the first visit's report."""
    conn.execute(
        f"INSERT INTO service_report_history (work_order_id, superseded_at, warranty, {', '.join(_REPORT_COLUMNS)}) "
        f"SELECT r.work_order_id, now(), o.warranty, {', '.join('r.' + c for c in _REPORT_COLUMNS)} "
        "FROM service_reports r JOIN work_orders o ON o.id = r.work_order_id WHERE r.work_order_id = %s", (order_id,))
    conn.execute("DELETE FROM service_reports WHERE work_order_id = %s", (order_id,))
    conn.execute("UPDATE parts_used SET superseded_at = now() WHERE work_order_id = %s AND superseded_at IS NULL",
                 (order_id,))
    conn.execute("UPDATE quotes SET superseded_at = now(), "
                 "state = CASE WHEN state IN ('pending', 'approved') THEN 'superseded' ELSE state END "
                 "WHERE work_order_id = %s AND superseded_at IS NULL", (order_id,))
    for table in ("work_order_photos", "work_order_signatures"):
        conn.execute(f"UPDATE {table} SET superseded_at = now() WHERE order_id = %s AND superseded_at IS NULL",
                     (order_id,))
    conn.execute("UPDATE work_orders SET warranty = NULL WHERE id = %s", (order_id,))


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
                log.info("work order %s opened for pile %s (%s): %s", order_id, pile_id, fault_category, title)
                announce(conn, Event.WORK_ORDER_CREATED, order_id, {"fault_category": fault_category})
                if row[1] is not None:
                    note(conn, order_id, f"repeat repair: same fault on this pile as order {row[1]}, "
                                         f"closed within {repeat_days} days", actor=actor)
            else:
                # Joined only while still open: an order cancelled or closed meanwhile (the
                # desk locks it for the move) must not take the alarm with it; try again.
                found = conn.execute(
                    "UPDATE work_orders SET priority = least(priority, %s), safety = safety OR %s, updated_at = now() "
                    "WHERE id = (SELECT id FROM work_orders WHERE pile_id = %s AND fault_category = %s "
                    "            AND kind = 'corrective' AND state NOT IN ('closed', 'cancelled')) "
                    "AND state NOT IN ('closed', 'cancelled') RETURNING id",
                    (priority, safety, pile_id, fault_category)).fetchone()
                if found is None:
                    continue
                order_id = found[0]
            if alarm_id is not None:
                conn.execute("INSERT INTO work_order_alarms VALUES (%s, %s) ON CONFLICT DO NOTHING", (order_id, alarm_id))
                conn.execute("UPDATE alarms SET work_order_id = %s WHERE id = %s", (order_id, alarm_id))
            return order_id, created
    raise Conflict(f"could not settle the open {fault_category} order of pile {pile_id}; try again")


def carry_alarms(conn: psycopg.Connection, from_order: int, to_order: int, *, actor: str) -> list[int]:
    """The still-active alarms of an order that ends (a pile ordered replaced) move to the
    order that will cure them, so no active alarm is left with a finished order; returns
    their ids. Both timelines say so."""
    moved = [r[0] for r in conn.execute(
        "UPDATE alarms SET work_order_id = %s WHERE state = 'active' "
        "AND id IN (SELECT alarm_id FROM work_order_alarms WHERE work_order_id = %s) RETURNING id",
        (to_order, from_order)).fetchall()]
    if moved:
        conn.execute("INSERT INTO work_order_alarms SELECT %s, unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
                     (to_order, moved))
        ids = ", ".join(map(str, sorted(moved)))
        note(conn, from_order, f"alarm(s) {ids} still active: carried to order {to_order}", actor=actor)
        note(conn, to_order, f"alarm(s) {ids} of order {from_order} still active: this order carries them; "
                             "it is verified once they clear", actor=actor)
    return sorted(moved)


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
