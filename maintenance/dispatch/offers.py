"""Dispatch (issue 4): which engineer gets which ready work order, and the offer's life —
accepted, declined, timed out, overridden by a dispatcher, escalated after too many refusals.

Who goes where is decided by maintenance/dispatch/matching.py, on plain data: hard constraints
make a pair infeasible (skills the fault and the pile need, on shift, region, capacity,
room for planned work under `max_planned_jobs`, not refused before); the cost of a pair
is weighted travel minutes + SLA urgency + priority + workload − parts-on-van bonus;
scipy's linear_sum_assignment finds the cheapest set of offers that serves as many
orders as possible. Every offer carries its score breakdown: "why this engineer". This
module feeds it from PostgreSQL and records the outcome.

The database pass (`assign`) runs one dispatcher at a time (a transaction-scoped advisory
lock; a second process skips the pass), and the partial unique index "one live offer per
order" backs that up. Moves go through orders.transition, which claims them.

Refusals: a decline or a timeout puts the order back to ready_for_dispatch and the next
pass offers it to someone who has not refused it. After `max_offers` refusals the order
is escalated (ready_for_dispatch → escalated is allowed by the lifecycle) and the
supervisor told; from there a supervisor returns it to dispatch, or a dispatcher assigns
by hand. Refusals are counted since the order's last escalation.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg

from maintenance.dispatch import roster as roster_
from maintenance.dispatch.matching import (DispatchConfig, EngineerIn, Offer, OrderIn, Problem, Weights, build, explain, greedy,
                                  load, parse, solve, solve_problem, violations)
from maintenance.outbox import notify
from maintenance.outbox import Event, enqueue
from maintenance.dispatch.travel import Travel
from maintenance.orders import PLANNED_KINDS, WorkOrderState, note, transition
from pilecare.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)

ACTOR = "dispatch"
S = WorkOrderState
# One dispatcher at a time, across processes: any constant shared by every pilecare process.
_LOCK_KEY = 0x64_69_73_70  # "disp"

def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


_ORDER_SQL = """
SELECT o.id, coalesce(p.lat, s.lat), coalesce(p.lon, s.lon), s.region, m.kind, m.manufacturer, o.fault_category,
       o.priority, CASE WHEN o.kind = ANY(%(planned)s) AND o.response_due_at IS NULL
                        THEN o.due_at
                        WHEN o.responded_at IS NULL THEN o.response_due_at ELSE o.resolve_due_at END,
       coalesce((SELECT array_agg(cp.part_id) FROM category_parts cp WHERE cp.fault_category = o.fault_category), '{}'),
       coalesce((SELECT array_agg(DISTINCT a.engineer_id) FROM assignments a
                 WHERE a.work_order_id = o.id AND a.state IN ('declined', 'timed_out')), '{}'),
       o.pile_id, s.id, s.name, s.address, o.title, o.kind <> 'corrective'
