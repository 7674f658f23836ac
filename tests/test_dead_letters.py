"""Bad device input lands in dead letters with its raw bytes and a clear reason, and the
next valid message is stored normally."""
from __future__ import annotations

import json

import pytest

from tests.devices import Device, telemetry, wait_for

GOOD = telemetry(1)


def _with(connector_changes=None, **top):
    body = json.loads(json.dumps(GOOD))
    body.update(top)
    if connector_changes:
        body["connectors"][0].update(connector_changes)
    return json.dumps(body)


def _without(field):
    body = json.loads(json.dumps(GOOD))
    del body[field]
    return json.dumps(body)


CASES = [
    ("malformed_json", "telemetry", b'{"v":1,"ts":', "malformed JSON"),
    ("not_utf8", "telemetry", b"\xff\xfe\x00garbage", "malformed JSON"),
    ("oversized", "telemetry", _with(info="x" * 70_000), "exceeds the limit of 65536"),
    ("pile_id_disagrees_with_topic", "telemetry", _with(pile_id="SOMEONE-ELSE"), "disagrees with topic pile id"),
    ("event_time_without_a_time", "events", json.dumps({"v": 1, "id": "e1", "ts": "2026-11-22", "type": "boot"}), "ts: Input should be a valid datetime"),
    ("unknown_event_type", "events", json.dumps({"v": 1, "id": "e1", "ts": "2026-11-22T10:00:00Z", "type": "party"}), "type: Input should be"),
    ("unknown_protocol_version", "telemetry", _with(v=2), "v: Input should be less than or equal to 1"),
    ("version_as_boolean", "telemetry", _with(v=True), "v: Input should be a valid integer"),
    ("ack_for_unknown_command", "commands/ack",
     json.dumps({"v": 1, "id": "6f1c2d8e-6b1f-4a53-9d0c-1c1b8c1f2a3b", "status": "Accepted", "ts": "2026-11-22T10:00:00Z"}),
     "ack for unknown command id"),
]


@pytest.mark.parametrize("name, leaf, payload, reason", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_dead_lettered_with_its_reason_and_the_next_message_is_stored(settings, db, fleet, ingest, name, leaf, payload, reason):
    device = Device(settings)
    raw = payload.encode() if isinstance(payload, str) else payload
    device.publish(device.topics.pile(fleet[0], leaf), raw)
    device.telemetry(fleet[0], 2)
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] == 1,
             message="the valid message after the bad one")
    rows = db.execute("SELECT topic, reason, payload, payload_size, kind FROM dead_letters").fetchall()
    assert len(rows) == 1
    topic, stored_reason, stored_payload, size, kind = rows[0]
    assert reason in stored_reason
    assert bytes(stored_payload) == raw and size == len(raw)
    assert topic == device.topics.pile(fleet[0], leaf) and kind == leaf


# Broken in a field the message can do without: stored with that field repaired, reported
# as data quality, so a fault elsewhere in it still counts (ingest/salvage.py, issue 11 item 1).
SALVAGED = [
    ("wrong_type_string_number", _with({"voltage_v": "400.1"}), "connectors[0].voltage_v '400.1': Input should be a valid number; read as 400.1"),
    ("wrong_type_float_seq", _with(seq=4.5), "seq 4.5: Input should be a valid integer; stored without a sequence number"),
    ("seq_as_digits", _with(seq="184467"), "seq '184467': Input should be a valid integer; read as 184467"),
    ("integral_float_seq", _with(seq=5.0), "seq 5.0: Input should be a valid integer; read as 5"),
    ("missing_field", _without("seq"), "seq null: Field required; stored without a sequence number"),
    ("nan", _with().replace('"voltage_v": 400.1', '"voltage_v": NaN'), "connectors[0].voltage_v NaN"),
    ("infinity", _with().replace('"temp_c": 35.5', '"temp_c": Infinity'), "connectors[0].temp_c Infinity"),
    ("unknown_status", _with({"status": "Exploded"}), "connectors[0].status 'Exploded'"),
    ("error_code_not_a_string", _with({"error_code": 5}), "connectors[0].error_code 5: Input should be a valid string; kept as text"),
    ("unix_timestamp", _with(ts=1764476421), "ts 1764476421: Input should be a valid datetime"),
    ("duplicate_connector_ids", json.dumps({**GOOD, "connectors": [GOOD["connectors"][0]] * 2}), "connector 1 twice"),
    ("pile_status_outside_connector_zero_vocabulary", _with(status="Charging"), "status 'Charging': not a status of the pile"),
    ("date_without_a_time", _with(ts="2026-11-22"), "ts '2026-11-22': Input should be a valid datetime"),
]


@pytest.mark.parametrize("name, payload, repair", SALVAGED, ids=[c[0] for c in SALVAGED])
def test_a_message_broken_in_a_field_it_can_do_without_is_stored_with_the_field_repaired(
        settings, db, fleet, ingest, name, payload, repair):
    device = Device(settings)
    device.publish(device.topics.telemetry(fleet[0]), payload.encode())
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] == 1,
             message="the repaired message")
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    problem, detail, first = db.execute("SELECT problem, detail, first_payload FROM data_quality").fetchone()
    assert problem == "invalid_field" and repair in detail and bytes(first) == payload.encode()


def test_a_message_from_an_unknown_pile_is_dead_lettered(settings, db, fleet, ingest):
    device = Device(settings)
    device.telemetry("NOT-IN-REGISTRY", 1)
    device.telemetry(fleet[0], 1)
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 1)
    assert db.execute("SELECT pile_id, reason FROM dead_letters").fetchone() == (
        "NOT-IN-REGISTRY", "unknown pile id 'NOT-IN-REGISTRY' (not in the fleet registry)")
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] == 1)


def test_a_pile_added_to_the_registry_is_accepted_at_its_first_message(settings, db, fleet, ingest):
    device = Device(settings)
    device.telemetry(fleet[0], 1)
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry").fetchone()[0] > 0)
    db.execute("INSERT INTO piles (id, serial, model_id, site_id) VALUES ('NEW-1', 'SN-NEW-1', 'T-AC22', 'SITE-1')")
    device.telemetry("NEW-1", 1)
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE pile_id = 'NEW-1'").fetchone()[0] == 3)
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0


def test_a_topic_outside_the_contract_is_dead_lettered(settings, db, fleet, ingest):
    device = Device(settings)
    device.publish(device.topics.pile(fleet[0], "telemetry"), GOOD)
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry").fetchone()[0] > 0)
    # The worker only subscribes to contract topics, so check the decoder on its own.
    from ingest.decode import DeadLetter, Decoder, Inbound

    out = Decoder(settings).decode(Inbound(f"{settings.topic_prefix}/piles/X/selfie", b"{}", 1, 1, 0.0, 1))
    assert isinstance(out, DeadLetter) and "not part of the device contract" in out.reason
