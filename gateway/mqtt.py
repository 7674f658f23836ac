"""MQTT connections from settings: one place that knows URLs, TLS and credentials."""
from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pilecare.settings import MqttTarget

# A session kept a day: long enough for any worker outage; a pile that never returns
# stops costing broker memory after that.
SESSION_EXPIRY_S = 86_400


def client(target: MqttTarget, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )
    if target.username:
        c.username_pw_set(target.username, target.password)
    if target.tls:
        c.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    c.reconnect_delay_set(min_delay=1, max_delay=10)
    # paho keeps QoS>0 messages published while disconnected and sends them on reconnect;
    # no cap, so a broker restart drops nothing on the publishing side.
    c.max_queued_messages_set(0)
    # paho's default of 20 unacknowledged publishes caps a publisher at 20 round trips.
    c.max_inflight_messages_set(1000)
    return c


def connect(
    c: mqtt.Client,
    target: MqttTarget,
    *,
    persistent: bool = True,
    receive_maximum: int | None = None,
    keepalive: int = 30,
    blocking: bool = True,
) -> None:
    """Connect; a persistent session (clean_start=False) resumes what queued meanwhile.

    paho reuses these properties on every automatic reconnect.
    """
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    if receive_maximum:
        props.ReceiveMaximum = receive_maximum
    call = c.connect if blocking else c.connect_async
    call(target.host, target.port, keepalive=keepalive, clean_start=not persistent, properties=props)
