"""Acceptance (issue 3): every fault in the simulator's catalogue raises the right alarm
and opens the right work order, once; clearing the fault clears the alarm and moves the
order to verification; a flapping fault stays one alarm. Real simulator, broker, ingest
and maintenance process."""
from __future__ import annotations

import threading

import pytest

from maintenance.worker import run
from simulators.faults import FaultKind
from simulators.fleetgen import load_fleet
from simulators.runner import Simulation
from tests.devices import wait_for
from tests.maint import fast_policy, use_rules

# The default rules with durations cut from minutes to seconds.
RULES = """
rules:
  - {id: error.GroundFailure, kind: error_code, error_code: GroundFailure, category: electrical, severity: critical, safety: true}
  - {id: error.ConnectorLockFailure, kind: error_code, error_code: ConnectorLockFailure, category: connector, severity: major}
  - {id: error.HighTemperature, kind: error_code, error_code: HighTemperature, category: thermal, severity: major, safety: true}
  - {id: error.OtherError, kind: error_code, error_code: OtherError, category: other, severity: minor}
  - {id: estop, kind: error_code, error_code: OtherError, vendor_error_code: EStop, scope: pile, category: emergency_stop, severity: major}
  - {id: fan.stopped, kind: threshold, metric: fan_rpm, above: false, raise_at: 300, clear_at: 800, for_s: 2, category: cooling, severity: major}
  - {id: offline, kind: offline, silence_factor: 3, category: connectivity, severity: major, clear_after_s: 6}
  - {id: connectivity.flapping, kind: flapping, count: 3, window_s: 20, category: connectivity, severity: minor}
  - {id: power.derating, kind: derating, ratio: 0.85, for_s: 2, category: power_module, severity: minor}
  - {id: meter.stalled, kind: meter, for_s: 3, min_power_kw: 1.0, category: metering, severity: major}
  - {id: session.failed_starts, kind: failed_starts, count: 3, window_s: 600, category: session, severity: major}
"""

# fault → (the alarm's rule, the order's fault category, connector it sits on or None for the pile)
EXPECTED = {
    FaultKind.FAN_FAILURE: ("fan.stopped", "cooling"),
    FaultKind.GROUND_FAULT: ("error.GroundFailure", "electrical"),
    FaultKind.CONNECTOR_LOCK: ("error.ConnectorLockFailure", "connector"),
    FaultKind.DERATING: ("power.derating", "power_module"),
    FaultKind.METER_FAILURE: ("meter.stalled", "metering"),
    FaultKind.SILENT_LOSS: ("offline", "connectivity"),
    FaultKind.NETWORK_FLAPPING: ("connectivity.flapping", "connectivity"),
    FaultKind.EMERGENCY_STOP: ("estop", "emergency_stop"),
    FaultKind.FAILED_STARTS: ("session.failed_starts", "session"),
}
NEEDS_A_DRIVER = {FaultKind.DERATING, FaultKind.METER_FAILURE}


def test_the_catalogue_covers_every_simulated_fault():
    assert set(EXPECTED) == set(FaultKind)


