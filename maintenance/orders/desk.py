"""The desk's moves on a work order: hold, cancel, escalate, back to dispatch or triage,
close a verified order, a supervisor's verification of a safety order, merging two orders
of one pile, and reopening a finished order whose repair did not hold.

The other moves belong to someone who checks what a bare move cannot: the engineer's phone
(an open offer, arrival at the pile, a complete report), the dispatcher's assignment (an
offer row), remote triage and verification (telemetry).
"""
from __future__ import annotations

import psycopg

from maintenance.orders.lifecycle import REOPENED_FROM, TRANSITIONS, WorkOrderState, note, transition
from pilecare.errors import Conflict, Forbidden, NotFound

S = WorkOrderState
_BY_HAND = {S.ON_HOLD, S.CANCELLED, S.ESCALATED, S.READY_FOR_DISPATCH}
_ELSEWHERE = {
    S.ASSIGNED: "assign it by hand with POST /work-orders/{id}/assign, or let a dispatch pass offer it",
    S.ACCEPTED: "the engineer accepts the offer with POST /field/work-orders/{id}/accept",
    S.EN_ROUTE: "the engineer sets off with POST /field/work-orders/{id}/en-route",
    S.ON_SITE: "the engineer arrives with POST /field/work-orders/{id}/arrive",
    S.RESOLVED: "the engineer completes it with POST /field/work-orders/{id}/complete and a complete report",
    S.VERIFIED: "verification from telemetry verifies it; a supervisor verifies a safety order here",
    S.TRIAGE: "remote triage takes new orders by itself; only an order on hold goes back to triage here",
    S.CLOSED: "only a verified order is closed here; an escalated one is decided with "
              "POST /work-orders/{id}/escalation-decision",
}


def _by_hand(current: WorkOrderState, to: WorkOrderState) -> bool:
    if current in (S.VERIFIED, S.CLOSED) and to is S.READY_FOR_DISPATCH:
        return False  # reopen(): it minds the pile's other open orders
    return (to in _BY_HAND or (current is S.ON_HOLD and to is S.TRIAGE)
            or (current is S.VERIFIED and to is S.CLOSED))


def move(conn: psycopg.Connection, order_id: int, to: WorkOrderState, *, actor: str, supervisor: bool,
         note: str | None = None) -> None:
    """Make one desk move. `supervisor` says whether the actor may verify a safety order
    (R-REPAIR: a person verifies safety repairs, never telemetry alone).

    An order does not end while its fault is still there: a cancel, like a verify or a
    close, is refused while an alarm linked to the order is active (left so, the alarm
    would stay active with no order for good: it opens one only once). Put such an order
    on hold instead.

    Raises NotFound for an unknown order; Conflict for a move that is illegal, or that
    belongs elsewhere (the message names the endpoint that makes it), or a verify, close or
    cancel while a linked alarm is still active; Forbidden when a non-supervisor verifies."""
    with conn.transaction():
        # Locked: an alarm joining the order (open_corrective) waits for this move, or this
        # move sees the alarm it linked.
        row = conn.execute("SELECT state, safety FROM work_orders WHERE id = %s FOR UPDATE", (order_id,)).fetchone()
        if row is None:
            raise NotFound(f"work order {order_id} does not exist")
        current, safety = WorkOrderState(row[0]), row[1]
        if current is S.RESOLVED and to is S.VERIFIED:
            verify_safety(conn, order_id, safety=safety, supervisor=supervisor)
        elif current in (S.VERIFIED, S.CLOSED) and to is S.READY_FOR_DISPATCH:
            raise Conflict(f"work order {order_id} is {current.value}: a finished order is reopened when the "
                           "customer's follow-up says it is not solved (POST /follow-ups/{id}), not by a bare move")
        elif to in TRANSITIONS[current] and not _by_hand(current, to):
            raise Conflict(f"work order {order_id} does not go from {current.value} to {to.value} by a bare move: "
                           + _ELSEWHERE[to].replace("{id}", str(order_id)))
        if current is S.VERIFIED and to is S.CLOSED:
            refuse_while_faulty(conn, order_id, "closed")
        if to is S.CANCELLED and to in TRANSITIONS[current]:
            refuse_while_faulty(conn, order_id, "cancelled",
                                instead="put it on hold instead, or cancel it once the alarm has cleared")
        # expect: the checks above hold for the state we read, not one another process made meanwhile.
        transition(conn, order_id, to, actor=actor, note=note, expect=current)


