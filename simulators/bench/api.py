"""`pilecare bench api --piles 5000`: how fast the console's overview and KPI page answer on a big fleet.

A throwaway database (on PILECARE_DATABASE_URL's server, else an embedded PostgreSQL) gets a
realistic fleet (simulators.fleetgen), 30 days of history for availability (charging
sessions, faults and connection losses as ingest records them), the latest state that
history ends in (some piles offline, some faulted, many charging), a few hundred active
alarms and open work orders and thousands of closed ones. A real API process (uvicorn, as
`pilecare api` runs it) then serves the overview's calls, each timed over HTTP from this process, one
call at a time, after a warm-up; meanwhile a thread refreshes `last_seen` the way ingest
does, so the API reads a table that is being written. The KPI page's calls are timed the same
way, after the overview's, and reported apart (`kpi_calls`): `p95_ms` and `p50_ms` stay the
overview's. The last line printed is JSON.
"""
from __future__ import annotations

import io
import json
import logging
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg

from api import accounts
from simulators.bench.ingest import bench_database, say
from pilecare import embedded
from pilecare.migrate import migrate
from pilecare.settings import get_settings
from simulators.fleetgen import seed_fleet

CALLS = ("/fleet/overview", "/alarms?state=active&limit=20", "/work-orders?open=true&limit=20")
# What the console's KPI page asks for: the last 30 days, 12 weeks and 30 days for its charts, the help text.
KPI_CALLS = ("/kpis", "/kpis/series?period=week&count=12", "/kpis/series?period=day&count=30", "/kpis/definitions")
TARGET_P95_MS = 300
HISTORY_DAYS = 31
SESSIONS_PER_DAY = (1.0, 8.0)       # per connector, drawn per connector
FAULT_SHARE = 0.004                 # of status episodes that are a fault instead of a session
FAULTED_NOW = 0.02                  # ports faulted at the end of the history
OFFLINE_NOW = 0.03                  # piles offline at the end
FLAKY = 0.08                        # piles with connection losses in the history
CATEGORIES = ["thermal", "ground_fault", "connector", "communication", "power_module", "metering"]


def _ts(t: datetime) -> str:
    return t.isoformat()


class CopyRows:
    """Rows as COPY text, written in chunks."""

    def __init__(self, conn, statement: str):
        self.cursor = conn.cursor()
        self.statement = statement
        self.buffer = io.StringIO()
        self.rows = 0

    def __enter__(self):
        self._copy = self.cursor.copy(self.statement)
        self._ctx = self._copy.__enter__()
        return self

    def row(self, *values) -> None:
        self.buffer.write("\t".join("\\N" if v is None else str(v) for v in values))
        self.buffer.write("\n")
        self.rows += 1
        if self.rows % 50_000 == 0:
            self._ctx.write(self.buffer.getvalue())
            self.buffer = io.StringIO()

    def __exit__(self, *exc):
        self._ctx.write(self.buffer.getvalue())
        return self._copy.__exit__(*exc)


