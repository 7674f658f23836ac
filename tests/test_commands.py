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


def test_a_command_a_pile_never_answers_times_out_on_its_order_and_a_late_ack_is_noted_too(
        settings, db, fleet, ingest, platform_client):
    from maintenance.orders.policy_step import step
    from maintenance.policy import load

    pile = fleet[0]
    order = db.execute("INSERT INTO work_orders (kind, pile_id, title, created_by) "
                       "VALUES ('corrective', %s, 'Fan stopped', 'test') RETURNING id", (pile,)).fetchone()[0]
    command_id = send_command(db, platform_client, Topics(settings.topic_prefix), pile, CommandType.RESET,
                              {"type": "Soft"}, requested_by="triage", work_order_id=order)

    def timeline() -> list[str]:
        return [r[0] for r in db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s "
                                         "AND actor = 'commands' ORDER BY id", (order,))]

    # No pile answers: within the policy's ack time-out nothing is said, after it the order hears.
    patient, impatient = load().model_copy(update={"command_ack_timeout_s": 3600}), \
        load().model_copy(update={"command_ack_timeout_s": 1})
    step(db, patient, None)
    assert db.execute("SELECT state FROM commands").fetchone()[0] == "sent" and timeline() == []
    time.sleep(1.1)
    step(db, impatient, None)
    assert db.execute("SELECT state FROM commands").fetchone()[0] == "timed_out"
    [line] = timeline()
    assert f"command {command_id} (Reset Soft, requested by triage, via MQTT): timed out at " in line
    assert line.endswith(f"no answer from pile {pile}")

    # The pile comes back and answers after all: the answer counts and is noted once.
    device = Device(settings)
    device.publish(device.topics.command_ack(pile), {"v": 1, "id": str(command_id), "status": "Accepted",
                                                     "ts": now_iso()})
    wait_for(lambda: db.execute("SELECT state FROM commands").fetchone()[0] == "acknowledged")
    step(db, impatient, None)
    step(db, impatient, None)
    assert len(timeline()) == 2 and f"pile {pile} answered Accepted at " in timeline()[1]
