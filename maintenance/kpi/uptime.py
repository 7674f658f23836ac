"""Port uptime the way US NEVI rules count it (23 CFR 680.116(b)), beside the connector
availability of `service` (docs/kpi.md, "NEVI port uptime").

    uptime = (525,600 − (outage minutes − excluded minutes)) / 525,600

per **port**, computed monthly over the trailing 12 months (680.116(b)(2), (3)):

- A port is the charging position: the connectors of a model that share a port number
  (`pile_models.connector_ports`; without a map every connector is its own port). A port
  with two connectors (CCS and CHAdeMO) is up while either works.
- A port is up only when its pile is online and it can charge at the rule's minimum power
  (680.116(b)(1), 680.106(d)): 150 kW for a DC fast-charging port. A DC port is down while
  it charges, or is held by the pile, with the pile offering less (OCPP Power.Offered below
  the minimum), whatever its status says (BELOW_MINIMUM). AC ports have no power test (see
  MINIMUM_POWER_KW). All ports of a pile are down while the pile itself (connector 0) is
  Faulted or Unavailable.
- Excluded (680.116(b)(4)): outage time covered by an exclusion recorded on it (grid outage,
  vehicle, vandalism, natural disaster; `outage_exclusions`, with who and when), and planned
  maintenance (maintenance windows, or exclusions for scheduled maintenance) up to 72 hours
  per port in the 12 months (California's allowance, the stricter of the two).

Minutes are counted over the time a port's state is known (from its first report), so a
port known all of a 365-day year is measured over exactly 525,600 minutes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from enum import Enum

import psycopg
from psycopg.rows import tuple_row

from maintenance.kpi.service import OFFLINE_SPANS, outage_changes

YEAR_MINUTES = 525_600          # the regulation's year: 365 days of minutes
UPTIME_TARGET = 0.97            # each port's uptime must be *greater than* 97 % (680.116(b))
PLANNED_ALLOWANCE_MIN = 72 * 60  # planned maintenance excluded per port per 12 months (California, 72 h/year)
TAPER_SOC_PCT = 80              # above this state of charge the vehicle, not the pile, sets the power
_DOWN = "('Faulted', 'Unavailable')"

# The minimum power a port must be able to deliver to count as up, per pile kind
# (680.116(b)(1) refers to 680.106(d): 150 kW per DC fast-charging port). AC: None, no power
# test. Issue 11 states NEVI sets no AC minimum; 680.106(d) does ask AC Level 2 ports to be
# capable of 6 kW, but on AC the vehicle's on-board charger usually sets the power, so a low
# reading says little about the pile (docs/kpi.md).
MINIMUM_POWER_KW: dict[str, float | None] = {"DC": 150.0, "AC": None}

# A sample that shows a DC port unable to deliver the minimum: charging, or held by the
# pile (SuspendedEVSE: the pile, not the vehicle, withholds power), while the pile offers
# less than the minimum. Not counted, so that no quirk invents an outage: a sample that
# delivers the minimum anyway (the offer is wrong, not the pile); an offer of 0 while power
# flows (a placeholder); no offer at all (nothing proves the pile could not); a state of
# charge above the taper (some piles report the vehicle's request as the offer). A pile
# offering the minimum to a vehicle that takes less is up: the vehicle's limit, which
# 680.116(b)(4) excludes. Migration 0021's index holds a superset of these rows.
_MIN = f"{MINIMUM_POWER_KW['DC']:g}"
BELOW_MINIMUM = (f"t.status IN ('Charging', 'SuspendedEVSE') AND t.power_offered_kw < {_MIN} "
                 f"AND (t.power_kw IS NULL OR t.power_kw < {_MIN}) "
                 f"AND NOT (t.power_offered_kw <= 0 AND t.power_kw > 0) "
                 f"AND (t.soc_pct IS NULL OR t.soc_pct < {TAPER_SOC_PCT})")
# The pile itself (connector 0) Faulted or Unavailable while its connectors may still say
# Available (a field reality): every port of the pile is down. Ingest records status
# changes for connectors only, so this is read from telemetry, sample by sample.
PILE_DOWN = f"t.connector_id = 0 AND t.status IN {_DOWN}"


class ExcludedCause(str, Enum):
    """Why an outage's time is excluded: the causes outside the operator's control that
    23 CFR 680.116(b)(4) lists."""

    GRID_OUTAGE = "grid_outage"                      # electric utility service interruption
    VEHICLE = "vehicle"                              # failure to charge due to the fault of the vehicle
    SCHEDULED_MAINTENANCE = "scheduled_maintenance"  # counted within PLANNED_ALLOWANCE_MIN
    VANDALISM = "vandalism"
    NATURAL_DISASTER = "natural_disaster"


# The predicate of connector_status_changes_down_idx (migration 0013), word for word.
_OUTAGE_CHANGE = ("(c.new_status IN ('Faulted', 'Unavailable') OR c.old_status IN ('Faulted', 'Unavailable') "
                  "OR c.old_status IS NULL)")


def _minutes(multirange: str) -> str:
    return f"(SELECT coalesce(sum(extract(epoch FROM upper(r) - lower(r))), 0) / 60 FROM unnest({multirange}) r)"


# Each port's down time over [s, e) as a multirange, by cause, and what is excluded. The
# status part follows service's availability: only outage changes are read, and the state
# at s is the first change's old status, or the state now when none came since; the
# offline part is service's own (OFFLINE_SPANS). Ranges open to 'infinity' are clipped by
# the caller's intersection with the known time.
_PORT_DOWN = f"""
WITH
connectors AS (
    SELECT cs.pile_id, cs.connector_id, p.site_id, m.kind, m.rated_power_kw, m.reporting_interval_s,
           coalesce(m.connector_ports[cs.connector_id], cs.connector_id) AS port, cs.status IN {_DOWN} AS down_now
    FROM connector_state cs JOIN piles p ON p.id = cs.pile_id JOIN pile_models m ON m.id = p.model_id
    WHERE cs.connector_id > 0 {{scope}}
),
fresh AS (  -- connectors first reported in the window (ingest records a first report with no old status)
    SELECT c.pile_id, c.connector_id, min(c.time) AS first FROM connector_status_changes c
    JOIN connectors USING (pile_id, connector_id)
    WHERE c.time >= %(s)s AND {_OUTAGE_CHANGE} AND c.old_status IS NULL
      AND NOT EXISTS (SELECT 1 FROM connector_status_changes b
                      WHERE b.pile_id = c.pile_id AND b.connector_id = c.connector_id AND b.time < %(s)s)
    GROUP BY 1, 2
),
ports AS (  -- known from the start of the window, or from the first report of any of its connectors
    SELECT c.pile_id, c.site_id, c.port, c.kind, c.rated_power_kw,
           array_agg(c.connector_id ORDER BY c.connector_id) AS connectors,
           min(coalesce(f.first, %(s)s)) AS known_from
    FROM connectors c LEFT JOIN fresh f USING (pile_id, connector_id)
    GROUP BY 1, 2, 3, 4, 5
),
{outage_changes('connectors')},
status_down AS (
    SELECT pile_id, connector_id, tstzrange(time, coalesce(next, 'infinity')) AS r FROM changes WHERE is_down
    UNION ALL
    SELECT pile_id, connector_id, tstzrange(%(s)s, time) FROM changes WHERE n = 1 AND was_down
    UNION ALL
    SELECT pile_id, connector_id, tstzrange(%(s)s, 'infinity') FROM connectors x WHERE down_now
        AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.pile_id = x.pile_id AND c.connector_id = x.connector_id)
),
port_status AS (  -- down by status only while every connector of the port is: either one working keeps it up
    SELECT pile_id, port, range_intersect_agg(m) AS m FROM (
        SELECT c.pile_id, c.port, c.connector_id,
               coalesce(range_agg(d.r) FILTER (WHERE d.r IS NOT NULL), tstzmultirange()) AS m
        FROM connectors c LEFT JOIN status_down d USING (pile_id, connector_id)
        GROUP BY 1, 2, 3) per_connector
    GROUP BY 1, 2
),
scope_piles AS (SELECT DISTINCT pile_id, reporting_interval_s FROM connectors),
{OFFLINE_SPANS},
pile_offline AS (SELECT pile_id, range_agg(tstzrange(a, b)) AS m FROM offline WHERE a < b GROUP BY 1),
derated AS (  -- a DC port charging below the minimum: down for the sample's reporting interval
    SELECT c.pile_id, c.port,
           range_agg(tstzrange(t.time, t.time + make_interval(secs => c.reporting_interval_s))) AS m
    FROM connectors c JOIN telemetry t ON t.pile_id = c.pile_id AND t.connector_id = c.connector_id
    WHERE c.kind = 'DC' AND c.rated_power_kw >= {_MIN} AND t.time >= %(s)s AND t.time < %(e)s AND {BELOW_MINIMUM}
    GROUP BY 1, 2
),
pile_status AS (  -- the pile itself (connector 0) Faulted or Unavailable: down for the sample's interval
    SELECT sp.pile_id, range_agg(tstzrange(t.time, t.time + make_interval(secs => sp.reporting_interval_s))) AS m
    FROM scope_piles sp JOIN telemetry t ON t.pile_id = sp.pile_id
    WHERE t.time >= %(s)s AND t.time < %(e)s AND {PILE_DOWN}
    GROUP BY 1
),
down AS (
    SELECT p.*, coalesce(s.m, tstzmultirange()) + coalesce(w.m, tstzmultirange()) AS status_m,
           coalesce(o.m, tstzmultirange()) AS offline_m, coalesce(d.m, tstzmultirange()) AS derated_m,
           coalesce(s.m, tstzmultirange()) + coalesce(w.m, tstzmultirange()) + coalesce(o.m, tstzmultirange())
               + coalesce(d.m, tstzmultirange()) AS down_m
    FROM ports p LEFT JOIN port_status s USING (pile_id, port) LEFT JOIN pile_offline o USING (pile_id)
    LEFT JOIN derated d USING (pile_id, port) LEFT JOIN pile_status w USING (pile_id)
),
excluded AS (  -- recorded exclusions of the port (or of its whole pile), and its planned maintenance
    SELECT p.pile_id, p.port,
           coalesce((SELECT range_agg(tstzrange(x.starts_at, x.ends_at)) FROM outage_exclusions x
                     WHERE x.pile_id = p.pile_id AND (x.port IS NULL OR x.port = p.port) AND x.withdrawn_at IS NULL
                       AND x.cause <> 'scheduled_maintenance' AND x.ends_at > %(s)s AND x.starts_at < %(e)s),
                    tstzmultirange()) AS other_m,
           coalesce((SELECT range_agg(q.r) FROM (
                        SELECT tstzrange(x.starts_at, x.ends_at) AS r FROM outage_exclusions x
                        WHERE x.pile_id = p.pile_id AND (x.port IS NULL OR x.port = p.port) AND x.withdrawn_at IS NULL
                          AND x.cause = 'scheduled_maintenance' AND x.ends_at > %(s)s AND x.starts_at < %(e)s
                        UNION ALL
                        SELECT tstzrange(w.starts_at, w.ends_at) FROM maintenance_windows w
                        WHERE (w.pile_id = p.pile_id OR w.site_id = p.site_id) AND w.cancelled_at IS NULL
                          AND w.ends_at > %(s)s AND w.starts_at < %(e)s) q), tstzmultirange()) AS planned_m
    FROM ports p
)
"""

# Per port and month: the known minutes, the outage by cause, and what is excluded.
_MONTHLY = _PORT_DOWN + f"""
SELECT k.i, d.pile_id, d.site_id, d.port, d.kind, d.rated_power_kw, d.connectors,
       {_minutes("w.known")}, {_minutes("d.down_m * w.known")}, {_minutes("d.status_m * w.known")},
       {_minutes("d.offline_m * w.known")}, {_minutes("d.derated_m * w.known")},
       {_minutes("d.down_m * w.known * x.other_m")}, {_minutes("d.down_m * w.known * x.planned_m - x.other_m")}
