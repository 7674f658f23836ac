"""The field flow of one work order, as the engineer's phone drives it (R-REPAIR, R-REPORT,
R-WARRANTY): en route with an ETA, arrival checked against the site, diagnosis (which
settles warranty), a quote the customer must approve before work outside warranty,
parts used from the van or a warehouse, the on-site test, and completion only with a
complete, signed report. Then verification from telemetry takes over (orders.verify).

Only the engineer holding the order may act on it; for anyone else the order does not
exist (NotFound), so the API never tells who holds what.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum

import psycopg

from maintenance.outbox.notices import notify
from maintenance.outbox.events import Event, enqueue
from maintenance.policy import Policy
from maintenance.orders.lifecycle import WorkOrderState, create_installation, note, transition
from maintenance.orders.safety import take_out_of_service
from pilecare.geo import great_circle_m
from pilecare.errors import Conflict, InvalidInput, NotFound

S = WorkOrderState


class CauseClass(str, Enum):
    """Where a fault came from; the first four are the maker's within warranty (R-WARRANTY)."""

    DESIGN = "design"
    MANUFACTURE = "manufacture"
    INSTALLATION = "installation"
    MATERIAL = "material"
    WEAR = "wear"
    MISUSE = "misuse"
    EXTERNAL = "external"
    UNKNOWN = "unknown"


class Warranty(str, Enum):
    IN = "in_warranty"
    OUT = "out_of_warranty"


class SupervisorAction(str, Enum):
    """What a supervisor may decide on an escalated order (R-REPAIR)."""

    OUT_OF_SERVICE = "out_of_service"
    REPLACE = "replace"
    RETURN_TO_DISPATCH = "return_to_dispatch"


# Contracted work that follows a plan or a checklist, not a fault: no diagnosis, warranty or
# quote before work, and its report is the ticked checklist (R-PM, R-INSPECT, R-INSTALL).
PLANNED_KINDS = frozenset({"preventive", "inspection", "installation"})

# What a complete service report holds (R-REPORT); an incomplete one is refused.
REPORT_FIELDS = {
    "fault_cause": "fault cause", "action_taken": "action taken", "test_passed": "on-site test result",
    "customer_opinion": "customer opinion", "customer_rating": "customer rating",
    "customer_signoff_name": "customer sign-off name",
}


def _own(conn: psycopg.Connection, order_id: int, engineer_id: str | None) -> tuple:
    """(state, pile_id, customer_id, warranty, kind) of an order the engineer holds."""
    row = conn.execute(
        "SELECT o.state, o.pile_id, s.customer_id, o.warranty, o.kind FROM work_orders o "
        "JOIN piles p ON p.id = o.pile_id "
        "JOIN sites s ON s.id = p.site_id WHERE o.id = %s AND (%s::text IS NULL OR o.engineer_id = %s)",
        (order_id, engineer_id, engineer_id)).fetchone()
    if row is None:
        raise NotFound(f"work order {order_id} does not exist")
    return row


