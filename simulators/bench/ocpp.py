"""`pilecare bench ocpp`: thousands of OCPP 1.6-J chargers on ONE gateway process, end to end.

Sets up a fresh database with `--piles` commissioned piles, each with its OCPP credential
(gateway.credentials.issue), starts the broker (embedded unless PILECARE_MQTT_URL is set),
`--workers` ingest processes and one `pilecare ocpp` process, then connects the chargers
from `--clients` load-generator processes (simulators/bench/ocpp_load.py: raw websockets,
pre-built frames). Each charger boots, then sends a steady mix of MeterValues,
StatusNotification and Heartbeat so the fleet sends `--rate` CALLs/s; after a 5 s warm-up
the next `--seconds` are measured:

- `msgs_per_s`: messages committed end to end — ingest's `stored` counter (messages whose
  rows landed in PostgreSQL) over the window, not messages sent;
- `p99_ms` (and p50/p95/max): CALL → CALLRESULT as the chargers measured it. The gateway
  answers only after the broker's PUBACK (docs/ocpp.md), so this includes the publish;
- `gateway_rss_mb`: peak RSS of the gateway process (psutil, sampled every 0.5 s);
- `connections`: connections still open at the end; `sent`, `answered`, `errors`, `timeouts`.

`--storm` then kills the gateway (SIGKILL), keeps it down `--down` seconds while the
chargers queue their messages, starts a new gateway process and reports how long until
every charger had reconnected and had delivered its queue, and whether every queued
message was stored exactly once.

Everything shares the machine's cores (PostgreSQL, Mosquitto, ingest, the gateway and the
generator), so the CPU each took during the window is printed too. The last line is JSON.
"""
from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg

from gateway.broker_auth import start_admin_broker
from gateway.credentials import Protocol, issue
from pilecare import embedded
from pilecare.migrate import migrate
from pilecare.settings import Settings, get_settings
from simulators.bench.ingest import bench_database, say, seed_piles
from simulators.bench.ocpp_load import Action, Fleet, Stats

TARGETS = {"msgs_per_s": 1000, "p99_ms": 200, "gateway_rss_mb": 600}
WARMUP_S = 5.0

# -- the platform's processes ---------------------------------------------------------------

_PROCESSES: list[subprocess.Popen] = []


def _start(what: list[str], settings: Settings, log: Path, **env: str) -> subprocess.Popen:
    environment = dict(os.environ, PILECARE_DATABASE_URL=settings.database_url, PILECARE_MQTT_URL=settings.mqtt_url,
                       PILECARE_TOPIC_PREFIX=settings.topic_prefix, PILECARE_INGEST_GROUP=settings.ingest_group,
                       PILECARE_INGEST_CLIENT_ID=settings.ingest_client_id, **env)
    process = subprocess.Popen([sys.executable, "-m", "pilecare.cli", *what], env=environment,
                               stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
    _PROCESSES.append(process)
    return process


class GatewayProcess:
    """One `pilecare ocpp` process on a fixed port of 127.0.0.1, which can be killed -9 and
    started again on the same port (as a supervisor would restart it)."""

    def __init__(self, settings: Settings, log: Path, port: int | None = None):
        self.settings = settings
        self.log = log
        self.port = port or embedded.free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ocpp"
        self.process: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        """Start it; return once it listens. Raises RuntimeError when it exits or does not listen in 30 s."""
        self.process = _start(["ocpp"], self.settings, self.log, PILECARE_OCPP_HOST="127.0.0.1",
                              PILECARE_OCPP_PORT=str(self.port))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.process.returncode}; see {self.log}")
            try:
                embedded.wait_port(self.port, timeout=0.2)
                return self.process
            except RuntimeError:
                continue
        raise RuntimeError(f"the gateway did not listen on {self.port} within 30 s; see {self.log}")

    def kill(self) -> None:
        """kill -9: no goodbye to chargers, nothing flushed."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            embedded.terminate([self.process])


def seed_chargers(conn: psycopg.Connection, piles: int) -> list[tuple[str, str]]:
    """`piles` commissioned piles, each with a live OCPP credential: [(pile id, password)]."""
    ids = seed_piles(conn, piles)
    conn.execute("UPDATE piles SET commissioned_on = current_date - 30")
    return [(pid, issue(conn, pid, Protocol.OCPP, issued_by="bench").password) for pid in ids]


def stored(conn: psycopg.Connection) -> int:
    """Messages ingest committed (its counters are written in the batch's transaction)."""
    return int(conn.execute("SELECT coalesce(sum(stored), 0) FROM ingest_counters").fetchone()[0])


def stored_rows(conn: psycopg.Connection, action: Action) -> tuple[int, int]:
    """(rows, distinct (pile, device time)) stored for the fleet's `action` messages. A
    StatusNotification is a status row, a MeterValues a row of measurements without a status
    (ingest/ocpp/envelope.py); the fleet reports both on connector 1."""
    kind = "status IS NULL" if action is Action.METER else "status IS NOT NULL"
    return tuple(conn.execute(
        f"SELECT count(*), count(DISTINCT (pile_id, time)) FROM telemetry WHERE connector_id = 1 AND {kind}").fetchone())


def wait_settled(conn: psycopg.Connection, quiet_s: float = 3.0, timeout: float = 120.0) -> int:
    """Ingest's stored count once it has not moved for `quiet_s`."""
    deadline = time.monotonic() + timeout
    last, since = stored(conn), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.5)
        now = stored(conn)
        if now != last:
            last, since = now, time.monotonic()
    return last