FROM work_orders o JOIN piles p ON p.id = o.pile_id JOIN sites s ON s.id = p.site_id
JOIN pile_models m ON m.id = p.model_id
WHERE {where}
ORDER BY o.priority, o.id
"""


def _orders(conn, now: datetime, where: str, params: dict) -> tuple[list[OrderIn], dict[int, dict]]:
    orders, info = [], {}
    for r in conn.execute(_ORDER_SQL.replace("{where}", where), params | {"planned": list(PLANNED_KINDS)}).fetchall():
        due = r[8]
        orders.append(OrderIn(id=r[0], lat=r[1], lon=r[2], region=r[3], pile_kind=r[4], manufacturer=r[5],
                              category=r[6], priority=r[7],
                              slack_h=None if due is None else (due - now).total_seconds() / 3600,
                              parts=frozenset(r[9]), excluded=frozenset(r[10]), planned=r[16]))
        info[r[0]] = {"pile_id": r[11], "site_id": r[12], "site_name": r[13], "address": r[14], "title": r[15],
                      "priority": r[7]}
    return orders, info


def _engineers(conn, config: DispatchConfig, now: datetime, ids: list[str] | None = None) -> list[EngineerIn]:
    fresh_after = now - timedelta(hours=config.position_max_age_h)
    # Of each engineer's live jobs, the planned ones: they are capped by max_planned_jobs.
    planned = dict(conn.execute(
        "SELECT engineer_id, count(*) FROM work_orders WHERE engineer_id IS NOT NULL AND kind <> 'corrective' "
        "AND state = ANY(%s) GROUP BY engineer_id", (list(roster_.LIVE_STATES),)).fetchall())
    out = []
    for e in roster_.roster(conn, now, ids=ids):
        fresh = e.position is not None and e.position_at is not None and fresh_after <= e.position_at <= now
        lat, lon = e.position if fresh else e.home
        out.append(EngineerIn(id=e.id, lat=lat, lon=lon, skills=e.skills, regions=e.regions, on_shift=e.on_shift,
                              max_jobs=e.max_jobs, live_jobs=e.live_jobs, live_planned=planned.get(e.id, 0),
                              van_parts=e.van_parts, from_position=fresh))
    return out


def _offer(conn, order_id: int, engineer_id: str, score: dict, info: dict, config: DispatchConfig, now: datetime,
           *, by: str, note_text: str) -> int:
    """Offer one order to one engineer: call inside a transaction."""
    accept_by = now + timedelta(seconds=config.accept_timeout_s)
    transition(conn, order_id, S.ASSIGNED, actor=by, note=note_text)
    assignment_id = conn.execute(
        "INSERT INTO assignments (work_order_id, engineer_id, state, assigned_at, assigned_by, accept_by, score) "
        "VALUES (%s, %s, 'offered', %s, %s, %s, %s) RETURNING id",
        (order_id, engineer_id, now, by, accept_by, json.dumps(score))).fetchone()[0]
    conn.execute("UPDATE work_orders SET engineer_id = %s, updated_at = now() WHERE id = %s", (engineer_id, order_id))
    enqueue(conn, Event.ASSIGNMENT_OFFERED, {
        "assignment_id": assignment_id, "work_order_id": order_id, "pile_id": info["pile_id"],
        "site_id": info["site_id"], "site_name": info["site_name"], "address": info["address"],
        "priority": info["priority"], "title": info["title"], "accept_by": accept_by.isoformat(),
        "score": {"total": score["total"], "travel_km": score["travel"]["km"],
                  "travel_minutes": score["travel"]["minutes"], "override": score.get("override", False)},
    }, work_order_id=order_id, engineer_id=engineer_id)
    return assignment_id


def assign(conn: psycopg.Connection, config: DispatchConfig | None = None, *, now: datetime | None = None,
           travel: Travel | None = None) -> list[int]:
    """One dispatch pass over the ready orders; returns the assignments offered."""
    config, now = config or load(), _now(now)
    made: list[int] = []
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK_KEY,)).fetchone()[0]:
            return made  # another process is dispatching right now; the next pass follows it
        orders, info = _orders(conn, now, "o.state = 'ready_for_dispatch'", {})
        if not orders:
            return made
        problem = build(orders, _engineers(conn, config, now), config, travel)
        offers = solve_problem(problem)
        for offer in offers:
            s = offer.score
            text = (f"offered to {offer.engineer_id}: {s['travel']['km']:.1f} km, score {s['total']:.1f}, "
                    f"{s['qualified_engineers']} qualified")
            try:
                with conn.transaction():
                    made.append(_offer(conn, offer.order_id, offer.engineer_id, s, info[offer.order_id], config, now,
                                       by=ACTOR, note_text=text))
            except Conflict as error:
                # Someone moved the order meanwhile (resolved remotely, a hand assignment): theirs stands.
                log.info("order %s not offered: %s", offer.order_id, error)
            except psycopg.errors.UniqueViolation as error:
                # A live offer or assignment still holds a ready order: every move out of the
                # engineer's hands ends it (orders.transition), so this is a bug to see.
                log.warning("order %s not offered, a live assignment still holds it: %s", offer.order_id, error)
        _note_unqualified(conn, problem, info, {o.order_id for o in offers}, now)
    return made


def _note_unqualified(conn, problem: Problem, info: dict, offered: set[int], now: datetime) -> None:
    """No qualified engineer is news (issue 12, item 5), to the dispatcher and the supervisor,
    once each per order (a unique index), and on the order's timeline:

    - an order nobody could ever take as things stand (skills, region, refusals);
    - a corrective order left unoffered because every qualified engineer is off shift or at
      capacity, with when the next qualified shift starts. Planned work waiting for the
      morning is an ordinary queue, as is an order the solver gave another's turn.
    """
    if not problem.orders:
        return
    m = len(problem.engineers)
    qualified = problem.qualified if m else np.zeros((len(problem.orders), 0), dtype=bool)
    feasible = problem.feasible if m else qualified
    for i, o in enumerate(problem.orders):
        pile = info[o.id]["pile_id"]
        if not qualified[i].any():
            need = ", ".join(problem.needs[i]) or "no special skills"
            refused = f"; refused by {', '.join(sorted(o.excluded))}" if o.excluded else ""
            _tell(conn, o.id, pile, "dispatch_no_engineer",
                  f"Order {o.id} ({pile}) has no qualified engineer: needs {need} in region {o.region}{refused}")
        elif not o.planned and o.id not in offered and not feasible[i].any():
            names = [problem.engineers[j].id for j in np.flatnonzero(qualified[i])]
            busy = [e for j, e in enumerate(problem.engineers) if qualified[i, j] and e.on_shift]
            why = (f"all {len(busy)} qualified engineer(s) on shift are at capacity" if busy
                   else "no qualified engineer is on shift")
            start = conn.execute(
                "SELECT engineer_id, starts_at FROM engineer_shifts WHERE engineer_id = ANY(%s) AND starts_at > %s "
                "ORDER BY starts_at, engineer_id LIMIT 1", (names, now)).fetchone()
            nxt = (f"; the next qualified shift starts {start[1]:%Y-%m-%d %H:%M} UTC ({start[0]})" if start
                   else "; no qualified shift is planned")
            _tell(conn, o.id, pile, "dispatch_waiting", f"Order {o.id} ({pile}) waits: {why}{nxt}")


def _tell(conn, order_id: int, pile_id: str, kind: str, message: str) -> None:
    """The dispatcher and the supervisor, once each; the order's timeline the first time."""
    sent = [notify(conn, kind, role, message, work_order_id=order_id, pile_id=pile_id)
            for role in ("dispatcher", "supervisor")]
    if any(sent):
        note(conn, order_id, message, actor=ACTOR)