def _verification(conn, order_id: int) -> str:
    # Safety repairs are verified by a supervisor, never by telemetry alone.
    safety = conn.execute("SELECT safety FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0]
    return "awaiting a supervisor's verification" if safety else "verifying from telemetry"


def _require_state(order_id: int, state: str, *allowed: WorkOrderState) -> None:
    if state not in {a.value for a in allowed}:
        raise Conflict(f"work order {order_id} is {state}; this step needs it "
                       + " or ".join(a.value for a in allowed))


def _report(conn, order_id: int, actor: str, **fields) -> None:
    columns = list(fields)
    conn.execute(
        f"INSERT INTO service_reports (work_order_id, updated_by, {', '.join(columns)}) "
        f"VALUES (%s, %s, {', '.join(['%s'] * len(columns))}) ON CONFLICT (work_order_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns) + ", updated_at = now(), updated_by = excluded.updated_by",
        (order_id, actor, *fields.values()))


def start_travel(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, eta: datetime,
                 actor: str) -> None:
    """Accepted → en route, with an ETA the customer is told (arrival-time notice)."""
    state, pile_id, customer_id, _, _ = _own(conn, order_id, engineer_id)
    _require_state(order_id, state, S.ACCEPTED)
    # The customer is told this time: one already past is a mistake (a phone's wrong clock
    # or a typo), a few minutes' slack aside.
    if eta < datetime.now(timezone.utc) - timedelta(minutes=5):
        raise InvalidInput(f"eta: {eta.isoformat()} has passed; give the expected arrival time")
    with conn.transaction():
        # The phone sends its local time with an offset; the timeline speaks UTC.
        transition(conn, order_id, S.EN_ROUTE, actor=actor, note=f"ETA {eta.astimezone(timezone.utc):%Y-%m-%d %H:%M}Z")
        conn.execute("UPDATE work_orders SET eta = %s WHERE id = %s", (eta, order_id))
        enqueue(conn, Event.ARRIVAL_ETA, {"work_order_id": order_id, "pile_id": pile_id, "eta": eta.isoformat()},
                work_order_id=order_id, customer_id=customer_id)


def arrive(conn: psycopg.Connection, policy: Policy, order_id: int, engineer_id: str | None, *, lat: float,
           lon: float, actor: str) -> float:
    """En route → on site, only within the policy's radius of the pile; returns the distance."""
    state, pile_id, _, _, _ = _own(conn, order_id, engineer_id)
    _require_state(order_id, state, S.EN_ROUTE)
    where = conn.execute("SELECT coalesce(p.lat, s.lat), coalesce(p.lon, s.lon) FROM piles p "
                         "JOIN sites s ON s.id = p.site_id WHERE p.id = %s", (pile_id,)).fetchone()
    away = great_circle_m((lat, lon), (where[0], where[1]))
    if away > policy.arrival_radius_m:
        raise Conflict(f"you are {away / 1000:.1f} km from pile {pile_id}; arrival counts within "
                       f"{policy.arrival_radius_m:.0f} m of it")
    with conn.transaction():
        transition(conn, order_id, S.ON_SITE, actor=actor, note=f"arrived {away:.0f} m from the pile")
        if engineer_id:
            conn.execute("UPDATE engineers SET lat = %s, lon = %s, position_at = now() WHERE id = %s",
                         (lat, lon, engineer_id))
    return away


def diagnose(conn: psycopg.Connection, policy: Policy, order_id: int, engineer_id: str | None, *, diagnosis: str,
             cause_class: CauseClass, actor: str, today: date | None = None) -> Warranty:
    """Record the diagnosis; it settles warranty: the maker's causes within the pile's
    warranty are free, everything else needs an approved quote before work starts."""
    state, pile_id, _, _, _ = _own(conn, order_id, engineer_id)
    _require_state(order_id, state, S.ON_SITE)
    warranty_end = conn.execute("SELECT warranty_end FROM piles WHERE id = %s", (pile_id,)).fetchone()[0]
    covered = (warranty_end is not None and warranty_end >= (today or date.today())
               and cause_class.value in policy.warranty_causes)
    warranty = Warranty.IN if covered else Warranty.OUT
    with conn.transaction():
        _report(conn, order_id, actor, diagnosis=diagnosis, cause_class=cause_class.value)
        conn.execute("UPDATE work_orders SET warranty = %s, updated_at = now() WHERE id = %s",
                     (warranty.value, order_id))
        why = (f"warranty until {warranty_end}" if warranty_end else "no warranty on record")
        note(conn, order_id, f"diagnosis: {diagnosis} ({cause_class.value}); {warranty.value.replace('_', ' ')} "
                             f"({why})" + ("" if covered else ": a quote needs the customer's approval"), actor=actor)
    return warranty


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def make_quote(conn: psycopg.Connection, policy: Policy, order_id: int, engineer_id: str | None, *,
               parts: list[tuple[str, int]], labour_h: float, travel_km: float, actor: str) -> int:
    """A quote for work outside warranty (parts, labour, travel); replaces a pending one."""
    state, _, customer_id, warranty, _ = _own(conn, order_id, engineer_id)
    _require_state(order_id, state, S.ON_SITE)
    if warranty != Warranty.OUT.value:
        raise Conflict(f"work order {order_id} is {warranty or 'not yet diagnosed'}: quotes are for work outside "
                       "warranty, after the diagnosis")
    prices = dict(conn.execute("SELECT id, unit_cost FROM parts WHERE id = ANY(%s)", ([p for p, _ in parts],)).fetchall())
    unknown = sorted({p for p, _ in parts} - prices.keys())
    if unknown:
        raise InvalidInput(f"unknown parts: {', '.join(unknown)}")
    lines = [{"part_id": p, "quantity": q, "unit_cost": str(prices[p]), "cost": str(_money(prices[p] * q))}
             for p, q in parts]
    parts_cost = sum((Decimal(line["cost"]) for line in lines), Decimal("0"))
    labour = _money(labour_h * policy.pricing.labour_per_h)
    travel = _money(travel_km * policy.pricing.travel_per_km)
    total = parts_cost + labour + travel
    with conn.transaction():
        if conn.execute("SELECT 1 FROM quotes WHERE work_order_id = %s AND state = 'approved'", (order_id,)).fetchone():
            raise Conflict(f"work order {order_id} already has an approved quote")
        conn.execute("UPDATE quotes SET state = 'superseded' WHERE work_order_id = %s AND state = 'pending'",
                     (order_id,))
        quote_id = conn.execute(
            "INSERT INTO quotes (work_order_id, lines, parts_cost, labour_h, labour_cost, travel_km, travel_cost, "
            "total, currency, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (order_id, json.dumps(lines), parts_cost, labour_h, labour, travel_km, travel, total,
             policy.pricing.currency, actor)).fetchone()[0]
        note(conn, order_id, f"quote {quote_id}: {total} {policy.pricing.currency} awaiting the customer's approval",
             actor=actor)
        enqueue(conn, Event.WORK_ORDER_UPDATED, {"work_order_id": order_id, "quote_id": quote_id,
                                                  "total": str(total), "currency": policy.pricing.currency,
                                                  "needs": "customer approval"},
                work_order_id=order_id, customer_id=customer_id)
    return quote_id