def seed_history(conn: psycopg.Connection, now: datetime, seed: int) -> dict:
    """Status changes, connectivity events, latest state, alarms and work orders."""
    rng = random.Random(seed)
    piles = conn.execute("SELECT p.id, m.connectors FROM piles p JOIN pile_models m ON m.id = p.model_id "
                         "ORDER BY p.id").fetchall()
    start = now - timedelta(days=HISTORY_DAYS)
    faults: list[tuple] = []       # (pile, connector, started, ended or None)
    state: list[tuple] = []        # connector_state rows
    with CopyRows(conn, "COPY connector_status_changes (pile_id, connector_id, time, old_status, new_status, "
                     "old_error_code, new_error_code, processed_at) FROM STDIN") as changes:
        for pile, connectors in piles:
            for connector in range(1, connectors + 1):
                rate = rng.uniform(*SESSIONS_PER_DAY) / 86400
                t = start + timedelta(seconds=rng.uniform(0, 600))
                status, error = "Available", "NoError"
                changes.row(pile, connector, _ts(t), None, status, None, error, _ts(t))

                def change(at, new, new_error="NoError"):
                    nonlocal status, error
                    changes.row(pile, connector, _ts(at), status, new, error, new_error, _ts(at))
                    status, error = new, new_error

                faulted_now = rng.random() < FAULTED_NOW
                end = now - timedelta(hours=rng.uniform(1, 72)) if faulted_now else now
                while True:
                    t += timedelta(seconds=rng.expovariate(rate))
                    if t >= end:
                        break
                    if rng.random() < FAULT_SHARE:
                        lasting = timedelta(hours=min(rng.lognormvariate(1.5, 1.2), 96))
                        change(t, "Faulted", rng.choice(["GroundFailure", "HighTemperature", "InternalError"]))
                        back = t + lasting
                        if back >= now:
                            faults.append((pile, connector, t, None))
                            break
                        change(back, "Available")
                        faults.append((pile, connector, t, back))
                        t = back
                        continue
                    minutes = rng.uniform(20, 100)
                    steps = [(t, "Preparing"), (t + timedelta(minutes=1), "Charging"),
                             (t + timedelta(minutes=1 + minutes), "Finishing"),
                             (t + timedelta(minutes=4 + minutes), "Available")]
                    for at, new in steps:
                        if at >= now:
                            break
                        change(at, new)
                    t = steps[-1][0]
                if faulted_now and status != "Faulted":
                    change(end, "Faulted", "GroundFailure")
                    faults.append((pile, connector, end, None))
                state.append((pile, connector, status, error))
        total_changes = changes.rows

    with CopyRows(conn, "COPY connector_state (pile_id, connector_id, time, seq, status, error_code, status_since) "
                     "FROM STDIN") as rows:
        for pile, connector, status, error in state:
            rows.row(pile, connector, _ts(now), 1, status, error, _ts(now - timedelta(minutes=5)))
    conn.execute("UPDATE connector_state cs SET status_since = c.time FROM (SELECT DISTINCT ON (pile_id, connector_id) "
                 "pile_id, connector_id, time FROM connector_status_changes ORDER BY pile_id, connector_id, time DESC) c "
                 "WHERE c.pile_id = cs.pile_id AND c.connector_id = cs.connector_id")

    offline_now = []
    with CopyRows(conn, "COPY connectivity_events (pile_id, received_at, online, reason, processed_at) FROM STDIN") as ev:
        for pile, _ in piles:
            ev.row(pile, _ts(start), "true", "connected", _ts(start))
            t = start
            if rng.random() < FLAKY:
                for _ in range(rng.randint(1, 6)):
                    t += timedelta(hours=rng.uniform(12, 24 * 6))
                    back = t + timedelta(minutes=min(rng.lognormvariate(3.5, 1.3), 60 * 48))
                    if back >= now:
                        break
                    ev.row(pile, _ts(t), "false", "last will", _ts(t))
                    ev.row(pile, _ts(back), "true", "reconnected", _ts(back))
                    t = back
            if rng.random() < OFFLINE_NOW:
                lost = now - timedelta(minutes=rng.uniform(10, 60 * 48))
                if lost > t:
                    ev.row(pile, _ts(lost), "false", "last will", _ts(lost))
                    offline_now.append((pile, lost))
    conn.execute("UPDATE pile_state SET online = true, last_seen = now(), connectivity_changed_at = %s, "
                 "connectivity_reason = 'connected', seq_first = 1, seq_max = 1, seq_count = 1", (start,))
    with conn.cursor() as cur:
        cur.executemany("UPDATE pile_state SET online = false, connectivity_changed_at = %s, "
                        "connectivity_reason = 'last will', last_seen = %s WHERE pile_id = %s",
                        [(lost, lost, pile) for pile, lost in offline_now])

    # Alarms and work orders: one per fault (cleared and closed when it ended), one per pile offline now.
    incidents = [(p, c, a, b, rng.choice(CATEGORIES)) for p, c, a, b in faults]
    incidents += [(p, 0, lost, None, "communication") for p, lost in offline_now]
    closed_history = 0
    with conn.cursor() as cur:
        for pile, connector, began, ended, category in incidents:
            active = ended is None
            severity = rng.choice(["critical", "major", "major", "minor"])
            created = began + timedelta(minutes=2)
            responded = created + timedelta(hours=rng.uniform(0.2, 30)) if not active or rng.random() < 0.6 else None
            if responded and responded > now:
                responded = None
            order_state = (rng.choice(["new", "triage", "ready_for_dispatch", "assigned", "accepted", "en_route",
                                       "on_site"]) if active else "closed")
            # One open corrective order per (pile, category): a second concurrent fault joins the first.
            cur.execute(
                "INSERT INTO work_orders (kind, pile_id, fault_category, state, priority, title, created_at, created_by, "
                "updated_at, closed_at, severity, resolution, responded_at, resolved_at, response_due_at, "
                "resolve_due_at) VALUES ('corrective', %s, %s, %s, %s, %s, %s, 'bench', %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING RETURNING id",
                (pile, category, order_state, rng.randint(1, 5), f"{category} on {pile}", created, created,
                 None if active else ended, severity, None if active else "repaired", responded,
                 None if active else ended, created + timedelta(hours=24), created + timedelta(hours=72)))
            row = cur.fetchone()
            cur.execute(
                "INSERT INTO alarms (pile_id, connector_id, rule_id, fault_category, severity, state, first_seen, "
                "last_seen, cleared_at, kind, work_order_id, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "'error_code', %s, '{}') ON CONFLICT DO NOTHING",
                (pile, connector, f"bench-{category}", category, severity, "active" if active else "cleared", began,
                 ended or now, ended, row[0] if row else None))
            closed_history += not active
    conn.execute("VACUUM ANALYZE")  # as autovacuum would have: index-only scans need the visibility map
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM connector_state), (SELECT count(*) FROM alarms WHERE state = 'active'), "
        "(SELECT count(*) FROM work_orders WHERE state NOT IN ('closed', 'cancelled')), "
        "(SELECT count(*) FROM work_orders), (SELECT count(*) FROM connectivity_events)").fetchone()
    return {"status_changes": total_changes, "connectors": counts[0], "active_alarms": counts[1],
            "open_work_orders": counts[2], "work_orders": counts[3], "connectivity_events": counts[4],
            "offline_now": len(offline_now)}


