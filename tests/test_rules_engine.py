"""Connector error codes from the live stream raise alarms and open corrective work
orders once, clear when the fault clears, and rule sets are validated with clear errors."""
from __future__ import annotations

import pytest

from maintenance import rules as rulesets
from maintenance.engine import process_status_changes
from pilecare.domain import ErrorCode
from pilecare.errors import InvalidInput
from tests.devices import Device, wait_for
from tests.test_work_orders import in_parallel

RULES = rulesets.default()


def publish_states(settings, db, pile, states):
    device = Device(settings)
    for seq, (status, error) in enumerate(states, start=1):
        device.telemetry(pile, seq, ts=f"2026-11-22T10:00:{seq:02d}Z", status=status, error_code=error)
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] == len(states))
    device.close()


def test_the_default_rule_set_maps_every_ocpp_error_code(settings):
    codes = {r.error_code for r in RULES.rules}
    assert codes == set(ErrorCode) - {ErrorCode.NO_ERROR}
    assert RULES.for_error_code("GroundFailure").safety is True


def test_a_ground_fault_raises_one_alarm_and_one_corrective_order_and_clears(settings, db, fleet, ingest):
    pile = fleet[0]
    publish_states(settings, db, pile, [("Charging", "NoError"), ("Faulted", "GroundFailure"),
                                        ("Faulted", "GroundFailure"), ("Available", "NoError")])
    process_status_changes(db, RULES)
    alarm = db.execute("SELECT rule_id, severity, safety, state, fault_category FROM alarms").fetchall()
    assert alarm == [("error.GroundFailure", "critical", True, "cleared", "electrical")]
    order = db.execute("SELECT kind, fault_category, priority, state, created_by FROM work_orders").fetchall()
    assert order == [("corrective", "electrical", 1, "new", "rules")]
    assert db.execute("SELECT count(*) FROM work_order_alarms").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM connector_status_changes WHERE processed_at IS NULL").fetchone()[0] == 0


def test_a_fault_that_returns_attaches_its_new_alarm_to_the_open_order(settings, db, fleet, ingest):
    publish_states(settings, db, fleet[0], [("Faulted", "GroundFailure"), ("Available", "NoError"),
                                            ("Faulted", "GroundFailure")])
    process_status_changes(db, RULES)
    assert db.execute("SELECT count(*) FROM alarms").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM work_orders").fetchone()[0] == 1


def test_two_rule_processes_on_the_same_stream_create_no_duplicates(settings, db, fleet, ingest, database_url):
    states = []
    for _ in range(10):
        states += [("Faulted", "HighTemperature"), ("Available", "NoError")]
    for pile in fleet[:5]:
        device = Device(settings)
        for seq, (status, error) in enumerate(states, start=1):
            device.telemetry(pile, seq, ts=f"2026-11-22T10:00:{seq:02d}Z", status=status, error_code=error)
        device.wait_acked()
        device.close()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] == 100)

    def drain(conn):
        total = 0
        while (n := process_status_changes(conn, RULES, limit=2)):
            total += n
        return total

    handled = in_parallel(database_url, drain, workers=2)
    assert sum(handled) == db.execute("SELECT count(*) FROM connector_status_changes").fetchone()[0]
    assert db.execute("SELECT count(*) FROM alarms WHERE state = 'active'").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM alarms").fetchone()[0] == 50
    assert db.execute("SELECT count(*) FROM work_orders").fetchone()[0] == 5


@pytest.mark.parametrize("text, reason", [
    ("rules: [", "not valid YAML"),
    ("rules: [{id: a, kind: error_code, error_code: Melted, category: x, severity: major}]", "rules.0.error_code"),
    ("rules: [{id: a, kind: error_code, error_code: NoError, category: x, severity: major}]", "NoError is the absence"),
    ("rules: [{id: a, kind: error_code, error_code: OverVoltage, category: x, severity: huge}]", "rules.0.severity"),
    ("rules: [{id: a, kind: error_code, error_code: OverVoltage, category: x, severity: major, colour: red}]", "colour"),
    ("rules: [{id: a, kind: error_code, error_code: OverVoltage, category: x, severity: major},"
     " {id: a, kind: error_code, error_code: UnderVoltage, category: x, severity: major}]", "repeated: a"),
])
def test_an_invalid_rule_set_is_refused_with_a_clear_reason(text, reason):
    with pytest.raises(InvalidInput) as refused:
        rulesets.parse(text)
    assert reason in refused.value.detail


def test_the_maintenance_process_turns_a_live_fault_into_a_work_order(settings, db, fleet, ingest):
    import threading

    from maintenance.worker import run

    stop = threading.Event()
    worker = threading.Thread(target=run, args=(settings, stop, 0.1), daemon=True)
    worker.start()
    try:
        publish_states(settings, db, fleet[3], [("Charging", "NoError"), ("Faulted", "ConnectorLockFailure")])
        wait_for(lambda: db.execute("SELECT count(*) FROM work_orders WHERE fault_category = 'connector'").fetchone()[0] == 1,
                 timeout=10, message="a work order from the live stream")
    finally:
        stop.set()
        worker.join(10)
