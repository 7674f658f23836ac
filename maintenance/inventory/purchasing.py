"""Purchase orders to suppliers (R-PARTS, issue 14):

    draft ──order──▶ ordered ──goods receipt──▶ partially_received ──goods receipt──▶ received
      │                 │  │                          │
      │                 │  └──────close short─────────┴──▶ closed_short  (the rest will not come)
      └────cancel───────┴──▶ cancelled          (only before any goods receipt)

Ordering stamps `ordered_at` and `expected_at` = ordered_at + the supplier's longest lead time
over the order's lines (supplier_parts), so every line the supplier does not list is refused.
A lead time of N days is N × 24 hours, whatever the database's time zone and its clock changes.
Goods receipts (receipts.py) move the order on. A supplier that never sends the last units
would leave the order open for ever; the parts keeper closes it short (`close_short`, with a
reason), and what it did not deliver then counts as neither on order nor committed spending.
Every state change is a conditional UPDATE (… WHERE state = old) recording who and when, so
two parts keepers never both win.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

import psycopg
from psycopg.rows import dict_row

from maintenance.inventory.ledger import LocationKind, location
from pilecare.errors import Conflict, InvalidInput, NotFound


class PurchaseOrderState(str, Enum):
    """Where a purchase order stands (migration 0039, R-PARTS)."""

    DRAFT = "draft"                            # lines may change; nothing sent to the supplier
    ORDERED = "ordered"                        # sent: ordered_at, expected_at
    PARTIALLY_RECEIVED = "partially_received"  # some lines or units delivered
    RECEIVED = "received"                      # every unit delivered: received_at
    CLOSED_SHORT = "closed_short"              # closed with units outstanding: closed_at, close_reason
    CANCELLED = "cancelled"                    # withdrawn before any delivery


RECEIVABLE = (PurchaseOrderState.ORDERED, PurchaseOrderState.PARTIALLY_RECEIVED)


@dataclass(frozen=True)
class OrderLine:
    """`quantity` units of `part_id`; `unit_price` None: the supplier's listed price, else the
    part's standard cost."""

    part_id: str
    quantity: int
    unit_price: Decimal | None = None


def create(conn: psycopg.Connection, supplier_id: str, location_id: str, lines: Iterable[OrderLine], *, actor: str,
           note: str | None = None) -> int:
    """A draft purchase order to `supplier_id`, delivered to the warehouse `location_id`.
    Returns its id. Raises InvalidInput naming an unknown supplier, a location that is not a
    warehouse, an empty order, a part twice or an unknown part."""
    lines = list(lines)
    if conn.execute("SELECT 1 FROM suppliers WHERE id = %s", (supplier_id,)).fetchone() is None:
        raise InvalidInput(f"supplier_id: supplier {supplier_id!r} does not exist")
    require_warehouse(conn, location_id)
    with conn.transaction():
        order_id = conn.execute(
            "INSERT INTO purchase_orders (supplier_id, location_id, note, created_by) VALUES (%s, %s, %s, %s) "
            "RETURNING id", (supplier_id, location_id, note, actor)).fetchone()[0]
        _write_lines(conn, order_id, supplier_id, lines)
    return order_id


def replace_lines(conn: psycopg.Connection, order_id: int, lines: Iterable[OrderLine], *, actor: str) -> None:
    """Replace a draft's lines. Raises NotFound, Conflict once ordered, InvalidInput as create."""
    with conn.transaction():
        supplier_id = _claim_draft(conn, order_id, "its lines change")
        conn.execute("DELETE FROM purchase_order_lines WHERE purchase_order_id = %s", (order_id,))
        _write_lines(conn, order_id, supplier_id, list(lines))


