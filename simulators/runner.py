"""Run a simulated fleet over MQTT: `pilecare simulate`, and the `Simulation` tests use.

per-pile mode: one MQTT client per pile, with its own client id and last will, like the
real thing (paho's own network thread each; ~1,000 per process). multiplexed mode: a few
clients publish for every pile, without last wills, for load.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import logging
import random
import signal
import socket
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as paho

from gateway import mqtt
from gateway.topics import Topics
from pilecare.settings import Settings
from simulators.faults import CURED_BY_RESET, FaultKind
from simulators.fleetgen import SimPileSpec, load_fleet
from simulators.physics import PileModel

log = logging.getLogger(__name__)

MAX_PHYSICS_STEP_S = 60.0  # simulated seconds per integration step
# paho waits on its sockets with select(), which cannot watch file descriptors above
# 1023, and each client holds three (its socket and a wake-up pair): ~340 clients per
# process at most. `pilecare simulate` runs larger per-pile fleets in several processes.
MAX_PER_PILE_CLIENTS = 300
OFFLINE_WILL = json.dumps({"v": 1, "state": "offline", "reason": "connection_lost"})


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimPile:
    def __init__(self, spec: SimPileSpec, rng: random.Random, interval: float, speed: float = 1.0):
        self.spec = spec
        # The register counts on the wall clock, as the message timestamps do (physics.py).
        self.model = PileModel(spec, rng, meter_scale=1.0 / max(speed, 1.0))
        self.interval = interval
        self.lock = threading.Lock()
        self.client: paho.Client | None = None
        self.silent = False
        self.last_flap = 0.0
        self.sent: list[tuple[paho.MQTTMessageInfo, dict | None]] = []  # (info, telemetry payload or None)
        self.acked_telemetry = 0
        self.acked_other = 0
        self.last_acked: dict | None = None


class Simulation:
    def __init__(self, settings: Settings, piles: list[SimPileSpec], *, mode: str = "per-pile",
                 interval: float | None = None, speed: float = 1.0, seed: int = 1, fault_rate: float = 0.0,
                 faults: list[FaultKind] | None = None, clients: int = 4, bad_repair_share: float = 0.0,
                 credentials: dict[str, str] | None = None):
        if mode not in ("per-pile", "multiplexed"):
            raise ValueError(f"mode must be per-pile or multiplexed, not {mode!r}")
        if mode == "per-pile" and len(piles) > MAX_PER_PILE_CLIENTS:
            raise ValueError(f"at most {MAX_PER_PILE_CLIENTS} per-pile clients per process (paho uses select()); "
                             "split the fleet over processes as `pilecare simulate` does")
        self.settings, self.mode, self.speed = settings, mode, speed
        self.topics = Topics(settings.topic_prefix)
        self.target = settings.mqtt()
        self.rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.fault_kinds = list(faults or FaultKind)
        # Its own stream of draws: the k-th repair is bad or not whatever the faults did.
        self.bad_repair_share = bad_repair_share
        self.repair_rng = random.Random(f"{seed}-repairs")
        self.piles = {s.id: SimPile(s, random.Random(f"{seed}-{s.id}"), interval or s.reporting_interval_s, speed)
                      for s in piles}
        self.n_clients = clients
        # Per-pile mode: a pile with a password here connects as itself (username = pile id),
        # as a real one does (docs/device-protocol.md, "Security"); others use the settings' account.
        self.credentials = credentials or {}
        self.shared: list[paho.Client] = []
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        # Client ids are the pile ids; under a non-default topic prefix (tests) they are
        # qualified so that two simulations on one broker never take over each other.
        default = settings.topic_prefix == "pilecare/v1"
        self._suffix = "" if default else "." + hashlib.sha1(settings.topic_prefix.encode()).hexdigest()[:8]

    # --- connections ---------------------------------------------------------------
    def _connect_pile(self, pile: SimPile) -> None:
        target = self.target
        if pile.spec.id in self.credentials:
            target = target.model_copy(update={"username": pile.spec.id, "password": self.credentials[pile.spec.id]})
        client = mqtt.client(target, pile.spec.id + self._suffix)
        client.connect_timeout = 30.0
        client.will_set(self.topics.status(pile.spec.id), OFFLINE_WILL, qos=1, retain=True)
        client.on_connect = lambda c, u, f, rc, p, pile=pile: self._on_pile_connect(pile, rc)
        client.on_message = lambda c, u, msg, pile=pile: self._on_command(pile, msg)
        pile.client = client
        mqtt.connect(client, target, persistent=False, keepalive=30, blocking=False)
        client.loop_start()

    def _on_pile_connect(self, pile: SimPile, rc) -> None:
        if rc.is_failure:
            return
        self._publish(pile, self.topics.status(pile.spec.id),
                      {"v": 1, "state": "online", "ts": now_iso(), "firmware": pile.spec.firmware}, retain=True)
        pile.client.subscribe(self.topics.commands(pile.spec.id), qos=1)

    def _connect_shared(self) -> None:
        for i in range(self.n_clients):
            client = mqtt.client(self.target, f"sim-mux-{i}{self._suffix}-{uuid.uuid4().hex[:6]}")
            if i == 0:
                client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{self.topics.prefix}/piles/+/commands", qos=1)
                client.on_message = lambda c, u, msg: self._on_shared_command(msg)
            mqtt.connect(client, self.target, persistent=False, blocking=False)
            client.loop_start()
            self.shared.append(client)
        piles = list(self.piles.values())
        for n, pile in enumerate(piles):
            pile.client = self.shared[n % len(self.shared)]

    def _on_shared_command(self, msg) -> None:
        parsed = self.topics.parse(msg.topic.removesuffix("/commands") + "/telemetry")
        if parsed and parsed[0] in self.piles:
            self._on_command(self.piles[parsed[0]], msg)

    # --- publishing ------------------------------------------------------------------
    def _publish(self, pile: SimPile, topic: str, body: dict, *, retain: bool = False, telemetry: bool = False) -> None:
        info = pile.client.publish(topic, json.dumps(body), qos=1, retain=retain)
        with pile.lock:
            pile.sent.append((info, body if telemetry else None))

    def _report(self, pile: SimPile, wall_dt: float) -> None:
        with pile.lock:
            model = pile.model
            remaining = wall_dt * self.speed
            while remaining > 0:
                step = min(remaining, MAX_PHYSICS_STEP_S)
                model.step(step)
                remaining -= step
                # The rate is per wall-clock day, the clock pilecare measures in: at 30× speed a
                # simulated rate would put 30× the faults into every wall-clock hour and make
                # the demo's MTBF say something the configuration did not (issue 12, item 6).
                if self.fault_rate and self.rng.random() < self.fault_rate * (step / self.speed) / 86_400:
                    self._inject_locked(pile, self.rng.choice(self.fault_kinds), None)
            if pile.silent:
                model.events.clear()
                return
            body = model.telemetry(now_iso())
            events, model.events = model.events, []
        self._publish(pile, self.topics.telemetry(pile.spec.id), body, telemetry=True)
        for e in events:
            self._publish(pile, self.topics.events(pile.spec.id),
                          {"v": 1, "id": uuid.uuid4().hex, "ts": now_iso(), "type": e["type"],
                           **({"connector_id": e["connector_id"]} if e["connector_id"] is not None else {}),
                           "data": e["data"]})
        if FaultKind.NETWORK_FLAPPING in pile.model.faults and self.mode == "per-pile":
            if time.monotonic() - pile.last_flap > 3 * pile.interval and pile.client.is_connected():
                pile.last_flap = time.monotonic()
                self._drop_connection(pile)

    def _drop_connection(self, pile: SimPile) -> None:
        """Cut the TCP connection without DISCONNECT: the broker publishes the last will
        and paho reconnects on its own a second later."""
        sock = pile.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _loop(self) -> None:
        now = time.monotonic()
        queue = []
        piles = list(self.piles.values())
        for n, pile in enumerate(piles):  # spread first reports over one interval
            heapq.heappush(queue, (now + pile.interval * n / max(len(piles), 1), n, pile))
        last = {p.spec.id: now for p in piles}
        while not self.stopping.is_set():
            due, n, pile = queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                self.stopping.wait(min(wait, 0.5))
                continue
            heapq.heapreplace(queue, (due + pile.interval, n, pile))
            t = time.monotonic()
            self._report(pile, t - last[pile.spec.id])
            last[pile.spec.id] = t

    # --- faults and commands -----------------------------------------------------------
    def inject(self, pile_id: str, kind: FaultKind | str, connector_id: int | None = None) -> None:
        pile = self.piles[pile_id]
        with pile.lock:
            self._inject_locked(pile, FaultKind(kind), connector_id)

    def _inject_locked(self, pile: SimPile, kind: FaultKind, connector_id: int | None) -> None:
        log.info("fault %s on %s", kind.value, pile.spec.id)
        pile.model.inject(kind, connector_id)
        if kind is FaultKind.SILENT_LOSS:
            pile.silent = True
            if self.mode == "per-pile":
                threading.Thread(target=pile.client.disconnect, daemon=True).start()  # clean: no will

    def plug_in(self, pile_id: str, connector_id: int = 1) -> None:
        pile = self.piles[pile_id]
        with pile.lock:
            pile.model.plug_in(connector_id)

    def clear(self, pile_id: str, kind: FaultKind | str | None = None) -> list[FaultKind]:
        pile = self.piles[pile_id]
        with pile.lock:
            cleared = pile.model.clear(FaultKind(kind) if kind else None)
            came_back = FaultKind.SILENT_LOSS in cleared
            if came_back:
                pile.silent = False
        if came_back and self.mode == "per-pile":
            pile.client.loop_stop()
            pile.client.reconnect()
            pile.client.loop_start()
        return cleared

    def repaired(self, pile_id: str, order_id: int | None = None) -> list[FaultKind]:
        """An engineer completed a repair of this pile (simulators/repairs.py): its faults
        clear, unless the demo draws a bad repair (`bad_repair_share` of them), which keeps
        them, so the platform's verification fails and the order reopens. Returns the faults
        cleared. KeyError for a pile this simulation does not drive."""
        pile = self.piles[pile_id]
        with pile.lock:
            bad = self.repair_rng.random() < self.bad_repair_share
            faults = [k.value for k in pile.model.faults]
        if bad:
            log.info("bad repair of %s (order %s): faults kept %s", pile_id, order_id, faults)
            return []
        cleared = self.clear(pile_id)
        log.info("repair of %s (order %s): cleared %s", pile_id, order_id, [k.value for k in cleared])
        return cleared

    def _on_command(self, pile: SimPile, msg) -> None:
        try:
            command = json.loads(msg.payload)
            kind, params = command["type"], command.get("params", {})
        except (ValueError, KeyError):
            return
        status = "Accepted"
        with pile.lock:
            if kind == "Reset":
                cured = [k for k in list(pile.model.faults) if k in CURED_BY_RESET]
                for k in cured:
                    pile.model.clear(k)
                pile.model.event("boot", 0, reason=f"{params.get('type', 'Soft')}Reset",
                                 firmware=pile.spec.firmware)
            elif kind == "UnlockConnector":
                status = "Unlocked"
                if FaultKind.CONNECTOR_LOCK in pile.model.faults:
                    pile.model.clear(FaultKind.CONNECTOR_LOCK)
            elif kind == "ChangeAvailability":
                inoperative = params.get("type") == "Inoperative"
                if params.get("connector_id", 0) == 0:
                    pile.model.inoperative = inoperative  # stays out of service after a fault clears
                for c in pile.model.connectors:
                    if params.get("connector_id", 0) in (0, c.id) and c.status in ("Available", "Unavailable"):
                        c.status = "Unavailable" if inoperative else "Available"
                        c.error_code = "NoError"
            elif kind != "TriggerMessage":
                status = "NotSupported"
        ack = {"v": 1, "id": command.get("id"), "status": status, "ts": now_iso()}
        self._publish(pile, self.topics.command_ack(pile.spec.id), ack)

    # --- lifecycle and accounting -------------------------------------------------------
    def start(self) -> "Simulation":
        if self.mode == "per-pile":
            # In waves: a thousand handshakes at once starve each other of the GIL past
            # paho's connect timeout, and the retries make it worse.
            piles = list(self.piles.values())
            for wave in range(0, len(piles), 100):
                for pile in piles[wave:wave + 100]:
                    self._connect_pile(pile)
                self._wait_connected([p.client for p in piles[wave:wave + 100]], 15)
        else:
            self._connect_shared()
            self._wait_connected(self.shared, 30)
        self.thread = threading.Thread(target=self._loop, name="simulation", daemon=True)
        self.thread.start()
        return self

    @staticmethod
    def _wait_connected(clients: list[paho.Client], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(c.is_connected() for c in clients):
            time.sleep(0.05)

    def stop(self, ack_timeout: float = 15.0) -> None:
        self.stopping.set()
        if self.thread:
            self.thread.join(10)
        deadline = time.monotonic() + ack_timeout
        while time.monotonic() < deadline and self._tally():
            time.sleep(0.05)
        clients = [p.client for p in self.piles.values()] if self.mode == "per-pile" else self.shared
        for c in clients:
            c.disconnect()  # clean: no last will
        for c in clients:
            c.loop_stop()

    def run(self, duration: float) -> None:
        self.start()
        try:
            self.stopping.wait(duration)
        finally:
            self.stop()

    def _tally(self) -> int:
        """Fold acknowledged publishes into the counters; return how many are still pending."""
        pending = 0
        for pile in self.piles.values():
            with pile.lock:
                keep = []
                for info, body in pile.sent:
                    if info._published:  # set on PUBACK, also for messages resent after a reconnect
                        if body is None:
                            pile.acked_other += 1
                        else:
                            pile.acked_telemetry += 1
                            if pile.last_acked is None or body["seq"] > pile.last_acked["seq"]:
                                pile.last_acked = body
                    else:
                        keep.append((info, body))
                pile.sent = keep
                pending += len(keep)
        return pending

    @property
    def published(self) -> int:
        self._tally()
        return sum(p.acked_telemetry for p in self.piles.values())

    @property
    def published_by_pile(self) -> dict[str, int]:
        self._tally()
        return {pid: p.acked_telemetry for pid, p in self.piles.items()}

    @property
    def last_payload_by_pile(self) -> dict[str, dict]:
        self._tally()
        return {pid: p.last_acked for pid, p in self.piles.items() if p.last_acked}

    @property
    def other_published(self) -> int:
        self._tally()
        return sum(p.acked_other for p in self.piles.values())

    def active_faults(self) -> dict[str, list[str]]:
        return {pid: [k.value for k in p.model.faults] for pid, p in self.piles.items() if p.model.faults}


def read_credentials(path: str | None) -> dict[str, str]:
    """{pile_id: MQTT password} from a file of 'pile_id password' lines (`pilecare run`
    writes <data dir>/device-credentials, mode 0600); {} without a file."""
    if not path:
        return {}
    pairs = (line.split() for line in Path(path).read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {pile_id: password for pile_id, password in pairs}


def _shard(settings: Settings, specs: list[SimPileSpec], args, faults, report, stop, repairs) -> None:
    """One process's share of the fleet; reports its acknowledged count every second and
    applies the repairs the main process routes to its piles."""
    import queue

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    # A spawned process starts without the CLI's logging: the faults injected and the repairs
    # applied belong in the simulator's log.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("simulators").setLevel(logging.INFO)
    sim = Simulation(settings, specs, mode=args.mode, interval=args.interval, speed=args.speed, seed=args.seed,
                     fault_rate=args.fault_rate, faults=faults, clients=args.clients,
                     bad_repair_share=args.bad_repair_share, credentials=read_credentials(getattr(args, "credentials", None))).start()
    try:
        reported = time.monotonic()
        while not stop.is_set():
            try:
                pile_id, order_id = repairs.get(timeout=0.5)
                sim.repaired(pile_id, order_id)
            except queue.Empty:
                pass
            if time.monotonic() - reported >= 1:
                reported = time.monotonic()
                report.put((specs[0].id, sim.published, sim.active_faults()))
    finally:
        sim.stop()
        report.put((specs[0].id, sim.published, sim.active_faults()))


def main(settings: Settings, args) -> None:
    import multiprocessing

    import psycopg

    from pilecare.db import database_url

    with psycopg.connect(database_url(settings)) as conn:
        specs = load_fleet(conn, args.piles)
    if not specs:
        raise SystemExit("the fleet registry is empty: run `pilecare fleet seed --piles N` first")
    faults = [FaultKind(f.strip()) for f in args.faults.split(",")] if args.faults else None
    size = MAX_PER_PILE_CLIENTS if args.mode == "per-pile" else len(specs)
    shards = [specs[i:i + size] for i in range(0, len(specs), size)]
    ctx = multiprocessing.get_context("spawn")
    report, stop = ctx.Queue(), ctx.Event()
    repairs = [ctx.Queue() for _ in shards]
    processes = [ctx.Process(target=_shard, args=(settings, shard, args, faults, report, stop, queue), daemon=True)
                 for shard, queue in zip(shards, repairs)]
    for process in processes:
        process.start()
    listener = _repair_listener(settings, args, {s.id: q for shard, q in zip(shards, repairs) for s in shard})
    finished = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: finished.set())
    signal.signal(signal.SIGINT, lambda *_: finished.set())
    print(f"simulating {len(specs)} piles ({args.mode}, {len(processes)} process(es), speed ×{args.speed}) "
          f"on {settings.mqtt_url}", flush=True)
    counts: dict[str, int] = {}
    active: dict[str, dict] = {}
    started = last_print = time.monotonic()
    before = 0

    def drain() -> None:
        while not report.empty():
            key, published, faults_now = report.get()
            counts[key], active[key] = published, faults_now

    try:
        while not finished.wait(1):
            drain()
            if time.monotonic() - last_print >= 10:
                published = sum(counts.values())
                faulty = {p: f for a in active.values() for p, f in a.items()}
                elapsed = time.monotonic() - last_print
                print(f"{published - before:>7} telemetry messages in {elapsed:.0f} s ({(published - before) / elapsed:,.0f}/s), "
                      f"{len(faulty)} piles with faults {sorted({f for v in faulty.values() for f in v})}", flush=True)
                before, last_print = published, time.monotonic()
            if args.duration and time.monotonic() - started >= args.duration:
                break
            if not any(p.is_alive() for p in processes):
                break
    finally:
        if listener:
            listener.stop()
        stop.set()
        for process in processes:
            process.join(30)
        drain()
        print(f"published {sum(counts.values())} telemetry messages", flush=True)


def _repair_listener(settings: Settings, args, queues: dict):
    """With `--api`, follow the platform's events and route each completed repair to the
    process that drives the pile (simulators/repairs.py); None without."""
    if not getattr(args, "api", None):
        return None
    from pathlib import Path

    from simulators.crew_accounts import FLEET_USER, read_accounts
    from simulators.platform_api import PlatformApi
    from simulators.repairs import RepairListener

    path = Path(args.accounts) if args.accounts else Path(settings.data_dir) / "crew-accounts"
    fleet = [a for a in read_accounts(path) if a.user == FLEET_USER]
    if not fleet:
        raise SystemExit(f"pilecare simulate: no {FLEET_USER} account in {path}: `pilecare run` writes it, "
                         "or leave out --api")

    def route(pile_id: str, order_id: int) -> None:
        queues[pile_id].put((pile_id, order_id))  # KeyError: not one of ours (logged by the listener)

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    print(f"listening for completed repairs at {args.api} (bad repairs: {args.bad_repair_share:.0%})", flush=True)
    return RepairListener(PlatformApi(args.api, FLEET_USER, fleet[0].password), route).start()
