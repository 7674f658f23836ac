"""The preventive-maintenance planner (R-PM): usage and environment decide when each pile
is due, orders are created a lead time ahead, and the piles of one site due close
together share one visit.

Safe from several processes: a run holds a transaction-scoped advisory lock (a second
planner that finds it taken returns at once, its work is being done), and the partial
unique index on open preventive orders per (pile, plan) would refuse a duplicate anyway.

The calendar is days since the last completed PM (or since the pile went into service), or
calendar months on a series anchored at the pile's in-service day on its site's local
calendar (maintenance/planning/calendar.py: 31 January, 28 February, 31 March …).

Usage counts since the last completed PM of that plan on that pile (the close time of
its last closed preventive order), else since commissioning, installation or
registration, in that order. One query for the fleet; per pile, index ranges of the
hourly rollup and of the events (never a scan of its telemetry):
- energy: energy delivered by the pile's connectors in the hours since, from the hourly
  rollup through `energy_hourly()` (migrations 0020 and 0025: the one definition of energy
  delivered, which copes with registers that restart, move only at session end, report a 0
  placeholder after a reboot or glitch; docs/kpi.md);
- sessions and plug cycles: `session_started` and `connector_plugged` events, by
  receive time, so a late upload of buffered events is still counted;
- operating hours: hours in which the pile reported at all (power-on hours, as an hour
  meter counts them), i.e. the rollup's pile-level rows. For a pile that is always on
  they run with the calendar; they matter for piles switched off for long spells.
On plain PostgreSQL the rollup lags ingest by the housekeeping interval (a minute),
which is nothing at the scale of maintenance intervals.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import Enum

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from maintenance.planning import calendar
from maintenance.planning.plans import seed_default_plans

log = logging.getLogger(__name__)

# Shared by every planner process; any constant distinct from the migration lock will do.
_LOCK_KEY = 0x70_6D_70_6C  # "pmpl"
VISIT_WINDOW_DAYS = 14
# Usage rates come from the last 30 days: recent enough to follow a pile that got busy,
# long enough that one quiet weekend does not push the projection out.
RATE_DAYS = 30
_MAX_PROJECTION = timedelta(days=3650)
_OPEN = "state NOT IN ('closed', 'cancelled')"


class Trigger(str, Enum):
    """What made a pile due: the calendar or one of the usage thresholds."""

    CALENDAR = "calendar"
    ENERGY = "energy_kwh"
    SESSIONS = "sessions"
    PLUG_CYCLES = "plug_cycles"
    OPERATING_HOURS = "operating_hours"


_UNITS = {Trigger.ENERGY: "kWh", Trigger.SESSIONS: "sessions", Trigger.PLUG_CYCLES: "plug cycles",
          Trigger.OPERATING_HOURS: "operating hours"}


@dataclass(frozen=True)
class Due:
    """When one plan falls due on one pile, and why."""

    pile_id: str
    site_id: str
    plan_id: str
    since: datetime
    due_at: datetime
    trigger: Trigger
    crossed: bool  # a usage threshold is already behind us
    factor: float  # the environment factor applied to the calendar interval
    lead_days: int
    usage: dict[str, float]
    timezone: str = "UTC"  # the site's: a plan in months counts its local days, visits are local days
    anchor: date | None = None  # a plan in months: the local day its series counts from
    months: int | None = None  # a plan in months: the interval after the environment factor

    @property
    def create_from(self) -> datetime:
        return self.due_at - timedelta(days=self.lead_days)

    def reason(self, plan: dict) -> str:
        since = f"since {self.since:%Y-%m-%d}"
        if self.trigger is Trigger.CALENDAR and self.months is not None:
            return (f"calendar: every {self.months} month(s) ({plan['interval_months']} × environment "
                    f"{self.factor:.2f}, whole months) from {self.anchor:%Y-%m-%d}, local days of {self.timezone}")
        if self.trigger is Trigger.CALENDAR:
            scaled = plan["interval_days"] * self.factor
            return f"calendar: every {scaled:g} days ({plan['interval_days']} × environment {self.factor:.2f}) {since}"
        used, limit = self.usage[self.trigger.value], plan[self.trigger.value]
        verb = "reached" if self.crossed else "projected to reach"
        return f"{self.trigger.value}: {used:,.0f} of {limit:,.0f} {_UNITS[self.trigger]} {since}, {verb} threshold"


@dataclass
class PlanResult:
    ran: bool  # False: another planner held the lock
    created: list[int] = field(default_factory=list)  # work order ids
    visits: list[int] = field(default_factory=list)  # visits the new orders joined or opened
    already_open: int = 0
    not_due: int = 0

    @property
    def skipped(self) -> int:
        return self.already_open + self.not_due

    def __str__(self) -> str:  # one short log line, however large the fleet
        if not self.ran:
            return "skipped: another planner is running"
        return (f"{len(self.created)} orders created in {len(self.visits)} visits, "
                f"{self.already_open} already open, {self.not_due} not due yet")


_POWERED_HOURS = ("SELECT count(*) FROM telemetry_hourly h WHERE h.pile_id = w.pile_id AND h.connector_id = 0 "
                  "AND h.bucket >= date_bin(INTERVAL '1 hour', {start}, TIMESTAMPTZ '2000-01-01') "
                  "AND h.bucket < %(now)s")

_USAGE = f"""
WITH applicable AS (
    SELECT p.id AS pile_id, p.site_id, s.environment, s.timezone, m.connectors, pl.id AS plan_id,
           coalesce(p.commissioned_on::timestamp AT TIME ZONE 'UTC', p.installed_on::timestamp AT TIME ZONE 'UTC',
                    p.created_at) AS in_service,
           -- The anchor of a plan in calendar months: a local date at the site.
           coalesce(p.commissioned_on, p.installed_on, (p.created_at AT TIME ZONE s.timezone)::date) AS in_service_day
    FROM piles p
    JOIN pile_models m ON m.id = p.model_id
    JOIN sites s ON s.id = p.site_id
    JOIN maintenance_plans pl ON pl.active AND pl.kind = m.kind
     AND (pl.model_id = p.model_id OR (pl.model_id IS NULL AND NOT EXISTS (
            SELECT 1 FROM maintenance_plans own WHERE own.active AND own.model_id = p.model_id)))
), base AS (
    SELECT a.*, coalesce((SELECT max(w.closed_at) FROM work_orders w
                          WHERE w.kind = 'preventive' AND w.state = 'closed'
                            AND w.pile_id = a.pile_id AND w.plan_id = a.plan_id), a.in_service) AS since,
           (SELECT max(w.due_at) FROM work_orders w WHERE w.kind = 'preventive' AND w.state = 'closed'
              AND w.pile_id = a.pile_id AND w.plan_id = a.plan_id) AS last_due
    FROM applicable a
), windows AS (
    SELECT b.*, greatest(b.since, %(now)s - make_interval(days => %(rate_days)s)) AS recent_from FROM base b
)
SELECT w.pile_id, w.site_id, w.environment, w.timezone, w.plan_id, w.since, w.recent_from, w.in_service_day,
       w.last_due,
       coalesce(ev.sessions, 0) AS sessions, coalesce(ev.sessions_recent, 0) AS sessions_recent,
       coalesce(ev.plugs, 0) AS plug_cycles, coalesce(ev.plugs_recent, 0) AS plug_cycles_recent,
       coalesce(en.energy, 0) AS energy_kwh, coalesce(en.energy_recent, 0) AS energy_kwh_recent,
       ({_POWERED_HOURS.format(start="w.since")}) AS operating_hours,
       ({_POWERED_HOURS.format(start="w.recent_from")}) AS operating_hours_recent
