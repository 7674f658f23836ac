"""The ingest MQTT client's speed-ups keep paho's behaviour."""
from __future__ import annotations

import threading
import time

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway import mqtt


def test_buffered_reads_deliver_every_message_in_order_with_their_v5_properties(settings):
    target = settings.mqtt()
    topic = f"{settings.topic_prefix}/mqtt-client-test"
    got, done = [], threading.Event()
    count = 3000

    def on_message(client, userdata, msg):
        got.append((msg.payload, msg.properties))
        if len(got) == count:
            done.set()

    receiver = mqtt.client(target, f"recv-{time.monotonic_ns()}", buffered_reads=True)
    receiver.on_message = on_message
    mqtt.connect(receiver, target, persistent=False)
    receiver.subscribe(topic, qos=1)
    receiver.loop_start()
    time.sleep(0.3)
    sender = mqtt.client(target, f"send-{time.monotonic_ns()}")
    mqtt.connect(sender, target, persistent=False)
    sender.loop_start()
    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "application/json"
    props.UserProperty = ("pile", "PC-1")
    infos = [sender.publish(topic, f"{i}".encode(), qos=1, properties=props if i % 2 else None) for i in range(count)]
    for info in infos:
        info.wait_for_publish(10)
    try:
        assert done.wait(20), f"received {len(got)} of {count}"
        assert [int(p) for p, _ in got] == list(range(count))
        odd = got[1][1]
        assert odd.ContentType == "application/json" and odd.UserProperty == [("pile", "PC-1")]
        assert not hasattr(got[0][1], "ContentType")
    finally:
        for c in (sender, receiver):
            c.disconnect()
            c.loop_stop()
