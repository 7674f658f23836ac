"""Ingest stores valid device messages once, keeps latest state, and records transitions."""
from __future__ import annotations

import json
import uuid

from tests.devices import Device, telemetry, wait_for


def count(db, sql, *params):
    return db.execute(sql, params).fetchone()[0]


def messages_stored(db):
    return count(db, "SELECT count(*) FROM telemetry WHERE connector_id = 0")


def test_telemetry_is_stored_with_one_row_per_connector_and_one_per_message(settings, db, fleet, ingest):
    device = Device(settings)
    for seq in range(1, 11):
        device.telemetry(fleet[0], seq)
    device.wait_acked()
    wait_for(lambda: messages_stored(db) == 10, message="10 messages stored")
    assert count(db, "SELECT count(*) FROM telemetry WHERE connector_id > 0") == 20
    assert count(db, "SELECT count(DISTINCT seq) FROM telemetry") == 10


def test_a_redelivered_message_is_stored_once(settings, db, fleet, ingest):
    device = Device(settings)
    body = telemetry(7)
    for _ in range(3):
        device.publish(device.topics.telemetry(fleet[0]), body)
    device.wait_acked()
    wait_for(lambda: count(db, "SELECT coalesce(sum(received), 0) FROM ingest_counters") == 3)
    assert messages_stored(db) == 1
    assert count(db, "SELECT sum(duplicates) FROM ingest_counters") == 2


def test_latest_state_follows_the_newest_message_even_when_an_older_one_arrives_late(settings, db, fleet, ingest):
    device = Device(settings)
    device.telemetry(fleet[0], 2, ts="2026-11-22T10:00:02Z", status="Charging", power_kw=20.0)
    device.wait_acked()
    wait_for(lambda: messages_stored(db) == 1)
    device.telemetry(fleet[0], 1, ts="2026-11-22T10:00:01Z", status="Preparing", power_kw=0.0)
    device.wait_acked()
    wait_for(lambda: messages_stored(db) == 2)
    status, power, seq = db.execute(
        "SELECT status, power_kw, seq FROM connector_state WHERE pile_id = %s AND connector_id = 1", (fleet[0],)
    ).fetchone()
    assert (status, power, seq) == ("Charging", 20.0, 2)
    assert count(db, "SELECT last_seq FROM pile_state WHERE pile_id = %s", fleet[0]) == 2


def test_status_transitions_are_recorded_for_maintenance_in_order(settings, db, fleet, ingest):
    device = Device(settings)
    sequence = [("Available", "NoError"), ("Charging", "NoError"), ("Faulted", "GroundFailure"),
                ("Faulted", "GroundFailure"), ("Available", "NoError")]
    for seq, (status, error) in enumerate(sequence, start=1):
        device.telemetry(fleet[0], seq, ts=f"2026-11-22T10:00:0{seq}Z", status=status, error_code=error)
    device.wait_acked()
    wait_for(lambda: messages_stored(db) == 5)
    flips = db.execute(
        "SELECT old_status, new_status, new_error_code FROM connector_status_changes "
        "WHERE pile_id = %s AND connector_id = 1 ORDER BY time", (fleet[0],)
    ).fetchall()
    assert flips == [(None, "Available", "NoError"), ("Available", "Charging", "NoError"),
                     ("Charging", "Faulted", "GroundFailure"), ("Faulted", "Available", "NoError")]


def test_sequence_gaps_are_counted_per_pile(settings, db, fleet, ingest):
    device = Device(settings)
    for seq in (1, 2, 3, 7, 8):  # 4, 5, 6 lost
        device.telemetry(fleet[0], seq)
    for seq in (1, 2):
        device.telemetry(fleet[1], seq)
    device.wait_acked()
    wait_for(lambda: messages_stored(db) == 7)
    gaps = dict(db.execute(
        "SELECT pile_id, seq_max - seq_first + 1 - seq_count FROM pile_state WHERE seq_count > 0"
    ).fetchall())
    assert gaps == {fleet[0]: 3, fleet[1]: 0}


