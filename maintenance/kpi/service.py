"""Service KPIs (R-KPI) over a period, computed in PostgreSQL from the records the
platform keeps anyway. MTTR, MTBF and PM compliance follow SMRP's metrics of those names
(their metric numbers are not cited: not checked against the SMRP guide); each KPI is
spelled out in docs/kpi.md and below.

- response time: work order created → first response (an engineer accepted, or the
  remote first line resolved it); median and mean, corrective orders created in the period,
  beside the ones still unanswered now (not cancelled) and the age of the oldest of those,
  so a median of the few answered never hides the many waiting (issue 12, item 6).
- MTTR (after SMRP's mean time to repair, here restore): created → resolved, corrective
  orders resolved in the period whose repair held (verified or closed): a repair that failed
  verification counts at its final restore, once that held (issue 12, item 6).
- MTBF (after SMRP's mean time between failures): operating hours of the fleet's ports in the period ÷ failures
  (corrective orders opened in the period).
- first-time-fix rate: orders repaired on site and closed in the period that never came
  back from verification (reopened_count = 0).
- repeat-repair rate (R-NO-REPEAT): corrective orders opened in the period that repeat a
  repair of the same fault on the same pile closed within 30 days.
- PM compliance: of the preventive orders due in the period, the share completed by their
  due date; cancelled orders and open ones not yet due are left out; no value (not 0 %) for a
  period with none due. Beside it, the overdue backlog now, whenever due, with its oldest
  due date (issue 12, item 6). The rule is defined once, in `maintenance.kpi.pm_compliance`,
  which `GET /maintenance/compliance` reads too.
- availability (uptime): share of port-time a connector was not Faulted or Unavailable (nor
  its pile as a whole, connector 0: a pile Faulted takes every port down)
  and its pile was not offline (nor silent beyond 3 reporting intervals), over the port-time
  with known state, from each port's first report (NEVI: > 97 %).
  Outages inside planned maintenance windows are not counted against it (California's rule).

`compute` gives one period; `series` gives many in one pass, the same numbers as `compute`
for each (the console's charts).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import psycopg
from psycopg.rows import tuple_row

from maintenance.kpi import pm_compliance
from pilecare.liveness import silent_from_sql

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
    orders_restored: int = 0          # resolved in the period and held (verified or closed): MTTR's basis
    orders_unanswered: int = 0        # opened in the period, no response yet (now), not cancelled
    oldest_unanswered_h: float | None = None  # how long the oldest of those has waited, hours (now)
    orders_repaired: int = 0
    fixed_first_time: int = 0
    repeat_orders: int = 0
    pm_due: int = 0
    pm_on_time: int = 0
    pm_overdue_now: int = 0                 # preventive orders overdue now, whenever due (the backlog)
    pm_oldest_overdue: datetime | None = None  # the oldest due date among them
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
      FILTER (WHERE resolved_at >= %(s)s AND resolved_at < %(e)s AND state IN ('verified', 'closed')) AS mttr,
  count(*) FILTER (WHERE resolution = 'repaired' AND closed_at >= %(s)s AND closed_at < %(e)s) AS repaired,
  count(*) FILTER (WHERE resolution = 'repaired' AND closed_at >= %(s)s AND closed_at < %(e)s
                   AND reopened_count = 0) AS fixed_first_time,
  count(*) FILTER (WHERE created_at >= %(s)s AND created_at < %(e)s AND repeat_of IS NOT NULL) AS repeats,
  count(*) FILTER (WHERE resolved_at >= %(s)s AND resolved_at < %(e)s) AS resolved,
  count(*) FILTER (WHERE resolved_at >= %(s)s AND resolved_at < %(e)s AND state IN ('verified', 'closed')) AS restored,
  count(*) FILTER (WHERE created_at >= %(s)s AND created_at < %(e)s AND responded_at IS NULL
                   AND state <> 'cancelled') AS unanswered,
  min(created_at) FILTER (WHERE created_at >= %(s)s AND created_at < %(e)s AND responded_at IS NULL
                          AND state <> 'cancelled') AS oldest_unanswered
FROM work_orders WHERE kind = 'corrective' {scope}
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
SILENT_FROM = silent_from_sql("ps", "m")


def outage_changes(ports: str) -> str:
    """SQL: the CTE `changes`, each outage change since %(s)s of the connectors in CTE `ports`
    (pile_id, connector_id) with the next one's time (`next`) and its rank (`n`)."""
    return f"""changes AS (
    SELECT c.pile_id, c.connector_id, c.time, coalesce(c.old_status IN {_DOWN}, false) AS was_down,
           c.new_status IN {_DOWN} AS is_down, lead(c.time) OVER w AS next, row_number() OVER w AS n
    FROM connector_status_changes c JOIN {ports} USING (pile_id, connector_id)
    WHERE c.time >= %(s)s AND {_OUTAGE_CHANGE}
    WINDOW w AS (PARTITION BY c.pile_id, c.connector_id ORDER BY c.time, c.id)
)"""


