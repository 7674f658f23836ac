"""Transports for outbox deliveries: MQTT to the engineer's phone and to staff roles,
signed webhooks (and e-mail to customers: maintenance/outbox/mail.py).

One error type, `TransportError(message, permanent, status)`: the deliverer records the
message on the delivery and retries unless the error is permanent
(maintenance/outbox/delivery.py).
Receivers of webhooks verify them with `verify_signature` (docs/webhooks.md).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import httpx

from gateway.topics import Topics

if TYPE_CHECKING:
    from maintenance.outbox.mail import OutgoingMail

SIGNATURE_HEADER = "X-Pilecare-Signature"
EVENT_HEADER = "X-Pilecare-Event"
DELIVERY_HEADER = "X-Pilecare-Delivery"


class TransportError(Exception):
    """A delivery attempt failed; `permanent` when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True)
class Delivery:
    """One claimed delivery, with what its transport needs."""

    id: int
    outbox_id: int
    channel: str
    event: str
    body: dict                     # the envelope (see `envelope`)
    attempts: int = 0              # before this one
    engineer_id: str | None = None
    webhook_id: int | None = None
    url: str | None = None
    secret: str | None = None
    role: str | None = None        # MQTT to a role's topic (notices) instead of an engineer's
    mail: OutgoingMail | None = None  # an email delivery's mail (its outbox_mail row)


def envelope(outbox_id: int, event: str, at: datetime, payload: dict, *, work_order_id: int | None = None,
             engineer_id: str | None = None, customer_id: str | None = None) -> dict:
    """The JSON every channel carries (MQTT, webhooks, the console's event stream)."""
    return {"id": outbox_id, "event": event, "at": at.isoformat(), "work_order_id": work_order_id,
            "engineer_id": engineer_id, "customer_id": customer_id, "data": payload}


def encode(body: dict) -> bytes:
    # Compact and stable: the signature covers these exact bytes.
    return json.dumps(body, separators=(",", ":"), default=str).encode()


class Transport(Protocol):
    def send(self, delivery: Delivery) -> int | None:
        """Deliver or raise TransportError; returns the HTTP status where there is one."""

    def close(self) -> None: ...


# --- MQTT ---------------------------------------------------------------------------

class MqttTransport:
    """Publishes to `…/engineers/{id}/work-orders`, or a notice to `…/staff/{role}/notices`
    (QoS 1), and waits for the broker's PUBACK, so an unacknowledged publish is a failed
    attempt, not a silent loss.

    A publish that times out stays queued in paho and may still go out on reconnect; the
    retry then duplicates it, which is why the envelope's `id` is the receiver's dedup key.
    """

    def __init__(self, settings, *, client_id: str | None = None, timeout_s: float = 10.0):
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.client_id = client_id or f"pilecare-deliver-{id(self):x}"
        self.timeout_s = timeout_s
        self._client = None
        self._lock = threading.Lock()

    def _connected(self):
        with self._lock:
            if self._client is None:
                from gateway import mqtt

                client = mqtt.client(self.settings.mqtt(), self.client_id)
                try:
                    mqtt.connect(client, self.settings.mqtt(), persistent=False)
                except OSError as error:
                    target = self.settings.mqtt()
                    raise TransportError(f"cannot reach the MQTT broker at {target.host}:{target.port}: {error}")
                client.loop_start()
                self._client = client
            return self._client

    def send(self, delivery: Delivery) -> int | None:
        if delivery.engineer_id:
            topic = self.topics.engineer_work_orders(delivery.engineer_id)
        elif delivery.role:
            topic = self.topics.staff_notices(delivery.role)
        else:
            raise TransportError("MQTT delivery without an engineer or a role", permanent=True)
        info = self._connected().publish(topic, encode(delivery.body), qos=1)
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as error:
            raise TransportError(f"MQTT publish to {topic} failed: {error}")
        if not info.is_published():
            raise TransportError(f"the MQTT broker did not acknowledge within {self.timeout_s:g} s")
        return None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.disconnect()
                self._client.loop_stop()
                self._client = None


# --- Webhooks -----------------------------------------------------------------------

def sign(secret: str, timestamp: int, body: bytes | str) -> str:
    """The hex HMAC-SHA256 of f"{timestamp}.{body}" under `secret`."""
    if isinstance(body, str):
        body = body.encode()
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes | str) -> str:
    return f"t={int(timestamp)},v1={sign(secret, timestamp, body)}"


def verify_signature(secret: str, header: str | None, body: bytes | str, *, tolerance_s: float = 300,
                     now: float | None = None) -> bool:
    """True when `header` (X-Pilecare-Signature) signs exactly `body` with `secret`, at a
    timestamp within `tolerance_s` of now (an old, replayed request is refused).

    Several v1= values are accepted (any may match), so a sender can sign with an old
    and a new secret while they are rotated.
    """
    if not header:
        return False
    timestamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


class WebhookTransport:
    """POSTs the envelope as JSON, signed; any 2xx is delivered.

    410 Gone is permanent (the receiver says the endpoint is no more); every other
    failure is retried, as a receiver that is down or misconfigured is usually fixed.
    """

    def __init__(self, timeout_s: float = 10.0, *, user_agent: str = "pilecare-webhooks/1"):
        self.timeout_s = timeout_s
        # Redirects are not followed: the signed request goes to the registered URL only.
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=False, headers={"User-Agent": user_agent})

    def send(self, delivery: Delivery, *, now: float | None = None) -> int | None:
        if not delivery.url or not delivery.secret:
            raise TransportError("webhook delivery without a URL or secret", permanent=True)
        body = encode(delivery.body)
        timestamp = int(time.time() if now is None else now)
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.id),
            SIGNATURE_HEADER: signature_header(delivery.secret, timestamp, body),
        }
        try:
            response = self._http.post(delivery.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise TransportError(f"no response from {delivery.url} within {self.timeout_s:g} s")
        except httpx.ConnectError as error:
            raise TransportError(f"cannot connect to {delivery.url}: {error}")
        except httpx.HTTPError as error:
            raise TransportError(f"request to {delivery.url} failed: {type(error).__name__}: {error}")
        if 200 <= response.status_code < 300:
            return response.status_code
        excerpt = response.text[:200].strip()
        message = f"HTTP {response.status_code} {response.reason_phrase}" + (f": {excerpt}" if excerpt else "")
        raise TransportError(message, permanent=response.status_code == 410, status=response.status_code)

    def close(self) -> None:
        self._http.close()
