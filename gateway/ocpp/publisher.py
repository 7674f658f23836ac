"""QoS 1 publishes to the broker, awaited from asyncio until the broker's PUBACK.

paho runs its network loop in a thread of its own; `on_publish` resolves the asyncio future
of the message id through `loop.call_soon_threadsafe`, so thousands of connections can wait
for their PUBACKs without a thread each. The gateway answers a charger only after the PUBACK
(docs/ocpp.md, "Nothing acknowledged that is not at the broker").
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading

import paho.mqtt.client as mqtt

from gateway import mqtt as mqtt_connection
from pilecare.settings import MqttTarget

log = logging.getLogger(__name__)


class PublishTimeout(Exception):
    """The broker did not acknowledge a publish in time (it is down or unreachable)."""


# The broker's message_size_limit (deploy/mosquitto/mosquitto.conf). Mosquitto drops the
# connection of a client publishing more, and paho sends the message again after every
# reconnect: one oversized envelope would silence the gateway for every charger.
MAX_PAYLOAD_BYTES = 1024 * 1024


class MessageTooLarge(Exception):
    """The message is larger than the broker takes (MAX_PAYLOAD_BYTES); it was not sent."""


class Publisher:
    """One MQTT connection for a gateway process.

    `await publish(topic, payload)` returns once the broker has acknowledged the message
    (PUBACK, QoS 1) and raises PublishTimeout after `timeout_s`. paho keeps unacknowledged
    messages and sends them again after a reconnect, so a timed-out message may still arrive:
    ingest's idempotent merge makes that harmless.
    """

    def __init__(self, target: MqttTarget, client_id: str, *, timeout_s: float = 10.0):
        self._target = target
        self._timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, asyncio.Future] = {}
        # paho may call on_publish before publish() has returned the message id to us (fast
        # local broker): ids acknowledged before their future exists are remembered here.
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._client = mqtt_connection.client(target, client_id)
        self._client.on_publish = self._on_publish
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *args: self._connected.clear()

    async def start(self) -> None:
        """Connect and start paho's network thread; returns once connected."""
        self._loop = asyncio.get_running_loop()
        # A clean session: what this process published and lost in a crash is the charger's
        # to send again (it never got its CALLRESULT).
        mqtt_connection.connect(self._client, self._target, persistent=False, blocking=False)
        self._client.loop_start()
        if not await asyncio.to_thread(self._connected.wait, self._timeout_s):
            raise PublishTimeout(f"no connection to the broker at {self._target.host}:{self._target.port}")

    async def stop(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    async def publish(self, topic: str, payload: dict, *, retain: bool = False) -> None:
        """Publish `payload` as JSON with QoS 1 and wait for the broker's PUBACK. Raises
        MessageTooLarge (nothing sent) beyond MAX_PAYLOAD_BYTES, PublishTimeout without PUBACK."""
        # ASCII with escapes: a charger's JSON may carry a lone surrogate ("\ud800"), which
        # would not encode as UTF-8 and would lose the message (its dead letter included).
        data = json.dumps(payload, separators=(",", ":"))
        if len(data) > MAX_PAYLOAD_BYTES:  # ASCII: as many bytes as characters
            raise MessageTooLarge(f"{len(data)} bytes for {topic}; the broker takes at most {MAX_PAYLOAD_BYTES}")
        future = self._loop.create_future()
        # Not under our lock: paho calls on_publish holding its own message lock, which
        # publish() takes too, so holding ours around it could deadlock with on_publish.
        info = self._client.publish(topic, data, qos=1, retain=retain)
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                future.set_result(None)
            else:
                self._pending[info.mid] = future
        try:
            # The future stays registered after a time-out (cancelled): a late PUBACK then
            # finds it and is dropped, instead of passing for a later message's reusing the id.
            await asyncio.wait_for(future, self._timeout_s)
        except asyncio.TimeoutError:
            raise PublishTimeout(f"broker did not acknowledge {topic} within {self._timeout_s} s") from None

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            log.error("the broker refused the gateway's connection: %s", reason_code)
        else:
            self._connected.set()

    def _on_publish(self, client, userdata, mid, reason_code=None, properties=None) -> None:
        with self._lock:
            future = self._pending.pop(mid, None)
            if future is None:
                self._early.add(mid)
                return
        self._loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
