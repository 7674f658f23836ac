"""Supplier evaluation (R-PARTS: quality and lead time; issue 14 item 5), per supplier and
period [start, end), read from the records only (docs/purchasing.md, "Supplier scorecard"):

- on-time delivery rate = purchase orders completed in the period on or before their
  expected_at / purchase orders completed in the period. A purchase order is completed by the
  goods receipt that leaves nothing outstanding (purchase_orders.received_at), or by the parts
  keeper closing it short (closed_at: the rest will never come); the period counts it by that
  instant. A short-closed order is never on time, whenever it was closed: it was not
  delivered in full (on time in full). None when none was completed.
- defect rate = (units failed at inspection + defective units returned from the field under
  warranty and claimed from the supplier) / units received. Units received and failed are
  those of the supplier's goods receipts received in the period (with or without a purchase
  order; failed as inspected so far); field defects are the units of supplier claims against
  it that carry a work order, opened in the period, unless the supplier rejected them. None
  when nothing was received.
- lead time (days) = received_at − ordered_at of each purchase order received in full in the
  period: the mean, and the 90th percentile interpolated between ranks (PostgreSQL
  percentile_cont). A short-closed order has no lead time (its last units never came).

`late_open` (not part of any rate) counts orders due in the period and still not complete at
its end (not received, closed short nor cancelled by then), so a supplier that delivers
nothing does not look punctual. `orders_closed_short` counts the completed orders that were
closed short.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

from pilecare.errors import InvalidInput, NotFound

_CARDS = """
WITH orders AS (
    -- An order has a received_at or a closed_at, never both (migrations 0040, 0044). The lead
    -- time aggregates skip a short-closed order's null received_at.
    SELECT supplier_id, count(*) AS completed, count(*) FILTER (WHERE received_at <= expected_at) AS on_time,
           count(*) FILTER (WHERE closed_at IS NOT NULL) AS closed_short,
           avg(extract(epoch FROM received_at - ordered_at) / 86400) AS mean_lead,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - ordered_at) / 86400) AS p90_lead
    FROM purchase_orders
    WHERE coalesce(received_at, closed_at) >= %(start)s AND coalesce(received_at, closed_at) < %(end)s
    GROUP BY supplier_id
), late AS (
    SELECT supplier_id, count(*) AS late_open FROM purchase_orders
    WHERE expected_at >= %(start)s AND expected_at < %(end)s AND (received_at IS NULL OR received_at >= %(end)s)
      AND (cancelled_at IS NULL OR cancelled_at >= %(end)s) AND (closed_at IS NULL OR closed_at >= %(end)s)
    GROUP BY supplier_id
), units AS (
    SELECT r.supplier_id, sum(l.quantity) AS received, coalesce(sum(l.failed_quantity), 0) AS failed,
           sum(l.quantity) FILTER (WHERE l.inspected_at IS NULL) AS uninspected
    FROM goods_receipts r JOIN goods_receipt_lines l ON l.goods_receipt_id = r.id
    WHERE r.received_at >= %(start)s AND r.received_at < %(end)s GROUP BY r.supplier_id
), field AS (
    SELECT supplier_id, sum(quantity) AS returned FROM supplier_claims
    WHERE work_order_id IS NOT NULL AND state <> 'rejected' AND opened_at >= %(start)s AND opened_at < %(end)s
    GROUP BY supplier_id
)
SELECT s.id AS supplier_id, s.name AS supplier_name,
       coalesce(o.completed, 0)::int AS orders_completed, coalesce(o.on_time, 0)::int AS orders_on_time,
       coalesce(o.closed_short, 0)::int AS orders_closed_short, coalesce(lt.late_open, 0)::int AS late_open,
       coalesce(u.received, 0)::int AS units_received, coalesce(u.failed, 0)::int AS units_failed_inspection,
       coalesce(u.uninspected, 0)::int AS units_not_inspected,
       coalesce(f.returned, 0)::int AS units_returned_from_field,
       o.mean_lead AS mean_lead_time_days, o.p90_lead AS p90_lead_time_days
FROM suppliers s
LEFT JOIN orders o ON o.supplier_id = s.id LEFT JOIN late lt ON lt.supplier_id = s.id
LEFT JOIN units u ON u.supplier_id = s.id LEFT JOIN field f ON f.supplier_id = s.id
"""


def _card(row: dict) -> dict:
    completed, received = row["orders_completed"], row["units_received"]
    row["on_time_rate"] = row["orders_on_time"] / completed if completed else None
    defects = row["units_failed_inspection"] + row["units_returned_from_field"]
    row["defect_rate"] = defects / received if received else None
    for key in ("mean_lead_time_days", "p90_lead_time_days"):
        if isinstance(row[key], Decimal):
            row[key] = float(row[key])
    return row


def _check(start: datetime, end: datetime) -> None:
    if start >= end:
        raise InvalidInput("from: must be before to")


def scorecard(conn: psycopg.Connection, supplier_id: str, start: datetime, end: datetime) -> dict:
    """One supplier's scorecard for [start, end): {supplier_id, supplier_name, orders_completed,
    orders_on_time, orders_closed_short, on_time_rate (0–1 | None), late_open, units_received, units_failed_inspection,
    units_returned_from_field, units_not_inspected, defect_rate (0–1 | None), mean_lead_time_days,
    p90_lead_time_days (float days | None)}. Raises NotFound, InvalidInput (start ≥ end)."""
    _check(start, end)
    row = conn.cursor(row_factory=dict_row).execute(
        _CARDS + " WHERE s.id = %(supplier)s", {"start": start, "end": end, "supplier": supplier_id}).fetchone()
    if row is None:
        raise NotFound(f"supplier {supplier_id!r} does not exist")
    return _card(row)


def scorecards(conn: psycopg.Connection, start: datetime, end: datetime, *, active: bool | None = None) -> list[dict]:
    """Every supplier's scorecard for [start, end), by supplier id (shape as `scorecard`)."""
    _check(start, end)
    clause = "" if active is None else " WHERE s.active = %(active)s"
    rows = conn.cursor(row_factory=dict_row).execute(
        _CARDS + clause + " ORDER BY s.id", {"start": start, "end": end, "active": active}).fetchall()
    return [_card(r) for r in rows]
