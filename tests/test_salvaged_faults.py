"""Issue 11, item 1 (reviewer's finding): a fault the pile reports counts whatever else is
wrong with the message. A message that breaks the contract in another field is stored with
its readable parts (status, error code) and the bad field reported as data quality, not
dead-lettered; "no error" spelt another way never invents a fault. Real broker, ingest,
PostgreSQL and API."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.devices import Device, now_iso, wait_for
from tests.maint import Pass


@pytest.fixture
def tick(settings):
    p = Pass(settings)
    yield p
    p.close()


def publish(settings, pile: str, bodies: list) -> None:
    device = Device(settings)
    for body in bodies:
        device.publish(device.topics.telemetry(pile), body)
    device.wait_acked()
    device.close()


def stored(db, pile: str) -> int:
    return db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0 AND pile_id = %s", (pile,)).fetchone()[0]


def alarms(db, pile: str) -> list[tuple]:
    return db.execute("SELECT connector_id, rule_id, state FROM alarms WHERE pile_id = %s ORDER BY id",
                      (pile,)).fetchall()


def problems(db, pile: str) -> dict[str, str]:
    return dict(db.execute("SELECT problem, detail FROM data_quality WHERE pile_id = %s", (pile,)).fetchall())


def faulted(**connector) -> dict:
    """One Faulted/GroundFailure connector, as the pile's message that carries the fault."""
    return {"v": 1, "ts": now_iso(), "seq": 7,
            "connectors": [{"id": 1, "status": "Faulted", "error_code": "GroundFailure"} | connector]}


# Each breaks the contract in a field other than the fault itself.
BROKEN = {
    "info longer than 256 characters": faulted(info="x" * 300),
    "vendor code longer than 64 characters": faulted(vendor_error_code="V" * 80),
    "a NUL byte in info": faulted(info="relay\u0000stuck"),
    "a lone UTF-16 surrogate in info": faulted(info="relay\ud800stuck"),
    "energy register placeholder -1": faulted(energy_kwh=-1),
    "temperature placeholder 6553.5": faulted(temp_c=6553.5),
    "state of charge placeholder 255": faulted(soc_pct=255),
    "voltage as a string": faulted(voltage_v="230.1"),
    "power NaN-like placeholder as text": faulted(power_kw="n/a"),
    "a second connector with id 99": faulted() | {"connectors": faulted()["connectors"] + [
        {"id": 99, "status": "Available", "error_code": "NoError"}]},
    "the same connector twice": faulted() | {"connectors": faulted()["connectors"] * 2},
    "seq below zero": faulted() | {"seq": -1},
    "seq beyond 2^63": faulted() | {"seq": 2 ** 64},
    "seq as a float": faulted() | {"seq": 7.5},
    "cabinet temperature placeholder": faulted() | {"temp_internal_c": 6553.5},
    "an hours-only offset": faulted() | {"ts": datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M:%S+08")},
    "a Unix time as a number": faulted() | {"ts": int(datetime.now(timezone.utc).timestamp())},
}


@pytest.mark.parametrize("body", BROKEN.values(), ids=BROKEN.keys())
def test_a_connector_fault_in_a_message_broken_elsewhere_still_raises_its_alarm(
        settings, db, fleet, ingest, tick, api, body):
    pile = fleet[0]
    publish(settings, pile, [json.dumps(body)])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(1, "error.GroundFailure", "active")]
    assert db.execute("SELECT status, error_code FROM connector_state WHERE pile_id = %s AND connector_id = 1",
                      (pile,)).fetchone() == ("Faulted", "GroundFailure")
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    assert "invalid_field" in problems(db, pile)
    assert api.get(f"/piles/{pile}").json()["faulted"] is True


def test_the_bad_field_is_dropped_and_named_while_the_good_ones_are_kept(settings, db, fleet, ingest):
    pile = fleet[0]
    publish(settings, pile, [faulted(temp_c=6553.5, voltage_v=231.0, info="y" * 300)])
    wait_for(lambda: stored(db, pile) == 1)
    temp, voltage, info = db.execute(
        "SELECT temp_c, voltage_v, info FROM telemetry WHERE pile_id = %s AND connector_id = 1", (pile,)).fetchone()
    assert (temp, voltage, info) == (None, 231.0, "y" * 256)
    detail = problems(db, pile)["invalid_field"]
    assert "connectors[0].temp_c 6553.5" in detail and "connectors[0].info" in detail