def order(conn: psycopg.Connection, order_id: int, *, actor: str, at: datetime | None = None) -> datetime:
    """Send a draft to its supplier: state ordered, ordered_at = `at` (default now), expected_at =
    ordered_at + the longest lead time the supplier lists for the order's parts. Returns
    expected_at. Raises NotFound, Conflict unless a draft, InvalidInput naming the first line
    whose part the supplier does not list."""
    with conn.transaction():
        supplier_id = _claim_draft(conn, order_id, "it is ordered")
        unlisted = conn.execute(
            "SELECT l.part_id FROM purchase_order_lines l WHERE l.purchase_order_id = %s AND NOT EXISTS "
            "(SELECT 1 FROM supplier_parts sp WHERE sp.supplier_id = %s AND sp.part_id = l.part_id) "
            "ORDER BY l.id LIMIT 1", (order_id, supplier_id)).fetchone()
        if unlisted:
            raise InvalidInput(f"lines: supplier {supplier_id!r} does not list part {unlisted[0]!r} "
                               "(add it to the supplier's parts, or order it elsewhere)")
        return conn.execute(
            "UPDATE purchase_orders o SET state = 'ordered', ordered_by = %(actor)s, "
            "ordered_at = coalesce(%(at)s::timestamptz, now()), "
            "expected_at = coalesce(%(at)s::timestamptz, now()) + make_interval(hours => 24 * "
            " (SELECT max(sp.lead_time_days) FROM purchase_order_lines l JOIN supplier_parts sp "
            "  ON sp.part_id = l.part_id AND sp.supplier_id = o.supplier_id WHERE l.purchase_order_id = o.id)) "
            "WHERE o.id = %(id)s AND o.state = 'draft' RETURNING o.expected_at",
            {"actor": actor, "at": at, "id": order_id}).fetchone()[0]


def cancel(conn: psycopg.Connection, order_id: int, *, actor: str, reason: str | None = None) -> None:
    """Cancel a draft or an ordered purchase order (no goods received yet: a receipt moves it
    on under the same row lock, so the two cannot both succeed). Raises NotFound, Conflict."""
    row = conn.execute("UPDATE purchase_orders SET state = 'cancelled', cancelled_by = %s, cancelled_at = now(), "
                       "cancel_reason = %s WHERE id = %s AND state IN ('draft', 'ordered') RETURNING id",
                       (actor, reason, order_id)).fetchone()
    if row is None:
        state = state_of(conn, order_id)
        raise Conflict(f"purchase order {order_id} is {state.value}: only a draft or an ordered purchase order "
                       "with nothing received may be cancelled")


def close_short(conn: psycopg.Connection, order_id: int, *, actor: str, reason: str,
                at: datetime | None = None) -> None:
    """Close an ordered or partially received purchase order whose remaining units the supplier
    will not deliver: state closed_short, closed_by, closed_at = `at` (default now),
    close_reason. From then on its outstanding units are not on order (purchase proposals)
    nor committed parts spending (the budget), and no goods are received against it; the
    supplier scorecard counts it completed late (docs/purchasing.md). A goods receipt holds
    the order's row lock, so a receipt and a close never both take effect on stale state.
    Raises InvalidInput (reason blank), NotFound, Conflict unless ordered or partially
    received. R-PARTS."""
    if not (reason or "").strip():
        raise InvalidInput("reason: say why the rest of the order will not come (e.g. the supplier discontinued it)")
    row = conn.execute("UPDATE purchase_orders SET state = 'closed_short', closed_by = %s, "
                       "closed_at = coalesce(%s::timestamptz, now()), close_reason = %s "
                       "WHERE id = %s AND state IN ('ordered', 'partially_received') RETURNING id",
                       (actor, at, reason.strip(), order_id)).fetchone()
    if row is None:
        state = state_of(conn, order_id)
        raise Conflict(f"purchase order {order_id} is {state.value}: only an ordered or partially received "
                       "purchase order may be closed short")


