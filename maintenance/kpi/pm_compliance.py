"""PM compliance (R-PM, measured as R-KPI asks; after SMRP's preventive maintenance
compliance): the one definition behind every figure of it, `GET /kpis`, `GET /kpis/series`
and `GET /maintenance/compliance`. docs/kpi.md says the same in prose.

Of the planned work orders of one kind (preventive; inspection rounds when asked) whose due
date falls in the period [start, end), each order is exactly one of:

- on time: completed at or before its due date (no grace period);
- late: completed after it;
- overdue: still open after its due date, a miss like a late one;
- not yet due: open, its due date still ahead of `now`. Not a miss yet, so left out;
- cancelled: left out. The planner plans the pile again from its last closed PM, so on a
  calendar plan the replacement order falls due on the same date and is the one that
  counts: counting the cancelled order as well would count the same PM twice.

    due  = on time + late + overdue                  (orders)
    rate = on time ÷ due, share 0..1 rounded to 4 places like every KPI; None when due = 0

Completed means the work was done on site: the order is resolved, verified or closed, and
it completed at `resolved_at`, when the engineer finished. Verification and closing follow
later (a healthy pile for a while, a report) and are not the engineer's delay. A failed
verification reopens the order and clears `resolved_at`: the work was not done after all.
An order closed without a resolution (a supervisor closing an escalated order) completed
when it was closed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg
from psycopg.rows import tuple_row

PLANNED_KINDS = ("preventive", "inspection")


@dataclass(frozen=True)
class PmCompliance:
    """The orders of one kind due in [start, end), by outcome (counts of orders)."""

    start: datetime
    end: datetime
    on_time: int
    late: int
    overdue: int
    not_yet_due: int
    cancelled: int

    @property
    def due(self) -> int:
        """The orders the rate is over: completed, or open after their due date."""
        return self.on_time + self.late + self.overdue

    @property
    def rate(self) -> float | None:
        return round(self.on_time / self.due, 4) if self.due else None


# Every period in one pass: the orders due from the first period's start to the last
# one's end are read once and bucketed by range joins, so a series of many periods costs
# one query. A period with no orders still gives its row (zeros).
_COMPLIANCE = """
WITH periods AS (
    SELECT i, s, e FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) WITH ORDINALITY AS k(s, e, i)
),
o AS (
    SELECT w.due_at, w.state = 'cancelled' AS cancelled,
           CASE WHEN w.state IN ('resolved', 'verified', 'closed') THEN coalesce(w.resolved_at, w.closed_at)
           END AS completed_at
    FROM work_orders w JOIN piles p ON p.id = w.pile_id
    WHERE w.kind = %(kind)s AND w.due_at >= %(s0)s AND w.due_at < %(e1)s {scope}
)
SELECT count(o.due_at) FILTER (WHERE o.completed_at <= o.due_at),
       count(o.due_at) FILTER (WHERE o.completed_at > o.due_at),
       count(o.due_at) FILTER (WHERE o.completed_at IS NULL AND NOT o.cancelled AND o.due_at < %(now)s),
       count(o.due_at) FILTER (WHERE o.completed_at IS NULL AND NOT o.cancelled AND o.due_at >= %(now)s),
       count(o.due_at) FILTER (WHERE o.cancelled)
FROM periods k LEFT JOIN o ON o.due_at >= k.s AND o.due_at < k.e
GROUP BY k.i ORDER BY k.i
"""


def compliance(conn: psycopg.Connection, periods: list[tuple[datetime, datetime]], *, kind: str = "preventive",
               site_id: str | None = None, engineer_id: str | None = None,
               now: datetime | None = None, customer_id: str | None = None) -> list[PmCompliance]:
    """PM compliance of each period [start, end) in `periods`, in their order, in one query:
    fleet-wide, one site's orders (the order's site, else its pile's), one customer's (at their
    sites), or the orders one engineer completed (a finished assignment). `now` (default: now) decides which open
    orders are overdue and which not yet due. One period: pass a list of one."""
    if kind not in PLANNED_KINDS:
        raise ValueError(f"compliance is measured on planned orders ({', '.join(PLANNED_KINDS)}), not {kind}")
    if not periods:
        return []
    if any(s >= e for s, e in periods):
        raise ValueError("each period must start before it ends")
    scope = _scope(site_id, engineer_id, customer_id)
    starts, ends = [s for s, _ in periods], [e for _, e in periods]
    params = {"starts": starts, "ends": ends, "s0": min(starts), "e1": max(ends), "kind": kind,
              "now": now or datetime.now(timezone.utc), "site": site_id, "eng": engineer_id, "customer": customer_id}
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(_COMPLIANCE.format(scope=scope), params).fetchall()
    return [PmCompliance(s, e, *row) for (s, e), row in zip(periods, rows)]


def _scope(site_id: str | None, engineer_id: str | None, customer_id: str | None) -> str:
    """WHERE clauses narrowing planned orders `w` (joined to piles `p`) to a site, an engineer's
    finished jobs or a customer (parameters %(site)s, %(eng)s, %(customer)s)."""
    scope = ""
    if site_id:
        # Inspection rounds and planned PM carry their site; orders made by hand may not.
        scope += " AND coalesce(w.site_id, p.site_id) = %(site)s"
    if engineer_id:
        scope += " AND w.id IN (SELECT work_order_id FROM assignments WHERE engineer_id = %(eng)s AND state = 'done')"
    if customer_id:
        scope += " AND coalesce(w.site_id, p.site_id) IN (SELECT id FROM sites WHERE customer_id = %(customer)s)"
    return scope


@dataclass(frozen=True)
class Backlog:
    """The preventive orders overdue now, whatever period they fell due in (issue 12, item 6):
    how many, and the oldest due date among them (None when there are none)."""

    overdue: int
    oldest_due: datetime | None


def overdue_backlog(conn: psycopg.Connection, *, site_id: str | None = None, engineer_id: str | None = None,
                    now: datetime | None = None, customer_id: str | None = None) -> Backlog:
    """Open (not completed, not cancelled) preventive orders whose due date is before `now`."""
    params = {"now": now or datetime.now(timezone.utc), "site": site_id, "eng": engineer_id, "customer": customer_id}
    with conn.cursor(row_factory=tuple_row) as cur:
        count, oldest = cur.execute(
            "SELECT count(*), min(w.due_at) FROM work_orders w JOIN piles p ON p.id = w.pile_id "
            "WHERE w.kind = 'preventive' AND w.due_at < %(now)s "
            "AND w.state NOT IN ('resolved', 'verified', 'closed', 'cancelled')"
            + _scope(site_id, engineer_id, customer_id), params).fetchone()
    return Backlog(count, oldest)