@pytest.mark.parametrize("connectors", [
    [{"id": 0, "status": "Faulted", "error_code": "InternalError"}],
    [{"id": 0, "status": "Faulted", "error_code": "InternalError"}, {"id": 1, "status": "Available", "error_code": "NoError"}],
], ids=["connector 0 alone", "connector 0 beside connector 1"])
def test_the_pile_reporting_itself_as_connector_0_raises_the_pile_alarm(settings, db, fleet, ingest, tick, api, connectors):
    pile = fleet[0]
    publish(settings, pile, [{"v": 1, "ts": now_iso(), "seq": 3, "connectors": connectors}])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(0, "error.InternalError", "active")]
    detail = api.get(f"/piles/{pile}").json()
    assert (detail["faulted"], detail["pile_status"], detail["pile_error_code"]) == (True, "Faulted", "InternalError")


def test_a_pile_fault_with_an_empty_connector_list_raises_the_pile_alarm(settings, db, fleet, ingest, tick):
    pile = fleet[0]
    publish(settings, pile, [{"v": 1, "ts": now_iso(), "seq": 3, "status": "Faulted", "error_code": "InternalError",
                              "connectors": []}])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(0, "error.InternalError", "active")]


def test_an_error_code_longer_than_64_characters_is_other_error_with_the_code_cut_to_64(
        settings, db, fleet, ingest, tick):
    pile = fleet[0]
    publish(settings, pile, [faulted(error_code="E" * 100)])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert db.execute("SELECT error_code, vendor_error_code FROM connector_state WHERE pile_id = %s AND connector_id = 1",
                      (pile,)).fetchone() == ("OtherError", "E" * 64)
    assert alarms(db, pile) == [(1, "error.OtherError", "active")]


def test_a_connector_with_an_unreadable_status_is_dropped_and_the_others_kept(settings, db, fleet, ingest, tick):
    pile = fleet[0]
    publish(settings, pile, [{"v": 1, "ts": now_iso(), "seq": 3, "connectors": [
        {"id": 1, "status": "Broken?", "error_code": "NoError"},
        {"id": 2, "status": "Faulted", "error_code": "OverVoltage"}]}])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(2, "error.OverVoltage", "active")]
    assert "connectors[0].status 'Broken?'" in problems(db, pile)["invalid_field"]


def test_a_status_in_the_wrong_case_is_read_as_the_status_it_spells(settings, db, fleet, ingest, tick):
    pile = fleet[0]
    publish(settings, pile, [faulted(status="faulted ")])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(1, "error.GroundFailure", "active")]


def test_a_message_without_a_usable_sequence_number_is_stored_but_not_counted(settings, db, fleet, ingest, api):
    pile = fleet[0]
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    bodies = [faulted() | {"seq": seq, "ts": (start + timedelta(seconds=i)).isoformat()}
              for i, seq in enumerate([1, 2, -5, 3, 2 ** 70, 4])]
    publish(settings, pile, bodies)
    wait_for(lambda: stored(db, pile) == 6)
    detail = api.get(f"/piles/{pile}").json()
    assert (detail["sequence_gaps"], detail["sequence_restarts"]) == (0, 0)
    assert sorted(r[0] for r in db.execute(
        "SELECT seq FROM telemetry WHERE pile_id = %s AND connector_id = 0", (pile,))) == [-1, -1, 1, 2, 3, 4]


def test_a_unix_time_sent_as_digits_is_read_as_utc_and_flagged(settings, db, fleet, ingest):
    pile = fleet[0]
    at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)
    publish(settings, pile, [faulted() | {"ts": str(int(at.timestamp()))}])
    wait_for(lambda: stored(db, pile) == 1)
    assert db.execute("SELECT time, device_ts FROM telemetry WHERE pile_id = %s AND connector_id = 0",
                      (pile,)).fetchone() == (at, at)
    assert "Unix time" in problems(db, pile)["invalid_field"]


def test_an_hours_only_offset_places_the_reading_at_its_true_time(settings, db, fleet, ingest):
    pile = fleet[0]
    at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=2)
    local = at.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M:%S+08")
    publish(settings, pile, [faulted() | {"ts": local}])
    wait_for(lambda: stored(db, pile) == 1)
    assert db.execute("SELECT time FROM telemetry WHERE pile_id = %s AND connector_id = 0", (pile,)).fetchone()[0] == at


@pytest.mark.parametrize("ts", ["2026-11-30 04:20:21 UTC", "2026-11-30T04:20:21+8", "2026-11-30T04:20:21 +08:00",
                                "2026-11-30T04:20:21+08:00:00", " 2026-11-30T04:20:21Z "])