def state_of(conn: psycopg.Connection, order_id: int) -> PurchaseOrderState:
    """The purchase order's state; raises NotFound."""
    row = conn.execute("SELECT state FROM purchase_orders WHERE id = %s", (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"purchase order {order_id} does not exist")
    return PurchaseOrderState(row[0])


def require_warehouse(conn: psycopg.Connection, location_id: str) -> None:
    """Raise InvalidInput unless `location_id` is a warehouse (goods are delivered to one)."""
    try:
        loc = location(conn, location_id)
    except NotFound:
        raise InvalidInput(f"location_id: stock location {location_id!r} does not exist") from None
    if loc.kind is not LocationKind.WAREHOUSE:
        raise InvalidInput(f"location_id: {location_id!r} is a {loc.kind.value}; goods are delivered to a warehouse")


def _claim_draft(conn: psycopg.Connection, order_id: int, doing: str) -> str:
    """Lock a draft (inside a transaction) and return its supplier; Conflict unless a draft."""
    row = conn.execute("SELECT supplier_id, state FROM purchase_orders WHERE id = %s FOR UPDATE",
                       (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"purchase order {order_id} does not exist")
    if row[1] != PurchaseOrderState.DRAFT.value:
        raise Conflict(f"purchase order {order_id} is {row[1]}: only a draft may change before {doing}")
    return row[0]


def _write_lines(conn: psycopg.Connection, order_id: int, supplier_id: str, lines: list[OrderLine]) -> None:
    if not lines:
        raise InvalidInput("lines: a purchase order needs at least one line")
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if line.part_id in seen:
            raise InvalidInput(f"lines[{i}].part_id: part {line.part_id!r} is on the order twice")
        seen.add(line.part_id)
        if line.quantity <= 0:
            raise InvalidInput(f"lines[{i}].quantity: at least 1")
        written = conn.execute(
            "INSERT INTO purchase_order_lines (purchase_order_id, part_id, quantity, unit_price) "
            "SELECT %s, p.id, %s, coalesce(%s, sp.price, p.unit_cost) FROM parts p "
            "LEFT JOIN supplier_parts sp ON sp.part_id = p.id AND sp.supplier_id = %s WHERE p.id = %s RETURNING id",
            (order_id, line.quantity, line.unit_price, supplier_id, line.part_id)).fetchone()
        if written is None:
            raise InvalidInput(f"lines[{i}].part_id: part {line.part_id!r} is not in the catalogue")


_ORDER = ("SELECT o.id, o.supplier_id, s.name AS supplier_name, o.state, o.location_id, o.note, o.created_by, "
          "o.created_at, o.ordered_by, o.ordered_at, o.expected_at, o.received_at, o.cancelled_by, o.cancelled_at, "
          "o.cancel_reason, o.closed_by, o.closed_at, o.close_reason, "
          "(SELECT coalesce(sum(l.quantity * l.unit_price), 0) FROM purchase_order_lines l "
          " WHERE l.purchase_order_id = o.id) AS total "
          "FROM purchase_orders o JOIN suppliers s ON s.id = o.supplier_id")


def orders(conn: psycopg.Connection, *, state: Iterable[PurchaseOrderState] = (), supplier_id: str | None = None,
           part_id: str | None = None, overdue_at: datetime | None = None, limit: int = 100,
           offset: int = 0) -> tuple[list[dict], int]:
    """Purchase orders, newest first, filtered by state, supplier, part, and (overdue_at) those
    still open for receipt whose expected_at is before that instant; returns (rows, count)."""
    where, params = [], {}
    states = [s.value for s in state]
    if states:
        where.append("o.state = ANY(%(states)s)")
        params["states"] = states
    if supplier_id is not None:
        where.append("o.supplier_id = %(supplier)s")
        params["supplier"] = supplier_id
    if part_id is not None:
        where.append("EXISTS (SELECT 1 FROM purchase_order_lines l WHERE l.purchase_order_id = o.id "
                     "AND l.part_id = %(part)s)")
        params["part"] = part_id
    if overdue_at is not None:
        where.append("o.state IN ('ordered', 'partially_received') AND o.expected_at < %(overdue)s")
        params["overdue"] = overdue_at
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_ORDER}{clause} ORDER BY o.created_at DESC, o.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                       params | {"limit": limit, "offset": offset}).fetchall()
    return rows, cur.execute(f"SELECT count(*) AS n FROM purchase_orders o{clause}", params).fetchone()["n"]


def purchase_order(conn: psycopg.Connection, order_id: int) -> dict:
    """One purchase order with its lines (ordered, received, outstanding per part) and the ids
    of its goods receipts. Raises NotFound."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(f"{_ORDER} WHERE o.id = %s", (order_id,)).fetchone()
    if row is None:
        raise NotFound(f"purchase order {order_id} does not exist")
    row["lines"] = cur.execute(
        "SELECT l.id, l.part_id, p.name AS part_name, l.quantity, l.unit_price, sp.supplier_part_number, "
        "coalesce(r.received, 0)::int AS received, (l.quantity - coalesce(r.received, 0))::int AS outstanding "
        "FROM purchase_order_lines l JOIN parts p ON p.id = l.part_id JOIN purchase_orders o "
        "ON o.id = l.purchase_order_id LEFT JOIN supplier_parts sp ON sp.supplier_id = o.supplier_id "
        "AND sp.part_id = l.part_id LEFT JOIN LATERAL (SELECT sum(gl.quantity) AS received FROM goods_receipt_lines gl "
        "JOIN goods_receipts g ON g.id = gl.goods_receipt_id WHERE g.purchase_order_id = o.id "
        "AND gl.part_id = l.part_id) r ON true WHERE l.purchase_order_id = %s ORDER BY l.id",
        (order_id,)).fetchall()
    row["goods_receipt_ids"] = [r["id"] for r in cur.execute(
        "SELECT id FROM goods_receipts WHERE purchase_order_id = %s ORDER BY received_at, id", (order_id,))]
    return row
