"""A lightweight OCPP 1.6-J charger fleet for load: raw `websockets` connections, pre-built
JSON frames, one asyncio task per charger.

Used by `pilecare bench ocpp` (in 1–2 client processes) and by tests/test_ocpp_storm.py
(in-process). Deliberately not the `ocpp` package's ChargePoint: its per-message schema
validation and routing would make the generator, not the gateway, the bottleneck on a
2-core machine.

Each charger behaves as OCPP 1.6-J asks of a real one:
- HTTP Basic authentication (security profile 1, user = charge point id) and the
  `ocpp1.6` subprotocol (OCPP-J 1.6 §3.1.2, Security Whitepaper §2);
- BootNotification once, on its first connection (not on a reconnect: it did not reboot);
- then a steady mix of MeterValues, StatusNotification and Heartbeat at `interval_s`;
- one CALL in flight at a time (OCPP-J 1.6 §4.1.1): the next waits for the CALLRESULT;
- while disconnected it keeps generating messages with their device timestamps and
  queues them (Heartbeats are dropped: a late heartbeat says nothing), and the CALL that
  was in flight when the connection broke stays at the head of the queue and is sent
  again with a new message id — the replay ingest must store once;
- it reconnects after `reconnect_s` (plus jitter) until the central system is back.

Device timestamps are the due times of the schedule (distinct per charger), so every
MeterValues and StatusNotification is a distinct row for ingest and a replay is the
same content. Times are `time.monotonic()` seconds (system-wide on Linux, so several
processes share one clock).
"""
from __future__ import annotations

import asyncio
import base64
import json
import random
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum

import websockets
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol


class Action(str, Enum):
    """The OCPP 1.6 CALLs the fleet sends (OCPP 1.6 §4)."""

    BOOT = "BootNotification"
    HEARTBEAT = "Heartbeat"
    STATUS = "StatusNotification"
    METER = "MeterValues"


# The steady mix, repeated per charger: 60 % MeterValues, 20 % StatusNotification, 20 % Heartbeat.
MIX = (Action.METER, Action.STATUS, Action.METER, Action.HEARTBEAT, Action.METER)
# Only these are queued while offline (transaction-related data and status; OCPP 1.6 §4.7 / §4.9).
QUEUED = (Action.METER, Action.STATUS)

_BOOT = ('{"chargePointVendor":"Bench","chargePointModel":"DC60","chargePointSerialNumber":"SN%s",'
         '"firmwareVersion":"1.0.0"}')
_STATUS = '{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"%s"}'
_METER = ('{"connectorId":1,"meterValue":[{"timestamp":"%s","sampledValue":['
          '{"value":"%.1f","measurand":"Energy.Active.Import.Register","unit":"Wh"},'
          '{"value":"7200","measurand":"Power.Active.Import","unit":"W"},'
          '{"value":"400.1","measurand":"Voltage","unit":"V"},'
          '{"value":"18.0","measurand":"Current.Import","unit":"A"}]}]}')

_WALL_OFFSET = time.time() - time.monotonic()


def device_time(t: float) -> str:
    """RFC 3339 UTC with microseconds for a monotonic time `t`."""
    return datetime.fromtimestamp(t + _WALL_OFFSET, timezone.utc).isoformat(timespec="microseconds").replace(
        "+00:00", "Z")


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Stats:
    """What a fleet (or one client process) counted; merged across processes by `merge`."""

    chargers: int = 0
    connected: int = 0            # chargers whose first connection and BootNotification succeeded
    connect_failures: int = 0     # handshakes refused or timed out (each attempt)
    boot_status: dict = field(default_factory=dict)
    sent: int = 0                 # CALLs written to the socket
    answered: int = 0             # CALLRESULTs received
    errors: int = 0               # CALLERRORs received
    timeouts: int = 0             # CALLs without an answer within call_timeout_s
    resent: int = 0               # CALLs sent again after their connection broke
    dropped: int = 0              # Heartbeats not sent because the charger was offline
    disconnects: int = 0
    held: int = 0                 # connections open when the run ended
    queued_left: int = 0          # messages still queued when the run ended
    latencies_ms: list = field(default_factory=list)  # CALL → CALLRESULT, CALLs sent in the window
    window_sent: int = 0
    window_answered: int = 0
    reconnections: int = 0        # connections opened again after a loss
    # Per charger that ever reconnected (the latest time): its last new connection, and when
    # its queue was last empty again after one.
    reconnected_at: list = field(default_factory=list)
    drained_at: list = field(default_factory=list)
    stored_expected: dict = field(default_factory=dict)  # action → distinct messages answered (content, not ids)

    @staticmethod
    def merge(parts: list["Stats"]) -> "Stats":
        total = Stats()
        for part in parts:
            for name, value in vars(part).items():
                mine = getattr(total, name)
                if isinstance(value, list):
                    mine.extend(value)
                elif isinstance(value, dict):
                    for key, count in value.items():
                        mine[key] = mine.get(key, 0) + count
                else:
                    setattr(total, name, mine + value)
        return total