FROM windows w
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE e.type = 'session_started') AS sessions,
           count(*) FILTER (WHERE e.type = 'session_started' AND e.received_at > w.recent_from) AS sessions_recent,
           count(*) FILTER (WHERE e.type = 'connector_plugged') AS plugs,
           count(*) FILTER (WHERE e.type = 'connector_plugged' AND e.received_at > w.recent_from) AS plugs_recent
    FROM pile_events e
    WHERE e.pile_id = w.pile_id AND e.received_at > w.since AND e.received_at <= %(now)s
      AND e.type IN ('session_started', 'connector_plugged')
) ev ON true
LEFT JOIN LATERAL (
    -- Migration 0025's one definition of energy delivered (register resets, reboot
    -- placeholders, session registers and glitches included), summed over the hours since.
    SELECT sum(e.delivered_kwh) AS energy,
           sum(e.delivered_kwh) FILTER (WHERE e.bucket >= w.recent_from) AS energy_recent
    FROM energy_hourly(w.pile_id, w.since, %(now)s) e
) en ON true
ORDER BY w.site_id, w.pile_id, w.plan_id
"""


def environment_factor(plan: dict, environment: list[str]) -> float:
    """The plan's factors for the site's environments, multiplied, floored at min_factor."""
    factor = 1.0
    for name in environment:
        factor *= plan["environment_factors"].get(name, 1.0)
    return max(factor, plan["min_factor"])


def _due(row: dict, plan: dict, now: datetime) -> Due | None:
    factor = environment_factor(plan, row["environment"] or [])
    usage = {t.value: float(row[t.value]) for t in _UNITS}
    candidates: list[tuple[datetime, Trigger, bool]] = []
    zone, months = row["timezone"], None
    if plan["interval_days"] is not None:
        candidates.append((row["since"] + timedelta(days=plan["interval_days"] * factor), Trigger.CALENDAR, False))
    if plan.get("interval_months") is not None:
        # On the anchor's series, after the last completed PM's due day and the day it was
        # done: an early PM still counts for its month, a late one does not make the months
        # it overran due at once.
        months = calendar.scaled_months(plan["interval_months"], factor)
        after = row["in_service_day"]
        if row["last_due"] is not None:
            after = max(calendar.local_day(row["last_due"], zone), calendar.local_day(row["since"], zone))
        day = calendar.next_due(row["in_service_day"], months, after)
        candidates.append((calendar.end_of_day(day, zone), Trigger.CALENDAR, False))
    span_days = max((now - row["recent_from"]).total_seconds() / 86400, 1.0)
    for trigger in _UNITS:
        limit = plan[trigger.value]
        if limit is None:
            continue
        used = usage[trigger.value]
        if used >= limit:
            candidates.append((now, trigger, True))
            continue
        rate = float(row[f"{trigger.value}_recent"]) / span_days
        if rate > 0:
            ahead = min(timedelta(days=(limit - used) / rate), _MAX_PROJECTION)
            candidates.append((now + ahead, trigger, False))
    if not candidates:  # usage thresholds only, and no usage yet: nothing to forecast
        return None
    due_at, trigger, crossed = min(candidates, key=lambda c: c[0])
    return Due(row["pile_id"], row["site_id"], row["plan_id"], row["since"], due_at, trigger, crossed, factor,
               plan["lead_days"], usage, zone, row["in_service_day"] if months else None, months)


def _active_plans(conn: psycopg.Connection) -> dict[str, dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return {p["id"]: p for p in cur.execute("SELECT * FROM maintenance_plans WHERE active")}


def forecast(conn: psycopg.Connection, now: datetime | None = None) -> list[Due]:
    """When every active plan falls due on every pile it applies to (no writes); a plan
    of usage thresholds only on a pile without usage yet has no date and is left out.

    One query for the whole fleet; the due dates are arithmetic on its rows.
    """
    now = now or datetime.now(timezone.utc)
    plans = _active_plans(conn)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # The per-pile probes add up to an estimate above the JIT threshold, and compiling
        # them took seconds where running them takes milliseconds.
        cur.execute("SET LOCAL jit = off")
        rows = cur.execute(_USAGE, {"now": now, "rate_days": RATE_DAYS}).fetchall()
    # A plan activated between the two reads is planned on the next run.
    dues = (_due(r, plans[r["plan_id"]], now) for r in rows if r["plan_id"] in plans)
    return [d for d in dues if d is not None]


def _visit_day(due: Due, now: datetime) -> date:
    # An overdue pile is visited as soon as possible, not in the past. Visit days are the
    # site's local days, so a due date at the end of a local day is visited that day.
    return max(calendar.local_day(due.due_at, due.timezone), calendar.local_day(now, due.timezone))


def _batch(dues: list[Due], open_visits: dict[str, list[tuple[date, int]]], now: datetime,
           window_days: int) -> list[tuple[Due, date]]:
    """Pick the orders to create and the visit day each one joins.

    A due pile joins a visit of its site planned on or before its due day and at most
    `window_days` earlier (so no visit comes after a pile is due); if there is none it
    opens a visit on its own due day. Piles whose lead time has not come yet still join
    such a visit: the crew is on site anyway.
    """
    window = timedelta(days=window_days)
    chosen = []
    by_site: dict[str, list[Due]] = defaultdict(list)
    for due in dues:
        by_site[due.site_id].append(due)
    for site_id, site_dues in by_site.items():
        days = sorted(day for day, _ in open_visits.get(site_id, []))
        for due in sorted(site_dues, key=lambda d: (d.due_at, d.pile_id, d.plan_id)):
            day = _visit_day(due, now)
            joined = next((v for v in days if v <= day <= v + window), None)
            if joined is None and due.create_from <= now:
                joined = day
                days.append(day)
                days.sort()
            if joined is not None:
                chosen.append((due, joined))
    return chosen


def _open_visits(conn: psycopg.Connection) -> dict[str, list[tuple[date, int]]]:
    visits: dict[str, list[tuple[date, int]]] = defaultdict(list)
    with conn.cursor(row_factory=tuple_row) as cur:
        for visit_id, site_id, day in cur.execute(
                "SELECT v.id, v.site_id, v.planned_for FROM pm_visits v WHERE EXISTS ("
                f"SELECT 1 FROM work_orders w WHERE w.visit_id = v.id AND w.{_OPEN})"):
            visits[site_id].append((day, visit_id))
    return visits


_INSERT_ORDERS = f"""
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(rows)s) AS r(pile_id text, site_id text, plan_id text, visit_id bigint,
                                                    due_at timestamptz, checklist jsonb, title text, note text)
), created AS (
    INSERT INTO work_orders (kind, pile_id, site_id, plan_id, visit_id, due_at, checklist, title, priority, created_by)
    SELECT 'preventive', pile_id, site_id, plan_id, visit_id, due_at, checklist, title, %(priority)s, %(actor)s
    FROM input
    ON CONFLICT (pile_id, plan_id) WHERE kind = 'preventive' AND {_OPEN} DO NOTHING
    RETURNING id, pile_id, plan_id
)
INSERT INTO work_order_events (work_order_id, actor, to_state, note)
SELECT c.id, %(actor)s, 'new', i.note FROM created c JOIN input i USING (pile_id, plan_id)
RETURNING work_order_id
"""
PRIORITY = 4  # routine: the default policy gives only warning-level faults a priority this low


def plan(conn: psycopg.Connection, now: datetime | None = None, *, visit_window_days: int = VISIT_WINDOW_DAYS,
         actor: str = "planner") -> PlanResult:
    """Create the preventive orders that have come within their lead time, batched into
    site visits; return what was done. Run it as often as you like: it is idempotent.

    Seeds the default plans into an empty plan table first. Expects an autocommit
    connection (the run is one transaction of its own).
    """
    now = now or datetime.now(timezone.utc)
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        if not cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK_KEY,)).fetchone()[0]:
            return PlanResult(ran=False)
        seed_default_plans(conn)
        plans = _active_plans(conn)
        open_pairs = set(cur.execute(f"SELECT pile_id, plan_id FROM work_orders WHERE kind = 'preventive' AND {_OPEN}"))
        dues = forecast(conn, now)
        pending = [d for d in dues if (d.pile_id, d.plan_id) not in open_pairs and d.plan_id in plans]
        visits = _open_visits(conn)
        chosen = _batch(pending, visits, now, visit_window_days)
        result = PlanResult(ran=True, already_open=len(dues) - len(pending), not_due=len(pending) - len(chosen))
        if not chosen:
            return result
        visit_ids = {(site, day): vid for site, found in visits.items() for day, vid in found}
        for site_id, day in sorted({(d.site_id, day) for d, day in chosen} - visit_ids.keys()):
            visit_ids[(site_id, day)] = cur.execute(
                "INSERT INTO pm_visits (site_id, planned_for, window_days, created_by) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (site_id, planned_for) DO UPDATE SET window_days = excluded.window_days RETURNING id",
                (site_id, day, visit_window_days, actor)).fetchone()[0]
        rows = [{"pile_id": d.pile_id, "site_id": d.site_id, "plan_id": d.plan_id,
                 "visit_id": visit_ids[(d.site_id, day)], "due_at": d.due_at.isoformat(),
                 "checklist": [{"item": item, "done": False} for item in plans[d.plan_id]["checklist"]],
                 "title": f"Preventive maintenance: {plans[d.plan_id]['name']}",
                 "note": d.reason(plans[d.plan_id])} for d, day in chosen]
        result.created = sorted(r[0] for r in cur.execute(
            _INSERT_ORDERS, {"rows": Jsonb(rows), "priority": PRIORITY, "actor": actor}).fetchall())
        result.visits = sorted({visit_ids[(d.site_id, day)] for d, day in chosen})
    if result.created:
        log.info("planner created %d preventive orders in %d visits", len(result.created), len(result.visits))
    return result
