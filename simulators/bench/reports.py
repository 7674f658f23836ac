"""`pilecare bench reports`: how long the monthly service report takes on a year of a 5,000-pile
fleet's records, and how much memory it needs (issue 14).

A throwaway database (on PILECARE_DATABASE_URL's server, else an embedded PostgreSQL; dropped
at the end) gets, in bulk SQL (INSERT … SELECT over generate_series, seeded for repeatable
data): 200 customers, 500 sites in six regions, 5,000 piles of three models, two connectors
each with their state, 60 engineers; over the 12 months before now about three corrective
orders per pile (a fault status change at opening, back to Available when resolved, some
reopened, repeats linked), two preventive orders per pile, done assignments, 300 parts and an
issue of one to three units to most repairs, each repair's visit on its timeline (what job
costs read: time on the road and on site, where the engineer set off), tolls, weekly goods
receipts, budgets per month and category and monthly bills, desk requests (one per second
fault, and 30,000 others), follow-ups of most of those jobs with a score, and 2,000
complaints.

Then, in a child process (its peak RSS is the report's alone, not the seeding's), last
month's service report is produced as the manager's "produce again" does: built in one
snapshot, rendered to PDF and XLSX, stored. `monthly_report_s` (target ≤ 20) is that wall
time and `peak_rss_mb` (target ≤ 500) the child's peak resident memory; the last quarter's
fault analysis (each fault's job cost) and the month's team scorecards are timed beside it,
and the report's costs figures are printed. The last line is JSON.
"""
from __future__ import annotations

import json
import multiprocessing
import resource
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from pilecare import embedded
from pilecare.migrate import migrate
from pilecare.settings import get_settings
from simulators.bench.ingest import bench_database, say

TARGET_MONTHLY_S = 20
TARGET_PEAK_RSS_MB = 500
_PROCESSES: list = []