class Charger:
    """One simulated OCPP 1.6-J charge point (see the module docstring for its behaviour)."""

    def __init__(self, fleet: "Fleet", index: int, pile_id: str, password: str):
        self.fleet = fleet
        self.pile_id = pile_id
        self.url = f"{fleet.url.rstrip('/')}/{pile_id}"
        self.headers = {"Authorization": basic_auth(pile_id, password)}
        self.ws = None
        self.booted = False
        self.queue: deque = deque()  # (action, payload JSON, device time)
        self.step = index  # position in MIX, staggered across chargers
        self.serial = 0
        self.energy_wh = 1_000_000.0 + index
        self.lost_at: float | None = None
        self.next_due = 0.0
        self.unanswered = False  # the last CALL was written but its answer never came
        self.reconnected_at: float | None = None
        self.drained_at: float | None = None

    # -- the connection -------------------------------------------------------------------

    async def open(self) -> bool:
        stats = self.fleet.stats
        try:
            self.ws = await connect(self.url, subprotocols=[Subprotocol("ocpp1.6")], additional_headers=self.headers,
                                    open_timeout=self.fleet.open_timeout_s, ping_interval=None, compression=None,
                                    close_timeout=1, max_queue=4)
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
            stats.connect_failures += 1
            self.ws = None
            return False
        if self.lost_at is not None:
            now = time.monotonic()
            stats.reconnections += 1
            self.reconnected_at = now
        if not self.booted:
            status = await self.call(Action.BOOT, _BOOT % self.pile_id)
            if status is None:
                await self.close()
                return False
            self.booted = True
            stats.connected += 1
            state = status.get("status", "?")
            stats.boot_status[state] = stats.boot_status.get(state, 0) + 1
        return True

    def lost(self) -> None:
        if self.ws is not None:
            self.fleet.stats.disconnects += 1
            self.lost_at = time.monotonic()
            ws, self.ws = self.ws, None
            asyncio.get_running_loop().create_task(ws.close())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    # -- messages -------------------------------------------------------------------------

    def generate_due(self, now: float) -> None:
        """Queue every message whose due time has come (catching up after an outage)."""
        while self.next_due <= now:
            action = MIX[self.step % len(MIX)]
            self.step += 1
            due = self.next_due
            self.next_due += self.fleet.interval_s
            if action is Action.HEARTBEAT:
                if self.ws is None or self.queue:
                    self.fleet.stats.dropped += 1
                    continue
                payload = "{}"
            elif action is Action.STATUS:
                payload = _STATUS % device_time(due)
            else:
                self.energy_wh += 15.0
                payload = _METER % (device_time(due), self.energy_wh)
            self.queue.append((action, payload, due))

    async def call(self, action: Action, payload: str) -> dict | None:
        """Send one CALL and wait for its answer: the CALLRESULT payload, or None when the
        answer was a CALLERROR, the connection broke or the call timed out."""
        fleet, stats = self.fleet, self.fleet.stats
        self.serial += 1
        message_id = f"{self.serial}"
        sent_at = time.monotonic()
        self.unanswered = False
        try:
            await self.ws.send(f'[2,"{message_id}","{action.value}",{payload}]')
            self.unanswered = True  # written: from here on the central system may have acted on it
            stats.sent += 1
            in_window = fleet.window[0] <= sent_at < fleet.window[1]
            if in_window:
                stats.window_sent += 1
            async with asyncio.timeout(fleet.call_timeout_s):
                while True:
                    frame = json.loads(await self.ws.recv())
                    if frame[0] == 2:  # a CALL from the central system: not part of the load
                        await self.ws.send(json.dumps([4, frame[1], "NotImplemented", "load generator", {}]))
                        continue
                    if frame[1] == message_id:
                        break
        except asyncio.TimeoutError:
            stats.timeouts += 1
            self.lost()
            return None
        except (websockets.exceptions.ConnectionClosed, OSError):
            self.lost()
            return None
        self.unanswered = False
        if frame[0] == 4:
            stats.errors += 1
            return None
        stats.answered += 1
        if in_window:
            stats.window_answered += 1
            stats.latencies_ms.append((time.monotonic() - sent_at) * 1000)
        return frame[2]

    async def live(self, until: float, deadline: float) -> None:
        """Run the schedule until `until`; then, with no new messages, deliver what is still
        queued (reconnecting as needed) until done or `deadline`."""
        fleet = self.fleet
        resending = False
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            if now < until:
                self.generate_due(now)
            elif self.ws is not None and not self.queue:
                return
            if self.ws is None:
                await asyncio.sleep(fleet.reconnect_s * (0.5 + random.random()))
                if time.monotonic() < deadline and await self.open():
                    if not self.queue and self.lost_at is not None:  # nothing was queued: delivered already
                        self.drained_at = time.monotonic()
                        self.lost_at = None
                continue
            if self.queue:
                action, payload, _ = self.queue[0]
                if resending:
                    fleet.stats.resent += 1
                answer = await self.call(action, payload)
                if answer is not None or self.ws is not None:
                    # Answered, or a CALLERROR: the message is done with (a CALLERROR is not retried).
                    self.queue.popleft()
                    resending = False
                    if answer is not None and action is not Action.HEARTBEAT:
                        fleet.stats.stored_expected[action.value] = fleet.stats.stored_expected.get(action.value, 0) + 1
                    if not self.queue and self.lost_at is not None:
                        self.drained_at = time.monotonic()
                        self.lost_at = None
                else:
                    # The connection broke. If the CALL had been written, the central system may
                    # have stored it: sending it again (new message id) is the replay ingest must
                    # store once. If not, it is simply sent later.
                    resending = self.unanswered
                continue
            await asyncio.sleep(max(0.0, min(self.next_due, until) - time.monotonic()))


