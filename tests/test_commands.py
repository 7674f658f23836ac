"""Commands reach the pile on its commands topic and its ack is recorded by ingest."""
from __future__ import annotations

import json
import threading
import time

import pytest

from gateway import mqtt
from gateway.commands import expire_commands, send_command
from gateway.topics import Topics
from pilecare.domain import CommandType
from pilecare.errors import NotFound
from tests.devices import Device, now_iso, wait_for


@pytest.fixture
def platform_client(settings):
    client = mqtt.client(settings.mqtt(), "platform-commands")
    mqtt.connect(client, settings.mqtt(), persistent=False)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def test_a_command_is_published_to_the_pile_and_its_ack_recorded(settings, db, fleet, ingest, platform_client):
    pile = fleet[0]
    received = []
    got = threading.Event()
    device = Device(settings)

    def on_message(client, userdata, msg):
        received.append(json.loads(msg.payload))
        got.set()

    device.client.on_message = on_message
    device.client.subscribe(device.topics.commands(pile), qos=1)
    wait_for(lambda: device.client.is_connected())
    time.sleep(0.3)  # let the SUBACK arrive before publishing
    command_id = send_command(db, platform_client, Topics(settings.topic_prefix), pile, CommandType.RESET,
                              {"type": "Soft"}, requested_by="test-operator")
    assert got.wait(10)
    assert received[0]["type"] == "Reset" and received[0]["id"] == str(command_id) and received[0]["params"] == {"type": "Soft"}
    assert db.execute("SELECT state, requested_by FROM commands").fetchone() == ("sent", "test-operator")
    device.publish(device.topics.command_ack(pile), {"v": 1, "id": str(command_id), "status": "Accepted", "ts": now_iso()})
    wait_for(lambda: db.execute("SELECT state FROM commands").fetchone()[0] == "acknowledged")


def test_a_command_for_an_unknown_pile_is_refused(settings, db, fleet, platform_client):
    with pytest.raises(NotFound):
        send_command(db, platform_client, Topics(settings.topic_prefix), "NOPE", CommandType.RESET, requested_by="t")


def test_unacknowledged_commands_time_out(settings, db, fleet):
    db.execute("INSERT INTO commands (id, pile_id, type, state, requested_by, requested_at) "
               "VALUES (gen_random_uuid(), %s, 'Reset', 'sent', 't', now() - interval '10 minutes')", (fleet[0],))
    assert expire_commands(db, older_than_s=300) == 1
    assert db.execute("SELECT state FROM commands").fetchone()[0] == "timed_out"