def test_a_zone_spelt_another_way_keeps_its_offset(settings, ts):
    got = decode(settings, "telemetry", faulted() | {"ts": ts})
    offset = timedelta(0) if "Z" in ts or "UTC" in ts else timedelta(hours=8)
    assert got.rows[0][4] == datetime(2026, 11, 30, 4, 20, 21, tzinfo=timezone.utc) - offset


@pytest.mark.parametrize("ts", ["yesterday", "2026-11-22", None], ids=["a word", "a date alone", "none"])
def test_a_fault_in_telemetry_without_a_readable_time_is_stored_at_receive_time(settings, db, fleet, ingest, tick, ts):
    pile = fleet[0]
    body = faulted() | {"ts": ts}
    if ts is None:
        del body["ts"]
    publish(settings, pile, [body])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(1, "error.GroundFailure", "active")]
    time, received, skewed = db.execute(
        "SELECT t.time, t.received_at, s.clock_skewed FROM telemetry t JOIN pile_state s USING (pile_id) "
        "WHERE t.pile_id = %s AND t.connector_id = 0", (pile,)).fetchone()
    assert time == received and skewed is True
    assert "unreadable, stored at receive time" in problems(db, pile)["invalid_field"]


def test_a_message_nested_too_deep_is_a_dead_letter_and_ingest_goes_on(settings, db, fleet, ingest, tick):
    deep = "[" * 5000 + "]" * 5000
    bomb = ('{"v":1,"ts":"%s","seq":1,"x":%s,"connectors":[{"id":1,"status":"Faulted","error_code":"GroundFailure"}]}'
            % (now_iso(), deep)).encode()
    publish(settings, fleet[0], [bomb])
    publish(settings, fleet[1], [faulted()])
    wait_for(lambda: stored(db, fleet[1]) == 1, message="the next pile's fault stored")
    assert db.execute("SELECT pile_id FROM dead_letters").fetchall() == [(fleet[0],)]
    tick()
    assert alarms(db, fleet[1]) == [(1, "error.GroundFailure", "active")]


@pytest.mark.parametrize("connectors", [
    [{"id": "0", "status": "Faulted", "error_code": "InternalError"}, {"id": 1, "status": "Available", "error_code": "NoError"}],
    {"0": {"status": "Faulted", "error_code": "InternalError"}, "1": {"status": "Available", "error_code": "NoError"}},
], ids=["id as text", "connectors keyed by id"])
def test_the_pile_itself_as_connector_0_in_another_shape_still_raises_the_pile_alarm(
        settings, db, fleet, ingest, tick, connectors):
    pile = fleet[0]
    publish(settings, pile, [{"v": 1, "ts": now_iso(), "seq": 3, "connectors": connectors}])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(0, "error.InternalError", "active")]


@pytest.mark.parametrize("body", [
    faulted() | {"v": 1.0},
    faulted() | {"connectors": {"id": 1, "status": "Faulted", "error_code": "GroundFailure"}},
    faulted() | {"connectors": [{"id": "1.0", "status": "Faulted", "error_code": "GroundFailure"}]},
], ids=["v as 1.0", "one connector as an object", "id as decimal text"])
def test_a_fault_in_another_shape_of_the_contract_still_raises_its_alarm(settings, db, fleet, ingest, tick, body):
    pile = fleet[0]
    publish(settings, pile, [body])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(1, "error.GroundFailure", "active")]


def test_an_event_with_nan_in_its_data_is_kept_with_null_there(settings, db, fleet, ingest):
    device = Device(settings)
    device.publish(device.topics.pile(fleet[0], "events"),
                   ('{"v":1,"id":"b1","ts":"%s","type":"boot","data":{"x":1e400,"y":NaN,"fw":"2.1"}}' % now_iso()).encode())
    device.wait_acked()
    device.close()
    wait_for(lambda: db.execute("SELECT count(*) FROM pile_events").fetchone()[0] == 1)
    assert db.execute("SELECT data FROM pile_events").fetchone()[0] == {"x": None, "y": None, "fw": "2.1"}
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0


def test_a_salvaged_message_redelivered_is_stored_once(settings, db, fleet, ingest):
    pile = fleet[0]
    body = json.dumps(faulted(temp_c=6553.5) | {"seq": -3})
    publish(settings, pile, [body, body])
    wait_for(lambda: db.execute("SELECT sum(count) FROM data_quality WHERE pile_id = %s", (pile,)).fetchone()[0] == 2)
    assert stored(db, pile) == 1