def decide_quote(conn: psycopg.Connection, quote_id: int, *, approve: bool, approver_name: str, actor: str) -> None:
    """Record the customer's answer; a rejection puts the order on hold."""
    with conn.transaction():
        row = conn.execute("UPDATE quotes SET state = %s, decided_at = now(), decided_by = %s, approver_name = %s "
                           "WHERE id = %s AND state = 'pending' RETURNING work_order_id",
                           ("approved" if approve else "rejected", actor, approver_name, quote_id)).fetchone()
        if row is None:
            if conn.execute("SELECT 1 FROM quotes WHERE id = %s", (quote_id,)).fetchone() is None:
                raise NotFound(f"quote {quote_id} does not exist")
            raise Conflict(f"quote {quote_id} is no longer pending")
        order_id = row[0]
        verdict = "approved" if approve else "rejected"
        note(conn, order_id, f"quote {quote_id} {verdict} by {approver_name} (recorded by {actor})", actor=actor)
        if not approve:
            transition(conn, order_id, S.ON_HOLD, actor=actor, note="the customer rejected the quote")


def _work_allowed(conn, order_id: int, kind: str, warranty: str | None) -> None:
    """Corrective work waits for the diagnosis and, outside warranty, an approved quote.
    Planned work (preventive, inspection, installation) is contracted: no such gate."""
    if kind in PLANNED_KINDS:
        return
    if warranty is None:
        raise Conflict(f"work order {order_id} has no diagnosis yet: diagnose first (it settles warranty)")
    if warranty == Warranty.OUT.value and not conn.execute(
            "SELECT 1 FROM quotes WHERE work_order_id = %s AND state = 'approved'", (order_id,)).fetchone():
        raise Conflict(f"work order {order_id} is outside warranty: the customer must approve a quote before work "
                       "starts (R-WARRANTY)")