def test_a_pile_with_a_reset_clock_is_stored_at_receive_time_and_flagged(settings, db, fleet, ingest):
    device = Device(settings)
    device.telemetry(fleet[0], 1, ts="1970-01-01T00:00:05Z")
    device.telemetry(fleet[0], 1, ts="1970-01-01T00:00:05Z")  # redelivered: still once
    device.telemetry(fleet[1], 1, ts="2099-01-01T00:00:00Z")
    device.wait_acked()
    wait_for(lambda: count(db, "SELECT coalesce(sum(received), 0) FROM ingest_counters") == 3)
    rows = db.execute(
        "SELECT pile_id, device_ts, received_at, time = received_at FROM telemetry WHERE connector_id = 0 ORDER BY pile_id"
    ).fetchall()
    assert len(rows) == 2
    assert rows[0][1].year == 1970 and rows[0][3] is True
    assert rows[1][1].year == 2099 and rows[1][3] is True
    assert count(db, "SELECT count(*) FROM pile_state WHERE clock_skewed") == 2


def test_status_messages_and_last_wills_set_connectivity(settings, db, fleet, ingest):
    pile = fleet[0]
    device = Device(settings, will_pile=pile)
    device.publish(device.topics.status(pile), {"v": 1, "state": "online", "ts": "2026-11-22T10:00:00Z",
                                                  "firmware": "1.5.0"}, retain=True)
    device.wait_acked()
    wait_for(lambda: count(db, "SELECT count(*) FROM pile_state WHERE online AND pile_id = %s", pile) == 1)
    device.close(clean=False)  # the broker publishes the last will
    wait_for(lambda: count(db, "SELECT count(*) FROM pile_state WHERE NOT online AND pile_id = %s", pile) == 1,
             timeout=20, message="last will to mark the pile offline")
    reasons = [r[0] for r in db.execute(
        "SELECT reason FROM connectivity_events WHERE pile_id = %s ORDER BY id", (pile,))]
    assert reasons == [None, "connection_lost"]
    assert count(db, "SELECT count(*) FROM pile_state WHERE firmware_reported = '1.5.0'") == 1


def test_events_are_stored_once_by_their_id(settings, db, fleet, ingest):
    device = Device(settings)
    event = {"v": 1, "id": uuid.uuid4().hex, "ts": "2026-11-22T10:00:00Z", "type": "session_start_failed",
             "connector_id": 1, "data": {"reason": "EVCommunicationError"}}
    device.publish(device.topics.events(fleet[0]), event)
    device.publish(device.topics.events(fleet[0]), event)
    device.wait_acked()
    wait_for(lambda: count(db, "SELECT coalesce(sum(received), 0) FROM ingest_counters") == 2)
    rows = db.execute("SELECT type, connector_id, data FROM pile_events").fetchall()
    assert rows == [("session_start_failed", 1, {"reason": "EVCommunicationError"})]


def test_a_command_ack_updates_its_command(settings, db, fleet, ingest):
    command_id = uuid.uuid4()
    db.execute(
        "INSERT INTO commands (id, pile_id, type, params, state, requested_by) VALUES (%s, %s, 'Reset', %s, 'sent', 'test')",
        (command_id, fleet[0], json.dumps({"type": "Soft"})),
    )
    device = Device(settings)
    device.publish(device.topics.command_ack(fleet[0]),
                   {"v": 1, "id": str(command_id), "status": "Accepted", "ts": "2026-11-22T10:00:00Z"})
    device.wait_acked()
    wait_for(lambda: count(db, "SELECT count(*) FROM commands WHERE state = 'acknowledged'") == 1)
    assert db.execute("SELECT ack_status FROM commands").fetchone()[0] == "Accepted"


def test_a_pile_wide_status_is_stored_as_connector_zero(settings, db, fleet, ingest):
    device = Device(settings)
    body = telemetry(1, status="Unavailable")
    body.update(status="Unavailable", error_code="OtherError", vendor_error_code="EStop")
    device.publish(device.topics.telemetry(fleet[0]), body)
    device.wait_acked()
    wait_for(lambda: messages_stored(db) == 1)
    assert db.execute("SELECT status, error_code, vendor_error_code FROM telemetry WHERE connector_id = 0").fetchone() == (
        "Unavailable", "OtherError", "EStop")


def test_a_redelivered_status_message_is_recorded_once(settings, db, fleet, ingest):
    device = Device(settings)
    status = {"v": 1, "state": "online", "ts": "2026-11-22T10:00:00Z"}
    device.publish(device.topics.status(fleet[0]), status)
    device.publish(device.topics.status(fleet[0]), status)
    device.wait_acked()
    wait_for(lambda: count(db, "SELECT coalesce(sum(received), 0) FROM ingest_counters") == 2)
    assert count(db, "SELECT count(*) FROM connectivity_events") == 1
    assert count(db, "SELECT sum(duplicates) FROM ingest_counters") == 1
