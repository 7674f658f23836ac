"""For the OCPP gateway tests: the gateway in a thread of the test process, a charge point
not written here (npm ocpp-rpc, tests/ocpp_client/client.js) driven over JSON lines, and a
watcher of what reaches the broker."""
from __future__ import annotations

import asyncio
import json
import queue
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.ocpp.server import Gateway
from pilecare.settings import Settings

CLIENT_DIR = Path(__file__).parent / "ocpp_client"


def client_missing() -> str | None:
    """Why the charge point cannot run, or None. scripts/venv.sh installs it (`npm ci`)."""
    if shutil.which("node") is None:
        return "Node.js is missing: the OCPP tests drive an ocpp-rpc charge point (apt-get install nodejs npm)"
    if not (CLIENT_DIR / "node_modules" / "ocpp-rpc").is_dir():
        return "tests/ocpp_client is not installed: run scripts/venv.sh (npm ci of ocpp-rpc)"
    return None


class RunningGateway:
    """A `Gateway` serving on a free port in a thread with its own event loop."""

    def __init__(self, settings: Settings, listeners=()):
        self.gateway = Gateway(settings, listeners=listeners, client_id=f"ocpp-test-{uuid.uuid4().hex[:8]}")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> "RunningGateway":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.gateway.start(), self.loop).result(30)
        return self

    def run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def port(self) -> int:
        return self.gateway.port

    def stop(self) -> None:
        self.run(self.gateway.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Timeout(AssertionError):
    pass


class ChargePoint:
    """An ocpp-rpc RPCClient in a Node.js process. Every line it prints is kept in order;
    `expect` waits for the next one matching, `events` lists them all."""

    def __init__(self):
        self.process = subprocess.Popen(["node", str(CLIENT_DIR / "client.js")], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)
        self._lines: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(json.loads(line))

    def send(self, **command) -> None:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def expect(self, timeout: float = 15, **match) -> dict:
        """The first event (seen or coming) whose fields equal `match`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if all(event.get(k) == v for k, v in match.items()):
                    self.events.remove(event)
                    return event
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"no event {match} within {timeout} s; saw {self.events}")
            try:
                self.events.append(self._lines.get(timeout=left))
            except queue.Empty:
                pass

    def connect(self, url: str, identity: str, password: str | None, protocol: str, ca: str | None = None) -> dict:
        """Open the connection; the 'open' or 'refused' event."""
        self.send(op="connect", endpoint=url, identity=identity, password=password, protocols=[protocol], ca=ca)
        deadline = time.monotonic() + 15
        while True:
            for kind in ("open", "refused"):
                try:
                    return self.expect(timeout=0.05, event=kind)
                except Timeout:
                    pass
            if time.monotonic() > deadline:
                raise Timeout(f"no open/refused; saw {self.events}")

    def call(self, method: str, params: dict, timeout: float = 15) -> dict:
        """Send a CALL; the 'result' or 'callerror' event answering it."""
        self._next_id += 1
        call_id = self._next_id
        self.send(op="call", id=call_id, method=method, params=params)
        deadline = time.monotonic() + timeout
        while True:
            for kind in ("result", "callerror"):
                try:
                    return self.expect(timeout=0.05, event=kind, id=call_id)
                except Timeout:
                    pass
            if time.monotonic() > deadline:
                raise Timeout(f"no answer to {method}; saw {self.events}")

    def answer_to(self, message_id: str, timeout: float = 15) -> list:
        """The frame the CSMS sent answering `message_id` (e.g. a CALLERROR to a raw frame)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("event") == "message" and json.loads(event["data"])[1:2] == [message_id]:
                    return json.loads(event["data"])
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"no answer to {message_id} within {timeout} s; saw {self.events}")
            try:
                self.events.append(self._lines.get(timeout=left))
            except queue.Empty:
                pass

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class BrokerWatch:
    """Every message on `{prefix}/piles/#`, as (topic, JSON payload, retained) in arrival order."""

    def __init__(self, settings: Settings):
        self.target = target = settings.mqtt()
        self.prefix = settings.topic_prefix
        self.messages: list[tuple[str, dict, bool]] = []
        self._lock = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(f"{self.prefix}/piles/#", qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self._connect(self.client)
        self.client.loop_start()
        assert subscribed.wait(10), "the watcher could not subscribe"

    def _connect(self, client: mqtt.Client) -> None:
        if self.target.username:  # a broker that wants an account (the test suite's admin)
            client.username_pw_set(self.target.username, self.target.password)
        client.connect(self.target.host, self.target.port)

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload), bool(message.retain)))
            self._lock.notify_all()

    def wait_for(self, predicate, timeout: float = 15) -> tuple[str, dict, bool]:
        """The first message (seen or coming) for which predicate(topic, payload) holds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for topic, payload, retained in self.messages:
                    if predicate(topic, payload):
                        return topic, payload, retained
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"no such message within {timeout} s; got {self.messages}")
                self._lock.wait(left)

    def on(self, pile_id: str, leaf: str) -> list[dict]:
        with self._lock:
            return [p for t, p, _ in self.messages if t == f"{self.prefix}/piles/{pile_id}/{leaf}"]

    def retained(self, pile_id: str, leaf: str, timeout: float = 10) -> dict | None:
        """What the broker keeps retained on the pile's `leaf` now, read by a new subscriber."""
        got: queue.Queue = queue.Queue()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"retained-{uuid.uuid4().hex[:8]}")
        client.on_connect = lambda c, *a: c.subscribe(f"{self.prefix}/piles/{pile_id}/{leaf}", qos=1)
        client.on_message = lambda c, u, m: got.put(json.loads(m.payload) if m.retain else None)
        self._connect(client)
        client.loop_start()
        try:
            return got.get(timeout=timeout)
        except queue.Empty:
            return None
        finally:
            client.loop_stop()
            client.disconnect()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
