"""`pilecare bench ingest`: end-to-end ingest throughput against a raw COPY.

1. A backlog of telemetry is queued in the worker's persistent session while the worker
   is stopped (a Python QoS 1 publisher is slower than ingest, so a live publisher would
   measure itself); then one ingest process drains it: publish → committed rows.
2. The same worker with publishers running at the same time (concurrent figure).
3. A raw binary COPY of the very rows ingest stored into the same table.
The last line printed is JSON. Uses PILECARE_DATABASE_URL / PILECARE_MQTT_URL when set
(in a separate `pilecare_bench` database and topic prefix), else starts its own.
"""
from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from gateway import mqtt
from gateway.topics import Topics
from gateway.broker_auth import start_admin_broker
from pilecare import embedded
from pilecare.migrate import migrate
from pilecare.settings import Settings, get_settings, parse_mqtt_url

CONNECTORS = 2
ROWS_PER_MESSAGE = 1 + CONNECTORS  # the pile row plus one per connector


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def bench_database(settings: Settings, data_dir: Path, name: str = "pilecare_bench") -> str:
    """A fresh database for a benchmark, on the configured server or an embedded one."""
    admin = settings.database_url or embedded.start_postgres(data_dir)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(admin, dbname=name)


def seed_piles(conn: psycopg.Connection, piles: int) -> list[str]:
    conn.execute("INSERT INTO customers (id, name) VALUES ('BENCH', 'Bench Operator')")
    conn.execute("INSERT INTO sites (id, customer_id, name, region, lat, lon) VALUES ('BENCH-S', 'BENCH', 'Bench', 'b', 52.5, 13.4)")
    conn.execute("INSERT INTO pile_models (id, manufacturer, name, kind, rated_power_kw, connectors) "
                 "VALUES ('BENCH-DC', 'Bench', 'DC60', 'DC', 60, %s)", (CONNECTORS,))
    ids = [f"B-{i:05d}" for i in range(piles)]
    with conn.cursor().copy("COPY piles (id, serial, model_id, site_id) FROM STDIN") as copy:
        for pid in ids:
            copy.write_row((pid, "SN" + pid, "BENCH-DC", "BENCH-S"))
    return ids


TELEMETRY_TEMPLATE = (
    '{"v":1,"ts":"%s","seq":%d,"connectors":['
    '{"id":1,"status":"Charging","error_code":"NoError","voltage_v":400.1,"current_a":60.2,'
    '"power_kw":24.1,"power_offered_kw":60.0,"energy_kwh":%.3f,"temp_c":41.5},'
    '{"id":2,"status":"Available","error_code":"NoError","voltage_v":0.0,"current_a":0.0,'
    '"power_kw":0.0,"energy_kwh":%.3f,"temp_c":22.0}],"temp_internal_c":37.2,"fan_rpm":2100}'
)


def _publisher(mqtt_url: str, prefix: str, piles: list[str], count: int, first_seq: int, out) -> None:
    """Publish `count` messages round-robin over `piles`; report (acked, seconds)."""
    topics = Topics(prefix)
    target = parse_mqtt_url(mqtt_url)
    client = mqtt.client(target, f"bench-pub-{os.getpid()}")
    acked = [0]
    client.on_publish = lambda c, u, mid, rc, p: acked.__setitem__(0, acked[0] + 1)
    mqtt.connect(client, target, persistent=False)
    client.loop_start()
    names = [topics.telemetry(p) for p in piles]
    start = time.monotonic()
    n = len(piles)
    for i in range(count):
        seq = first_seq + i // n
        ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        client.publish(names[i % n], TELEMETRY_TEMPLATE % (ts, seq, 1000 + seq * 0.05, 500 + seq * 0.01), qos=1)
        while i - acked[0] > 5000:  # bounded window so the client's queue stays small
            time.sleep(0.001)
    while acked[0] < count:
        time.sleep(0.01)
    out.put((acked[0], time.monotonic() - start))
    client.disconnect()
    client.loop_stop()


