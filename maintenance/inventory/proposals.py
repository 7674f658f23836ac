"""The purchase proposal list (R-PARTS, issue 14 item 5): what to order, from whom, to which
warehouse, from the reorder levels (maintenance/inventory/reorder.py).

A warehouse's part is proposed when its stock position is at or below its reorder point
(the parts keeper's override wins), for a reorder point above 0:

    position = on hand (usable) + receiving (delivered, waiting for inspection)
               + on order (open purchase order lines — draft, ordered, partially received —
                 to that warehouse, less what goods receipts against them brought)
    quantity = reorder point + order quantity − position      (order up to ROP + Q: an (s, S) policy)

Goods in the receiving area count: they are no longer on order, and ordering again while
they wait for inspection would order them twice. Only warehouses are proposed: purchase
orders are delivered to a warehouse (migration 0039), and a van is restocked from its home
warehouse by a transfer; a van below its reorder point shows in the low-stock list.
Proposals are grouped by the cheapest active supplier listing the part (then the shortest
lead time); a part no supplier lists is grouped under none.
"""
from __future__ import annotations

from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

_PROPOSALS = """
WITH on_order AS (
    SELECT po.location_id, pl.part_id,
           sum(greatest(pl.quantity - coalesce((
               SELECT sum(gl.quantity) FROM goods_receipt_lines gl JOIN goods_receipts gr ON gr.id = gl.goods_receipt_id
               WHERE gr.purchase_order_id = po.id AND gl.part_id = pl.part_id), 0), 0)) AS quantity
    FROM purchase_orders po JOIN purchase_order_lines pl ON pl.purchase_order_id = po.id
    WHERE po.state IN ('draft', 'ordered', 'partially_received')
    GROUP BY 1, 2
), cheapest AS (
    SELECT DISTINCT ON (sp.part_id) sp.part_id, sp.supplier_id, s.name AS supplier_name, sp.price, sp.lead_time_days,
           sp.supplier_part_number
    FROM supplier_parts sp JOIN suppliers s ON s.id = sp.supplier_id AND s.active
    ORDER BY sp.part_id, sp.price, sp.lead_time_days, sp.supplier_id
), positions AS (
    SELECT r.location_id, w.name AS location_name, r.part_id, p.name AS part_name, p.unit,
           -- bigint: sums of integers near 2³¹ (an override typed too long) must not overflow.
           coalesce(su.quantity, 0)::bigint AS on_hand, coalesce(sr.quantity, 0)::bigint AS receiving,
           coalesce(oo.quantity, 0)::bigint AS on_order,
           coalesce(r.override_reorder_point, r.reorder_point)::bigint AS reorder_point,
           coalesce(r.override_order_quantity, r.order_quantity)::bigint AS order_quantity
    FROM reorder_levels r
    JOIN stock_locations w ON w.id = r.location_id AND w.kind = 'warehouse'
    JOIN parts p ON p.id = r.part_id AND p.active
    LEFT JOIN stock su ON su.location_id = w.id AND su.part_id = r.part_id
    LEFT JOIN stock_locations ra ON ra.parent_id = w.id AND ra.kind = 'receiving'
    LEFT JOIN stock sr ON sr.location_id = ra.id AND sr.part_id = r.part_id
    LEFT JOIN on_order oo ON oo.location_id = w.id AND oo.part_id = r.part_id
)
SELECT x.*, x.on_hand + x.receiving + x.on_order AS position,
       x.reorder_point + x.order_quantity - (x.on_hand + x.receiving + x.on_order) AS quantity,
       c.supplier_id, c.supplier_name, c.supplier_part_number, c.price AS unit_price, c.lead_time_days
FROM positions x LEFT JOIN cheapest c ON c.part_id = x.part_id
WHERE x.reorder_point > 0 AND x.on_hand + x.receiving + x.on_order <= x.reorder_point
  AND x.reorder_point + x.order_quantity - (x.on_hand + x.receiving + x.on_order) > 0
  AND (%(l)s::text IS NULL OR x.location_id = %(l)s)
ORDER BY c.supplier_id NULLS LAST, x.location_id, x.part_id
"""


def purchase_proposals(conn: psycopg.Connection, *, location_id: str | None = None) -> list[dict]:
    """Parts to order, grouped by supplier (suppliers by id, the group without one last).
    A group: supplier_id, supplier_name (None when no supplier lists the parts), total
    (Σ quantity × unit_price, in the suppliers' prices; None without a supplier), lines. A
    line: location_id, location_name, part_id, part_name, unit, on_hand, receiving, on_order,
    position, reorder_point, order_quantity (effective), quantity (to order), unit_price,
    supplier_part_number, lead_time_days."""
    groups: dict[str | None, dict] = {}
    for row in conn.cursor(row_factory=dict_row).execute(_PROPOSALS, {"l": location_id}):
        supplier_id, supplier_name = row.pop("supplier_id"), row.pop("supplier_name")
        group = groups.setdefault(supplier_id, {"supplier_id": supplier_id, "supplier_name": supplier_name,
                                                "total": Decimal(0) if supplier_id else None, "lines": []})
        if supplier_id:
            group["total"] += row["quantity"] * row["unit_price"]
        group["lines"].append(row)
    return list(groups.values())
