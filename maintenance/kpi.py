"""Service KPIs (R-KPI) over a period, computed in PostgreSQL from the records the
platform keeps anyway. Definitions follow SMRP's metrics where one exists; each is
spelled out in docs/kpi.md and below.

- response time: work order created → first response (an engineer accepted, or the
  remote first line resolved it); median and mean, corrective orders created in the period.
- MTTR (SMRP 5.5.1, mean time to repair, here restore): created → resolved, corrective
  orders resolved in the period.
- MTBF (SMRP 5.4.1): operating hours of the fleet's ports in the period ÷ failures
  (corrective orders opened in the period).
- first-time-fix rate: orders repaired on site and closed in the period that never came
  back from verification (reopened_count = 0).
- repeat-repair rate (R-NO-REPEAT): corrective orders opened in the period that repeat a
  repair of the same fault on the same pile closed within 30 days.
- PM compliance: preventive orders due in the period that were closed by their due date.
- availability (uptime): share of port-time a connector was not Faulted or Unavailable
  and its pile was not offline, over the port-time with known state (NEVI: > 97 %).
  Outages inside planned maintenance windows are not counted against it (California's rule).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import psycopg

AVAILABILITY_TARGET = 0.97


@dataclass
class Kpis:
    start: datetime
    end: datetime
    orders_opened: int
    response_median_h: float | None
    response_mean_h: float | None
    mttr_h: float | None
    mtbf_h: float | None
    first_time_fix_rate: float | None
    repeat_repair_rate: float | None
    pm_compliance: float | None
    availability: float | None
    availability_target: float = AVAILABILITY_TARGET

    def as_dict(self) -> dict:
        return asdict(self)


def _hours(value) -> float | None:
    return None if value is None else round(float(value) / 3600, 2)


def _rate(numerator, denominator) -> float | None:
    return None if not denominator else round(numerator / denominator, 4)


_ORDERS = """
SELECT
  count(*) FILTER (WHERE created_at >= %(s)s AND created_at < %(e)s) AS opened,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM responded_at - created_at))
      FILTER (WHERE created_at >= %(s)s AND created_at < %(e)s AND responded_at IS NOT NULL) AS response_median,
  avg(extract(epoch FROM responded_at - created_at))
      FILTER (WHERE created_at >= %(s)s AND created_at < %(e)s AND responded_at IS NOT NULL) AS response_mean,
  avg(extract(epoch FROM resolved_at - created_at))
      FILTER (WHERE resolved_at >= %(s)s AND resolved_at < %(e)s) AS mttr,
  count(*) FILTER (WHERE resolution = 'repaired' AND closed_at >= %(s)s AND closed_at < %(e)s) AS repaired,
  count(*) FILTER (WHERE resolution = 'repaired' AND closed_at >= %(s)s AND closed_at < %(e)s
                   AND reopened_count = 0) AS fixed_first_time,
  count(*) FILTER (WHERE created_at >= %(s)s AND created_at < %(e)s AND repeat_of IS NOT NULL) AS repeats
