"""Service KPIs (R-KPI) over a period, computed in PostgreSQL from the records the
platform keeps anyway. MTTR, MTBF and PM compliance follow SMRP's metrics of those names
(their metric numbers are not cited: not checked against the SMRP guide); each KPI is
spelled out in docs/kpi.md and below.

- response time: work order created → first response (an engineer accepted, or the
  remote first line resolved it); median and mean, corrective orders created in the period.
- MTTR (after SMRP's mean time to repair, here restore): created → resolved, corrective
  orders resolved in the period.
- MTBF (after SMRP's mean time between failures): operating hours of the fleet's ports in the period ÷ failures
  (corrective orders opened in the period).
- first-time-fix rate: orders repaired on site and closed in the period that never came
  back from verification (reopened_count = 0).
- repeat-repair rate (R-NO-REPEAT): corrective orders opened in the period that repeat a
  repair of the same fault on the same pile closed within 30 days.
- PM compliance: preventive orders due in the period that were closed by their due date.
- availability (uptime): share of port-time a connector was not Faulted or Unavailable
  and its pile was not offline (nor silent beyond 3 reporting intervals), over the port-time
  with known state, from each port's first report (NEVI: > 97 %).
  Outages inside planned maintenance windows are not counted against it (California's rule).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

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
    # The counts behind the rates, so a reader can check them.
    orders_resolved: int = 0
    orders_repaired: int = 0
    fixed_first_time: int = 0
    repeat_orders: int = 0
    pm_due: int = 0
    pm_on_time: int = 0
    port_hours: float = 0.0
    down_port_hours: float = 0.0

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
  count(*) FILTER (WHERE created_at >= %(s)s AND created_at < %(e)s AND repeat_of IS NOT NULL) AS repeats,
  count(*) FILTER (WHERE resolved_at >= %(s)s AND resolved_at < %(e)s) AS resolved
FROM work_orders WHERE kind = 'corrective' {scope}
"""

_PM = """
SELECT count(*), count(*) FILTER (WHERE closed_at IS NOT NULL AND state = 'closed' AND closed_at <= due_at)
FROM work_orders WHERE kind = 'preventive' AND due_at >= %(s)s AND due_at < %(e)s {scope}
"""

# Availability reads only outages, so it costs the same on a fleet of 5,000 as of 50: the
# changes into or out of a down status (a partial index holds just those and each port's
# first report), connectivity events, and the latest state for what has not changed since
# the period began. A port is down at the start when its first down-related change in the
# period leaves a down status, or, with none since, when it is down now; the same for a
# pile's connection. Outage spans of a port (its status, its pile's connection, and the
# silence of a pile heard from no longer) are merged, so overlapping causes count once;
# planned maintenance windows are then cut out (counted as available, California's rule).
_DOWN = "('Faulted', 'Unavailable')"
# The predicate of connector_status_changes_down_idx (migration 0013), word for word.
_OUTAGE_CHANGE = ("(c.new_status IN ('Faulted', 'Unavailable') OR c.old_status IN ('Faulted', 'Unavailable') "
                  "OR c.old_status IS NULL)")
