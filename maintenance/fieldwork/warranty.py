"""Diagnosis, warranty and quotes (R-WARRANTY): the diagnosis's cause class settles
warranty; work outside warranty waits for the customer's approval of a quote (parts,
labour, travel at the policy's rates).
"""
from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum

import psycopg

from maintenance.fieldwork.holding import held_order, require_state, write_report
from maintenance.orders import PLANNED_KINDS, note, transition
from maintenance.orders import WorkOrderState as S
from maintenance.outbox import Event, enqueue
from maintenance.policy import Policy
from pilecare.errors import Conflict, InvalidInput, NotFound


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


def diagnose(conn: psycopg.Connection, policy: Policy, order_id: int, engineer_id: str | None, *, diagnosis: str,
             cause_class: CauseClass, actor: str, today: date | None = None) -> Warranty:
    """Record the diagnosis; it settles warranty: the maker's causes within the pile's
    warranty are free, everything else needs an approved quote before work starts."""
    state, pile_id, _, _, _ = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, S.ON_SITE)
    warranty_end = conn.execute("SELECT warranty_end FROM piles WHERE id = %s", (pile_id,)).fetchone()[0]
    covered = (warranty_end is not None and warranty_end >= (today or date.today())
               and cause_class.value in policy.warranty_causes)
    warranty = Warranty.IN if covered else Warranty.OUT
    with conn.transaction():
        write_report(conn, order_id, actor, diagnosis=diagnosis, cause_class=cause_class.value)
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
    state, _, customer_id, warranty, _ = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, S.ON_SITE)
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


def decide_quote(conn: psycopg.Connection, quote_id: int, *, approve: bool, approver_name: str, actor: str,
                 on_site: bool = False) -> None:
    """Record the customer's answer; a rejection puts the order on hold. `on_site`: given
    to the engineer at the pile (decide_on_site) rather than to the service desk; the
    timeline says which. NotFound for an unknown quote, Conflict when it is no longer pending."""
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
        where = " on site" if on_site else ""
        note(conn, order_id, f"quote {quote_id} {verdict} by {approver_name}{where} (recorded by {actor})", actor=actor)
        if not approve:
            transition(conn, order_id, S.ON_HOLD, actor=actor, note="the customer rejected the quote")


def decide_on_site(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, approve: bool,
                   approver_name: str, actor: str) -> int:
    """The customer's answer to the order's pending quote, given at the pile and recorded on
    the engineer's phone with the name of the customer's person who gave it (R-WARRANTY:
    work outside warranty waits for the customer's approval, wherever it is given). Returns
    the quote's id. NotFound unless the engineer holds the order; Conflict when the order
    has no pending quote or is not on site."""
    state, _, _, _, _ = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, S.ON_SITE)
    with conn.transaction():
        pending = conn.execute("SELECT id FROM quotes WHERE work_order_id = %s AND state = 'pending' "
                               "ORDER BY id DESC LIMIT 1 FOR UPDATE", (order_id,)).fetchone()
        if pending is None:
            raise Conflict(f"work order {order_id} has no quote waiting for the customer's answer")
        decide_quote(conn, pending[0], approve=approve, approver_name=approver_name, actor=actor, on_site=True)
    return pending[0]


def work_allowed(conn, order_id: int, kind: str, warranty: str | None) -> None:
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


_QUOTE_COLUMNS = ["id", "work_order_id", "state", "lines", "parts_cost", "labour_h", "labour_cost", "travel_km",
                  "travel_cost", "total", "currency", "created_at", "created_by", "decided_at", "decided_by",
                  "approver_name", "superseded_at"]


def quote(conn: psycopg.Connection, quote_id: int) -> dict:
    """One quote as a dict of its columns (money as Decimal, lines as a list); NotFound if none."""
    row = conn.execute(f"SELECT {', '.join(_QUOTE_COLUMNS)} FROM quotes WHERE id = %s", (quote_id,)).fetchone()
    if row is None:
        raise NotFound(f"quote {quote_id} does not exist")
    return dict(zip(_QUOTE_COLUMNS, row))
