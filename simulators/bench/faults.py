"""`pilecare bench faults`: how long from a pile reporting a fault to its work order being
visible in the API, while the fleet streams a background load.

The real processes run as they do in production (`pilecare ingest`, `pilecare
maintenance`, `pilecare api`, each its own process). Background publishers stream healthy
telemetry for `--piles` piles at `--rate` messages/s; meanwhile `--faults` other piles
each report a fault (a connector Faulted with an error code whose rule opens an order at
once), spread over the run. The clock starts just before the fault message is published
and stops when a poll of GET /work-orders (every 50 ms) first lists the pile's order.
The last line printed is JSON.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import urllib.parse
import urllib.request
import psycopg

from gateway import mqtt
from gateway.topics import Topics
from simulators.bench.ingest import TELEMETRY_TEMPLATE, bench_database, say, seed_piles
from gateway.broker_auth import start_admin_broker
from pilecare import embedded
from pilecare.migrate import migrate
from pilecare.settings import Settings, get_settings, parse_mqtt_url

TARGET_P99_MS = 2000
# Error codes whose default rule opens an order at once (no persistence wait).
FAULT_CODES = ["GroundFailure", "OverCurrentFailure", "HighTemperature", "PowerSwitchFailure", "InternalError",
               "PowerMeterFailure", "ConnectorLockFailure", "ReaderFailure"]


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _background(mqtt_url: str, prefix: str, piles: list[str], rate: float, seconds: float, out) -> None:
    """Publish healthy telemetry round-robin at `rate` msg/s for `seconds`; report (acked, seconds)."""
    topics = Topics(prefix)
    target = parse_mqtt_url(mqtt_url)
    client = mqtt.client(target, f"bench-bg-{os.getpid()}")
    acked = [0]
    client.on_publish = lambda c, u, mid, rc, p: acked.__setitem__(0, acked[0] + 1)
    mqtt.connect(client, target, persistent=False)
    client.loop_start()
    names = [topics.telemetry(p) for p in piles]
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            seq = 1 + sent // len(piles)
            client.publish(names[sent % len(piles)], TELEMETRY_TEMPLATE % (_now_iso(), seq, 1000 + seq * 0.05, 500.0), qos=1)
            sent += 1
        time.sleep(0.002)
    deadline = time.monotonic() + 60
    while acked[0] < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    out.put((acked[0], time.monotonic() - start))
    client.disconnect()
    client.loop_stop()


def _telemetry(seq: int, status: str = "Available", error: str = "NoError") -> str:
    return json.dumps({"v": 1, "ts": _now_iso(), "seq": seq, "connectors": [
        {"id": 1, "status": status, "error_code": error, "power_kw": 0.0, "energy_kwh": 1000.0, "temp_c": 25.0},
        {"id": 2, "status": "Available", "error_code": "NoError", "power_kw": 0.0, "energy_kwh": 900.0}],
        "temp_internal_c": 30.0, "fan_rpm": 1500})


_PROCESSES: list[subprocess.Popen] = []


def _start(what: list[str], settings: Settings, log: Path, **env) -> subprocess.Popen:
    environment = dict(os.environ, PILECARE_DATABASE_URL=settings.database_url, PILECARE_MQTT_URL=settings.mqtt_url,
                       PILECARE_TOPIC_PREFIX=settings.topic_prefix, PILECARE_INGEST_GROUP="",
                       PILECARE_INGEST_CLIENT_ID=settings.ingest_client_id, **env)
    process = subprocess.Popen([sys.executable, "-m", "pilecare.cli", *what], env=environment,
                               stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
    _PROCESSES.append(process)
    return process


def main(args) -> None:
    try:
        _main(args)
    finally:
        embedded.terminate(_PROCESSES)  # never leave a process behind


_BENCH_USER, _BENCH_PASSWORD = "bench-viewer", "bench-viewer-password"


def _bench_account(conn) -> None:
    from api import accounts
    from pilecare.errors import Conflict

    try:
        accounts.create(conn, _BENCH_USER, role=accounts.Role.VIEWER, full_name="Benchmark", password=_BENCH_PASSWORD,
                        actor="bench")
    except Conflict:
        pass  # a previous run's database


def _logged_in(base: str, path: str) -> urllib.request.Request:
    """A request for `path` carrying a viewer's bearer token, as the console would send it."""
    form = urllib.parse.urlencode({"username": _BENCH_USER, "password": _BENCH_PASSWORD}).encode()
    with urllib.request.urlopen(base + "/auth/token", data=form, timeout=10) as response:
        token = json.load(response)["access_token"]
    return urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})


