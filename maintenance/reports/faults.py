"""Faults ranked (R-KPI): the month's top faults, and the quarterly analysis per pile model —
the most frequent and most damaging faults, normalised per 100 installed piles of the model,
against the previous quarter: the feedback to product engineering the regulations ask for.

A fault is a corrective work order opened in the period and not cancelled, under its fault
category ("uncategorised" when it has none). Its downtime is the order's open span as
maintenance.kpi.service measures a repair (MTTR: created → resolved), the part inside the
period: an order still open counts to the period's end (or now, for a period not over), so
a closed period's figures never change. Its cost is the parts issued against it at ledger
cost (stock_movements, kind 'issue'); labour and travel join when the costs room is wired
(COST_NOTE). A pile model's installed piles are those installed (else registered) before
the period's end.
"""
from __future__ import annotations

from datetime import datetime, timezone

import psycopg
from psycopg.rows import tuple_row

from maintenance.reports.model import FaultAnalysis, FaultRow, ModelFault, ModelFaults
from maintenance.reports.periods import Period

COST_NOTE = ("Cost: parts issued against the orders, at ledger cost. Labour and travel are not in it yet: the "
             "costs room (job costs) is not wired into reports.")

# (group…, orders, downtime seconds, parts cost) per group of the faults of [s, e).
_FAULTS = """
WITH o AS (
    SELECT wo.id, p.model_id, coalesce(wo.fault_category, 'uncategorised') AS category,
           greatest(extract(epoch FROM least(coalesce(wo.resolved_at, 'infinity'), %(e)s, %(now)s) - wo.created_at),
                    0) AS down_s
    FROM work_orders wo JOIN piles p ON p.id = wo.pile_id
    WHERE wo.kind = 'corrective' AND wo.state <> 'cancelled' AND wo.created_at >= %(s)s AND wo.created_at < %(e)s
),
parts AS (
    SELECT m.work_order_id, sum(-m.quantity * m.unit_cost) AS cost FROM stock_movements m
    WHERE m.kind = 'issue' AND m.work_order_id IN (SELECT id FROM o) GROUP BY 1
)
SELECT {group}, count(*), sum(o.down_s), coalesce(sum(parts.cost), 0)
FROM o LEFT JOIN parts ON parts.work_order_id = o.id
GROUP BY {group}
"""

_INSTALLED = """
SELECT m.id, m.manufacturer || ' ' || m.name,
       count(p.id) FILTER (WHERE coalesce(p.installed_on, p.created_at::date) < %(end)s),
       count(p.id) FILTER (WHERE coalesce(p.installed_on, p.created_at::date) < %(previous_end)s)
FROM pile_models m LEFT JOIN piles p ON p.model_id = m.id
GROUP BY m.id, m.manufacturer, m.name
"""


def _grouped(conn: psycopg.Connection, group: str, start: datetime, end: datetime, now: datetime) -> list[tuple]:
    return conn.cursor(row_factory=tuple_row).execute(
        _FAULTS.format(group=group), {"s": start, "e": end, "now": now}).fetchall()


def top_faults(conn: psycopg.Connection, period: Period, *, now: datetime | None = None,
               limit: int = 10) -> list[FaultRow]:
    """The period's fault categories fleet-wide, most orders first (then most downtime, then
    name), at most `limit`; downtime in hours (2 decimals), parts cost at ledger cost."""
    now = now or datetime.now(timezone.utc)
    rows = [(category, n, float(down) / 3600, float(cost))
            for category, n, down, cost in _grouped(conn, "o.category", period.start, period.end, now)]
    rows.sort(key=lambda r: (-r[1], -r[2], r[0]))
    return [FaultRow(rank=i, category=c, orders=n, downtime_h=round(h, 2), parts_cost=round(cost, 2))
            for i, (c, n, h, cost) in enumerate(rows[:limit], start=1)]


def _per_100(value: float, installed: int) -> float | None:
    return None if not installed else round(value * 100 / installed, 2)


def analysis(conn: psycopg.Connection, quarter: Period, *, now: datetime | None = None,
             currency: str = "EUR") -> FaultAnalysis:
    """The fault analysis of `quarter` (a quarterly Period) per pile model, against the
    quarter before. Models with a fault in either quarter are listed, by name; within a model
    the categories of either quarter are ranked by orders, then downtime, then name (a
    category gone since the previous quarter ranks last, with 0 orders: its change shows)."""
    now = now or datetime.now(timezone.utc)
    previous = quarter.previous()
    current = {(m, c): (n, float(d), float(cost))
               for m, c, n, d, cost in _grouped(conn, "o.model_id, o.category", quarter.start, quarter.end, now)}
    before = {(m, c): n
              for m, c, n, _, _ in _grouped(conn, "o.model_id, o.category", previous.start, previous.end, now)}
    installed = {m: (name, n, n_prev) for m, name, n, n_prev in conn.cursor(row_factory=tuple_row).execute(
        _INSTALLED, {"end": quarter.end.date(), "previous_end": previous.end.date()})}
    models = []
    for model_id in sorted({m for m, _ in current} | {m for m, _ in before}, key=lambda m: (installed[m][0], m)):
        name, n_now, n_prev = installed[model_id]
        faults = []
        for category in {c for m, c in current if m == model_id} | {c for m, c in before if m == model_id}:
            orders, down_s, cost = current.get((model_id, category), (0, 0.0, 0.0))
            prev_orders = before.get((model_id, category), 0)
            per_100, prev_per_100 = _per_100(orders, n_now), _per_100(prev_orders, n_prev)
            hours = down_s / 3600
            faults.append(ModelFault(
                rank=0, category=category, orders=orders, orders_per_100=per_100 or 0.0,
                downtime_h=round(hours, 2), downtime_h_per_100=_per_100(hours, n_now) or 0.0,
                parts_cost=round(cost, 2), parts_cost_per_100=_per_100(cost, n_now) or 0.0,
                previous_orders=prev_orders, previous_per_100=prev_per_100,
                change_per_100=None if prev_per_100 is None else round((per_100 or 0.0) - prev_per_100, 2)))
        faults.sort(key=lambda f: (-f.orders, -f.downtime_h, f.category))
        for i, fault in enumerate(faults, start=1):
            fault.rank = i
        models.append(ModelFaults(model_id=model_id, model_name=name, installed=n_now, installed_previous=n_prev,
                                  faults=faults))
    return FaultAnalysis(period=quarter.name, previous_period=previous.name, start=quarter.start, end=quarter.end,
                         generated_at=now, currency=currency, cost_note=COST_NOTE, models=models)