_AVAILABILITY = f"""
WITH
fresh AS (  -- ports first reported in the period (ingest records a first report with no old status)
    SELECT c.pile_id, c.connector_id, min(c.time) AS first FROM connector_status_changes c
    WHERE c.time >= %(s)s AND {_OUTAGE_CHANGE} AND c.old_status IS NULL
      AND NOT EXISTS (SELECT 1 FROM connector_status_changes b
                      WHERE b.pile_id = c.pile_id AND b.connector_id = c.connector_id AND b.time < %(s)s)
    GROUP BY 1, 2
),
ports AS (  -- known from the start of the period, or from their first report
    SELECT cs.pile_id, cs.connector_id, p.site_id, coalesce(f.first, %(s)s) AS known_from,
           cs.status IN {_DOWN} AS down_now
    FROM connector_state cs JOIN piles p ON p.id = cs.pile_id LEFT JOIN fresh f USING (pile_id, connector_id)
    WHERE cs.connector_id > 0 AND coalesce(f.first, %(s)s) < %(e)s {{scope}}
),
changes AS (
    SELECT c.pile_id, c.connector_id, c.time, coalesce(c.old_status IN {_DOWN}, false) AS was_down,
           c.new_status IN {_DOWN} AS is_down, lead(c.time) OVER w AS next, row_number() OVER w AS n
    FROM connector_status_changes c JOIN ports USING (pile_id, connector_id)
    WHERE c.time >= %(s)s AND {_OUTAGE_CHANGE}
    WINDOW w AS (PARTITION BY c.pile_id, c.connector_id ORDER BY c.time, c.id)
),
status_down AS (
    SELECT pile_id, connector_id, time AS a, coalesce(next, %(e)s) AS b FROM changes WHERE is_down AND time < %(e)s
    UNION ALL
    SELECT pile_id, connector_id, %(s)s, time FROM changes WHERE n = 1 AND was_down
    UNION ALL
    SELECT pile_id, connector_id, %(s)s, %(e)s FROM ports p WHERE down_now
        AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.pile_id = p.pile_id AND c.connector_id = p.connector_id)
),
scope_piles AS (SELECT DISTINCT pile_id, site_id FROM ports),
events AS (
    SELECT e.pile_id, e.received_at AS t, e.online, lead(e.received_at) OVER w AS next, row_number() OVER w AS n
    FROM connectivity_events e JOIN scope_piles USING (pile_id) WHERE e.received_at >= %(s)s
    WINDOW w AS (PARTITION BY e.pile_id ORDER BY e.received_at, e.id)
),
offline AS (
    SELECT pile_id, t AS a, coalesce(next, %(e)s) AS b FROM events WHERE NOT online AND t < %(e)s
    UNION ALL  -- came back first thing in the period: offline since the start if it was before
    SELECT e.pile_id, %(s)s, e.t FROM events e WHERE e.n = 1 AND e.online AND (
        SELECT NOT b.online FROM connectivity_events b WHERE b.pile_id = e.pile_id AND b.received_at < %(s)s
        ORDER BY b.received_at DESC, b.id DESC LIMIT 1)
    UNION ALL
    SELECT ps.pile_id, %(s)s, %(e)s FROM pile_state ps JOIN scope_piles USING (pile_id)
    WHERE NOT ps.online AND ps.connectivity_changed_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM events e WHERE e.pile_id = ps.pile_id)
    UNION ALL  -- silent without a last will: offline from 3 reporting intervals after it was last heard
    SELECT ps.pile_id, ps.last_seen + make_interval(secs => 3 * m.reporting_interval_s), %(e)s
    FROM pile_state ps JOIN scope_piles USING (pile_id) JOIN piles p ON p.id = ps.pile_id
    JOIN pile_models m ON m.id = p.model_id
    WHERE ps.online AND ps.last_seen < now() - make_interval(secs => 3 * m.reporting_interval_s)
),
spans AS (  -- every outage span of a port, clipped to when its state is known
    SELECT d.pile_id, d.connector_id, d.status, greatest(d.a, p.known_from) AS a, least(d.b, %(e)s) AS b
    FROM (SELECT pile_id, connector_id, true AS status, a, b FROM status_down
          UNION ALL
          SELECT o.pile_id, p.connector_id, false, o.a, o.b FROM offline o JOIN ports p USING (pile_id)) d
    JOIN ports p USING (pile_id, connector_id)
    WHERE least(d.b, %(e)s) > greatest(d.a, p.known_from)
),
flagged AS (
    SELECT *, CASE WHEN a <= max(b) OVER (PARTITION BY pile_id, connector_id ORDER BY a, b
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) THEN 0 ELSE 1 END AS starts
    FROM spans
),
outages AS (  -- overlapping spans of a port merged into one outage
    SELECT pile_id, connector_id, min(a) AS a, max(b) AS b FROM (
        SELECT *, sum(starts) OVER (PARTITION BY pile_id, connector_id ORDER BY a, b ROWS UNBOUNDED PRECEDING) AS grp
        FROM flagged) g
    GROUP BY pile_id, connector_id, grp
),
windows AS (
    SELECT p.pile_id, greatest(w.starts_at, %(s)s) AS a, least(w.ends_at, %(e)s) AS b
    FROM maintenance_windows w JOIN scope_piles p ON p.pile_id = w.pile_id OR p.site_id = w.site_id
    WHERE w.cancelled_at IS NULL AND w.starts_at < %(e)s AND w.ends_at > %(s)s
),
planned AS (  -- approximation: overlapping windows of one pile each cut their overlap
    SELECT o.pile_id, o.connector_id, least(extract(epoch FROM o.b - o.a), coalesce((
        SELECT sum(extract(epoch FROM least(o.b, w.b) - greatest(o.a, w.a)))
        FROM windows w WHERE w.pile_id = o.pile_id AND w.a < o.b AND w.b > o.a), 0)) AS seconds,
        extract(epoch FROM o.b - o.a) AS outage
    FROM outages o
)
SELECT (SELECT coalesce(sum(extract(epoch FROM %(e)s - known_from)), 0) FROM ports) AS known_s,
       (SELECT coalesce(sum(outage - seconds), 0) FROM planned) AS down_s,
       (SELECT coalesce(sum(seconds), 0) FROM planned) AS planned_s,
       (SELECT coalesce(sum(extract(epoch FROM b - a)), 0) FROM spans WHERE status) AS status_s,
       (SELECT coalesce(sum(extract(epoch FROM b - a)), 0) FROM spans WHERE NOT status) AS offline_s,
       (SELECT count(*) FROM ports) AS ports
"""


