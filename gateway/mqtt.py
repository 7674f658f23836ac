"""MQTT connections from settings: one place that knows URLs, TLS and credentials."""
from __future__ import annotations

import ssl
import struct

import paho.mqtt.client as mqtt
import paho.mqtt._packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pilecare.settings import MqttTarget

# A session kept a day: long enough for any worker outage; a pile that never returns
# stops costing broker memory after that.
SESSION_EXPIRY_S = 86_400
_PUBACK = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id (reason 0 implied)


_TABLES = {k: v for k, v in Properties(PacketTypes.PUBLISH).__dict__.items() if k != "packetType"}


class _IncomingProperties(Properties):
    """paho (2.2) rebuilds its property lookup tables for every incoming packet and
    clears 27 names one by one before decoding, which doubled the cost of receiving an
    MQTT v5 PUBLISH (52 µs against 26 µs for 3.1.1, measured). Same behaviour, with the
    read-only tables built once; tests/test_mqtt_client.py checks properties still decode.
    """

    def __init__(self, packetType):
        self.__dict__.update(_TABLES)
        self.__dict__["packetType"] = packetType

    def clear(self):
        for key in [k for k in self.__dict__ if k not in _TABLES and k != "packetType"]:
            del self.__dict__[key]


# Only the decoder of incoming packets is switched; what this process sends is unchanged.
paho.mqtt._packet.Properties = _IncomingProperties


class BufferedReadClient(mqtt.Client):
    """paho reads each packet with three or more recv() calls (command byte, length
    bytes one at a time, body) and a select() per packet. A consumer of thousands of
    messages a second spends a third of its time there, so read 64 KiB at a time and
    parse every whole packet already in the buffer before going back to select().

    Relies on paho 2.x internals (_sock_recv, _sock_close, loop_read); the ingest tests
    and benchmark exercise it on every run.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._read_buffer = bytearray()

    def _sock_recv(self, bufsize: int) -> bytes:
        buffer = self._read_buffer
        if not buffer:
            data = super()._sock_recv(65536)  # raises BlockingIOError when nothing is there
            if not data:
                return b""  # connection closed
            buffer += data
        chunk = bytes(buffer[:bufsize])
        del buffer[:bufsize]
        return chunk

    def _sock_close(self) -> None:
        # Bytes of a dead connection must never be parsed as the start of the next one.
        self._read_buffer.clear()
        super()._sock_close()

    def ack_many(self, mids: list[int]) -> None:
        """PUBACK many QoS 1 messages with one queued write.

        paho's ack() wakes its network thread through a socket pair for every message;
        from another thread that is one system call and one GIL hand-over each, which
        made acknowledging a batch cost more than storing it.
        """
        if mids:
            packet = b"".join(_PUBACK.pack(0x40, 2, mid) for mid in mids)
            self._packet_queue(0x40, packet, 0, 0)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        # select() cannot see our buffer: drain it before waiting on the socket again.
        while rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._read_buffer and self._sock is not None:
            rc = super().loop_read(max_packets)
        return rc


def client(target: MqttTarget, client_id: str, *, manual_ack: bool = False, buffered_reads: bool = False) -> mqtt.Client:
    factory = BufferedReadClient if buffered_reads else mqtt.Client
    c = factory(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
    )
    if target.username:
        c.username_pw_set(target.username, target.password)
    if target.tls:
        c.tls_set(ca_certs=target.ca_file, cert_reqs=ssl.CERT_REQUIRED)
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