def _main(args) -> None:
    base = get_settings()
    data_dir = Path(base.data_dir) / "bench-faults"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = bench_database(base, data_dir, "pilecare_bench_faults")
    mqtt_url = base.mqtt_url or start_admin_broker(data_dir / "broker")[0]
    stamp = int(time.time())
    settings = base.model_copy(update={"database_url": db_url, "mqtt_url": mqtt_url,
                                       "topic_prefix": f"bench-faults-{stamp}/pilecare/v1",
                                       "ingest_client_id": f"bench-faults-ingest-{stamp}"})
    with psycopg.connect(db_url, autocommit=True) as conn:
        migrate(conn, settings)
        piles = seed_piles(conn, args.piles + args.faults)
        _bench_account(conn)
    background, faulty = piles[:args.piles], piles[args.piles:]
    log = data_dir / "processes.log"
    port = embedded.free_port()
    say(f"starting ingest, maintenance and the API (port {port}); log in {log}")
    _start(["ingest"], settings, log)
    _start(["maintenance"], settings, log)
    _start(["api", "--port", str(port)], settings, log)
    embedded.wait_port(port, 30)
    orders = _logged_in(f"http://127.0.0.1:{port}", "/work-orders?kind=corrective&limit=10000")

    target = parse_mqtt_url(mqtt_url)
    topics = Topics(settings.topic_prefix)
    device = mqtt.client(target, f"bench-faults-dev-{stamp}")
    mqtt.connect(device, target, persistent=False)
    device.loop_start()
    # Every fault pile reports healthy first, so its fault is a transition, as in the field.
    for pile in faulty:
        device.publish(topics.telemetry(pile), _telemetry(1), qos=1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while conn.execute("SELECT count(*) FROM connector_state WHERE pile_id = ANY(%s)", (faulty,)).fetchone()[0] \
                < 2 * len(faulty):
            if time.monotonic() > deadline:
                raise SystemExit("the fault piles' first reports were not stored within 60 s; see " + str(log))
            time.sleep(0.1)

    say(f"background: {args.rate:,.0f} msg/s over {len(background)} piles for {args.seconds:.0f} s; "
        f"{len(faulty)} faults spread over it")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    per_process = args.rate / args.publishers
    publishers = [ctx.Process(target=_background, args=(mqtt_url, settings.topic_prefix, background[i::args.publishers],
                                                        per_process, args.seconds, out))
                  for i in range(args.publishers)]
    with psycopg.connect(db_url, autocommit=True) as conn:
        stored_before = conn.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0]
    for p in publishers:
        p.start()
    time.sleep(min(5.0, args.seconds / 6))  # let the load settle before the first fault

    rng = random.Random(7)
    window = args.seconds * 0.75
    schedule = sorted(rng.uniform(0, window) for _ in faulty)
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    start = time.monotonic()
    next_poll = start
    while len(seen) < len(faulty) and time.monotonic() - start < args.seconds + 30:
        now = time.monotonic()
        while schedule and len(published) < len(faulty) and now - start >= schedule[0]:
            schedule.pop(0)
            pile = faulty[len(published)]
            published[pile] = time.monotonic()
            device.publish(topics.telemetry(pile), _telemetry(2, "Faulted", rng.choice(FAULT_CODES)), qos=1)
        if now >= next_poll:
            next_poll = now + 0.05
            with urllib.request.urlopen(orders, timeout=10) as response:
                listed = json.load(response)["data"]
            t = time.monotonic()
            for order in listed:
                if order["pile_id"] in published and order["pile_id"] not in seen:
                    seen[order["pile_id"]] = t
        time.sleep(0.005)
    for p in publishers:
        p.join(120)
    results = [out.get(timeout=10) for _ in publishers]
    bg_acked = sum(r[0] for r in results)
    bg_seconds = max(r[1] for r in results)
    with psycopg.connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while True:
            stored = conn.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] - stored_before
            if stored >= bg_acked + len(published) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        duplicates = conn.execute("SELECT count(*) FROM (SELECT pile_id, fault_category FROM work_orders "
                                  "GROUP BY 1, 2 HAVING count(*) > 1) d").fetchone()[0]
    device.disconnect()
    device.loop_stop()

    latencies = sorted((seen[p] - published[p]) * 1000 for p in seen)
    if not latencies:
        raise SystemExit("no work order became visible; see " + str(log))

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(round(q * (len(latencies) - 1))))]

    result = {
        "p50_ms": round(pct(0.50)), "p95_ms": round(pct(0.95)), "p99_ms": round(pct(0.99)),
        "max_ms": round(latencies[-1]), "mean_ms": round(statistics.fmean(latencies)),
        "faults": len(published), "orders_seen": len(seen), "duplicate_orders": duplicates,
        "background_msgs_per_s": round(bg_acked / bg_seconds), "background_stored": stored - len(published),
        "background_published": bg_acked, "target_p99_ms": TARGET_P99_MS, "met": pct(0.99) <= TARGET_P99_MS,
    }
    say(f"{len(seen)}/{len(published)} orders visible; p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
        f"p99 {result['p99_ms']} ms under {result['background_msgs_per_s']:,} msg/s background")
    print(json.dumps(result), flush=True)
