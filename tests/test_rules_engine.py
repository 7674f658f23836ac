"""Connector error codes from the live stream raise alarms and open corrective work
orders once, clear when the fault clears, and rule sets are validated with clear errors."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from maintenance.alarms import rules as rulesets
from maintenance.alarms.status_changes import process_status_changes
from maintenance.worker import run
from pilecare.domain import ErrorCode
from pilecare.errors import InvalidInput
from tests.devices import Device, wait_for
from tests.maint import Pass, fast_policy
from tests.parallel import in_parallel

RULES = rulesets.default()


def stamps(n: int) -> list[str]:
    """Device times one second apart, ending now (the hold-off runs on real time)."""
    start = datetime.now(timezone.utc) - timedelta(seconds=n)
    return [(start + timedelta(seconds=i)).isoformat() for i in range(n)]


def publish_states(settings, db, pile, states):
    device = Device(settings)
    for seq, ((status, error), ts) in enumerate(zip(states, stamps(len(states))), start=1):
        device.telemetry(pile, seq, ts=ts, status=status, error_code=error)
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0 AND pile_id = %s",
                                (pile,)).fetchone()[0] == len(states))
    device.close()


@pytest.fixture
def tick(settings):
    p = Pass(settings)
    yield p
    p.close()


def test_the_default_rule_set_maps_every_ocpp_error_code(settings):
    codes = {r.error_code for r in RULES.of_kind(rulesets.ErrorCodeRule)}
    assert codes == set(ErrorCode) - {ErrorCode.NO_ERROR}
    assert RULES.for_error_code("GroundFailure").safety is True
    assert RULES.for_error_code("OtherError", "EStop").id == "estop"
    assert RULES.for_error_code("OtherError", "X12").id == "error.OtherError"


def test_every_rule_kind_is_in_the_default_rule_set():
    assert {r.kind for r in RULES.rules} == {k.value for k in rulesets.RuleKind}


def test_a_ground_fault_raises_one_alarm_and_one_corrective_order_and_clears(settings, db, fleet, ingest, tick):
    pile = fleet[0]
    publish_states(settings, db, pile, [("Charging", "NoError"), ("Faulted", "GroundFailure"),
                                        ("Faulted", "GroundFailure"), ("Available", "NoError")])
    tick()
    alarm = db.execute("SELECT rule_id, severity, safety, state, fault_category FROM alarms").fetchall()
    assert alarm == [("error.GroundFailure", "critical", True, "cleared", "electrical")]
    assert db.execute("SELECT count(*) FROM connector_status_changes WHERE processed_at IS NULL").fetchone()[0] == 0


def test_an_alarm_that_asks_for_an_order_opens_one_with_priority_and_sla_clocks(settings, db, fleet, ingest, tick):
    publish_states(settings, db, fleet[0], [("Charging", "NoError"), ("Faulted", "GroundFailure")])
    tick()
    order = db.execute(
        "SELECT kind, fault_category, priority, safety, created_by, "
        "extract(epoch FROM response_due_at - created_at) / 3600 FROM work_orders").fetchone()
    # Safety fault: priority 1 and the safety clock (2 h) scaled for a gold customer (0.75).
    assert order[:5] == ("corrective", "electrical", 1, True, "rules")
    assert order[5] == pytest.approx(1.5, abs=0.01)
    assert db.execute("SELECT work_order_id IS NOT NULL FROM alarms").fetchone()[0]


def test_a_fault_that_returns_attaches_its_new_alarm_to_the_open_order(settings, db, fleet, ingest):
    publish_states(settings, db, fleet[0], [("Faulted", "PowerSwitchFailure"), ("Available", "NoError"),
                                            ("Faulted", "PowerSwitchFailure")])
    p = Pass(settings, fast_policy(clear_after_s=0))
    try:
        p()
    finally:
        p.close()
    # With no hold-off the clear counted, so the return is a second alarm on the same order.
    assert db.execute("SELECT count(*) FROM alarms").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM work_orders").fetchone()[0] == 1


def test_a_fault_that_returns_within_the_hold_off_stays_one_alarm(settings, db, fleet, ingest):
    states = [("Faulted", "PowerSwitchFailure"), ("Available", "NoError")] * 5
    publish_states(settings, db, fleet[0], states)
    p = Pass(settings, fast_policy(clear_after_s=600))
    try:
        p()
    finally:
        p.close()
    alarm = db.execute("SELECT occurrences, flaps, state, clear_requested_at IS NOT NULL FROM alarms").fetchall()
    assert alarm == [(5, 4, "active", True)]
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
    policy = fast_policy()

    def drain(conn):
        total = 0
        while (n := process_status_changes(conn, RULES, policy, limit=2)):
            total += n
        return total

    handled = in_parallel(database_url, drain, workers=2)
    assert sum(handled) == db.execute("SELECT count(*) FROM connector_status_changes").fetchone()[0]
    assert db.execute("SELECT count(*) FROM alarms").fetchone()[0] == 50
    assert db.execute("SELECT count(*) FROM alarms WHERE state = 'active' AND clear_requested_at IS NULL").fetchone()[0] == 0


@pytest.mark.parametrize("text, reason", [
    ("rules: [", "not valid YAML"),
    ("rules: [{id: a, kind: error_code, error_code: Melted, category: x, severity: major}]", "error_code"),
    ("rules: [{id: a, kind: error_code, error_code: NoError, category: x, severity: major}]", "NoError is the absence"),
    ("rules: [{id: a, kind: error_code, error_code: OverVoltage, category: x, severity: huge}]", "severity"),
    ("rules: [{id: a, kind: error_code, error_code: OverVoltage, category: x, severity: major, colour: red}]", "colour"),
    ("rules: [{id: a, kind: error_code, error_code: OverVoltage, category: x, severity: major},"
     " {id: a, kind: error_code, error_code: UnderVoltage, category: x, severity: major}]", "repeated: a"),
    ("rules: [{id: t, kind: threshold, metric: temp_c, raise_at: 80, clear_at: 90, category: x, severity: major}]",
     "clear_at (90.0) must be below raise_at"),
    ("rules: [{id: t, kind: threshold, metric: humidity, raise_at: 80, clear_at: 70, category: x, severity: major}]",
     "metric"),
    ("rules: [{id: t, kind: teleport, category: x, severity: major}]", "kind"),
    ("rules: [{id: t, kind: derating, ratio: 1.5, category: x, severity: major}]", "ratio"),
])
def test_an_invalid_rule_set_is_refused_with_a_clear_reason(text, reason):
    with pytest.raises(InvalidInput) as refused:
        rulesets.parse(text)
    assert reason in refused.value.detail


def test_the_maintenance_process_turns_a_live_fault_into_a_work_order(settings, db, fleet, ingest):
    stop = threading.Event()
    worker = threading.Thread(target=run, args=(settings, stop, 0.1),
                              kwargs={"schedule": False, "policy": fast_policy()}, daemon=True)
    worker.start()
    try:
        publish_states(settings, db, fleet[3], [("Charging", "NoError"), ("Faulted", "PowerSwitchFailure")])
        wait_for(lambda: db.execute("SELECT state FROM work_orders WHERE fault_category = 'power_module'").fetchone(),
                 timeout=10, message="a work order from the live stream")
    finally:
        stop.set()
        worker.join(10)