def _held(conn, order_id: int, engineer_id: str | None):
    """(assignment id, assignment state, lapsed, order state, pile, customer) of the engineer's live offer."""
    row = conn.execute(
        "SELECT a.id, a.state, a.accept_by < now(), o.state, o.pile_id, s.customer_id FROM work_orders o "
        "JOIN assignments a ON a.work_order_id = o.id AND a.engineer_id = o.engineer_id "
        "AND a.state IN ('offered', 'accepted') JOIN piles p ON p.id = o.pile_id JOIN sites s ON s.id = p.site_id "
        "WHERE o.id = %s AND o.engineer_id = %s", (order_id, engineer_id)).fetchone()
    if row is None or engineer_id is None:
        raise NotFound(f"work order {order_id} does not exist")
    return row


def accept(conn: psycopg.Connection, order_id: int, engineer_id: str | None) -> None:
    """The engineer takes the offered order (R-RESPONSE: this is the response)."""
    assignment_id, a_state, lapsed, *_ = _held(conn, order_id, engineer_id)
    if a_state == "accepted":
        raise Conflict(f"you have already accepted work order {order_id}")
    if lapsed:
        raise Conflict(f"the offer of work order {order_id} has lapsed; dispatch gives it to someone else")
    with conn.transaction():
        claimed = conn.execute("UPDATE assignments SET state = 'accepted', decided_at = now() "
                               "WHERE id = %s AND state = 'offered'", (assignment_id,)).rowcount
        if not claimed:
            raise Conflict(f"the offer of work order {order_id} was withdrawn meanwhile")
        # The transition tells the engineer, the customer and the console (work_order.updated).
        transition(conn, order_id, S.ACCEPTED, actor=engineer_id, note="offer accepted")