_SEED = """
SELECT setseed(0.42);
INSERT INTO customers (id, name, tier)
SELECT 'BC-' || i, 'Customer ' || i, (ARRAY['platinum', 'gold', 'standard', 'standard'])[1 + i %% 4]
FROM generate_series(1, 200) i;
INSERT INTO sites (id, customer_id, name, region, lat, lon)
SELECT 'BS-' || i, 'BC-' || (1 + i %% 200), 'Site ' || i, 'region-' || (i %% 6), 50 + random() * 3, 8 + random() * 5
FROM generate_series(1, 500) i;
INSERT INTO pile_models (id, manufacturer, name, kind, rated_power_kw, connectors, reporting_interval_s) VALUES
    ('B-AC22', 'Bench', 'AC22', 'AC', 22, 2, 60), ('B-DC120', 'Bench', 'DC120', 'DC', 120, 2, 30),
    ('B-DC360', 'Bench', 'DC360', 'DC', 360, 2, 30) ON CONFLICT DO NOTHING;
INSERT INTO piles (id, serial, model_id, site_id, installed_on, warranty_end)
SELECT 'BP-' || lpad(i::text, 5, '0'), 'SN-BP-' || i, (ARRAY['B-AC22', 'B-AC22', 'B-DC120', 'B-DC360'])[1 + i %% 4],
       'BS-' || (1 + i %% 500), date '2023-06-01' + (i %% 900), date '2028-01-01'
FROM generate_series(1, %(piles)s) i;
UPDATE pile_state SET online = true, last_seen = %(now)s, connectivity_changed_at = %(start)s,
       connectivity_reason = 'connected', seq_first = 1, seq_max = 1, seq_count = 1;
INSERT INTO connector_state (pile_id, connector_id, time, seq, status, error_code, status_since)
SELECT p.id, c, %(now)s, 1, 'Available', 'NoError', %(start)s FROM piles p, generate_series(1, 2) c;
INSERT INTO connector_status_changes (pile_id, connector_id, time, old_status, new_status, new_error_code, processed_at)
SELECT p.id, c, %(start)s - interval '1 day', NULL, 'Available', 'NoError', %(start)s FROM piles p, generate_series(1, 2) c;
INSERT INTO engineers (id, name, regions, home_lat, home_lon)
SELECT 'BE-' || i, 'Engineer ' || i, ARRAY['region-' || (i %% 6)], 51, 10 FROM generate_series(1, 60) i;

-- Corrective orders: about three per pile over the year, closed a day after they are resolved.
CREATE TEMP TABLE faults AS
SELECT p.id AS pile_id, (ARRAY['connector', 'cooling', 'controller', 'metering', 'power_module', 'session',
                               'communication', 'electrical'])[1 + floor(random() * 8)::int] AS category,
       %(start)s + random() * interval '365 days' AS created, random() AS r
FROM piles p, generate_series(1, 3) n;
INSERT INTO work_orders (kind, pile_id, fault_category, state, title, created_at, created_by, updated_at, severity,
                         responded_at, resolved_at, response_due_at, resolve_due_at, closed_at, resolution,
                         reopened_count, engineer_id)
SELECT 'corrective', pile_id, category, CASE WHEN resolved + interval '1 day' < %(now)s THEN 'closed' ELSE 'new' END,
       category || ' on ' || pile_id, created, 'bench', created, 'major', created + r * interval '10 hours', resolved,
       created + interval '24 hours', created + interval '48 hours',
       CASE WHEN resolved + interval '1 day' < %(now)s THEN resolved + interval '1 day' END,
       CASE WHEN r < 0.2 THEN 'remote' ELSE 'repaired' END, CASE WHEN r > 0.92 THEN 1 ELSE 0 END,
       'BE-' || (1 + floor(r * 60)::int)
FROM (SELECT *, created + interval '2 hours' + r * interval '70 hours' AS resolved FROM faults) f
ON CONFLICT DO NOTHING;
UPDATE work_orders SET resolved_at = NULL, resolution = NULL WHERE state = 'new';
UPDATE work_orders w SET repeat_of = p.prev FROM (
    SELECT id, lag(id) OVER w AS prev, lag(closed_at) OVER w AS prev_closed, created_at FROM work_orders
    WHERE kind = 'corrective' WINDOW w AS (PARTITION BY pile_id, fault_category ORDER BY created_at)) p
WHERE w.id = p.id AND p.prev_closed > p.created_at - interval '30 days';
INSERT INTO connector_status_changes (pile_id, connector_id, time, old_status, new_status, new_error_code, processed_at)
SELECT pile_id, 1, created_at, 'Available', 'Faulted', 'InternalError', created_at FROM work_orders
WHERE kind = 'corrective'
UNION ALL
SELECT pile_id, 1, resolved_at, 'Faulted', 'Available', 'NoError', resolved_at FROM work_orders
WHERE kind = 'corrective' AND resolved_at IS NOT NULL;
-- Preventive orders: two per pile, due two weeks after they are issued, most done in time.
INSERT INTO work_orders (kind, pile_id, state, title, created_at, created_by, updated_at, due_at, closed_at, engineer_id)
SELECT 'preventive', p.id, CASE WHEN c < %(now)s THEN 'closed' ELSE 'assigned' END, 'PM ' || p.id, t, 'bench', t,
       t + interval '14 days', CASE WHEN c < %(now)s THEN c END, 'BE-' || (1 + floor(random() * 60)::int)
FROM (SELECT p.id, %(start)s + random() * interval '350 days' AS t FROM piles p, generate_series(1, 2)) p
CROSS JOIN LATERAL (SELECT p.t + random() * interval '18 days' AS c) x;
INSERT INTO assignments (work_order_id, engineer_id, state, assigned_at, assigned_by)
SELECT id, engineer_id, 'done', created_at, 'bench' FROM work_orders WHERE state = 'closed';

-- Parts: 300, a warehouse holding plenty, one to three issued to most repairs when resolved.
INSERT INTO parts (id, name, unit_cost) SELECT 'BPART-' || i, 'Part ' || i, round((5 + random() * 400)::numeric, 2)
FROM generate_series(1, 300) i;
INSERT INTO stock_locations (id, kind, name) VALUES ('BW', 'warehouse', 'Bench warehouse');
INSERT INTO stock_movements (entry, kind, part_id, location_id, quantity, unit_cost, recorded_by, recorded_at)
SELECT gen_random_uuid(), 'opening', id, 'BW', 10000000, unit_cost, 'bench', %(start)s - interval '1 day' FROM parts;
INSERT INTO stock_movements (entry, kind, part_id, location_id, quantity, unit_cost, work_order_id, engineer_id,
                             recorded_by, recorded_at)
SELECT gen_random_uuid(), 'issue', p.id, 'BW', -(1 + floor(random() * 3)::int), p.unit_cost, w.id, w.engineer_id,
       'bench', w.resolved_at
FROM work_orders w JOIN parts p ON p.id = 'BPART-' || (1 + w.id %% 300)
WHERE w.resolution = 'repaired' AND w.id %% 10 < 8;

-- Costs: each repair's visit on its timeline (15-45 min on the road, 30-75 min on site before
-- it was resolved; half set off from a reported position, the rest from home), a toll on every
-- fifth, goods received weekly, budgets per month and category, monthly office bills.
INSERT INTO work_order_events (work_order_id, at, actor, from_state, to_state)
SELECT w.id, v.at, w.engineer_id, v.from_state, v.to_state FROM work_orders w
CROSS JOIN LATERAL (VALUES
    (w.resolved_at - interval '15 minutes' * (3 + w.id %% 4) - interval '15 minutes' * (1 + w.id %% 3), 'accepted',
     'en_route'),
    (w.resolved_at - interval '15 minutes' * (3 + w.id %% 4), 'en_route', 'on_site'),
    (w.resolved_at, 'on_site', 'resolved')) v(at, from_state, to_state)
WHERE w.kind = 'corrective' AND w.resolution = 'repaired';
UPDATE work_orders w SET departed_lat = s.lat + 0.3, departed_lon = s.lon - 0.2
FROM piles p JOIN sites s ON s.id = p.site_id WHERE p.id = w.pile_id AND w.resolution = 'repaired' AND w.id %% 2 = 0;
INSERT INTO expenses (category, amount, spent_on, work_order_id, note, recorded_by)
SELECT 'travel', 4.5 + (id %% 7), resolved_at::date, id, 'toll', 'bench' FROM work_orders
WHERE resolution = 'repaired' AND id %% 5 = 0;
INSERT INTO suppliers (id, name) VALUES ('BSUP', 'Bench supplier');
INSERT INTO goods_receipts (supplier_id, location_id, received_at, received_by)
SELECT 'BSUP', 'BW', %(start)s + interval '1 week' * i, 'bench' FROM generate_series(0, 51) i;
INSERT INTO goods_receipt_lines (goods_receipt_id, part_id, quantity, unit_price)
SELECT r.id, p.id, 5 + (r.id + n) %% 20, p.unit_cost FROM goods_receipts r CROSS JOIN generate_series(1, 8) n
JOIN parts p ON p.id = 'BPART-' || (1 + (r.id * 37 + n * 11) %% 300);
INSERT INTO budgets (period, category, amount, created_by, updated_by)
SELECT m::date, c.category, c.amount, 'bench', 'bench'
FROM generate_series(date_trunc('month', %(start)s), %(now)s, interval '1 month') m,
     (VALUES ('staff', 120000), ('training', 8000), ('parts_purchasing', 450000), ('travel', 40000),
             ('office', 15000), ('equipment_upkeep', 6000)) c(category, amount);
INSERT INTO expenses (category, amount, spent_on, note, recorded_by)
SELECT c.category, c.amount, m::date + 2, c.category || ' bills', 'bench'
FROM generate_series(date_trunc('month', %(start)s), %(now)s, interval '1 month') m,
     (VALUES ('office', 12400.00), ('training', 5200.00), ('equipment_upkeep', 3900.00)) c(category, amount);

-- The desk: requests (half from the faults), follow-ups of finished jobs, complaints.
INSERT INTO requests (customer_id, pile_id, channel, class, state, subject, tier, created_at, created_by, updated_at,
                      response_due_at, resolve_due_at, responded_at, resolved_at, closed_at, work_order_id, agent)
SELECT c.id, w.pile_id, (ARRAY['phone', 'email', 'web'])[1 + w.id %% 3], 'fault_report', 'closed', w.title, c.tier,
       w.created_at, 'agent-1', w.created_at, w.created_at + interval '8 hours', w.created_at + interval '3 days',
       w.created_at + interval '1 hour' * (w.id %% 12), w.resolved_at, w.closed_at, w.id, 'agent-' || (1 + w.id %% 12)
FROM work_orders w JOIN piles p ON p.id = w.pile_id JOIN sites s ON s.id = p.site_id JOIN customers c ON c.id = s.customer_id
WHERE w.kind = 'corrective' AND w.state = 'closed' AND w.id %% 2 = 0 LIMIT 30000;
INSERT INTO requests (customer_id, channel, class, state, subject, tier, created_at, created_by, updated_at,
                      response_due_at, resolve_due_at, responded_at, resolved_at, closed_at, agent)
SELECT 'BC-' || (1 + i %% 200), (ARRAY['phone', 'email', 'web'])[1 + i %% 3],
       (ARRAY['consultation', 'complaint', 'suggestion', 'consultation'])[1 + i %% 4], 'closed', 'Question ' || i,
       'standard', t, 'agent-1', t, t + interval '24 hours', t + interval '5 days', t + interval '2 hours',
       t + interval '1 day', t + interval '2 days', 'agent-' || (1 + i %% 12)
FROM (SELECT i, %(start)s + random() * interval '360 days' AS t FROM generate_series(1, 30000) i) r;
INSERT INTO follow_ups (work_order_id, customer_id, due_at, done_at, channel, solved, satisfaction, recorded_by)
SELECT r.work_order_id, r.customer_id, r.closed_at + interval '3 days', r.closed_at + interval '3 days 4 hours',
       'call', true, 1 + (r.id %% 5)::int, 'agent-1'
FROM requests r WHERE r.work_order_id IS NOT NULL AND r.id %% 10 < 7;
INSERT INTO complaints (request_id, customer_id, state, category, responsible_party, engineer_id, created_at, updated_at,
                        closed_at, satisfied)
SELECT r.id, r.customer_id, CASE WHEN r.id %% 2 = 0 THEN 'closed' ELSE 'recorded' END, 'repair_quality', 'engineer',
       'BE-' || (1 + r.id %% 60), r.created_at, r.created_at,
       CASE WHEN r.id %% 2 = 0 THEN r.created_at + interval '4 days' END, CASE WHEN r.id %% 2 = 0 THEN true END
FROM requests r WHERE r.class = 'complaint' ORDER BY r.id LIMIT 2000;
ANALYZE;
"""


