"""Remote first line (R-TRIAGE): a fault a reset cures is closed without dispatch; one it
does not cure goes to dispatch after the bounded attempts."""
from __future__ import annotations


import pytest

from simulators.faults import CURED_BY_RESET, FaultKind
from simulators.fleetgen import load_fleet
from simulators.runner import Simulation
from tests.devices import wait_for
from tests.maint import fast_policy, running_worker, use_rules

RULES = """
rules:
  - {id: error.ConnectorLockFailure, kind: error_code, error_code: ConnectorLockFailure, category: connector, severity: major}
  - {id: power.derating, kind: derating, ratio: 0.85, for_s: 1, category: power_module, severity: minor}
"""


@pytest.fixture
def maintenance(settings):
    with running_worker(settings, fast_policy(clear_after_s=1, verify_s=2, triage={
            "categories": ["connector", "power_module"], "attempts": 2, "wait_s": 4})) as policy:
        yield policy


def moves(db, pile):
    return [r[0] for r in db.execute(
        "SELECT e.to_state FROM work_order_events e JOIN work_orders o ON o.id = e.work_order_id "
        "WHERE o.pile_id = %s AND e.from_state IS DISTINCT FROM e.to_state ORDER BY e.id", (pile,))]


def test_a_fault_the_reset_cures_closes_as_resolved_remotely_and_one_it_does_not_goes_to_dispatch(
        settings, db, fleet, ingest, maintenance):
    assert FaultKind.CONNECTOR_LOCK in CURED_BY_RESET and FaultKind.DERATING not in CURED_BY_RESET
    use_rules(db, RULES)
    db.execute("UPDATE pile_models SET reporting_interval_s = 1")
    cured, stubborn = fleet[1], fleet[2]
    sim = Simulation(settings, load_fleet(db, 3), interval=0.5, seed=5).start()
    try:
        wait_for(lambda: db.execute("SELECT count(*) FROM pile_state WHERE online").fetchone()[0] == 3, timeout=20)
        sim.inject(cured, FaultKind.CONNECTOR_LOCK, connector_id=1)
        sim.inject(stubborn, FaultKind.DERATING, connector_id=1)
        sim.plug_in(stubborn, 1)
        wait_for(lambda: db.execute("SELECT state FROM work_orders WHERE pile_id = %s", (cured,)).fetchone()
                 == ("closed",), timeout=40, interval=0.5, message=f"the cured order closed ({moves(db, cured)})")
        wait_for(lambda: db.execute("SELECT state FROM work_orders WHERE pile_id = %s", (stubborn,)).fetchone()
                 == ("ready_for_dispatch",), timeout=40, interval=0.5,
                 message=f"the stubborn order dispatched ({moves(db, stubborn)})")
    finally:
        sim.stop()

    assert moves(db, cured) == ["new", "triage", "resolved", "verified", "closed"]
    assert db.execute("SELECT resolution, triage_attempts FROM work_orders WHERE pile_id = %s",
                      (cured,)).fetchone() == ("remote", 1)
    assert moves(db, stubborn) == ["new", "triage", "ready_for_dispatch"]
    assert db.execute("SELECT triage_attempts FROM work_orders WHERE pile_id = %s", (stubborn,)).fetchone()[0] == 2
    resets = db.execute("SELECT pile_id, count(*) FROM commands WHERE type = 'Reset' GROUP BY 1 ORDER BY 1").fetchall()
    assert resets == [(cured, 1), (stubborn, 2)]
    assert db.execute("SELECT count(*) FROM commands WHERE type = 'Reset' AND state <> 'acknowledged'").fetchone()[0] == 0
    timeline = [r[0] for r in db.execute(
        "SELECT e.note FROM work_order_events e JOIN work_orders o ON o.id = e.work_order_id WHERE o.pile_id = %s "
        "ORDER BY e.id", (stubborn,))]
    assert any("did not cure the fault after 2 attempt(s)" in (n or "") for n in timeline)