def publish(settings: Settings, piles: list[str], messages: int, processes: int, first_seq: int) -> tuple[int, float]:
    """Publish with several processes (each owning a slice of piles); (acked, seconds)."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    slices = [piles[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=_publisher, args=(settings.mqtt_url, settings.topic_prefix, s, messages // processes,
                                                  first_seq, out)) for s in slices]
    start = time.monotonic()
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results), time.monotonic() - start


_WORKERS: list[subprocess.Popen] = []


def _worker(settings: Settings, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PILECARE_DATABASE_URL=settings.database_url, PILECARE_MQTT_URL=settings.mqtt_url,
               PILECARE_TOPIC_PREFIX=settings.topic_prefix, PILECARE_INGEST_GROUP=settings.ingest_group,
               PILECARE_INGEST_CLIENT_ID=settings.ingest_client_id)
    process = subprocess.Popen([sys.executable, "-m", "pilecare.cli", "ingest"], env=env,
                               stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
    _WORKERS.append(process)
    return process


def _probe(settings: Settings, pile: str, conn) -> None:
    """Publish seq 0 until it is stored: then the worker's session and subscription exist."""
    target = parse_mqtt_url(settings.mqtt_url)
    client = mqtt.client(target, f"bench-probe-{os.getpid()}")
    mqtt.connect(client, target, persistent=False)
    client.loop_start()
    try:
        for _ in range(60):
            client.publish(Topics(settings.topic_prefix).telemetry(pile), TELEMETRY_TEMPLATE % (
                datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"), 0, 1000.0, 500.0), qos=1)
            time.sleep(0.5)
            if _stored(conn) >= 1:
                return
        raise RuntimeError("the ingest worker did not store a probe message within 30 s")
    finally:
        client.disconnect()
        client.loop_stop()


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def _stored(conn) -> int:
    return int(conn.execute("SELECT coalesce(sum(stored), 0) FROM ingest_counters").fetchone()[0])


def _wait_stored(conn, target: int, worker: subprocess.Popen, timeout: float) -> dict:
    """Poll until `target` messages are stored; track first/last progress and peak RSS."""
    start = time.monotonic()
    first = None
    peak = 0.0
    base = _stored(conn)
    while True:
        now = time.monotonic()
        done = _stored(conn)
        peak = max(peak, _rss_mb(worker.pid))
        if first is None and done > base:
            first = (now, done)
        if done >= target:
            return {"end": now, "first": first or (now, done), "peak_rss_mb": peak, "start": start}
        if now - start > timeout:
            raise RuntimeError(f"only {done} of {target} messages stored after {timeout:.0f}s")
        if worker.poll() is not None:
            raise RuntimeError("the ingest worker exited during the benchmark")
        time.sleep(0.2)


def raw_copy(conn) -> tuple[int, float]:
    """Dump the rows ingest stored, empty the table, COPY them back: (rows, seconds)."""
    buffer = io.BytesIO()
    with conn.cursor().copy("COPY (SELECT * FROM telemetry) TO STDOUT (FORMAT BINARY)") as copy:
        for chunk in copy:
            buffer.write(chunk)
    rows = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
    conn.execute("TRUNCATE telemetry")
    conn.execute("CHECKPOINT")
    data = buffer.getvalue()
    start = time.monotonic()
    with conn.transaction():
        with conn.cursor().copy("COPY telemetry FROM STDIN (FORMAT BINARY)") as copy:
            for i in range(0, len(data), 1 << 20):
                copy.write(data[i:i + (1 << 20)])
    return rows, time.monotonic() - start


def main(args) -> None:
    try:
        _main(args)
    finally:
        for process in _WORKERS:  # never leave a worker behind on failure
            if process.poll() is None:
                process.kill()


def _main(args) -> None:
    base = get_settings()
    data_dir = Path(base.data_dir) / "bench"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = bench_database(base, data_dir)
    mqtt_url = base.mqtt_url
    if not mqtt_url:
        mqtt_url, _broker = start_admin_broker(data_dir / "broker")
    else:
        say("using PILECARE_MQTT_URL: its config must queue a long backlog (see deploy/mosquitto/mosquitto.conf)")
    stamp = int(time.time())
    settings = base.model_copy(update={
        "database_url": db_url, "mqtt_url": mqtt_url, "topic_prefix": f"bench-{stamp}/pilecare/v1",
        "ingest_group": "", "ingest_client_id": f"bench-ingest-{stamp}",
    })
    with psycopg.connect(db_url, autocommit=True) as conn:
        migrate(conn, settings)
        piles = seed_piles(conn, args.piles)
    log = data_dir / "ingest.log"
    target_rate = 10_000  # sized so the drain lasts about --seconds at the target rate
    backlog = int(target_rate * args.seconds)
    backlog -= backlog % len(piles)
    publishers = 2

    with psycopg.connect(db_url, autocommit=True) as conn:
        # The worker's persistent session must exist before the backlog is published.
        worker = _worker(settings, log)
        _probe(settings, piles[0], conn)
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)

        say(f"publishing a backlog of {backlog:,} messages ({len(piles)} piles) while ingest is stopped …")
        acked, pub_s = publish(settings, piles, backlog, publishers, first_seq=1)
        say(f"published {acked:,} in {pub_s:.1f}s = {acked / pub_s:,.0f} msg/s with {publishers} publisher processes")

        say("starting one ingest process to drain it …")
        worker = _worker(settings, log)
        cpu0 = _cpu_s(worker.pid)
        drained = _wait_stored(conn, 1 + backlog, worker, timeout=max(600, args.seconds * 10))
        drain_s = drained["end"] - drained["first"][0]
        drain_msgs = 1 + backlog - drained["first"][1]
        msgs_per_s = drain_msgs / drain_s
        cpu_drain = _cpu_s(worker.pid) - cpu0
        say(f"drained {drain_msgs:,} messages in {drain_s:.1f}s = {msgs_per_s:,.0f} msg/s, "
            f"peak RSS {drained['peak_rss_mb']:.0f} MB, worker CPU {cpu_drain / drain_s:.0%}")

        concurrent_n = int(min(backlog, 200_000))
        concurrent_n -= concurrent_n % len(piles)
        say(f"concurrent: publishing {concurrent_n:,} messages while ingest runs …")
        before = _stored(conn)
        start = time.monotonic()
        acked2, pub2_s = publish(settings, piles, concurrent_n, publishers, first_seq=1 + backlog // len(piles))
        live = _wait_stored(conn, before + concurrent_n, worker, timeout=300)
        concurrent_rate = concurrent_n / (live["end"] - start)
        peak_rss = max(drained["peak_rss_mb"], live["peak_rss_mb"])
        say(f"concurrent publish-and-ingest: {concurrent_rate:,.0f} msg/s (publishers alone reached {acked2 / pub2_s:,.0f})")
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)

        gaps = int(conn.execute("SELECT coalesce(sum(seq_gaps), 0) FROM pile_state").fetchone()[0])
        stored_rows = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
        expected_msgs = 1 + backlog + concurrent_n
        say(f"stored {stored_rows:,} rows for {expected_msgs:,} messages, sequence gaps {gaps}")
        rows, copy_s = raw_copy(conn)
        copy_rows_per_s = rows / copy_s
        say(f"raw binary COPY of the same {rows:,} rows into the same table: {copy_rows_per_s:,.0f} rows/s")

    result = {
        "msgs_per_s": round(msgs_per_s),
        "rows_per_s": round(msgs_per_s * ROWS_PER_MESSAGE),
        "copy_rows_per_s": round(copy_rows_per_s),
        "ratio": round(msgs_per_s * ROWS_PER_MESSAGE / copy_rows_per_s, 3),
        "drain_messages": drain_msgs,
        "drain_s": round(drain_s, 1),
        "concurrent_msgs_per_s": round(concurrent_rate),
        "publish_msgs_per_s": round(acked / pub_s),
        "ingest_peak_rss_mb": round(peak_rss),
        "ingest_cpu_share": round(cpu_drain / drain_s, 2),
        "lost": expected_msgs * ROWS_PER_MESSAGE - stored_rows,
        "sequence_gaps": gaps,
    }
    print(json.dumps(result), flush=True)
