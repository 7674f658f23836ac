"""Rules are reloaded while the stream flows, by two maintenance processes at once:
nothing in the stream is lost and nothing is duplicated."""
from __future__ import annotations

import threading
import time

from maintenance.alarms import rulestore
from maintenance.worker import run
from tests.devices import Device, wait_for
from tests.maint import fast_policy
from tests.test_rules_engine import stamps


def test_editing_rules_mid_stream_with_two_maintenance_processes_loses_and_duplicates_nothing(settings, db, fleet, ingest):
    rulestore.load(db)  # install the default rule set
    rule = rulestore.load(db)[0].by_id("error.PowerSwitchFailure").model_dump(mode="json", exclude_none=True)
    stop = threading.Event()
    workers = [threading.Thread(target=run, args=(settings, stop, 0.05),
                                kwargs={"schedule": False, "policy": fast_policy(verify_s=600)}, daemon=True) for _ in range(2)]
    for w in workers:
        w.start()
    piles, cycles = fleet[:6], 15
    device = Device(settings)

    def edit_rules():
        for n in range(30):  # an operator tuning the rule while faults stream in
            rulestore.save(db, rule | {"severity": ["major", "minor"][n % 2]}, actor="ops", rule_id=rule["id"])
            time.sleep(0.02)

    editor = threading.Thread(target=edit_rules)
    editor.start()
    try:
        times = stamps(2 * cycles)
        for i in range(2 * cycles):
            for pile in piles:
                faulted = i % 2 == 0
                device.telemetry(pile, i + 1, ts=times[i], status="Faulted" if faulted else "Available",
                                 error_code="PowerSwitchFailure" if faulted else "NoError")
            time.sleep(0.01)
        device.wait_acked()
        editor.join(30)
        wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0]
                 == len(piles) * 2 * cycles, timeout=30, message="every message stored")
        # Connector 1 flips on every message; connector 2 only has its first status.
        wait_for(lambda: db.execute("SELECT count(*) FILTER (WHERE processed_at IS NOT NULL), count(*) "
                                    "FROM connector_status_changes").fetchone() == (len(piles) * (2 * cycles + 1),) * 2,
                 timeout=30, message="every transition processed")
        wait_for(lambda: db.execute("SELECT count(*) FROM alarms WHERE work_order_id IS NULL").fetchone()[0] == 0,
                 timeout=10, message="every alarm on an order")
    finally:
        stop.set()
        for w in workers:
            w.join(15)
        device.close()

    assert db.execute("SELECT count(*) FROM rule_changes WHERE actor = 'ops'").fetchone()[0] == 30
    # One alarm per fault occurrence (no hold-off here), each exactly once …
    assert db.execute("SELECT count(*) FROM alarms").fetchone()[0] == len(piles) * cycles
    assert db.execute("SELECT count(*) FROM alarm_events WHERE action = 'raised'").fetchone()[0] == len(piles) * cycles
    # … and one work order per pile, holding all of them.
    assert db.execute("SELECT pile_id, count(*) FROM work_orders GROUP BY 1 ORDER BY 1").fetchall() == [
        (p, 1) for p in piles]
    assert db.execute("SELECT count(*) FROM work_order_alarms").fetchone()[0] == len(piles) * cycles