FROM work_orders WHERE kind = 'corrective' {scope}
"""

_PM = """
SELECT count(*), count(*) FILTER (WHERE closed_at IS NOT NULL AND state = 'closed' AND closed_at <= due_at)
FROM work_orders WHERE kind = 'preventive' AND due_at >= %(s)s AND due_at < %(e)s {scope}
"""

# Port-time by state. Each connector's status is known from its last change before the
# period; spans run to the next change. Offline spans of a pile count for its ports. Both
# are clipped to the period and have planned maintenance windows cut out.
_AVAILABILITY = """
WITH
ports AS (SELECT pile_id, connector_id FROM connector_state WHERE connector_id > 0 {scope_c}),
changes AS (
    SELECT * FROM (
        SELECT DISTINCT ON (c.pile_id, c.connector_id) c.pile_id, c.connector_id, %(s)s::timestamptz AS t, c.new_status
        FROM connector_status_changes c JOIN ports USING (pile_id, connector_id)
        WHERE c.time <= %(s)s ORDER BY c.pile_id, c.connector_id, c.time DESC) before
    UNION ALL
    SELECT c.pile_id, c.connector_id, c.time, c.new_status FROM connector_status_changes c
    JOIN ports USING (pile_id, connector_id) WHERE c.time > %(s)s AND c.time < %(e)s
),
status_spans AS (
    SELECT pile_id, connector_id, new_status IN ('Faulted', 'Unavailable') AS down, t AS a,
           coalesce(lead(t) OVER (PARTITION BY pile_id, connector_id ORDER BY t), %(e)s) AS b
    FROM changes
),
conn_events AS (
    SELECT * FROM (
        SELECT DISTINCT ON (pile_id) pile_id, %(s)s::timestamptz AS t, online FROM connectivity_events
        WHERE received_at <= %(s)s ORDER BY pile_id, received_at DESC) before
    UNION ALL
    SELECT pile_id, received_at, online FROM connectivity_events WHERE received_at > %(s)s AND received_at < %(e)s
),
offline_spans AS (
    SELECT p.pile_id, p.connector_id, e.a, e.b FROM (
        SELECT pile_id, online, t AS a, coalesce(lead(t) OVER (PARTITION BY pile_id ORDER BY t), %(e)s) AS b
        FROM conn_events) e JOIN ports p USING (pile_id) WHERE NOT e.online
),
windows AS (
    SELECT p.id AS pile_id, greatest(w.starts_at, %(s)s) AS a, least(w.ends_at, %(e)s) AS b
    FROM maintenance_windows w JOIN piles p ON p.id = w.pile_id OR p.site_id = w.site_id
    WHERE w.cancelled_at IS NULL AND w.starts_at < %(e)s AND w.ends_at > %(s)s
),
down AS (  -- outage spans, minus the planned ones (approximation: a span overlapping a window loses the overlap)
    SELECT d.pile_id, d.connector_id,
           extract(epoch FROM d.b - d.a) - coalesce((SELECT sum(extract(epoch FROM least(d.b, w.b) - greatest(d.a, w.a)))
               FROM windows w WHERE w.pile_id = d.pile_id AND w.a < d.b AND w.b > d.a), 0) AS seconds
    FROM (SELECT pile_id, connector_id, a, b FROM status_spans WHERE down
          UNION ALL SELECT pile_id, connector_id, a, b FROM offline_spans) d
)
SELECT (SELECT sum(extract(epoch FROM b - a)) FROM status_spans) AS known_s,
       (SELECT coalesce(sum(greatest(seconds, 0)), 0) FROM down) AS down_s
"""


def compute(conn: psycopg.Connection, start: datetime, end: datetime, *, site_id: str | None = None,
            engineer_id: str | None = None) -> Kpis:
    """The KPIs for [start, end), for the fleet or one site, or one engineer's orders."""
    params = {"s": start, "e": end, "site": site_id, "eng": engineer_id}
    scope = ""
    if site_id:
        scope += " AND pile_id IN (SELECT id FROM piles WHERE site_id = %(site)s)"
    if engineer_id:
        scope += " AND id IN (SELECT work_order_id FROM assignments WHERE engineer_id = %(eng)s AND state = 'done')"
    opened, resp_med, resp_mean, mttr, repaired, first_time, repeats = conn.execute(
        _ORDERS.format(scope=scope), params).fetchone()
    due, on_time = conn.execute(_PM.format(scope=scope), params).fetchone()
    scope_c = " AND pile_id IN (SELECT id FROM piles WHERE site_id = %(site)s)" if site_id else ""
    known_s, down_s = conn.execute(_AVAILABILITY.format(scope_c=scope_c), params).fetchone()
    known_s = float(known_s or 0)
    down_s = min(float(down_s or 0), known_s)
    availability = None if not known_s else round(1 - down_s / known_s, 5)
    up_hours = (known_s - down_s) / 3600
    return Kpis(
        start=start, end=end, orders_opened=opened,
        response_median_h=_hours(resp_med), response_mean_h=_hours(resp_mean), mttr_h=_hours(mttr),
        mtbf_h=round(up_hours / opened, 1) if opened and known_s else None,
        first_time_fix_rate=_rate(first_time, repaired), repeat_repair_rate=_rate(repeats, opened),
        pm_compliance=_rate(on_time, due), availability=availability,
    )
