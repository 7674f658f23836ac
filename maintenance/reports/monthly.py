"""The monthly service report (R-KPI, R-COST): built from the records into a MonthlyReport,
which pdf.py and xlsx.py render. Every KPI is the defining room's: maintenance.kpi.service
(response time, MTTR, first-time fix, repeat repairs, PM compliance, availability),
maintenance.kpi.desk (satisfaction, complaints), timeliness.py over the orders' SLA clock;
every cost the costs room's (costs_section.py: budget against actual, the month's job costs).
"""
from __future__ import annotations

from datetime import datetime, timezone

import psycopg
from psycopg.rows import tuple_row

from maintenance.kpi import desk as desk_kpi
from maintenance.kpi import service as service_kpi
from maintenance.orders import WorkOrderKind
from maintenance.policy import Policy
from maintenance.policy import load as load_policy
from maintenance.reports import costs_section, timeliness
from maintenance.reports.faults import top_faults
from maintenance.reports.model import CategoryRow, KpiFigures, MonthlyReport, PartRow
from maintenance.reports.periods import Period

# closed_at is set when an order closes or is cancelled (orders.lifecycle), cleared if it reopens.
_BY_KIND = """
SELECT kind,
  count(*) FILTER (WHERE created_at >= %(s)s) AS opened,
  count(*) FILTER (WHERE state = 'closed' AND closed_at >= %(s)s AND closed_at < %(e)s) AS closed,
  count(*) FILTER (WHERE state = 'cancelled' AND closed_at >= %(s)s AND closed_at < %(e)s) AS cancelled,
  count(*) FILTER (WHERE closed_at IS NULL OR closed_at >= %(e)s) AS open_at_end
FROM work_orders WHERE created_at < %(e)s
GROUP BY kind
"""

_PARTS = """
SELECT m.part_id, p.name, p.unit, -sum(m.quantity)::int, -sum(m.quantity * m.unit_cost)
FROM stock_movements m JOIN parts p ON p.id = m.part_id
WHERE m.kind = 'issue' AND m.recorded_at >= %(s)s AND m.recorded_at < %(e)s
GROUP BY m.part_id, p.name, p.unit
"""


def kpis(conn: psycopg.Connection, month: Period, now: datetime) -> KpiFigures:
    """The month's KPIs, each from the room that defines it."""
    service = service_kpi.compute(conn, month.start, month.end, now=now)
    desk = desk_kpi.compute(conn, month.start, month.end)
    resolved, in_time = timeliness.counts(conn, month.start, month.end).get(None, (0, 0))
    return KpiFigures(
        orders_opened=service.orders_opened, response_median_h=service.response_median_h,
        response_mean_h=service.response_mean_h, orders_unanswered=service.orders_unanswered,
        mttr_h=service.mttr_h, orders_resolved=resolved, resolved_in_time=in_time,
        repair_timeliness_rate=timeliness.rate(resolved, in_time),
        orders_repaired=service.orders_repaired, fixed_first_time=service.fixed_first_time,
        first_time_fix_rate=service.first_time_fix_rate, repeat_orders=service.repeat_orders,
        repeat_repair_rate=service.repeat_repair_rate, pm_due=service.pm_due, pm_on_time=service.pm_on_time,
        pm_compliance=service.pm_compliance, availability=service.availability,
        availability_target=service.availability_target, follow_ups_scored=desk.follow_ups_scored,
        csat_mean=desk.csat_mean, csat_share=desk.csat_share, complaints=desk.complaints,
        complaints_closed=desk.complaints_closed, complaint_handling_rate=desk.complaint_handling_rate)


def orders_by_category(conn: psycopg.Connection, month: Period) -> list[CategoryRow]:
    """Work orders per kind in the month, every kind listed (zeros included)."""
    found = {kind: rest for kind, *rest in conn.cursor(row_factory=tuple_row).execute(
        _BY_KIND, {"s": month.start, "e": month.end})}
    return [CategoryRow(kind.value, *found.get(kind.value, (0, 0, 0, 0))) for kind in WorkOrderKind]


def parts_consumption(conn: psycopg.Connection, month: Period) -> list[PartRow]:
    """Each part issued in the month (issue movements), highest value first."""
    rows = conn.cursor(row_factory=tuple_row).execute(_PARTS, {"s": month.start, "e": month.end}).fetchall()
    parts = [PartRow(part_id, name, unit, quantity, round(float(value), 2))
             for part_id, name, unit, quantity, value in rows]
    return sorted(parts, key=lambda p: (-p.value, -p.quantity, p.part_id))


def build(conn: psycopg.Connection, month: Period, *, now: datetime | None = None,
          policy: Policy | None = None) -> MonthlyReport:
    """The monthly service report of `month` (a monthly Period) as of `now`; money in `policy`'s
    currency, job costs at its rates (default: the shipped policy)."""
    now = now or datetime.now(timezone.utc)
    policy = policy or load_policy()
    parts = parts_consumption(conn, month)
    return MonthlyReport(
        period=month.name, start=month.start, end=month.end, generated_at=now, currency=policy.pricing.currency,
        kpis=kpis(conn, month, now), orders_by_category=orders_by_category(conn, month), parts=parts,
        parts_quantity=sum(p.quantity for p in parts), parts_value=round(sum(p.value for p in parts), 2),
        top_faults=top_faults(conn, month, now=now, policy=policy),
        costs=costs_section.budget_section(conn, month, policy=policy),
        job_costs=costs_section.job_cost_section(conn, month, policy=policy))