def decline(conn: psycopg.Connection, order_id: int, engineer_id: str | None, reason: str, *,
            config: DispatchConfig | None = None) -> None:
    """The engineer turns the offer down; the next pass offers it to someone else."""
    assignment_id, a_state, _, _, _, _ = _held(conn, order_id, engineer_id)
    if a_state == "accepted":
        raise Conflict(f"you have accepted work order {order_id}; to hand it back, escalate it to the supervisor")
    _take_back(conn, config or load(), assignment_id, order_id, engineer_id, "declined", reason,
               actor=engineer_id, note_text=f"declined by {engineer_id}: {reason}")


def expire_offers(conn: psycopg.Connection, config: DispatchConfig | None = None, now: datetime | None = None) -> int:
    """Offers nobody answered by accept_by time out and go back to dispatch."""
    config, now = config or load(), _now(now)
    expired = 0
    for assignment_id, order_id, engineer_id, accept_by in conn.execute(
            "SELECT id, work_order_id, engineer_id, accept_by FROM assignments WHERE state = 'offered' "
            "AND accept_by < %s ORDER BY accept_by LIMIT 500", (now,)).fetchall():
        try:
            _take_back(conn, config, assignment_id, order_id, engineer_id, "timed_out",
                       f"no answer by {accept_by:%Y-%m-%d %H:%M:%S}Z", actor=ACTOR, decided_at=now,
                       note_text=f"offer to {engineer_id} timed out")
            expired += 1
        except Conflict:
            pass  # answered or expired by another process meanwhile
    return expired


def _take_back(conn, config: DispatchConfig, assignment_id: int, order_id: int, engineer_id: str, outcome: str,
               reason: str, *, actor: str, note_text: str, decided_at: datetime | None = None) -> None:
    """End an offer (declined, timed_out, withdrawn) and put the order back to dispatch."""
    with conn.transaction():
        claimed = conn.execute(
            "UPDATE assignments SET state = %s, decided_at = coalesce(%s, now()), reason = %s "
            "WHERE id = %s AND state = 'offered'", (outcome, decided_at, reason, assignment_id)).rowcount
        if not claimed:
            raise Conflict(f"the offer of work order {order_id} was already answered")
        conn.execute("UPDATE work_orders SET engineer_id = NULL, updated_at = now() WHERE id = %s "
                     "AND engineer_id = %s", (order_id, engineer_id))
        enqueue(conn, Event.ASSIGNMENT_WITHDRAWN, {"assignment_id": assignment_id, "work_order_id": order_id,
                                                   "outcome": outcome, "reason": reason},
                work_order_id=order_id, engineer_id=engineer_id)
        state = conn.execute("SELECT state FROM work_orders WHERE id = %s FOR UPDATE", (order_id,)).fetchone()[0]
        if state != S.ASSIGNED.value:
            # Moved on meanwhile (a move out of the engineer's hands withdraws the offer
            # itself, so only rows from before that rule get here): the offer just ends.
            return
        transition(conn, order_id, S.READY_FOR_DISPATCH, actor=actor, note=note_text)
        if outcome != "withdrawn":
            _escalate_if_refused(conn, config, order_id)


def _escalate_if_refused(conn, config: DispatchConfig, order_id: int) -> bool:
    refusals, pile_id = conn.execute(
        "SELECT count(*), (SELECT pile_id FROM work_orders WHERE id = %(id)s) FROM assignments a "
        "WHERE a.work_order_id = %(id)s AND a.state IN ('declined', 'timed_out') AND a.assigned_at > coalesce("
        "(SELECT max(at) FROM work_order_events WHERE work_order_id = %(id)s AND to_state = 'escalated' "
        " AND from_state IS DISTINCT FROM to_state), '-infinity')", {"id": order_id}).fetchone()
    if refusals < config.max_offers:
        return False
    text = f"{refusals} offers declined or timed out: a supervisor must decide"
    transition(conn, order_id, S.ESCALATED, actor=ACTOR, note=text)
    conn.execute("UPDATE work_orders SET escalation_level = escalation_level + 1 WHERE id = %s", (order_id,))
    notify(conn, "escalation", "supervisor", f"Order {order_id} on {pile_id}: {text}", work_order_id=order_id,
           pile_id=pile_id)
    enqueue(conn, Event.ESCALATED, {"work_order_id": order_id, "pile_id": pile_id, "reason": text},
            work_order_id=order_id)
    return True