class Meter:
    """Peak RSS and CPU seconds of the processes under test, sampled from a thread."""

    def __init__(self):
        self.peak_rss_mb: dict[str, float] = {}
        self._pids: dict[str, list[int]] = {}

    def watch(self, name: str, pid: int) -> None:
        self._pids.setdefault(name, []).append(pid)

    def sample(self) -> None:
        for name, pids in self._pids.items():
            rss = 0
            for pid in pids:
                try:
                    process = psutil.Process(pid)
                    rss += process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
                except psutil.Error:
                    pass
            self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), rss / 2**20)

    def cpu_s(self) -> dict[str, float]:
        out = {}
        for name, pids in self._pids.items():
            total = 0.0
            for pid in pids:
                try:
                    times = psutil.Process(pid).cpu_times()
                    total += times.user + times.system
                except psutil.Error:
                    pass
            out[name] = total
        return out


def postgres_cpu_s() -> float:
    total = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        if process.info["name"] and process.info["name"].startswith("postgres") and process.info["cpu_times"]:
            total += process.info["cpu_times"].user + process.info["cpu_times"].system
    return total


# -- the load-generator processes ------------------------------------------------------------

def _client(url: str, chargers: list, rate: float, offset: int, commands, out) -> None:
    """One generator process: connect its chargers, then run the schedule it is sent."""
    asyncio.run(_client_main(url, chargers, rate, offset, commands, out))


async def _client_main(url: str, chargers: list, rate: float, offset: int, commands, out) -> None:
    fleet = Fleet(url, chargers, rate=rate, offset=offset)
    started = time.monotonic()
    await fleet.connect_all()
    out.put(("connected", fleet.stats.connected, fleet.stats.connect_failures, dict(fleet.stats.boot_status),
             time.monotonic() - started))
    _, start, window, until = await asyncio.to_thread(commands.get)
    fleet.window = window
    stats = await fleet.run(start, until, drain_s=30.0)
    out.put(("done", vars(stats)))
    await asyncio.to_thread(commands.get)  # "close": hold the connections until the parent has counted
    await fleet.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def main(args) -> None:
    try:
        _main(args)
    finally:
        embedded.terminate(_PROCESSES)  # never leave a process behind


def _main(args) -> None:
    base = get_settings()
    data_dir = Path(base.data_dir) / "bench-ocpp"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = bench_database(base, data_dir, name="pilecare_bench_ocpp")
    mqtt_url = base.mqtt_url or start_admin_broker(data_dir / "broker")[0]
    stamp = int(time.time())
    workers = max(1, args.workers)
    settings = base.model_copy(update={
        "database_url": db_url, "mqtt_url": mqtt_url, "topic_prefix": f"bench-{stamp}/pilecare/v1",
        # One worker needs no shared subscription; several share one (as in production).
        "ingest_group": f"bench-{stamp}" if workers > 1 else "", "ingest_client_id": f"bench-ingest-{stamp}",
    })
    say(f"seeding {args.chargers:,} commissioned piles with OCPP credentials …")
    with psycopg.connect(db_url, autocommit=True) as conn:
        migrate(conn, settings)
        chargers = seed_chargers(conn, args.chargers + 1)
    probe, chargers = chargers[-1], chargers[:-1]

    meter = Meter()
    for i in range(workers):
        worker = _start(["ingest"], settings.model_copy(update={"ingest_client_id": f"bench-ingest-{stamp}-{i}"}),
                        data_dir / "ingest.log")
        meter.watch("ingest", worker.pid)
    gateway = GatewayProcess(settings, data_dir / "gateway.log")
    meter.watch("gateway", gateway.start().pid)

    with psycopg.connect(db_url, autocommit=True) as conn:
        _probe(gateway.url, probe, conn)
        result = _run(args, chargers, conn, meter, gateway)
    print(json.dumps(result), flush=True)


