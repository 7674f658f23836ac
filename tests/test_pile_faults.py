"""Issue 11, item 1: a fault the pile reports counts, whatever else is wrong with the
message. Connector 0 (the pile itself) drives the same rules as a connector; an error code
outside OCPP 1.6 is stored as OtherError and raises its alarm; a message that fails
validation still proves the pile is alive. Real broker, ingest, PostgreSQL and API."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.devices import Device, now_iso, telemetry, wait_for
from tests.maint import Pass


def stored(db, pile: str) -> int:
    return db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0 AND pile_id = %s", (pile,)).fetchone()[0]


def publish(settings, db, pile: str, bodies: list[dict | bytes | str], leaf: str = "telemetry") -> None:
    device = Device(settings)
    for body in bodies:
        device.publish(device.topics.pile(pile, leaf), body)
    device.wait_acked()
    device.close()


def stamps(n: int) -> list[str]:
    """Device times one second apart, ending now (hold-offs run on real time)."""
    start = datetime.now(timezone.utc) - timedelta(seconds=n)
    return [(start + timedelta(seconds=i)).isoformat() for i in range(n)]


def pile_report(seq: int, ts: str, status: str | None, error_code: str | None, **pile) -> dict:
    """The issue's message: the pile reports itself, its one connector says Available."""
    body = {"v": 1, "ts": ts, "seq": seq, "connectors": [{"id": 1, "status": "Available", "error_code": "NoError"}]}
    if status is not None:
        body["status"] = status
    if error_code is not None:
        body["error_code"] = error_code
    return body | pile


@pytest.fixture
def tick(settings):
    p = Pass(settings)
    yield p
    p.close()


def alarms(db, pile: str) -> list[tuple]:
    return db.execute("SELECT connector_id, rule_id, state FROM alarms WHERE pile_id = %s ORDER BY id",
                      (pile,)).fetchall()


# --- connector 0 -------------------------------------------------------------------

def test_it_raises_an_alarm_and_opens_an_order_when_the_pile_itself_reports_a_fault(
        settings, db, fleet, ingest, tick, api):
    pile = fleet[0]
    publish(settings, db, pile, [pile_report(2, now_iso(), "Faulted", "InternalError")])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(0, "error.InternalError", "active")]
    assert db.execute("SELECT kind, fault_category FROM work_orders WHERE pile_id = %s",
                      (pile,)).fetchall() == [("corrective", "controller")]
    detail = api.get(f"/piles/{pile}").json()
    assert (detail["faulted"], detail["pile_status"], detail["pile_error_code"]) == (True, "Faulted", "InternalError")
    assert [c["status"] for c in detail["connectors"]] == ["Available"]
    health = api.get("/fleet/health").json()
    assert health["faulted"] == 1
    assert [s["worst"] for s in health["sites"] if s["faulted"]] == ["faulted"]


@pytest.mark.parametrize("status, error_code, rule", [
    ("Unavailable", "PowerSwitchFailure", "error.PowerSwitchFailure"),
    ("Faulted", "GroundFailure", "error.GroundFailure"),
    ("Available", "HighTemperature", "error.HighTemperature"),  # a warning while up, as on a connector
    (None, "OverVoltage", "error.OverVoltage"),                 # a code without a pile status still counts
    ("Unavailable", "OtherError", "error.OtherError"),
])
def test_every_pile_wide_status_and_code_drives_the_same_rule_as_on_a_connector(
        settings, db, fleet, ingest, tick, api, status, error_code, rule):
    pile = fleet[0]
    publish(settings, db, pile, [pile_report(1, now_iso(), status, error_code)])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(0, rule, "active")]
    assert api.get(f"/piles/{pile}").json()["faulted"] is True
    assert api.get("/fleet/health").json()["faulted"] == 1


def test_a_pile_that_reports_itself_unavailable_without_an_error_is_not_a_fault(settings, db, fleet, ingest, tick, api):
    pile = fleet[0]
    publish(settings, db, pile, [pile_report(1, now_iso(), "Unavailable", "NoError")])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == []
    detail = api.get(f"/piles/{pile}").json()
    assert (detail["faulted"], detail["pile_status"]) == (False, "Unavailable")
    assert api.get("/fleet/health").json()["faulted"] == 0


def test_the_pile_alarm_clears_when_the_pile_reports_available_again(settings, db, fleet, ingest, tick, api):
    pile = fleet[0]
    ts = stamps(3)
    publish(settings, db, pile, [pile_report(1, ts[0], "Faulted", "InternalError"),
                                 pile_report(2, ts[1], "Faulted", "InternalError"),
                                 pile_report(3, ts[2], "Available", "NoError")])
    wait_for(lambda: stored(db, pile) == 3)
    tick()
    assert alarms(db, pile) == [(0, "error.InternalError", "cleared")]
    changes = db.execute("SELECT old_status, new_status, new_error_code FROM connector_status_changes "
                         "WHERE pile_id = %s AND connector_id = 0 ORDER BY time", (pile,)).fetchall()
    assert changes == [(None, "Faulted", "InternalError"), ("Faulted", "Available", "NoError")]
    assert api.get(f"/piles/{pile}").json()["faulted"] is False