FROM down d JOIN excluded x USING (pile_id, port)
CROSS JOIN unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) WITH ORDINALITY AS k(s, e, i)
CROSS JOIN LATERAL (SELECT CASE WHEN greatest(k.s, d.known_from) < least(k.e, %(e)s)
                                THEN tstzmultirange(tstzrange(greatest(k.s, d.known_from), least(k.e, %(e)s)))
                                ELSE tstzmultirange() END AS known) w
ORDER BY d.pile_id, d.port, k.i
"""

# One pile's outages over [s, e): each merged span of down time, what made it, and what is excluded.
_OUTAGES = _PORT_DOWN + f"""
SELECT d.port, lower(r), upper(r), NOT isempty(tstzmultirange(r) * d.status_m),
       NOT isempty(tstzmultirange(r) * d.offline_m), NOT isempty(tstzmultirange(r) * d.derated_m),
       {_minutes("tstzmultirange(r) * x.other_m")}, {_minutes("tstzmultirange(r) * x.planned_m - x.other_m")},
       ARRAY(SELECT o.id FROM outage_exclusions o WHERE o.pile_id = d.pile_id AND (o.port IS NULL OR o.port = d.port)
             AND o.withdrawn_at IS NULL AND tstzrange(o.starts_at, o.ends_at) && r ORDER BY o.id)