def use_part(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, part_id: str, quantity: int,
             location_id: str, defective_returned: bool, actor: str, request_id: str | None = None) -> bool:
    """Take parts from the engineer's van or a warehouse: stock goes down or the call fails.

    A phone that lost the answer sends the same request again with the same `request_id`:
    that repeat is recorded once and takes stock once (unique per order). Returns False
    for such a repeat, True when the parts were taken now."""
    state, _, _, warranty, kind = _own(conn, order_id, engineer_id)
    if request_id is not None and _repeated(conn, order_id, request_id, part_id, quantity, location_id):
        return False
    _require_state(order_id, state, S.ON_SITE)
    _work_allowed(conn, order_id, kind, warranty)
    location = conn.execute("SELECT kind, engineer_id FROM stock_locations WHERE id = %s", (location_id,)).fetchone()
    if location is None:
        raise InvalidInput(f"stock location {location_id!r} does not exist")
    if location[0] == "van" and engineer_id and location[1] != engineer_id:
        raise InvalidInput(f"{location_id!r} is another engineer's van")
    with conn.transaction():
        # The row first: it claims the request id, so a concurrent repeat waits on the unique
        # index and then finds it, instead of taking stock a second time.
        recorded = conn.execute(
            "INSERT INTO parts_used (work_order_id, part_id, quantity, location_id, defective_returned, recorded_by, "
            "request_id) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (work_order_id, request_id) DO NOTHING RETURNING id",
            (order_id, part_id, quantity, location_id, defective_returned, actor, request_id)).fetchone()
        if recorded is None:
            _repeated(conn, order_id, request_id, part_id, quantity, location_id)
            return False
        taken = conn.execute("UPDATE stock SET quantity = quantity - %s WHERE location_id = %s AND part_id = %s "
                             "AND quantity >= %s", (quantity, location_id, part_id, quantity)).rowcount
        if not taken:
            have = conn.execute("SELECT quantity FROM stock WHERE location_id = %s AND part_id = %s",
                                (location_id, part_id)).fetchone()
            raise Conflict(f"{location_id} holds {have[0] if have else 0} of {part_id}; {quantity} needed")
        note(conn, order_id, f"used {quantity} × {part_id} from {location_id}"
                             + ("; the defective part goes back for analysis" if defective_returned else ""), actor=actor)
    return True


def _repeated(conn, order_id: int, request_id: str, part_id: str, quantity: int, location_id: str) -> bool:
    """Whether this parts request was recorded already; the same id with other parts is a client bug."""
    row = conn.execute("SELECT part_id, quantity, location_id FROM parts_used WHERE work_order_id = %s "
                       "AND request_id = %s", (order_id, request_id)).fetchone()
    if row is None:
        return False
    if tuple(row) != (part_id, quantity, location_id):
        raise Conflict(f"request {request_id!r} already recorded {row[1]} × {row[0]} from {row[2]} on work order "
                       f"{order_id}; a new request needs a new id")
    return True


def record_test(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, passed: bool, notes: str,
                actor: str) -> None:
    state, _, _, warranty, kind = _own(conn, order_id, engineer_id)
    _require_state(order_id, state, S.ON_SITE)
    _work_allowed(conn, order_id, kind, warranty)
    with conn.transaction():
        _report(conn, order_id, actor, test_passed=passed, test_notes=notes)
        note(conn, order_id, f"on-site test {'passed' if passed else 'FAILED'}: {notes}", actor=actor)