def test_a_message_without_the_pile_fields_reports_the_pile_fine_once_it_has_used_them(settings, db, fleet, ingest, tick):
    # Telemetry is a snapshot of the whole pile, as the simulator's e-stop is: the fields
    # are sent while something holds and left out once it is over.
    pile, never = fleet[0], fleet[1]
    ts = stamps(2)
    publish(settings, db, pile, [pile_report(1, ts[0], "Faulted", "InternalError"), pile_report(2, ts[1], None, None)])
    publish(settings, db, never, [pile_report(1, ts[0], None, None), pile_report(2, ts[1], None, None)])
    wait_for(lambda: stored(db, pile) == 2 and stored(db, never) == 2)
    tick()
    assert alarms(db, pile) == [(0, "error.InternalError", "cleared")]
    assert db.execute("SELECT pile_id, new_status, new_error_code FROM connector_status_changes WHERE connector_id = 0 "
                      "ORDER BY time").fetchall() == [(pile, "Faulted", "InternalError"), (pile, "Available", "NoError")]
    assert db.execute("SELECT status FROM pile_state WHERE pile_id = %s", (never,)).fetchone()[0] is None


def test_a_pile_that_clears_its_own_code_keeps_an_e_stop_a_connector_still_reports(settings, db, fleet, ingest, tick):
    pile = fleet[0]
    ts = stamps(3)
    estop = {"id": 1, "status": "Unavailable", "error_code": "OtherError", "vendor_error_code": "EStop"}
    publish(settings, db, pile, [
        pile_report(1, ts[0], "Faulted", "InternalError") | {"connectors": [estop]},
        pile_report(2, ts[1], "Available", "NoError") | {"connectors": [estop]},
    ])
    wait_for(lambda: stored(db, pile) == 2)
    tick()
    assert sorted(alarms(db, pile)) == [(0, "error.InternalError", "cleared"), (0, "estop", "active")]


# --- error codes outside OCPP 1.6 ----------------------------------------------------

@pytest.mark.parametrize("code", ["Error", "E-OVERHEAT", "Ground Fault", "1234", "NoErrorX"])
def test_an_unknown_error_code_is_stored_as_other_error_with_the_code_as_vendor_text_and_raises_its_alarm(
        settings, db, fleet, ingest, tick, api, code):
    pile = fleet[0]
    body = telemetry(1, status="Faulted", error_code=code)
    raw = json.dumps(body)
    publish(settings, db, pile, [raw])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert db.execute("SELECT status, error_code, vendor_error_code FROM connector_state "
                      "WHERE pile_id = %s AND connector_id = 1", (pile,)).fetchone() == ("Faulted", "OtherError", code)
    assert alarms(db, pile) == [(1, "error.OtherError", "active")]
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    problem, count, first = db.execute(
        "SELECT problem, count, first_payload FROM data_quality WHERE pile_id = %s", (pile,)).fetchone()
    assert (problem, count, bytes(first)) == ("unknown_error_code", 1, raw.encode())
    detail = api.get(f"/piles/{pile}").json()
    assert detail["faulted"] is True
    assert [q["problem"] for q in detail["data_quality"]] == ["unknown_error_code"]


def test_the_issues_wallbox_error_leaves_the_pile_faulted_not_available(settings, db, fleet, ingest, tick, api):
    pile = fleet[0]
    publish(settings, db, pile, [pile_report(1, now_iso(), "Faulted", "Error")])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(0, "error.OtherError", "active")]
    detail = api.get(f"/piles/{pile}").json()
    assert (detail["pile_status"], detail["pile_error_code"], detail["pile_vendor_error_code"]) == (
        "Faulted", "OtherError", "Error")


def test_an_unknown_code_beside_a_vendor_code_keeps_both(settings, db, fleet, ingest):
    pile = fleet[0]
    body = telemetry(1, status="Faulted", error_code="Error")
    body["connectors"][0] |= {"vendor_error_code": "E-217", "info": "RCD tripped"}
    publish(settings, db, pile, [body])
    wait_for(lambda: stored(db, pile) == 1)
    assert db.execute("SELECT error_code, vendor_error_code, info FROM connector_state "
                      "WHERE pile_id = %s AND connector_id = 1", (pile,)).fetchone() == (
        "OtherError", "E-217", "error_code 'Error'; RCD tripped")


def test_a_rule_naming_the_unknown_code_as_vendor_code_wins(settings, db, fleet, ingest, tick):
    from tests.maint import use_rules
    use_rules(db, """
rules:
  - {id: error.OtherError, kind: error_code, error_code: OtherError, category: other, severity: minor}
  - {id: wallbox.error, kind: error_code, error_code: OtherError, vendor_error_code: Error, category: controller, severity: major}
""")
    pile = fleet[0]
    publish(settings, db, pile, [telemetry(1, status="Faulted", error_code="Error")])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(1, "wallbox.error", "active")]