def verify_safety(conn: psycopg.Connection, order_id: int, *, safety: bool, supervisor: bool) -> None:
    """Check that a resolved order may be verified by hand: a safety order, by a supervisor,
    once the pile no longer reports the fault (R-REPAIR)."""
    if not supervisor:
        raise Forbidden("only a supervisor verifies a safety order")
    if not safety:
        raise Conflict(f"work order {order_id} is not a safety order: it is verified from telemetry once the pile "
                       "has stayed healthy, not by hand")
    refuse_while_faulty(conn, order_id, "verified")


def refuse_while_faulty(conn: psycopg.Connection, order_id: int, to: str, *, instead: str | None = None) -> None:
    """Conflict while any alarm linked to the order is still active; `instead` (what to do
    meanwhile) is appended to the message."""
    active = [r[0] for r in conn.execute(
        "SELECT a.id FROM work_order_alarms l JOIN alarms a ON a.id = l.alarm_id "
        "WHERE l.work_order_id = %s AND a.state = 'active' ORDER BY a.id", (order_id,)).fetchall()]
    if active:
        raise Conflict(f"work order {order_id} cannot be {to} while its alarm(s) "
                       f"{', '.join(map(str, active))} are still active: the pile still reports the fault"
                       + (f"; {instead}" if instead else ""))


# An engineer has taken the job (accepted, driving, on site) or finished it: merging it away
# would pull it from under them, so the other order is merged into it instead.
_ENGINEER_HOLDS = {S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED, S.VERIFIED}


def merge(conn: psycopg.Connection, order_id: int, into: int, *, actor: str) -> list[int]:
    """Merge open order `order_id` into open order `into` of the same pile: one fault, one
    visit (issue 12, item 4). The alarms of `order_id` move to `into`, which takes the more
    urgent priority, the safety flag and the earlier SLA deadlines of the two; `order_id` is
    cancelled (its offer or assignment ends) with resolution `merged` and `merged_into` set;
    both timelines say so. Returns the ids of the alarms that moved.

    Raises NotFound for an unknown order; Conflict for an order merged into itself, orders of
    two piles, a closed or cancelled order, or an order an engineer has taken or finished
    (merge the other one into it instead).
    """
    if order_id == into:
        raise Conflict(f"work order {order_id} cannot be merged into itself")
    with conn.transaction():
        rows = {r[0]: r for r in conn.execute(
            "SELECT id, pile_id, state FROM work_orders WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
            ([order_id, into],)).fetchall()}
        for wanted in (order_id, into):
            if wanted not in rows:
                raise NotFound(f"work order {wanted} does not exist")
        (_, pile, state), (_, other_pile, other_state) = rows[order_id][:3], rows[into][:3]
        if pile != other_pile:
            raise Conflict(f"work orders {order_id} (pile {pile}) and {into} (pile {other_pile}) are of two piles: "
                           "only one pile's orders are merged")
        for wanted, current in ((order_id, state), (into, other_state)):
            if current in (S.CLOSED.value, S.CANCELLED.value):
                raise Conflict(f"work order {wanted} is {current}: only open orders are merged")
        if WorkOrderState(state) in _ENGINEER_HOLDS or S.CANCELLED not in TRANSITIONS[WorkOrderState(state)]:
            raise Conflict(f"work order {order_id} is {state}: an engineer is on it; merge work order {into} into "
                           f"it instead")
        moved = [r[0] for r in conn.execute(
            "UPDATE alarms SET work_order_id = %s WHERE work_order_id = %s RETURNING id", (into, order_id)).fetchall()]
        linked = [r[0] for r in conn.execute(
            "DELETE FROM work_order_alarms WHERE work_order_id = %s RETURNING alarm_id", (order_id,)).fetchall()]
        conn.execute("INSERT INTO work_order_alarms SELECT %s, unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
                     (into, linked))
        conn.execute(
            "UPDATE work_orders t SET priority = least(t.priority, s.priority), safety = t.safety OR s.safety, "
            "response_due_at = least(t.response_due_at, s.response_due_at), "
            "resolve_due_at = least(t.resolve_due_at, s.resolve_due_at), updated_at = now() "
            "FROM work_orders s WHERE t.id = %s AND s.id = %s", (into, order_id))
        alarms = ", ".join(map(str, sorted(set(moved) | set(linked)))) or "none"
        transition(conn, order_id, S.CANCELLED, actor=actor, expect=WorkOrderState(state),
                   note=f"merged into work order {into} (alarms moved: {alarms})")
        conn.execute("UPDATE work_orders SET resolution = 'merged', merged_into = %s WHERE id = %s", (into, order_id))
        note(conn, into, f"work order {order_id} merged into this one by {actor} (alarms moved: {alarms})", actor=actor)
    return sorted(set(moved) | set(linked))