@dataclass
class Availability:
    """Port-time over [start, end): known, down (planned excluded), and by cause (before merging)."""

    start: datetime
    end: datetime
    ports: int
    known_s: float
    down_s: float
    planned_s: float
    status_s: float
    offline_s: float

    @property
    def value(self) -> float | None:
        return None if not self.known_s else round(1 - min(self.down_s, self.known_s) / self.known_s, 5)


def availability(conn: psycopg.Connection, start: datetime, end: datetime, *, site_id: str | None = None,
                 pile_id: str | None = None) -> Availability:
    """Availability of the fleet's ports over [start, end) (end no later than now), or one site's or pile's."""
    scope = ""
    if site_id:
        scope += " AND p.site_id = %(site)s"
    if pile_id:
        scope += " AND cs.pile_id = %(pile)s"
    row = conn.execute(_AVAILABILITY.format(scope=scope),
                       {"s": start, "e": end, "site": site_id, "pile": pile_id}).fetchone()
    values = row.values() if isinstance(row, dict) else row
    known, down, planned, status, offline, ports = (float(v) for v in values)
    return Availability(start, end, int(ports), known, down, planned, status, offline)


def compute(conn: psycopg.Connection, start: datetime, end: datetime, *, site_id: str | None = None,
            engineer_id: str | None = None) -> Kpis:
    """The KPIs for [start, end), for the fleet or one site, or one engineer's orders."""
    params = {"s": start, "e": end, "site": site_id, "eng": engineer_id}
    scope = ""
    if site_id:
        scope += " AND pile_id IN (SELECT id FROM piles WHERE site_id = %(site)s)"
    if engineer_id:
        scope += " AND id IN (SELECT work_order_id FROM assignments WHERE engineer_id = %(eng)s AND state = 'done')"
    opened, resp_med, resp_mean, mttr, repaired, first_time, repeats, resolved = conn.execute(
        _ORDERS.format(scope=scope), params).fetchone()
    due, on_time = conn.execute(_PM.format(scope=scope), params).fetchone()
    available = availability(conn, start, min(end, datetime.now(timezone.utc)), site_id=site_id)
    known_s = available.known_s
    up_hours = (known_s - min(available.down_s, known_s)) / 3600
    return Kpis(
        start=start, end=end, orders_opened=opened,
        response_median_h=_hours(resp_med), response_mean_h=_hours(resp_mean), mttr_h=_hours(mttr),
        mtbf_h=round(up_hours / opened, 1) if opened and known_s else None,
        first_time_fix_rate=_rate(first_time, repaired), repeat_repair_rate=_rate(repeats, opened),
        pm_compliance=_rate(on_time, due), availability=available.value,
        orders_resolved=resolved, orders_repaired=repaired, fixed_first_time=first_time, repeat_orders=repeats,
        pm_due=due, pm_on_time=on_time, port_hours=round(known_s / 3600, 1),
        down_port_hours=round(min(available.down_s, known_s) / 3600, 1),
    )