FROM down d JOIN excluded x USING (pile_id, port)
CROSS JOIN LATERAL unnest(d.down_m * CASE WHEN d.known_from < %(e)s
                                          THEN tstzmultirange(tstzrange(d.known_from, %(e)s))
                                          ELSE tstzmultirange() END) r
ORDER BY d.port, lower(r)
"""


@dataclass
class MonthUptime:
    """One calendar month (UTC) of a port, in minutes. `down_min` is what counts: the
    outage less its excluded time (recorded exclusions, and planned maintenance within the
    allowance). `power_checked` is false when the month began before the oldest telemetry
    kept: derating older than that can no longer be seen."""

    month: date
    known_min: float
    outage_min: float
    status_min: float
    offline_min: float
    derated_min: float
    excluded_min: float
    planned_min: float
    planned_excluded_min: float
    down_min: float
    uptime: float | None
    power_checked: bool


@dataclass
class PortUptime:
    """A port's NEVI uptime over the 12 months ending with `months[-1]` (oldest first), and its months."""

    pile_id: str
    site_id: str
    port: int
    connectors: list[int]
    kind: str
    rated_power_kw: float
    minimum_power_kw: float | None
    known_min: float
    outage_min: float
    excluded_min: float
    down_min: float
    uptime: float | None
    met: bool | None
    months: list[MonthUptime] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Outage:
    """A span of a port's down time (merged over its causes), with the minutes excluded from it."""

    port: int
    start: datetime
    end: datetime
    by_status: bool
    offline: bool
    derated: bool
    excluded_min: float
    planned_min: float
    exclusions: list[int]