@pytest.mark.parametrize("payload", [b'{"v": 1, "ts": ', b'[1, 2]', b'{"v": 2, "ts": "2026-01-01T00:00:00Z", "seq": 1, "connectors": []}',
                                     b'{"v": 1, "ts": "2026-01-01T00:00:00Z", "seq": 1, "connectors": [], "pile_id": "OTHER-1"}'],
                         ids=["truncated", "not an object", "another contract version", "another pile's id"])
def test_what_cannot_be_read_stays_a_dead_letter(settings, db, fleet, ingest, payload):
    pile = fleet[0]
    publish(settings, pile, [payload])
    wait_for(lambda: db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 1)
    assert stored(db, pile) == 0


# --- "no error" spelt another way ------------------------------------------------------

@pytest.mark.parametrize("code", ["", "0", "00", "0x00", "noError", "NoError ", " NOERROR", "No Error", "no_error",
                                  "None", "null", "OK", "NoError\u0000", "NoError\u0000\u0000\u0000",
                                  "\ufeffNoError", "NoError\u200b", "N/A"])
def test_no_error_spelt_another_way_on_an_available_connector_raises_nothing(settings, db, fleet, ingest, tick, api, code):
    pile = fleet[0]
    publish(settings, pile, [{"v": 1, "ts": now_iso(), "seq": 1,
                              "connectors": [{"id": 1, "status": "Available", "error_code": code}]}])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == []
    assert db.execute("SELECT error_code FROM connector_state WHERE pile_id = %s", (pile,)).fetchone() == ("NoError",)
    assert db.execute("SELECT count(*) FROM work_orders WHERE pile_id = %s", (pile,)).fetchone()[0] == 0
    assert "nonstandard_error_code" in problems(db, pile) and "unknown_error_code" not in problems(db, pile)
    assert api.get(f"/piles/{pile}").json()["faulted"] is False


@pytest.mark.parametrize("code, means", [("groundFailure", "GroundFailure"), ("GROUND_FAILURE", "GroundFailure"),
                                         ("over-voltage", "OverVoltage"), ("highTemperature ", "HighTemperature")])
def test_an_ocpp_code_spelt_another_way_raises_the_alarm_of_the_code_it_spells(settings, db, fleet, ingest, tick, code, means):
    pile = fleet[0]
    publish(settings, pile, [faulted(error_code=code)])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(1, f"error.{means}", "active")]


def test_no_error_spelt_as_a_number_is_read_from_a_json_number_too(settings, db, fleet, ingest, tick):
    pile = fleet[0]
    publish(settings, pile, [{"v": 1, "ts": now_iso(), "seq": 1,
                              "connectors": [{"id": 1, "status": "Available", "error_code": 0}]}])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == []


# --- events, status messages and acks: their time and their texts ---------------------

def decode(settings, leaf: str, body: dict):
    from ingest.decode import Decoder, Inbound

    topic = f"{settings.topic_prefix}/piles/TP-0001/{leaf}"
    return Decoder(settings).decode(Inbound(topic, json.dumps(body).encode(), 1, 1, datetime.now(timezone.utc).timestamp(), 1))


def test_an_event_with_an_hours_only_offset_is_read_with_its_offset(settings):
    got = decode(settings, "events", {"v": 1, "id": "e1", "ts": "2026-11-30T12:00:00+08", "type": "fault"})
    assert got.event.ts == datetime(2026, 11, 30, 4, tzinfo=timezone.utc)
    assert [q.problem.value for q in got.quirks] == ["invalid_field"]


def test_a_status_reason_too_long_is_cut_and_the_status_kept(settings):
    got = decode(settings, "status", {"v": 1, "state": "offline", "reason": "r" * 500})
    assert (got.online, got.reason) == (False, "r" * 128)


def test_an_ack_info_with_a_nul_byte_is_kept_readable(settings):
    got = decode(settings, "commands/ack", {"v": 1, "id": "6f1c2d8e-6b1f-4a53-9d0c-1c1b8c1f2a3b", "status": "Accepted",
                                            "ts": "2026-11-30T12:00:00Z", "info": "done\u0000"})
    assert got.ack.info == "done\ufffd"


def test_an_event_whose_id_breaks_the_contract_stays_a_dead_letter(settings):
    from ingest.decode import DeadLetter

    got = decode(settings, "events", {"v": 1, "id": "e" * 65, "ts": "2026-11-30T12:00:00Z", "type": "fault"})
    assert isinstance(got, DeadLetter) and "id" in got.reason