def override(conn: psycopg.Connection, order_id: int, engineer_id: str, *, actor: str, reason: str,
             config: DispatchConfig | None = None, now: datetime | None = None,
             travel: Travel | None = None) -> int:
    """A dispatcher assigns by hand. A live offer to someone else is withdrawn. Hard
    constraints the pick breaks are allowed (the dispatcher may know better) but recorded
    with the score; unknown or inactive engineers are refused. Returns the assignment id."""
    config, now = config or load(), _now(now)
    picked = conn.execute("SELECT active FROM engineers WHERE id = %s", (engineer_id,)).fetchone()
    if picked is None:
        raise InvalidInput(f"engineer {engineer_id} does not exist")
    if not picked[0]:
        raise InvalidInput(f"engineer {engineer_id} is not active")
    orders, info = _orders(conn, now, "o.id = %(order_id)s", {"order_id": order_id})
    if not orders:
        raise NotFound(f"work order {order_id} does not exist")
    state, holder = conn.execute("SELECT state, engineer_id FROM work_orders WHERE id = %s", (order_id,)).fetchone()
    if state == S.ASSIGNED.value and holder == engineer_id:
        raise Conflict(f"work order {order_id} is already offered to {engineer_id}")
    if state not in (S.READY_FOR_DISPATCH.value, S.ASSIGNED.value, S.ESCALATED.value, S.ON_HOLD.value):
        raise Conflict(f"work order {order_id} is {state}; only orders waiting for an engineer (ready, offered, "
                       "escalated or on hold) can be assigned by hand")
    try:
        with conn.transaction():
            if state == S.ASSIGNED.value:
                live = conn.execute("SELECT id, engineer_id FROM assignments WHERE work_order_id = %s "
                                    "AND state = 'offered'", (order_id,)).fetchone()
                if live is not None:
                    _take_back(conn, config, live[0], order_id, live[1], "withdrawn",
                               f"reassigned by {actor}: {reason}", actor=actor,
                               note_text=f"offer to {live[1]} withdrawn by {actor}")
            problem = build(orders, _engineers(conn, config, now, ids=[engineer_id]), config, travel)
            score = explain(problem, 0, 0, 0, "override")
            broken = violations(score)
            score |= {"override": True, "by": actor, "reason": reason, "violations": broken}
            text = (f"assigned by hand to {engineer_id}: {reason}"
                    + (f" (overrides {'; '.join(broken)})" if broken else ""))
            return _offer(conn, order_id, engineer_id, score, info[order_id], config, now, by=actor, note_text=text)
    except psycopg.errors.UniqueViolation:
        # Another dispatcher or the dispatch pass made a live offer between our read and our insert.
        raise Conflict(f"work order {order_id} was offered to someone else meanwhile; reload and try again") from None


def step(conn: psycopg.Connection, config: DispatchConfig | None = None, now: datetime | None = None,
         travel: Travel | None = None) -> int:
    """One dispatch step for the maintenance worker: time out stale offers, then assign."""
    config = config or load()
    return expire_offers(conn, config, now) + len(assign(conn, config, now=now, travel=travel))


def assignments(conn: psycopg.Connection, order_id: int) -> list[dict]:
    """Every offer of an order, oldest first, with its score breakdown and outcome."""
    if conn.execute("SELECT 1 FROM work_orders WHERE id = %s", (order_id,)).fetchone() is None:
        raise NotFound(f"work order {order_id} does not exist")
    cols = ("id", "work_order_id", "engineer_id", "state", "assigned_at", "assigned_by", "accept_by", "decided_at",
            "reason", "score")
    rows = conn.execute(f"SELECT {', '.join(cols)} FROM assignments WHERE work_order_id = %s ORDER BY id",
                        (order_id,)).fetchall()
    return [dict(zip(cols, r)) for r in rows]


__all__ = ["DispatchConfig", "Weights", "OrderIn", "EngineerIn", "Offer", "Problem", "load", "parse", "build",
           "explain", "violations", "solve", "greedy", "assign", "accept", "decline", "expire_offers", "override",
           "step", "assignments"]