def complete(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, actor: str, **report) -> None:
    """On site → resolved, only with a complete report (R-REPORT); verification follows.

    A corrective order needs every REPORT_FIELDS entry and its parts (or no_parts: true).
    Planned work (PLANNED_KINDS) needs instead, see `_planned_missing`:
    - every checklist item answered: `done: true`, or `done: false` with a note saying why
      it could not be done (an item never ticked, or left undone without a reason, is missing);
    - the on-site test result, and the customer's sign-off name.
    A failed on-site test completes planned work only when a finding that needs a repair was
    recorded on the order (it opened the corrective order that fixes it); a corrective order
    with a failed test is not repaired and cannot complete."""
    state, _, _, warranty, kind = _own(conn, order_id, engineer_id)
    _require_state(order_id, state, S.ON_SITE)
    _work_allowed(conn, order_id, kind, warranty)
    planned = kind in PLANNED_KINDS
    given = {k: v for k, v in report.items() if v is not None}
    with conn.transaction():
        if given:
            _report(conn, order_id, actor, **given)
        stored = conn.execute(
            "SELECT fault_cause, action_taken, test_passed, customer_opinion, customer_rating, customer_signoff_name, "
            "no_parts, EXISTS (SELECT 1 FROM parts_used WHERE work_order_id = %s AND superseded_at IS NULL) "
            "FROM service_reports "
            "WHERE work_order_id = %s", (order_id, order_id)).fetchone()
        values = dict(zip(list(REPORT_FIELDS) + ["no_parts", "parts"], stored or [None] * 8))
        if planned:
            missing = _planned_missing(conn, order_id, values)
        else:
            missing = [label for key, label in REPORT_FIELDS.items() if values[key] in (None, "")]
            if not (values["parts"] or values["no_parts"]):
                missing.append("parts used (or no_parts: true)")
        if missing:
            raise InvalidInput(f"the service report is incomplete; missing: {', '.join(missing)}")
        if values["test_passed"] is False:
            if not planned:
                raise Conflict("the on-site test failed: the pile is not repaired yet")
            if not conn.execute("SELECT 1 FROM inspection_findings WHERE work_order_id = %s AND needs_repair",
                                (order_id,)).fetchone():
                raise Conflict("the on-site test failed: record a finding that needs a repair (it opens a corrective "
                               "order) before completing this visit")
        conn.execute("UPDATE service_reports SET completed_at = now(), completed_by = %s WHERE work_order_id = %s",
                     (actor, order_id))
        # "repaired" with a completed report is what verification closes on; for planned
        # work the note says what was done.
        transition(conn, order_id, S.RESOLVED, actor=actor, resolution="repaired",
                   note=(f"{kind} work done on site; verifying from telemetry" if planned
                         else "repaired on site; " + _verification(conn, order_id)))
        conn.execute("UPDATE assignments SET state = 'done', decided_at = now() WHERE work_order_id = %s "
                     "AND state = 'accepted'", (order_id,))