def _probe(url: str, probe: tuple[str, str], conn) -> None:
    """One extra charger sends Heartbeats until ingest stores one: the whole path is up
    (ingest subscribed, the gateway's publisher connected) before the fleet connects."""
    async def go() -> None:
        fleet = Fleet(url, [probe], rate=2.0)
        await fleet.connect_all()
        if not fleet.stats.connected:
            raise RuntimeError(f"the probe charger could not connect to {url}")
        charger = fleet.chargers[0]
        for _ in range(60):
            await charger.call(Action.HEARTBEAT, "{}")
            if stored(conn) >= 1:
                await fleet.close()
                return
            await asyncio.sleep(0.5)
        raise RuntimeError("ingest stored nothing from the probe charger within 30 s")

    asyncio.run(go())


def _run(args, chargers, conn, meter: Meter, gateway: GatewayProcess) -> dict:
    url = gateway.url
    processes = max(1, args.clients)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    commands = [ctx.Queue() for _ in range(processes)]
    procs = []
    for i in range(processes):
        part = chargers[i::processes]
        procs.append(ctx.Process(target=_client, args=(url, part, args.ocpp_rate / processes, i, commands[i], out),
                                 daemon=True))
    say(f"connecting {len(chargers):,} chargers from {processes} client process(es) …")
    connect_started = time.monotonic()
    for p in procs:
        p.start()
        meter.watch("clients", p.pid)
    connected = failures = 0
    boots: dict = {}
    for _ in procs:
        _, ok, failed, boot, _ = _get(out, meter, procs)
        connected, failures = connected + ok, failures + failed
        for key, n in boot.items():
            boots[key] = boots.get(key, 0) + n
    connect_s = time.monotonic() - connect_started
    say(f"{connected:,} connected and booted in {connect_s:.1f} s ({failures} refused handshakes), boots {boots}")

    start = time.monotonic() + 1.0
    window = (start + WARMUP_S, start + WARMUP_S + args.seconds)
    down_s = args.down if args.storm else 0.0
    storm_span = (1.0 + down_s + args.storm_settle) if args.storm else 0.0
    until = window[1] + 2.0 + storm_span
    for queue in commands:
        queue.put(("run", start, window, until))

    _sleep_sampling(window[0], meter)
    stored0, cpu0, pg0, wall0 = stored(conn), meter.cpu_s(), postgres_cpu_s(), time.monotonic()
    psutil.cpu_percent()
    _sleep_sampling(window[1], meter)
    stored1, cpu1, pg1, wall1 = stored(conn), meter.cpu_s(), postgres_cpu_s(), time.monotonic()
    machine_busy = psutil.cpu_percent() / 100
    # Other work on the machine takes cores from the gateway: say how busy it was.
    load_1m = os.getloadavg()[0]
    span = wall1 - wall0
    cpu_share = {name: round((cpu1[name] - cpu0.get(name, 0.0)) / span, 2) for name in cpu1}
    cpu_share["postgres"] = round((pg1 - pg0) / span, 2)
    msgs_per_s = (stored1 - stored0) / span

    storm: dict = {}
    if args.storm:
        storm = _storm(gateway, meter, window[1] + 1.0, down_s)
    _sleep_sampling(until, meter)
    parts = [Stats(**_get(out, meter, procs)[1]) for _ in procs]
    stats = Stats.merge(parts)
    if args.storm:
        settled = wait_settled(conn)
        storm.update(_storm_figures(stats, storm, conn, settled))
    for queue in commands:
        queue.put(("close",))
    for p in procs:
        p.join(30)

    lat = stats.latencies_ms
    result = {
        "connections": stats.held,
        "chargers": len(chargers),
        "msgs_per_s": round(msgs_per_s),
        "p50_ms": round(percentile(lat, 50), 1),
        "p95_ms": round(percentile(lat, 95), 1),
        "p99_ms": round(percentile(lat, 99), 1),
        "max_ms": round(max(lat, default=float("nan")), 1),
        "gateway_rss_mb": round(meter.peak_rss_mb.get("gateway", 0.0)),
        "sent": stats.sent,
        "answered": stats.answered,
        "errors": stats.errors,
        "timeouts": stats.timeouts,
        "connect_failures": failures,
        "window_s": round(span, 1),
        "window_sent_per_s": round(stats.window_sent / span),
        "window_answered_per_s": round(stats.window_answered / span),
        "connect_s": round(connect_s, 1),
        "boot_status": boots,
        "client_processes": processes,
        "ingest_workers": max(1, args.workers),
        "cpu_share": cpu_share,
        "machine_busy": round(machine_busy, 2),
        "cores": psutil.cpu_count(),
        "load_avg_1m": round(load_1m, 1),
        **storm,
        "met": {"msgs_per_s": msgs_per_s >= TARGETS["msgs_per_s"],
                "p99_ms": percentile(lat, 99) <= TARGETS["p99_ms"],
                "gateway_rss_mb": meter.peak_rss_mb.get("gateway", 0.0) <= TARGETS["gateway_rss_mb"]},
    }
    say(f"window {span:.1f} s: sent {stats.window_sent / span:,.0f}/s, answered {stats.window_answered / span:,.0f}/s, "
        f"committed {msgs_per_s:,.0f} msg/s; CALL→CALLRESULT p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
        f"p99 {result['p99_ms']} ms, max {result['max_ms']} ms")
    say(f"connections held {stats.held:,} of {len(chargers):,}; errors {stats.errors}, timeouts {stats.timeouts}; "
        f"gateway peak RSS {result['gateway_rss_mb']} MB; CPU (cores) {cpu_share}, machine busy {machine_busy:.0%}, "
        f"load average {load_1m:.1f} on {psutil.cpu_count()} cores")
    return result