@pytest.fixture
def maintenance(settings):
    stop = threading.Event()
    # No remote resets here (test_triage covers them): every order takes the plain path.
    policy = fast_policy(clear_after_s=1, verify_s=2, triage={"attempts": 0})
    # Two maintenance workers on the same stream: every "once" below holds for both.
    threads = [threading.Thread(target=run, args=(settings, stop, 0.2),
                                kwargs={"schedule": False, "policy": policy}, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    yield
    stop.set()
    for thread in threads:
        thread.join(15)


def test_every_fault_raises_its_alarm_and_order_once_and_clearing_it_moves_the_order_to_verification(
        settings, db, fleet, ingest, maintenance):
    use_rules(db, RULES)
    db.execute("UPDATE pile_models SET reporting_interval_s = 1")  # the simulation reports twice a second
    faults = list(EXPECTED)
    piles = dict(zip(faults, fleet))
    sim = Simulation(settings, load_fleet(db, len(faults) + 2), interval=0.5, seed=11).start()
    try:
        wait_for(lambda: db.execute("SELECT count(*) FROM pile_state WHERE online").fetchone()[0] >= len(faults) + 2,
                 timeout=20, message="the fleet online")
        for fault, pile in piles.items():
            sim.inject(pile, fault, connector_id=1)
            if fault in NEEDS_A_DRIVER:
                sim.plug_in(pile, 1)
        for _ in range(3):  # three drivers in a row fail to start a session
            sim.plug_in(piles[FaultKind.FAILED_STARTS], 1)

        def raised():
            return {f for f, pile in piles.items() if db.execute(
                "SELECT 1 FROM alarms a JOIN work_orders o ON o.id = a.work_order_id "
                "WHERE a.pile_id = %s AND a.rule_id = %s AND o.fault_category = %s",
                (pile, *EXPECTED[f])).fetchone()}
        wait_for(lambda: raised() == set(faults), timeout=40, interval=0.5,
                 message=f"every fault's alarm and order (missing: {set(faults) - raised()})")
        # Let the flapping pile drop a few more times: still one alarm of each rule.
        wait_for(lambda: db.execute("SELECT max(flaps) FROM alarms WHERE pile_id = %s AND rule_id = 'offline'",
                                    (piles[FaultKind.NETWORK_FLAPPING],)).fetchone()[0] >= 1,
                 timeout=20, message="the offline alarm of the flapping pile to flap")

        for fault, pile in piles.items():
            sim.clear(pile, fault)
        sim.plug_in(piles[FaultKind.FAILED_STARTS], 1)  # the next driver gets a session

        def settled():
            return {f for f, pile in piles.items() if db.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM alarms WHERE pile_id = %s AND state = 'active') "
                "AND EXISTS (SELECT 1 FROM work_orders WHERE pile_id = %s AND fault_category = %s "
                "            AND state IN ('resolved', 'verified', 'closed'))", (pile, pile, EXPECTED[f][1])).fetchone()[0]}
        wait_for(lambda: settled() == set(faults), timeout=60, interval=0.5,
                 message=f"every alarm cleared and order in verification (missing: {set(faults) - settled()})")
    finally:
        sim.stop()

    for fault, pile in piles.items():
        rule_id, category = EXPECTED[fault]
        assert db.execute("SELECT count(*) FROM alarms WHERE pile_id = %s AND rule_id = %s",
                          (pile, rule_id)).fetchone()[0] == 1, f"{fault.value}: one alarm"
        assert db.execute("SELECT count(*) FROM work_orders WHERE pile_id = %s AND fault_category = %s",
                          (pile, category)).fetchone()[0] == 1, f"{fault.value}: one order"
        moves = [r[0] for r in db.execute(
            "SELECT e.to_state FROM work_order_events e JOIN work_orders o ON o.id = e.work_order_id "
            "WHERE o.pile_id = %s AND o.fault_category = %s AND e.from_state IS DISTINCT FROM e.to_state "
            "ORDER BY e.id", (pile, category))]
        assert moves[:3] == ["new", "ready_for_dispatch", "resolved"], f"{fault.value}: {moves}"
    flapping = piles[FaultKind.NETWORK_FLAPPING]
    assert db.execute("SELECT count(*) FROM alarms WHERE pile_id = %s AND rule_id = 'offline'",
                      (flapping,)).fetchone()[0] == 1
    # The safety fault took its pile out of service and told the supervisor.
    ground = piles[FaultKind.GROUND_FAULT]
    assert db.execute("SELECT type, params->>'type' FROM commands WHERE pile_id = %s", (ground,)).fetchall() == [
        ("ChangeAvailability", "Inoperative")]
    assert db.execute("SELECT recipient_role FROM notifications WHERE pile_id = %s AND kind = 'safety'",
                      (ground,)).fetchall() == [("supervisor",)]
    assert db.execute("SELECT state FROM work_orders WHERE pile_id = %s", (ground,)).fetchone()[0] == "resolved", \
        "a safety order is verified by a person, not by telemetry"