def _planned_missing(conn, order_id: int, values: dict) -> list[str]:
    checklist = conn.execute("SELECT checklist FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0] or []
    missing = [f"checklist item {entry['item']!r} (done, or not done with a note why)" for entry in checklist
               if not (entry.get("done") is True or (entry.get("done") is False and entry.get("by")
                                                     and (entry.get("note") or "").strip()))]
    if values["test_passed"] is None:
        missing.append(REPORT_FIELDS["test_passed"])
    if values["customer_signoff_name"] in (None, ""):
        missing.append(REPORT_FIELDS["customer_signoff_name"])
    return missing


def tick(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, item: str, done: bool,
         note_text: str | None = None, reading: str | None = None, actor: str) -> list[dict]:
    """Answer one checklist item of the order, on site: done or not, with an optional note
    (required by `complete` for an item left undone) and reading (a measured value). Who
    and when are kept in the item, and the timeline says it. Returns the checklist.

    The item is rewritten under a row lock, so two ticks at once on one order both land."""
    state, _, _, _, _ = _own(conn, order_id, engineer_id)
    _require_state(order_id, state, S.ON_SITE)
    with conn.transaction():
        checklist = conn.execute("SELECT checklist FROM work_orders WHERE id = %s FOR UPDATE",
                                 (order_id,)).fetchone()[0] or []
        names = [entry["item"] for entry in checklist]
        if item not in names:
            raise InvalidInput(f"work order {order_id} has no checklist item {item!r}; its items: "
                               + ("; ".join(names) if names else "none"))
        at = datetime.now(timezone.utc).isoformat()
        entry = {"item": item, "done": done, "by": actor, "at": at}
        if note_text:
            entry["note"] = note_text
        if reading:
            entry["reading"] = reading
        checklist = [entry if e["item"] == item else e for e in checklist]
        conn.execute("UPDATE work_orders SET checklist = %s, updated_at = now() WHERE id = %s",
                     (json.dumps(checklist), order_id))
        note(conn, order_id, f"checklist: {item}: {'done' if done else 'NOT done'}"
                             + (f"; reading {reading}" if reading else "") + (f"; {note_text}" if note_text else ""),
             actor=actor)
    return checklist


def escalate(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, reason: str, safety: bool,
             actor: str) -> None:
    """A safety or severe quality finding goes to the supervisor (R-REPAIR)."""
    state, pile_id, _, _, _ = _own(conn, order_id, engineer_id)
    with conn.transaction():
        transition(conn, order_id, S.ESCALATED, actor=actor, note=("SAFETY: " if safety else "") + reason)
        if safety:
            conn.execute("UPDATE work_orders SET safety = true WHERE id = %s", (order_id,))
        notify(conn, "escalation", "supervisor", f"Order {order_id} on {pile_id} escalated by {actor}: {reason}",
               work_order_id=order_id, pile_id=pile_id)
        enqueue(conn, Event.ESCALATED, {"work_order_id": order_id, "pile_id": pile_id, "reason": reason,
                                        "safety": safety}, work_order_id=order_id)


def decide_escalation(conn: psycopg.Connection, downlink, order_id: int, *, action: SupervisorAction, note_text: str,
                      actor: str) -> int | None:
    """The supervisor's decision on an escalated order; the customer is told. Returns the
    replacement (installation) order for REPLACE.

    The decision is claimed by the move out of `escalated` (a conditional UPDATE), in one
    transaction with what it creates: of two supervisors deciding at once, one wins and
    the other gets a Conflict with nothing left behind. The out-of-service command leaves
    only after that commit, so a losing decision never sends one."""
    state, pile_id, customer_id, _, _ = _own(conn, order_id, None)
    _require_state(order_id, state, S.ESCALATED)
    replacement = None
    with conn.transaction():
        if action is SupervisorAction.REPLACE:
            transition(conn, order_id, S.CLOSED, actor=actor, expect=S.ESCALATED,
                       note=f"the supervisor ordered the pile replaced: {note_text}")
            conn.execute("UPDATE work_orders SET resolution = 'replaced' WHERE id = %s", (order_id,))
            replacement = create_installation(conn, pile_id, title=f"Replace pile {pile_id} (order {order_id})",
                                              actor=actor, description=note_text)
            note(conn, order_id, f"replacement: installation order {replacement}", actor=actor)
        elif action is SupervisorAction.OUT_OF_SERVICE:
            transition(conn, order_id, S.READY_FOR_DISPATCH, actor=actor, expect=S.ESCALATED,
                       note=f"taken out of service by the supervisor: {note_text}")
        else:
            transition(conn, order_id, S.READY_FOR_DISPATCH, actor=actor, expect=S.ESCALATED,
                       note=f"back to dispatch: {note_text}")
        enqueue(conn, Event.WORK_ORDER_UPDATED, {"work_order_id": order_id, "pile_id": pile_id,
                                                  "decision": action.value, "note": note_text,
                                                  "replacement_order_id": replacement},
                work_order_id=order_id, customer_id=customer_id)
    if action is SupervisorAction.OUT_OF_SERVICE:
        take_out_of_service(conn, downlink, order_id, pile_id, actor=actor)
    return replacement


__all__ = ["CauseClass", "Warranty", "SupervisorAction", "start_travel", "arrive", "diagnose",
           "make_quote", "decide_quote", "use_part", "record_test", "tick", "complete", "escalate", "decide_escalation"]