# A pile's offline spans (pile_id, a, b) from %(s)s, for the piles of `scope_piles (pile_id)`:
# its connection events (not retained ones: a snapshot of unknown age replayed on subscribe,
# docs/device-protocol.md §5), the state before %(s)s, and silence beyond 3 reporting intervals. Spans
# end at %(e)s at the latest; a silent span may begin after it (callers clip).
OFFLINE_SPANS = f"""events AS (
    SELECT e.pile_id, e.received_at AS t, e.online, lead(e.received_at) OVER w AS next, row_number() OVER w AS n
    FROM connectivity_events e JOIN scope_piles USING (pile_id) WHERE e.received_at >= %(s)s AND NOT e.retained
    WINDOW w AS (PARTITION BY e.pile_id ORDER BY e.received_at, e.id)
),
offline AS (
    SELECT pile_id, t AS a, coalesce(next, %(e)s) AS b FROM events WHERE NOT online AND t < %(e)s
    UNION ALL  -- came back first thing in the period: offline since the start if it was before
    SELECT e.pile_id, %(s)s, e.t FROM events e WHERE e.n = 1 AND e.online AND (
        SELECT NOT b.online FROM connectivity_events b WHERE b.pile_id = e.pile_id AND b.received_at < %(s)s
          AND NOT b.retained
        ORDER BY b.received_at DESC, b.id DESC LIMIT 1)
    UNION ALL
    SELECT ps.pile_id, %(s)s, %(e)s FROM pile_state ps JOIN scope_piles USING (pile_id)
    WHERE NOT ps.online AND ps.connectivity_changed_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM events e WHERE e.pile_id = ps.pile_id)
    UNION ALL  -- silent without a last will: offline from 3 reporting intervals after it was last heard
    SELECT ps.pile_id, {SILENT_FROM}, %(e)s
    FROM pile_state ps JOIN scope_piles USING (pile_id) JOIN piles p ON p.id = ps.pile_id
    JOIN pile_models m ON m.id = p.model_id
    WHERE ps.online AND {SILENT_FROM} <= now()
)"""
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
{outage_changes('ports')},
status_down AS (
    SELECT pile_id, connector_id, time AS a, coalesce(next, %(e)s) AS b FROM changes WHERE is_down AND time < %(e)s
    UNION ALL
    SELECT pile_id, connector_id, %(s)s, time FROM changes WHERE n = 1 AND was_down
    UNION ALL
    SELECT pile_id, connector_id, %(s)s, %(e)s FROM ports p WHERE down_now
        AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.pile_id = p.pile_id AND c.connector_id = p.connector_id)
),
scope_piles AS (SELECT DISTINCT pile_id, site_id FROM ports),
{OFFLINE_SPANS},
pile_changes AS (  -- the pile's own status (connector 0): down, it takes every port down
    SELECT c.pile_id, c.time, coalesce(c.old_status IN {_DOWN}, false) AS was_down,
           c.new_status IN {_DOWN} AS is_down, lead(c.time) OVER w AS next, row_number() OVER w AS n
    FROM connector_status_changes c JOIN scope_piles USING (pile_id)
    WHERE c.connector_id = 0 AND c.time >= %(s)s AND {_OUTAGE_CHANGE}
    WINDOW w AS (PARTITION BY c.pile_id ORDER BY c.time, c.id)
),
pile_down AS (
    SELECT pile_id, time AS a, coalesce(next, %(e)s) AS b FROM pile_changes WHERE is_down AND time < %(e)s
    UNION ALL
    SELECT pile_id, %(s)s, time FROM pile_changes WHERE n = 1 AND was_down
    UNION ALL
    SELECT ps.pile_id, %(s)s, %(e)s FROM pile_state ps JOIN scope_piles USING (pile_id)
    WHERE ps.status IN {_DOWN} AND NOT EXISTS (SELECT 1 FROM pile_changes c WHERE c.pile_id = ps.pile_id)
),
spans AS (  -- every outage span of a port, clipped to when its state is known
    SELECT d.pile_id, d.connector_id, d.status, greatest(d.a, p.known_from) AS a, least(d.b, %(e)s) AS b
    FROM (SELECT pile_id, connector_id, true AS status, a, b FROM status_down
          UNION ALL
          SELECT d.pile_id, p.connector_id, true, d.a, d.b FROM pile_down d JOIN ports p USING (pile_id)
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

    @property
    def covered(self) -> float | None:
        """The share of the period's port-time with known state (0..1): how much data is behind
        `value` (a "30-day" figure after 10 minutes of data covers 0.02 %; issue 12, item 6)."""
        span = (self.end - self.start).total_seconds() * self.ports
        return None if span <= 0 else round(min(self.known_s / span, 1.0), 4)


# One customer's orders and ports: those of the piles at the customer's sites.
_CUSTOMER_ORDERS = (" AND pile_id IN (SELECT p.id FROM piles p JOIN sites s ON s.id = p.site_id "
                    "WHERE s.customer_id = %(customer)s)")
_CUSTOMER_PORTS = " AND p.site_id IN (SELECT id FROM sites WHERE customer_id = %(customer)s)"


def availability(conn: psycopg.Connection, start: datetime, end: datetime, *, site_id: str | None = None,
                 pile_id: str | None = None, customer_id: str | None = None) -> Availability:
    """Availability of the fleet's ports over [start, end) (end no later than now), or one site's,
    pile's or customer's."""
    scope = ""
    if site_id:
        scope += " AND p.site_id = %(site)s"
    if pile_id:
        scope += " AND cs.pile_id = %(pile)s"
    if customer_id:
        scope += _CUSTOMER_PORTS
    row = conn.execute(_AVAILABILITY.format(scope=scope),
                       {"s": start, "e": end, "site": site_id, "pile": pile_id, "customer": customer_id}).fetchone()
    values = row.values() if isinstance(row, dict) else row
    known, down, planned, status, offline, ports = (float(v) for v in values)
    return Availability(start, end, int(ports), known, down, planned, status, offline)


def _order_scope(site_id: str | None, engineer_id: str | None, customer_id: str | None) -> str:
    """The WHERE clauses narrowing work orders to a site, an engineer's finished jobs or a
    customer (parameters %(site)s, %(eng)s, %(customer)s); one for `compute` and `series`."""
    scope = ""
    if site_id:
        scope += " AND pile_id IN (SELECT id FROM piles WHERE site_id = %(site)s)"
    if engineer_id:
        scope += " AND id IN (SELECT work_order_id FROM assignments WHERE engineer_id = %(eng)s AND state = 'done')"
    if customer_id:
        scope += _CUSTOMER_ORDERS
    return scope


def compute(conn: psycopg.Connection, start: datetime, end: datetime, *, site_id: str | None = None,
            engineer_id: str | None = None, now: datetime | None = None, customer_id: str | None = None) -> Kpis:
    """The KPIs for [start, end), for the fleet, one site or one customer, or one engineer's
    orders. The reference for `series`, which must give the same numbers for each of its periods."""
    now = now or datetime.now(timezone.utc)
    params = {"s": start, "e": end, "site": site_id, "eng": engineer_id, "customer": customer_id}
    scope = _order_scope(site_id, engineer_id, customer_id)
    orders = conn.execute(_ORDERS.format(scope=scope), params).fetchone()
    [pm] = pm_compliance.compliance(conn, [(start, end)], site_id=site_id, engineer_id=engineer_id, now=now,
                                    customer_id=customer_id)
    available = availability(conn, start, min(end, now), site_id=site_id, customer_id=customer_id)
    backlog = pm_compliance.overdue_backlog(conn, site_id=site_id, engineer_id=engineer_id, now=now,
                                            customer_id=customer_id)
    return _kpis(start, end, orders, pm, available.known_s, available.down_s, available.value, now, backlog)


def _kpis(start: datetime, end: datetime, orders, pm: pm_compliance.PmCompliance, known_s: float, down_s: float,
          availability_value: float | None, now: datetime, backlog: pm_compliance.Backlog) -> Kpis:
    (opened, resp_med, resp_mean, mttr, repaired, first_time, repeats, resolved, restored, unanswered,
     oldest_unanswered) = orders
    up_hours = (known_s - min(down_s, known_s)) / 3600
    return Kpis(
        start=start, end=end, orders_opened=opened,
        response_median_h=_hours(resp_med), response_mean_h=_hours(resp_mean), mttr_h=_hours(mttr),
        mtbf_h=round(up_hours / opened, 1) if opened and known_s else None,
        first_time_fix_rate=_rate(first_time, repaired), repeat_repair_rate=_rate(repeats, opened),
        pm_compliance=pm.rate, availability=availability_value,
        orders_resolved=resolved, orders_restored=restored, orders_unanswered=unanswered,
        oldest_unanswered_h=_hours((now - oldest_unanswered).total_seconds()) if oldest_unanswered else None,
        orders_repaired=repaired, fixed_first_time=first_time, repeat_orders=repeats,
        pm_due=pm.due, pm_on_time=pm.on_time, pm_overdue_now=backlog.overdue, pm_oldest_overdue=backlog.oldest_due, port_hours=round(known_s / 3600, 1),
        down_port_hours=round(min(down_s, known_s) / 3600, 1),
    )


# The series: every period's KPIs in one pass, the same numbers as `compute` for each period
# (tests/test_kpi.py holds them side by side). The periods come as arrays of bounds, since
# calendar months are not a fixed interval and the caller already knows them; each row of
# the work orders and each outage is bucketed into the periods by range joins.
_PERIODS = """periods AS (
    SELECT i, s, e FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) WITH ORDINALITY AS k(s, e, i)
)"""

_SERIES_ORDERS = f"""
WITH {_PERIODS},
o AS (SELECT * FROM work_orders WHERE kind = 'corrective' {{scope}}
      AND (created_at < %(e1)s AND created_at >= %(s0)s OR resolved_at < %(e1)s AND resolved_at >= %(s0)s
           OR closed_at < %(e1)s AND closed_at >= %(s0)s))
SELECT
  count(o.id) FILTER (WHERE o.created_at >= k.s AND o.created_at < k.e) AS opened,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.responded_at - o.created_at))
      FILTER (WHERE o.created_at >= k.s AND o.created_at < k.e AND o.responded_at IS NOT NULL) AS response_median,
  avg(extract(epoch FROM o.responded_at - o.created_at))
      FILTER (WHERE o.created_at >= k.s AND o.created_at < k.e AND o.responded_at IS NOT NULL) AS response_mean,
  avg(extract(epoch FROM o.resolved_at - o.created_at))
      FILTER (WHERE o.resolved_at >= k.s AND o.resolved_at < k.e AND o.state IN ('verified', 'closed')) AS mttr,
  count(o.id) FILTER (WHERE o.resolution = 'repaired' AND o.closed_at >= k.s AND o.closed_at < k.e) AS repaired,
  count(o.id) FILTER (WHERE o.resolution = 'repaired' AND o.closed_at >= k.s AND o.closed_at < k.e
                      AND o.reopened_count = 0) AS fixed_first_time,
  count(o.id) FILTER (WHERE o.created_at >= k.s AND o.created_at < k.e AND o.repeat_of IS NOT NULL) AS repeats,
  count(o.id) FILTER (WHERE o.resolved_at >= k.s AND o.resolved_at < k.e) AS resolved,
  count(o.id) FILTER (WHERE o.resolved_at >= k.s AND o.resolved_at < k.e AND o.state IN ('verified', 'closed'))
      AS restored,
  count(o.id) FILTER (WHERE o.created_at >= k.s AND o.created_at < k.e AND o.responded_at IS NULL
                      AND o.state <> 'cancelled') AS unanswered,
  min(o.created_at) FILTER (WHERE o.created_at >= k.s AND o.created_at < k.e AND o.responded_at IS NULL
                            AND o.state <> 'cancelled') AS oldest_unanswered
FROM periods k LEFT JOIN o ON o.created_at >= k.s AND o.created_at < k.e OR o.resolved_at >= k.s AND o.resolved_at < k.e
                            OR o.closed_at >= k.s AND o.closed_at < k.e
GROUP BY k.i ORDER BY k.i
"""

# Availability per period, following _AVAILABILITY's rules period by period. The outage
# changes and connectivity events since the first period began are read once, each with its
# neighbours (lag, lead) and its period: width_bucket over the periods' starts gives the last
# period starting at or before it. That answers _AVAILABILITY's questions for every period
# at once: "the first change at or after s" is the change whose previous one is in an
# earlier period, so it opens the periods from the one after its predecessor's to its own
# (generate_series); "no change since s" holds in the periods after the last change's. A
# port's first report is found once: it is known from there in that period and from the
# start in later ones. Periods end at min(end, now), as in `compute`; one that has not
# begun yet gives zeros.
_BUCKET = "width_bucket({}, %(starts)s::timestamptz[])"
_SERIES_AVAILABILITY = f"""
WITH {_PERIODS.replace("SELECT i, s, e", "SELECT i, s, least(e, %(now)s) AS e")},
fresh AS (  -- ports first reported since the first period began, with no change before that
    SELECT f.pile_id, f.connector_id, f.first, coalesce(b.time, f.first) AS t0
    FROM (SELECT c.pile_id, c.connector_id, min(c.time) AS first FROM connector_status_changes c
          WHERE c.time >= %(s0)s AND {_OUTAGE_CHANGE} AND c.old_status IS NULL GROUP BY 1, 2) f
    LEFT JOIN LATERAL (SELECT b.time FROM connector_status_changes b  -- a change before the first report: seldom any
                       WHERE b.pile_id = f.pile_id AND b.connector_id = f.connector_id AND b.time < f.first
                       ORDER BY b.time LIMIT 1) b ON true
    WHERE coalesce(b.time, f.first) >= %(s0)s
),
ports AS (  -- j: the period of a fresh port's first change; known from its first report in it, from the start after
    SELECT cs.pile_id, cs.connector_id, p.site_id, cs.status IN {_DOWN} AS down_now, f.first,
           {_BUCKET.format("f.t0")} AS j
    FROM connector_state cs JOIN piles p ON p.id = cs.pile_id LEFT JOIN fresh f USING (pile_id, connector_id)
    WHERE cs.connector_id > 0 {{scope}}
),
counts AS (SELECT j, count(*) AS n FROM ports GROUP BY j),
known AS (
    SELECT k.i, whole.n + coalesce(part.n, 0) AS ports,
           whole.n * extract(epoch FROM k.e - k.s) + coalesce(part.known_s, 0) AS known_s
    FROM periods k
    CROSS JOIN LATERAL (SELECT coalesce(sum(n), 0) AS n FROM counts WHERE j IS NULL OR j < k.i) whole
    LEFT JOIN (SELECT k.i, count(*) AS n, sum(extract(epoch FROM k.e - p.first)) AS known_s
               FROM ports p JOIN periods k ON k.i = p.j AND p.first < k.e GROUP BY k.i) part USING (i)
    WHERE k.s < k.e
),
changes AS (
    SELECT c.pile_id, c.connector_id, c.time, coalesce(c.old_status IN {_DOWN}, false) AS was_down,
           c.new_status IN {_DOWN} AS is_down, lead(c.time) OVER w AS next,
           {_BUCKET.format("c.time")} AS bucket, coalesce({_BUCKET.format("lag(c.time) OVER w")}, 0) AS prev_bucket
    FROM connector_status_changes c JOIN ports USING (pile_id, connector_id)
    WHERE c.time >= %(s0)s AND {_OUTAGE_CHANGE}
    WINDOW w AS (PARTITION BY c.pile_id, c.connector_id ORDER BY c.time, c.id)
),
status_down AS (
    SELECT k.i, c.pile_id, c.connector_id, c.time AS a, coalesce(c.next, k.e) AS b
    FROM changes c JOIN periods k ON k.i = c.bucket AND c.time < k.e WHERE c.is_down
    UNION ALL  -- the period's first change leaves a down status: down since the period's start
    SELECT k.i, c.pile_id, c.connector_id, k.s, c.time
    FROM changes c JOIN periods k ON k.i > c.prev_bucket AND k.i <= c.bucket WHERE c.was_down
    UNION ALL  -- no change since the period's start: down throughout when down now
    SELECT k.i, p.pile_id, p.connector_id, k.s, k.e
    FROM ports p LEFT JOIN (SELECT pile_id, connector_id, max(bucket) AS last FROM changes GROUP BY 1, 2) l
         USING (pile_id, connector_id)
    JOIN periods k ON k.i > coalesce(l.last, 0)
    WHERE p.down_now
),
scope_piles AS (SELECT DISTINCT pile_id, site_id FROM ports),
events AS (
    SELECT e.pile_id, e.received_at AS t, e.online, lead(e.received_at) OVER w AS next,
           {_BUCKET.format("e.received_at")} AS bucket,
           coalesce({_BUCKET.format("lag(e.received_at) OVER w")}, 0) AS prev_bucket,
           CASE WHEN lag(e.received_at) OVER w IS NOT NULL THEN lag(e.online) OVER w
                WHEN e.online THEN (  -- the first since the first period began: the state before
                    SELECT b.online FROM connectivity_events b WHERE b.pile_id = e.pile_id AND b.received_at < %(s0)s
                      AND NOT b.retained
                    ORDER BY b.received_at DESC, b.id DESC LIMIT 1) END AS was_online
    FROM connectivity_events e JOIN scope_piles USING (pile_id) WHERE e.received_at >= %(s0)s AND NOT e.retained
    WINDOW w AS (PARTITION BY e.pile_id ORDER BY e.received_at, e.id)
),
offline AS (
    SELECT k.i, v.pile_id, v.t AS a, coalesce(v.next, k.e) AS b
    FROM events v JOIN periods k ON k.i = v.bucket AND v.t < k.e WHERE NOT v.online
    UNION ALL  -- came back first thing in the period: offline since the start if it was before
    SELECT k.i, v.pile_id, k.s, v.t
    FROM events v JOIN periods k ON k.i > v.prev_bucket AND k.i <= v.bucket WHERE v.online AND NOT v.was_online
    UNION ALL
    SELECT k.i, ps.pile_id, k.s, k.e FROM pile_state ps JOIN scope_piles USING (pile_id)
    LEFT JOIN (SELECT pile_id, max(bucket) AS last FROM events GROUP BY pile_id) l USING (pile_id)
    JOIN periods k ON k.i > coalesce(l.last, 0)
    WHERE NOT ps.online AND ps.connectivity_changed_at IS NOT NULL
    UNION ALL  -- silent without a last will: offline from 3 reporting intervals after it was last heard
    SELECT k.i, ps.pile_id, {SILENT_FROM}, k.e
    FROM pile_state ps JOIN scope_piles USING (pile_id) JOIN piles p ON p.id = ps.pile_id
    JOIN pile_models m ON m.id = p.model_id CROSS JOIN periods k
    WHERE ps.online AND {SILENT_FROM} <= now()
),
pile_changes AS (  -- the pile's own status (connector 0): down, it takes every port down
    SELECT c.pile_id, c.time, coalesce(c.old_status IN {_DOWN}, false) AS was_down,
           c.new_status IN {_DOWN} AS is_down, lead(c.time) OVER w AS next,
           {_BUCKET.format("c.time")} AS bucket, coalesce({_BUCKET.format("lag(c.time) OVER w")}, 0) AS prev_bucket
    FROM connector_status_changes c JOIN scope_piles USING (pile_id)
    WHERE c.connector_id = 0 AND c.time >= %(s0)s AND {_OUTAGE_CHANGE}
    WINDOW w AS (PARTITION BY c.pile_id ORDER BY c.time, c.id)
),
pile_down AS (
    SELECT k.i, c.pile_id, c.time AS a, coalesce(c.next, k.e) AS b
    FROM pile_changes c JOIN periods k ON k.i = c.bucket AND c.time < k.e WHERE c.is_down
    UNION ALL
    SELECT k.i, c.pile_id, k.s, c.time
    FROM pile_changes c JOIN periods k ON k.i > c.prev_bucket AND k.i <= c.bucket WHERE c.was_down
    UNION ALL
    SELECT k.i, ps.pile_id, k.s, k.e
    FROM pile_state ps JOIN scope_piles USING (pile_id)
    LEFT JOIN (SELECT pile_id, max(bucket) AS last FROM pile_changes GROUP BY 1) l USING (pile_id)
    JOIN periods k ON k.i > coalesce(l.last, 0)
    WHERE ps.status IN {_DOWN}
),
spans AS (  -- every outage span of a port in a period, clipped to when its state is known
    SELECT d.i, d.pile_id, d.connector_id, d.status, greatest(d.a, x.known_from) AS a, least(d.b, k.e) AS b
    FROM (SELECT i, pile_id, connector_id, true AS status, a, b FROM status_down
          UNION ALL
          SELECT d.i, d.pile_id, p.connector_id, true, d.a, d.b FROM pile_down d JOIN ports p USING (pile_id)
          UNION ALL
          SELECT o.i, o.pile_id, p.connector_id, false, o.a, o.b FROM offline o JOIN ports p USING (pile_id)) d
    JOIN ports p USING (pile_id, connector_id) JOIN periods k USING (i)
    CROSS JOIN LATERAL (SELECT CASE WHEN p.j >= k.i THEN p.first ELSE k.s END AS known_from) x
    WHERE least(d.b, k.e) > greatest(d.a, x.known_from)
),
flagged AS (
    SELECT *, CASE WHEN a <= max(b) OVER (PARTITION BY i, pile_id, connector_id ORDER BY a, b
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) THEN 0 ELSE 1 END AS starts
    FROM spans
),
outages AS (  -- overlapping spans of a port merged into one outage, per period
    SELECT i, pile_id, connector_id, min(a) AS a, max(b) AS b FROM (
        SELECT *, sum(starts) OVER (PARTITION BY i, pile_id, connector_id ORDER BY a, b ROWS UNBOUNDED PRECEDING) AS grp
        FROM flagged) g
    GROUP BY i, pile_id, connector_id, grp
),
windows AS (
    SELECT k.i, p.pile_id, greatest(w.starts_at, k.s) AS a, least(w.ends_at, k.e) AS b
    FROM maintenance_windows w JOIN scope_piles p ON p.pile_id = w.pile_id OR p.site_id = w.site_id
    JOIN periods k ON w.starts_at < k.e AND w.ends_at > k.s
    WHERE w.cancelled_at IS NULL
),
planned AS MATERIALIZED (  -- approximation: overlapping windows of one pile each cut their overlap
    SELECT o.i, least(extract(epoch FROM o.b - o.a), coalesce((
        SELECT sum(extract(epoch FROM least(o.b, w.b) - greatest(o.a, w.a)))
        FROM windows w WHERE w.i = o.i AND w.pile_id = o.pile_id AND w.a < o.b AND w.b > o.a), 0)) AS seconds,
        extract(epoch FROM o.b - o.a) AS outage
    FROM outages o
)
SELECT coalesce(n.known_s, 0), coalesce(d.down_s, 0), coalesce(d.planned_s, 0), coalesce(c.status_s, 0),
       coalesce(c.offline_s, 0), coalesce(n.ports, 0)
FROM periods k LEFT JOIN known n USING (i)
LEFT JOIN (SELECT i, sum(outage - seconds) AS down_s, sum(seconds) AS planned_s FROM planned GROUP BY i) d USING (i)
LEFT JOIN (SELECT i, sum(extract(epoch FROM b - a)) FILTER (WHERE status) AS status_s,
                  sum(extract(epoch FROM b - a)) FILTER (WHERE NOT status) AS offline_s FROM spans GROUP BY i) c USING (i)
ORDER BY k.i
"""


def series(conn: psycopg.Connection, bounds: list[tuple[datetime, datetime]], *, site_id: str | None = None,
           engineer_id: str | None = None, now: datetime | None = None, customer_id: str | None = None) -> list[Kpis]:
    """The KPIs of each period [start, end) in `bounds` (oldest first), in three queries
    whatever the number of periods: for each one the same as `compute` gives."""
    if not bounds:
        return []
    if any(s >= e for s, e in bounds) or any(e > s for (_, e), (s, _) in zip(bounds, bounds[1:])):
        raise ValueError("periods must be oldest first, each one ending before the next begins")
    now = now or datetime.now(timezone.utc)
    starts, ends = [s for s, _ in bounds], [e for _, e in bounds]
    params = {"starts": starts, "ends": ends, "s0": min(starts), "e1": max(ends), "now": now,
              "site": site_id, "eng": engineer_id, "customer": customer_id}
    scope = _order_scope(site_id, engineer_id, customer_id)
    cur = conn.cursor(row_factory=tuple_row)
    orders = cur.execute(_SERIES_ORDERS.format(scope=scope), params).fetchall()
    pm = pm_compliance.compliance(conn, bounds, site_id=site_id, engineer_id=engineer_id, now=now,
                                  customer_id=customer_id)
    with conn.transaction():
        # The planner cannot see how few periods each change falls in and over-estimates the
        # query enough to compile it (JIT), which costs more than the query itself.
        cur.execute("SELECT set_config('jit', 'off', true)")
        ports = (" AND p.site_id = %(site)s" if site_id else "") + (_CUSTOMER_PORTS if customer_id else "")
        available = cur.execute(_SERIES_AVAILABILITY.format(scope=ports), params).fetchall()
    backlog = pm_compliance.overdue_backlog(conn, site_id=site_id, engineer_id=engineer_id, now=now,
                                            customer_id=customer_id)
    result = []
    for (start, end), order_row, pm_period, row in zip(bounds, orders, pm, available):
        known, down, planned, status, offline, ports = (float(v) for v in row)
        a = Availability(start, min(end, now), int(ports), known, down, planned, status, offline)
        result.append(_kpis(start, end, order_row, pm_period, a.known_s, a.down_s, a.value, now, backlog))
    return result