def _heartbeat(db_url: str, stop: threading.Event) -> None:
    """What ingest does to pile_state all day: keep the online piles' last_seen fresh."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        while not stop.wait(5):
            conn.execute("UPDATE pile_state SET last_seen = now() WHERE online")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(base_url: str, token: str, rounds: int, warmup: int, calls=CALLS) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {path: [] for path in calls}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for i in range(warmup + rounds):
            for path in calls:
                began = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - began) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{path} answered {response.status_code}: {response.text[:300]}")
                if i >= warmup:
                    timings[path].append(elapsed)
    return timings


_PROCESSES: list[subprocess.Popen] = []


def serve_api(db_url: str, data_dir: Path, processes: list[subprocess.Popen], user: str,
              password: str) -> tuple[str, str, Path]:
    """A real API process (uvicorn, as `pilecare api` runs it) on `db_url`, appended to
    `processes` for the caller to end; returns (base URL, `user`'s bearer token, its log)."""
    port = embedded.free_port()
    log = data_dir / "api.log"
    env = dict(os.environ, PILECARE_DATABASE_URL=db_url, PILECARE_DATA_DIR=str(data_dir))
    processes.append(subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
                                       "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=open(log, "ab")))
    embedded.wait_port(port, 30)
    base_url = f"http://127.0.0.1:{port}"
    token = httpx.post(base_url + "/auth/token", data={"username": user, "password": password},
                       timeout=30).json()["access_token"]
    return base_url, token, log


def main(args) -> None:
    try:
        _main(args)
    finally:
        embedded.terminate(_PROCESSES)  # never leave the API behind


def _main(args) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    base = get_settings()
    data_dir = Path(base.data_dir) / "bench-api"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = bench_database(base, data_dir, "pilecare_bench_api")
    settings = base.model_copy(update={"database_url": db_url})
    rounds = int(getattr(args, "rounds", 0) or 200)
    began = time.monotonic()
    with psycopg.connect(db_url, autocommit=True) as conn:
        migrate(conn, settings)
        say(seed_fleet(conn, piles=args.piles, seed=1))
        now = datetime.now(timezone.utc)
        seeded = seed_history(conn, now, seed=1)
        password = secrets.token_urlsafe(16)
        accounts.create(conn, "bench-viewer", role=accounts.Role.VIEWER, full_name="Bench Viewer",
                        password=password, actor="bench")
    say(f"seeded in {time.monotonic() - began:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in seeded.items()))

    base_url, token, log = serve_api(db_url, data_dir, _PROCESSES, "bench-viewer", password)

    stop = threading.Event()
    heartbeat = threading.Thread(target=_heartbeat, args=(db_url, stop), daemon=True)
    heartbeat.start()
    try:
        say(f"timing {', '.join(CALLS)}: {rounds} rounds after 10 warm-up rounds, one call at a time, "
            f"over HTTP to uvicorn serving the API (log in {log})")
        timings = measure(base_url, token, rounds, warmup=10)
        say(f"timing the KPI page's {', '.join(KPI_CALLS)} the same way")
        kpi_timings = measure(base_url, token, rounds, warmup=10, calls=KPI_CALLS)
    finally:
        stop.set()
        heartbeat.join(10)

    calls, kpi_calls = figures(timings), figures(kpi_timings)
    p95 = max(c["p95_ms"] for c in calls.values())
    kpi_p95 = max(c["p95_ms"] for c in kpi_calls.values())
    result = {"piles": args.piles, "p95_ms": p95, "p50_ms": max(c["p50_ms"] for c in calls.values()),
              "target_p95_ms": TARGET_P95_MS, "met": p95 <= TARGET_P95_MS, "rounds": rounds,
              "calls": calls,
              "kpi_calls": {"p95_ms": kpi_p95, "p50_ms": max(c["p50_ms"] for c in kpi_calls.values()),
                            "target_p95_ms": TARGET_P95_MS, "met": kpi_p95 <= TARGET_P95_MS, "calls": kpi_calls},
              "data": seeded}
    print(json.dumps(result), flush=True)


def figures(timings: dict[str, list[float]]) -> dict[str, dict]:
    calls = {}
    for path, values in timings.items():
        calls[path] = {"p50_ms": round(_percentile(values, 0.50), 1), "p95_ms": round(_percentile(values, 0.95), 1),
                       "max_ms": round(max(values), 1)}
        say(f"{path:40s} p50 {calls[path]['p50_ms']:7.1f} ms   p95 {calls[path]['p95_ms']:7.1f} ms   "
            f"max {calls[path]['max_ms']:7.1f} ms")
    return calls
