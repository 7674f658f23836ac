"""A plain MQTT device for tests: publishes protocol messages and counts broker acks."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timezone

from gateway import mqtt
from gateway.topics import Topics
from pilecare.settings import Settings
from simulators.inprocess import wait_for

__all__ = ["Device", "now_iso", "telemetry", "wait_for"]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def telemetry(seq: int, *, ts: str | None = None, status: str = "Charging", error_code: str = "NoError",
              power_kw: float = 11.0, energy_kwh: float | None = None, connectors: int = 2, **extra) -> dict:
    body = {
        "v": 1,
        "ts": ts or now_iso(),
        "seq": seq,
        "connectors": [
            {"id": c, "status": status if c == 1 else "Available", "error_code": error_code if c == 1 else "NoError",
             "voltage_v": 400.1, "current_a": 16.0, "power_kw": power_kw if c == 1 else 0.0,
             "energy_kwh": energy_kwh if energy_kwh is not None else 1000.0 + seq * 0.1, "temp_c": 35.5}
            for c in range(1, connectors + 1)
        ],
        "temp_internal_c": 31.0,
    }
    body.update(extra)
    return body


class Device:
    """One MQTT client publishing for any pile; counts what the broker acknowledged."""

    def __init__(self, settings: Settings, client_id: str | None = None, *, will_pile: str | None = None):
        self.topics = Topics(settings.topic_prefix)
        self.client = mqtt.client(settings.mqtt(), client_id or f"dev-{uuid.uuid4().hex[:8]}")
        # paho marks each MessageInfo published on PUBACK (also after resending on a
        # reconnect), so they count acks exactly without a lock around paho's own locks.
        self.infos = []
        self.connected = threading.Event()
        self.client.on_connect = lambda *a: self.connected.set()
        self.client.on_disconnect = lambda *a: self.connected.clear()
        if will_pile:
            self.client.will_set(self.topics.status(will_pile),
                                 json.dumps({"v": 1, "state": "offline", "reason": "connection_lost"}), qos=1, retain=True)
        mqtt.connect(self.client, settings.mqtt(), persistent=False, keepalive=5)
        self.client.loop_start()
        assert self.connected.wait(10), "test device could not connect"

    @property
    def acked(self) -> int:
        # Not is_published(): it raises for a publish queued while disconnected, which
        # paho still sends after reconnecting and then marks published.
        return sum(1 for info in list(self.infos) if info._published)

    def publish(self, topic: str, payload: dict | bytes | str, *, retain: bool = False):
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        info = self.client.publish(topic, data, qos=1, retain=retain)
        self.infos.append(info)
        return info

    def telemetry(self, pile_id: str, seq: int, **kwargs):
        return self.publish(self.topics.telemetry(pile_id), telemetry(seq, **kwargs))

    def wait_acked(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.acked == len(self.infos):
                return
            time.sleep(0.05)
        raise AssertionError(f"{len(self.infos) - self.acked} publishes not acknowledged by the broker")

    def close(self, *, clean: bool = True) -> None:
        if clean:
            self.client.disconnect()
        else:
            # Close the socket without DISCONNECT so the broker fires the last will.
            self.client.socket().close()
        self.client.loop_stop()
