"""Goods receipts and their inspection (R-PARTS, issue 14: inbound with inspection — supplier,
date, quantity, quality).

A receipt, against a purchase order or without one, lands every line as a `receipt` movement
in the warehouse's receiving area, which is never issuable. Inspecting a line splits it: what
passed moves receiving → warehouse (`inspection_passed`, usable from then on), what failed
moves receiving → quarantine (`inspection_failed`) and becomes a supplier claim for that
quantity. A failed part therefore never reaches usable stock: the ledger's issue and transfer
refuse receiving and quarantine areas, and a line is inspected once (the second gets 409).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

from maintenance.inventory.ledger import Line, LocationKind, MovementKind, area, record
from maintenance.inventory.purchasing import RECEIVABLE, PurchaseOrderState, require_warehouse
from pilecare.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class ReceiptLine:
    """`quantity` units of `part_id` delivered; `unit_price` None: the purchase order's price,
    else the supplier's listed price, else the part's standard cost."""

    part_id: str
    quantity: int
    unit_price: Decimal | None = None


def receive(conn: psycopg.Connection, lines: Iterable[ReceiptLine], *, actor: str,
            purchase_order_id: int | None = None, supplier_id: str | None = None, location_id: str | None = None,
            delivery_note: str | None = None, at: datetime | None = None) -> int:
    """Record a goods receipt (received_at = `at`, default now) and return its id.

    Against a purchase order: its supplier and warehouse; each line's part must be on the
    order and its quantity at most what is outstanding; the order becomes partially_received,
    or received (received_at stamped) when nothing is outstanding. The order's row is locked
    for the receipt, so two receipts never both take the last outstanding units and a cancel
    cannot slip in between. Without one: `supplier_id` and the warehouse `location_id` are
    required. Raises NotFound (purchase order), Conflict (an order not open for receipt),
    InvalidInput naming the field (lines[i].quantity beyond what is outstanding, …)."""
    lines = list(lines)
    if not lines:
        raise InvalidInput("lines: a goods receipt needs at least one line")
    with conn.transaction():
        if purchase_order_id is not None:
            supplier_id, location_id, prices = _open_order(conn, purchase_order_id, supplier_id, location_id, lines)
        else:
            if supplier_id is None:
                raise InvalidInput("supplier_id: required for a goods receipt without a purchase order")
            if location_id is None:
                raise InvalidInput("location_id: required for a goods receipt without a purchase order")
            if conn.execute("SELECT 1 FROM suppliers WHERE id = %s", (supplier_id,)).fetchone() is None:
                raise InvalidInput(f"supplier_id: supplier {supplier_id!r} does not exist")
            require_warehouse(conn, location_id)
            prices = {}
        receiving = area(conn, location_id, LocationKind.RECEIVING)
        receipt_id = conn.execute(
            "INSERT INTO goods_receipts (supplier_id, purchase_order_id, location_id, delivery_note, received_at, "
            "received_by) VALUES (%s, %s, %s, %s, coalesce(%s::timestamptz, now()), %s) RETURNING id",
            (supplier_id, purchase_order_id, location_id, delivery_note, at, actor)).fetchone()[0]
        seen: set[str] = set()
        for i, line in enumerate(lines):
            if line.quantity <= 0:
                raise InvalidInput(f"lines[{i}].quantity: at least 1")
            if line.part_id in seen:
                raise InvalidInput(f"lines[{i}].part_id: part {line.part_id!r} is on the receipt twice")
            seen.add(line.part_id)
            price = line.unit_price if line.unit_price is not None else prices.get(line.part_id)
            row = conn.execute(
                "INSERT INTO goods_receipt_lines (goods_receipt_id, part_id, quantity, unit_price) "
                "SELECT %s, p.id, %s, coalesce(%s, sp.price, p.unit_cost) FROM parts p LEFT JOIN supplier_parts sp "
                "ON sp.part_id = p.id AND sp.supplier_id = %s WHERE p.id = %s RETURNING id, unit_price",
                (receipt_id, line.quantity, price, supplier_id, line.part_id)).fetchone()
            if row is None:
                raise InvalidInput(f"lines[{i}].part_id: part {line.part_id!r} is not in the catalogue")
            record(conn, MovementKind.RECEIPT, [Line(line.part_id, receiving, line.quantity, unit_cost=row[1])],
                   actor=actor, supplier_id=supplier_id, goods_receipt_line_id=row[0])
        if purchase_order_id is not None:
            _advance(conn, purchase_order_id, receipt_id)
    return receipt_id


def _open_order(conn: psycopg.Connection, order_id: int, supplier_id: str | None, location_id: str | None,
                lines: list[ReceiptLine]) -> tuple[str, str, dict[str, Decimal]]:
    """Lock the order, check it is open for receipt and each line fits what is outstanding;
    returns (supplier, warehouse, the order's price per part)."""
    row = conn.execute("SELECT supplier_id, location_id, state FROM purchase_orders WHERE id = %s FOR UPDATE",
                       (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"purchase order {order_id} does not exist")
    if row[2] not in {s.value for s in RECEIVABLE}:
        raise Conflict(f"purchase order {order_id} is {row[2]}: goods are received only against an ordered "
                       "or partially received purchase order")
    if supplier_id is not None and supplier_id != row[0]:
        raise InvalidInput(f"supplier_id: purchase order {order_id} is to supplier {row[0]!r}")
    if location_id is not None and location_id != row[1]:
        raise InvalidInput(f"location_id: purchase order {order_id} is delivered to {row[1]!r}")
    outstanding = {part: (left, price) for part, left, price in _outstanding(conn, order_id)}
    for i, line in enumerate(lines):
        if line.part_id not in outstanding:
            raise InvalidInput(f"lines[{i}].part_id: part {line.part_id!r} is not on purchase order {order_id}")
        left = outstanding[line.part_id][0]
        if line.quantity > left:
            raise InvalidInput(f"lines[{i}].quantity: {left} × {line.part_id} outstanding on purchase order "
                               f"{order_id}; {line.quantity} received")
    return row[0], row[1], {part: price for part, (_, price) in outstanding.items()}


def _outstanding(conn: psycopg.Connection, order_id: int) -> list[tuple[str, int, Decimal]]:
    return conn.execute(
        "SELECT l.part_id, (l.quantity - coalesce((SELECT sum(gl.quantity) FROM goods_receipt_lines gl "
        " JOIN goods_receipts g ON g.id = gl.goods_receipt_id WHERE g.purchase_order_id = l.purchase_order_id "
        " AND gl.part_id = l.part_id), 0))::int, l.unit_price "
        "FROM purchase_order_lines l WHERE l.purchase_order_id = %s", (order_id,)).fetchall()


def _advance(conn: psycopg.Connection, order_id: int, receipt_id: int) -> None:
    """The order after a receipt: received (stamped with the receipt's time) when nothing is
    outstanding, else partially_received. Under the receipt's row lock."""
    complete = all(left == 0 for _, left, _ in _outstanding(conn, order_id))
    state = PurchaseOrderState.RECEIVED if complete else PurchaseOrderState.PARTIALLY_RECEIVED
    moved = conn.execute(
        "UPDATE purchase_orders SET state = %s, received_at = CASE WHEN %s THEN "
        "(SELECT received_at FROM goods_receipts WHERE id = %s) END "
        "WHERE id = %s AND state IN ('ordered', 'partially_received') RETURNING id",
        (state.value, complete, receipt_id, order_id)).fetchone()
    if moved is None:  # cannot happen under the lock; refuse rather than leave goods on a closed order
        raise Conflict(f"purchase order {order_id} changed while goods were received")


def inspect(conn: psycopg.Connection, receipt_id: int, line_id: int, *, passed: int, failed: int, actor: str,
            failure_reason: str | None = None, at: datetime | None = None) -> int | None:
    """Record the inspection of a goods receipt line and move its parts on: `passed` to the
    warehouse (usable), `failed` to its quarantine area with a supplier claim for them.
    passed + failed must equal the line's quantity; failed > 0 needs a reason. Returns the
    claim's id, or None when nothing failed. Raises NotFound (no such line on the receipt), Conflict when the line
    was inspected already, InvalidInput naming the field."""
    if passed < 0 or failed < 0:
        raise InvalidInput(("passed_quantity" if passed < 0 else "failed_quantity") + ": 0 or more")
    if failed and not (failure_reason or "").strip():
        raise InvalidInput("failure_reason: required when parts fail inspection")
    line = conn.execute(
        "SELECT l.quantity, l.part_id, l.unit_price, r.location_id, r.supplier_id, l.inspected_at "
        "FROM goods_receipt_lines l JOIN goods_receipts r ON r.id = l.goods_receipt_id "
        "WHERE l.id = %s AND l.goods_receipt_id = %s", (line_id, receipt_id)).fetchone()
    if line is None:
        raise NotFound(f"goods receipt {receipt_id} has no line {line_id}")
    quantity, part_id, price, warehouse, supplier_id, inspected_at = line
    if inspected_at is not None:
        raise Conflict(f"goods receipt line {line_id} was inspected already at {inspected_at.isoformat()}")
    if passed + failed != quantity:
        raise InvalidInput(f"passed_quantity: passed + failed must equal the {quantity} received "
                           f"({passed} + {failed} given)")
    receiving = area(conn, warehouse, LocationKind.RECEIVING)
    with conn.transaction():
        # The claim on the line: of two inspections of the same line, one updates it, the other 409s.
        if conn.execute(
                "UPDATE goods_receipt_lines SET passed_quantity = %s, failed_quantity = %s, failure_reason = %s, "
                "inspected_by = %s, inspected_at = coalesce(%s::timestamptz, now()) "
                "WHERE id = %s AND inspected_at IS NULL RETURNING id",
                (passed, failed, failure_reason if failed else None, actor, at, line_id)).fetchone() is None:
            raise Conflict(f"goods receipt line {line_id} was inspected already")
        if passed:
            record(conn, MovementKind.INSPECTION_PASSED,
                   [Line(part_id, receiving, -passed, price), Line(part_id, warehouse, passed, price)],
                   actor=actor, supplier_id=supplier_id, goods_receipt_line_id=line_id)
        if not failed:
            return None
        claim_id = conn.execute(
            "INSERT INTO supplier_claims (supplier_id, part_id, quantity, goods_receipt_line_id, reason, opened_by, "
            "opened_at) VALUES (%s, %s, %s, %s, %s, %s, coalesce(%s::timestamptz, now())) RETURNING id",
            (supplier_id, part_id, failed, line_id, failure_reason, actor, at)).fetchone()[0]
        # Kept at the price paid: the claim asks that value back from the supplier.
        record(conn, MovementKind.INSPECTION_FAILED,
               [Line(part_id, receiving, -failed, price),
                Line(part_id, area(conn, warehouse, LocationKind.QUARANTINE), failed, price)],
               actor=actor, supplier_id=supplier_id, goods_receipt_line_id=line_id, supplier_claim_id=claim_id,
               reason=failure_reason)
        return claim_id


_RECEIPT = ("SELECT r.id, r.supplier_id, s.name AS supplier_name, r.purchase_order_id, r.location_id, "
            "r.delivery_note, r.received_at, r.received_by, "
            "(SELECT count(*) FROM goods_receipt_lines l WHERE l.goods_receipt_id = r.id "
            " AND l.inspected_at IS NULL)::int AS lines_to_inspect "
            "FROM goods_receipts r JOIN suppliers s ON s.id = r.supplier_id")


def receipts(conn: psycopg.Connection, *, supplier_id: str | None = None, purchase_order_id: int | None = None,
             to_inspect: bool | None = None, limit: int = 100, offset: int = 0) -> tuple[list[dict], int]:
    """Goods receipts, newest first, filtered by supplier, purchase order and whether lines
    wait for inspection; returns (rows, count)."""
    where, params = [], {}
    if supplier_id is not None:
        where.append("r.supplier_id = %(supplier)s")
        params["supplier"] = supplier_id
    if purchase_order_id is not None:
        where.append("r.purchase_order_id = %(order)s")
        params["order"] = purchase_order_id
    if to_inspect is not None:
        where.append("EXISTS (SELECT 1 FROM goods_receipt_lines l WHERE l.goods_receipt_id = r.id "
                     "AND l.inspected_at IS NULL) = %(pending)s")
        params["pending"] = to_inspect
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_RECEIPT}{clause} ORDER BY r.received_at DESC, r.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                       params | {"limit": limit, "offset": offset}).fetchall()
    return rows, cur.execute(f"SELECT count(*) AS n FROM goods_receipts r{clause}", params).fetchone()["n"]


def receipt(conn: psycopg.Connection, receipt_id: int) -> dict:
    """One goods receipt with its lines, their inspection and claim. Raises NotFound."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(f"{_RECEIPT} WHERE r.id = %s", (receipt_id,)).fetchone()
    if row is None:
        raise NotFound(f"goods receipt {receipt_id} does not exist")
    row["lines"] = cur.execute(
        "SELECT l.id, l.part_id, p.name AS part_name, l.quantity, l.unit_price, l.passed_quantity, "
        "l.failed_quantity, l.failure_reason, l.inspected_by, l.inspected_at, c.id AS supplier_claim_id "
        "FROM goods_receipt_lines l JOIN parts p ON p.id = l.part_id "
        "LEFT JOIN supplier_claims c ON c.goods_receipt_line_id = l.id "
        "WHERE l.goods_receipt_id = %s ORDER BY l.id", (receipt_id,)).fetchall()
    return row
