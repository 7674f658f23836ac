"""Repair timeliness (R-KPI: "repair timeliness rate, done within the promised time"): of the
corrective orders resolved in a period that carry a resolve clock, the share resolved by
their resolve due time. The clock and its "met" are maintenance.orders.sla's
(`clock_sql`), the rule the SLA watchdog escalates by; nothing is redefined here.
"""
from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import tuple_row

from maintenance.orders.sla import clock_sql

_MET = clock_sql("resolve_due_at", "resolved_at", order="wo", warn="0.75")

_COUNTS = f"""
SELECT {{group}} AS grp, count(DISTINCT wo.id), count(DISTINCT wo.id) FILTER (WHERE {_MET} = 'met')
FROM work_orders wo {{join}}
WHERE wo.kind = 'corrective' AND wo.resolve_due_at IS NOT NULL
  AND wo.resolved_at >= %(s)s AND wo.resolved_at < %(e)s
GROUP BY 1
"""
# An engineer's orders are those they finished (a done assignment), as maintenance.kpi
# scopes an engineer's KPIs; an engineer's team is their first region, as maintenance.kpi.desk.
_GROUPS = {
    None: ("NULL", ""),
    "engineer": ("a.engineer_id", "JOIN assignments a ON a.work_order_id = wo.id AND a.state = 'done'"),
    "team": ("e.regions[1]", "JOIN assignments a ON a.work_order_id = wo.id AND a.state = 'done' "
                             "JOIN engineers e ON e.id = a.engineer_id"),
}


def rate(resolved: int, in_time: int) -> float | None:
    return None if not resolved else round(in_time / resolved, 4)


def counts(conn: psycopg.Connection, start: datetime, end: datetime, by: str | None = None) -> dict:
    """{group: (resolved, resolved in time)} for [start, end); group None fleet-wide, else an
    engineer id or a team ("engineer" / "team")."""
    group, join = _GROUPS[by]
    rows = conn.cursor(row_factory=tuple_row).execute(_COUNTS.format(group=group, join=join),
                                                      {"s": start, "e": end}).fetchall()
    return {grp: (resolved, in_time) for grp, resolved, in_time in rows}