def minimum_power(kind: str, rated_power_kw: float) -> float | None:
    """The power (kW) a port of this pile must deliver to count as up, or None for no power
    test: AC ports (MINIMUM_POWER_KW), and DC piles rated below the minimum. Those are not
    the fast-charging ports the rule is about (680.106(d)); testing them would count every
    session of a pile working as designed as an outage."""
    minimum = MINIMUM_POWER_KW.get(kind)
    return minimum if minimum is not None and rated_power_kw >= minimum else None


def month_bounds(month: date, count: int = 12) -> list[tuple[datetime, datetime]]:
    """The `count` calendar months (UTC) ending with `month`, oldest first, as [start, end)."""
    index = month.year * 12 + month.month - 1

    def first(i: int) -> datetime:
        return datetime(i // 12, i % 12 + 1, 1, tzinfo=timezone.utc)

    return [(first(i), first(i + 1)) for i in range(index - count + 1, index + 1)]


def _scope(pile_id: str | None, site_id: str | None) -> str:
    return (" AND cs.pile_id = %(pile)s" if pile_id else "") + (" AND p.site_id = %(site)s" if site_id else "")


def port_uptime(conn: psycopg.Connection, month: date, *, pile_id: str | None = None, site_id: str | None = None,
                now: datetime | None = None, telemetry_since: datetime | None = None) -> list[PortUptime]:
    """Each port's NEVI uptime for the 12 months ending with `month` (its first day; the
    current month counts up to `now`), fleet-wide or for one site or pile, by pile and port.

    `telemetry_since`: the oldest telemetry kept (retention); months before it are marked
    `power_checked = False`. Uptime is a share 0..1 (5 decimals), `None` for a port not
    known in the window; `met` is uptime > UPTIME_TARGET (23 CFR 680.116(b)).
    """
    now = now or datetime.now(timezone.utc)
    bounds = month_bounds(month)
    end = min(bounds[-1][1], now)
    if bounds[0][0] >= end:
        raise ValueError(f"the 12 months ending with {month:%Y-%m} have not begun")
    params = {"s": bounds[0][0], "e": end, "starts": [s for s, _ in bounds], "ends": [e for _, e in bounds],
              "pile": pile_id, "site": site_id}
    rows = conn.cursor(row_factory=tuple_row).execute(
        _MONTHLY.format(scope=_scope(pile_id, site_id)), params).fetchall()
    ports: dict[tuple[str, int], PortUptime] = {}
    for i, pile, site, port, kind, rated_kw, connectors, *minutes in rows:
        known, outage, status, offline, derated, excluded, planned = (round(float(v), 2) for v in minutes)
        p = ports.get((pile, port))
        if p is None:
            p = ports[(pile, port)] = PortUptime(pile, site, port, list(connectors), kind, float(rated_kw),
                                                 minimum_power(kind, rated_kw), 0.0, 0.0, 0.0, 0.0, None, None)
        # Planned maintenance is excluded up to the allowance, spent oldest month first.
        allowance = PLANNED_ALLOWANCE_MIN - sum(m.planned_excluded_min for m in p.months)
        planned_excluded = round(min(planned, max(allowance, 0.0)), 2)
        down = round(max(outage - excluded - planned_excluded, 0.0), 2)
        start = bounds[i - 1][0]
        p.months.append(MonthUptime(
            month=start.date(), known_min=known, outage_min=outage, status_min=status, offline_min=offline,
            derated_min=derated, excluded_min=round(excluded + planned_excluded, 2), planned_min=planned,
            planned_excluded_min=planned_excluded, down_min=down,
            uptime=round((known - down) / known, 5) if known else None,
            power_checked=telemetry_since is None or start >= telemetry_since))
    for p in ports.values():
        p.known_min = round(sum(m.known_min for m in p.months), 2)
        p.outage_min = round(sum(m.outage_min for m in p.months), 2)
        p.excluded_min = round(sum(m.excluded_min for m in p.months), 2)
        p.down_min = round(sum(m.down_min for m in p.months), 2)
        if p.known_min:
            p.uptime = round((p.known_min - p.down_min) / p.known_min, 5)
            p.met = p.uptime > UPTIME_TARGET
    return list(ports.values())


def outages(conn: psycopg.Connection, pile_id: str, start: datetime, end: datetime) -> list[Outage]:
    """One pile's port outages over [start, end) (end no later than now), oldest first per
    port: the spans an exclusion is recorded on. Causes before merging are flagged; an
    outage still going on ends at `end`."""
    rows = conn.cursor(row_factory=tuple_row).execute(
        _OUTAGES.format(scope=_scope(pile_id, None)), {"s": start, "e": end, "pile": pile_id}).fetchall()
    return [Outage(port, a, b, by_status, offline, derated, round(float(excl), 2), round(float(planned), 2),
                   list(ids))
            for port, a, b, by_status, offline, derated, excl, planned, ids in rows]
