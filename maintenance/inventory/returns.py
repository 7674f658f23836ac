"""Defective parts back from the field (R-PARTS): into quarantine, and under warranty a
claim on the supplier (R-WARRANTY: the maker's faults are the supplier's to answer for).
"""
from __future__ import annotations

import psycopg

from maintenance.inventory.ledger import Line, LocationKind, MovementKind, area, location, record
from pilecare.errors import InvalidInput


def return_defective(conn: psycopg.Connection, part_id: str, quantity: int, from_location_id: str, *,
                     work_order_id: int | None, engineer_id: str | None, under_warranty: bool, actor: str,
                     reason: str = "defective part removed in the field") -> int | None:
    """Take `quantity` removed, defective parts into the quarantine area of the van (or
    warehouse) `from_location_id`, as a `defective_return` movement.
    Under warranty a supplier claim is opened for them (supplier: the one that delivered
    the part last, else the one listed at the lowest price, else none until the parts
    keeper names one). Returns the claim's id, or None outside warranty (the parts keeper
    scraps or returns them). Raises InvalidInput for a non-positive quantity or an
    unknown location."""
    if quantity <= 0:
        raise InvalidInput("quantity: a return takes at least one unit")
    quarantine = area(conn, location(conn, from_location_id).id, LocationKind.QUARANTINE)
    with conn.transaction():
        claim_id = None
        if under_warranty:
            claim_id = conn.execute(
                "INSERT INTO supplier_claims (supplier_id, part_id, quantity, work_order_id, reason, opened_by) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (usual_supplier(conn, part_id), part_id, quantity, work_order_id, reason, actor)).fetchone()[0]
        # A returned part has no value in stock: it is kept at cost 0 so it never inflates
        # the stock's value or a job's cost.
        record(conn, MovementKind.DEFECTIVE_RETURN, [Line(part_id, quarantine, quantity, unit_cost=0)], actor=actor,
               work_order_id=work_order_id, engineer_id=engineer_id, supplier_claim_id=claim_id, reason=reason)
    return claim_id


def usual_supplier(conn: psycopg.Connection, part_id: str) -> str | None:
    """The supplier that delivered `part_id` last, else the cheapest listing it, else None."""
    row = conn.execute(
        "SELECT coalesce("
        " (SELECT r.supplier_id FROM goods_receipt_lines l JOIN goods_receipts r ON r.id = l.goods_receipt_id "
        "  WHERE l.part_id = %(p)s ORDER BY r.received_at DESC, r.id DESC LIMIT 1),"
        " (SELECT supplier_id FROM supplier_parts WHERE part_id = %(p)s ORDER BY price, lead_time_days, supplier_id "
        "  LIMIT 1))", {"p": part_id}).fetchone()
    return row[0]