def reopen(conn: psycopg.Connection, order_id: int, *, actor: str, reason: str) -> int:
    """Send a finished order (resolved, verified or closed) back to dispatch: the customer
    says the problem is not solved (R-FOLLOWUP). Its visit starts afresh (lifecycle
    transition) and a closed order is open again. Returns the order that carries on: this
    one, or, when this is a closed corrective order and the pile has meanwhile another open
    order for the same fault (one open order per pile and fault), that order, which this
    one is linked to in both timelines instead of being reopened.

    Raises NotFound for an unknown order and Conflict for an order that is not finished
    (it is open already, or cancelled)."""
    with conn.transaction():
        row = conn.execute("SELECT state, kind, pile_id, fault_category FROM work_orders WHERE id = %s FOR UPDATE",
                           (order_id,)).fetchone()
        if row is None:
            raise NotFound(f"work order {order_id} does not exist")
        current, kind, pile_id, category = WorkOrderState(row[0]), row[1], row[2], row[3]
        if current not in REOPENED_FROM:
            raise Conflict(f"work order {order_id} is {current.value}: only a resolved, verified or closed order is "
                           "reopened")
        if current is S.CLOSED and kind == "corrective":
            twin = _open_twin(conn, order_id, pile_id, category)
            if twin is not None:
                return _link(conn, order_id, twin, actor=actor, reason=reason)
        try:
            with conn.transaction():
                transition(conn, order_id, S.READY_FOR_DISPATCH, actor=actor, note=f"reopened: {reason}",
                           expect=current)
        except psycopg.errors.UniqueViolation:
            # An alarm opened the pile's order for this fault between our look and the move.
            twin = _open_twin(conn, order_id, pile_id, category) if kind == "corrective" else None
            if twin is None:
                raise Conflict(f"work order {order_id} cannot be reopened: the pile has another open {kind} order "
                               "for it") from None
            return _link(conn, order_id, twin, actor=actor, reason=reason)
    return order_id


def _open_twin(conn: psycopg.Connection, order_id: int, pile_id: str, category: str) -> int | None:
    row = conn.execute("SELECT id FROM work_orders WHERE pile_id = %s AND fault_category = %s AND kind = 'corrective' "
                       "AND state NOT IN ('closed', 'cancelled') AND id <> %s", (pile_id, category, order_id)).fetchone()
    return row[0] if row else None


def _link(conn: psycopg.Connection, order_id: int, twin: int, *, actor: str, reason: str) -> int:
    note(conn, order_id, f"not reopened ({reason}): the pile's open work order {twin} for this fault carries it on",
         actor=actor)
    note(conn, twin, f"work order {order_id} (closed) did not hold: {reason}; this order carries it on", actor=actor)
    return twin