def seed(conn: psycopg.Connection, piles: int, now: datetime) -> dict:
    """A year of the fleet's records in bulk SQL; returns counts."""
    start = now - timedelta(days=365)
    with conn.transaction():
        for statement in _SEED.split(";\n"):
            if "%(" in statement:
                conn.execute(statement, {"piles": piles, "now": now, "start": start})
            elif statement.strip():
                conn.execute(statement.replace("%%", "%"))
    counts = {}
    for table in ("piles", "work_orders", "stock_movements", "work_order_events", "expenses", "goods_receipt_lines",
                  "requests", "follow_ups", "complaints"):
        counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return counts


def _produce(db_url: str, now_iso: str, out) -> None:
    """In the child: the monthly report, the quarterly analysis and team scorecards, timed."""
    from maintenance import reports
    from maintenance.reports.periods import ReportKind

    now = datetime.fromisoformat(now_iso)
    month = reports.month(now.date()).previous()
    figures = {"month": month.name}
    with psycopg.connect(db_url, autocommit=True) as conn:
        began = time.perf_counter()
        report_id = reports.produce(conn, month, actor="bench", now=now)
        figures["monthly_report_s"] = round(time.perf_counter() - began, 2)
        figures["pdf_kb"], figures["xlsx_kb"], costs, jobs = conn.execute(
            "SELECT octet_length(pdf) / 1024, octet_length(xlsx) / 1024, totals -> 'costs', totals -> 'job_costs' "
            "FROM reports WHERE id = %s", (report_id,)).fetchone()
        figures["budget_rows"] = [(r["category"], r["budget"], r["actual"], r["variance"]) for r in costs["rows"]]
        figures |= {"budget_total": costs["total"]["budget"], "actual_total": costs["total"]["actual"],
                    "jobs_costed": jobs["total"]["jobs"], "job_costs_total": jobs["total"]["total"],
                    "job_costs_company": jobs["total"]["company"], "job_costs_billable": jobs["total"]["billable"]}
        last_quarter = reports.quarter(now.date()).previous()
        began = time.perf_counter()
        reports.produce(conn, reports.parse(ReportKind.QUARTERLY, last_quarter.name), actor="bench", now=now)
        figures["quarterly_report_s"] = round(time.perf_counter() - began, 2)
        began = time.perf_counter()
        reports.scorecards(conn, month.start, month.end, reports.ScorecardBy.TEAM)
        figures["scorecards_s"] = round(time.perf_counter() - began, 2)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out.put(figures)