def _storm(gateway: GatewayProcess, meter: Meter, at: float, down_s: float) -> dict:
    """Kill the gateway at `at`, keep it down `down_s`, start a new one: when it listened."""
    _sleep_sampling(at, meter)
    say(f"storm: kill -9 of the gateway, {down_s:.0f} s down, then a new gateway process …")
    gateway.kill()
    _sleep_sampling(time.monotonic() + down_s, meter)
    restarted = time.monotonic()
    meter.watch("gateway", gateway.start().pid)
    return {"_restarted": restarted, "_listening": time.monotonic()}


def _storm_figures(stats: Stats, storm: dict, conn, settled: int) -> dict:
    restarted = storm.pop("_restarted")
    listening = storm.pop("_listening")
    reconnected = [t for t in stats.reconnected_at if t >= restarted]
    drained = [t for t in stats.drained_at if t >= restarted]
    figures = {
        "storm_reconnected": len(reconnected),
        "storm_reconnect_s": round(max(reconnected) - restarted, 1) if reconnected else None,
        "storm_delivered_s": round(max(drained) - restarted, 1) if drained else None,
        "storm_gateway_start_s": round(listening - restarted, 1),
        "storm_reconnections": stats.reconnections,
        "storm_resent": stats.resent,
        "storm_timeouts": stats.timeouts,
        "storm_queued_left": stats.queued_left,
    }
    # Exactly once, counted in PostgreSQL over the whole run: one row per MeterValues and per
    # StatusNotification the chargers got an answer for (each at its own device time), however
    # often it was sent. Rows with no answer would be messages stored but never acknowledged.
    once = True
    for action in (Action.METER, Action.STATUS):
        rows, distinct = stored_rows(conn, action)
        answered = stats.stored_expected.get(action.value, 0)
        figures[f"storm_{action.name.lower()}_rows"] = rows
        figures[f"storm_{action.name.lower()}_answered"] = answered
        once = once and rows == distinct == answered
    figures["storm_stored_once"] = once
    say(f"storm: stored exactly once: {once} (MeterValues rows {figures['storm_meter_rows']:,} for "
        f"{figures['storm_meter_answered']:,} answered, StatusNotification rows {figures['storm_status_rows']:,} for "
        f"{figures['storm_status_answered']:,})")
    say(f"storm: {len(reconnected):,} chargers reconnected within {figures['storm_reconnect_s']} s of the restart "
        f"({stats.reconnections:,} reconnections), queues delivered within {figures['storm_delivered_s']} s, "
        f"{stats.resent} unanswered CALLs sent again, {stats.timeouts} timed out, {stats.queued_left} left queued")
    return figures


def _sleep_sampling(until: float, meter: Meter) -> None:
    while (left := until - time.monotonic()) > 0:
        meter.sample()
        time.sleep(min(0.5, left))


def _get(out, meter: Meter, procs) -> tuple:
    """The next message from a generator process, sampling meanwhile; fail if one died."""
    while True:
        meter.sample()
        try:
            return out.get(timeout=0.5)
        except Exception:  # queue.Empty
            if any(p.exitcode not in (None, 0) for p in procs):
                raise RuntimeError("a load-generator process died")