def test_a_pile_that_keeps_sending_an_unknown_code_is_reported_once_and_counted(settings, db, fleet, ingest):
    pile = fleet[0]
    publish(settings, db, pile, [telemetry(seq, ts=ts, status="Faulted", error_code="Error")
                                 for seq, ts in enumerate(stamps(5), start=1)])
    wait_for(lambda: stored(db, pile) == 5)
    assert db.execute("SELECT problem, count FROM data_quality").fetchall() == [("unknown_error_code", 5)]



def test_a_connector_the_model_does_not_have_is_stored_and_noted_but_is_no_port_and_raises_no_alarm(
        settings, db, fleet, ingest, tick, api):
    # Both test models have two connectors: connector 9 is a firmware's numbering, not a port
    # (it would count in uptime and open orders for a socket nobody can find).
    pile = fleet[0]
    body = telemetry(1, status="Faulted", error_code="GroundFailure")
    body["connectors"].append({"id": 9, "status": "Faulted", "error_code": "GroundFailure"})
    publish(settings, db, pile, [body])
    wait_for(lambda: stored(db, pile) == 1)
    tick()
    assert alarms(db, pile) == [(1, "error.GroundFailure", "active")]  # connector 1's fault counts
    assert db.execute("SELECT connector_id FROM connector_state WHERE pile_id = %s ORDER BY 1",
                      (pile,)).fetchall() == [(1,), (2,)]
    assert db.execute("SELECT count(*) FROM telemetry WHERE pile_id = %s AND connector_id = 9",
                      (pile,)).fetchone()[0] == 1  # nothing lost
    [(problem, detail)] = db.execute("SELECT problem, detail FROM data_quality WHERE pile_id = %s", (pile,)).fetchall()
    assert problem == "unknown_connector" and detail.startswith("connector 9 reported, but model T-DC120 has 2")
    assert [q["problem"] for q in api.get(f"/piles/{pile}").json()["data_quality"]] == ["unknown_connector"]


# --- invalid messages still prove the pile is alive -----------------------------------

INVALID = [
    ("telemetry", json.dumps(telemetry(9, pile_id="SOMEONE-ELSE"))),
    ("telemetry", b'{"v":1,"ts":'),
    ("telemetry", json.dumps(telemetry(9, v=2))),
    ("events", json.dumps({"v": 1, "id": "e1", "ts": "2026-11-22T10:00:00Z", "type": "party"})),
    ("commands/ack", json.dumps({"v": 1, "id": "not-a-uuid", "status": "Accepted", "ts": "2026-11-22T10:00:00Z"})),
]


@pytest.mark.parametrize("leaf, payload", INVALID, ids=["pile_id_disagrees", "malformed", "other_version", "unknown_event", "bad_ack"])
def test_a_message_that_fails_validation_still_proves_the_pile_is_alive(
        settings, db, fleet, ingest, tick, api, leaf, payload):
    pile = fleet[0]
    db.execute("UPDATE pile_models SET reporting_interval_s = 1")
    publish(settings, db, pile, [telemetry(1)])
    wait_for(lambda: stored(db, pile) == 1)
    # The pile's link dropped (its last will) and it came back sending only bad messages.
    publish(settings, db, pile, [{"v": 1, "state": "offline", "reason": "connection_lost"}], leaf="status")
    wait_for(lambda: db.execute("SELECT NOT online FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()[0])
    tick()
    before = db.execute("SELECT last_seen FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()[0]
    data = payload.encode() if isinstance(payload, str) else payload
    publish(settings, db, pile, [data], leaf=leaf)
    wait_for(lambda: db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 1)
    online, last_seen = db.execute("SELECT online, last_seen FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()
    assert online is True and last_seen > before
    assert api.get(f"/piles/{pile}").json()["online"] is True
    # Reported as data quality, not as an outage: the offline alarm from the will clears.
    tick()
    assert db.execute("SELECT problem, count FROM data_quality WHERE pile_id = %s", (pile,)).fetchall() == [
        ("invalid_message", 1)]
    assert db.execute("SELECT clear_requested_at IS NOT NULL OR state = 'cleared' FROM alarms "
                      "WHERE pile_id = %s AND rule_id = 'offline'", (pile,)).fetchone()[0] is True


def test_an_invalid_status_message_does_not_prove_the_pile_is_alive(settings, db, fleet, ingest):
    # A status may be the broker's last will speaking for a pile that is gone.
    pile = fleet[0]
    publish(settings, db, pile, [b'{"v":1,"state":"gone"}'], leaf="status")
    wait_for(lambda: db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 1)
    assert db.execute("SELECT online, last_seen FROM pile_state WHERE pile_id = %s", (pile,)).fetchone() == (False, None)