def main(args) -> None:
    try:
        _main(args)
    finally:
        embedded.terminate(_PROCESSES)


def _main(args) -> None:
    base = get_settings()
    data_dir = Path(base.data_dir) / "bench-reports"
    data_dir.mkdir(parents=True, exist_ok=True)
    name = "pilecare_bench_reports"
    db_url = bench_database(base, data_dir, name)
    settings = base.model_copy(update={"database_url": db_url})
    piles = int(getattr(args, "fleet", 5000) or 5000)
    now = datetime.now(timezone.utc)
    began = time.monotonic()
    with psycopg.connect(db_url, autocommit=True) as conn:
        migrate(conn, settings)
        counts = seed(conn, piles, now)
    say(f"seeded in {time.monotonic() - began:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))

    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_produce, args=(db_url, now.isoformat(), out))
    child.start()
    figures = out.get()
    child.join()
    say(f"monthly report {figures['month']}: {figures['monthly_report_s']} s, peak RSS {figures['peak_rss_mb']} MB")
    for category, budget, actual, variance in figures.pop("budget_rows"):
        say(f"  {category:<17} budget {budget:>12,.2f}  actual {actual:>12,.2f}  variance {variance:>12,.2f}")
    say(f"  job costs of {figures['jobs_costed']:,} jobs: {figures['job_costs_total']:,.2f} "
        f"(company {figures['job_costs_company']:,.2f}, billable {figures['job_costs_billable']:,.2f})")
    with psycopg.connect(base.database_url or db_url.replace(name, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result = {**counts, **figures, "target_monthly_report_s": TARGET_MONTHLY_S,
              "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
              "monthly_met": figures["monthly_report_s"] <= TARGET_MONTHLY_S,
              "rss_met": figures["peak_rss_mb"] <= TARGET_PEAK_RSS_MB}
    print(json.dumps(result), flush=True)