class Fleet:
    """Chargers `[(pile_id, password), …]` against a central system at `url` (ws://host:port/ocpp).

    `rate` is total CALLs per second across the fleet once booted (each charger sends one
    every len(chargers)/rate seconds, phases spread evenly). Latencies are kept for CALLs
    sent inside `window` (monotonic start, end).
    """

    def __init__(self, url: str, chargers: list[tuple[str, str]], *, rate: float, call_timeout_s: float = 30.0,
                 reconnect_s: float = 0.5, open_timeout_s: float = 30.0, offset: int = 0):
        self.url = url
        self.interval_s = len(chargers) / rate
        self.call_timeout_s = call_timeout_s
        self.reconnect_s = reconnect_s
        self.open_timeout_s = open_timeout_s
        self.window = (float("inf"), float("inf"))
        self.stats = Stats(chargers=len(chargers))
        self.chargers = [Charger(self, offset + i, pile, password) for i, (pile, password) in enumerate(chargers)]

    async def connect_all(self, concurrency: int = 100) -> None:
        """Connect and boot every charger, at most `concurrency` handshakes at once."""
        gate = asyncio.Semaphore(concurrency)

        async def one(charger: Charger) -> None:
            async with gate:
                for _ in range(5):
                    if await charger.open():
                        return
                    await asyncio.sleep(self.reconnect_s)

        await asyncio.gather(*(one(c) for c in self.chargers))

    async def run(self, start: float, until: float, drain_s: float = 30.0) -> Stats:
        """Send the steady mix from `start` to `until`, then deliver what is still queued
        (at most `drain_s` more); then count the connections held and what is left queued."""
        n = len(self.chargers)
        for i, charger in enumerate(self.chargers):
            charger.next_due = start + self.interval_s * i / n
        await asyncio.gather(*(c.live(until, until + drain_s) for c in self.chargers))
        self.stats.held = sum(1 for c in self.chargers if c.ws is not None)
        self.stats.queued_left = sum(len(c.queue) for c in self.chargers)
        self.stats.reconnected_at = [c.reconnected_at for c in self.chargers if c.reconnected_at is not None]
        self.stats.drained_at = [c.drained_at for c in self.chargers if c.drained_at is not None]
        return self.stats

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.chargers), return_exceptions=True)
