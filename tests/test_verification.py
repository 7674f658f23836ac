"""Verification after a repair (R-REPAIR, R-KPI): a fault that never cleared reopens the
order, safety orders are verified by a supervisor and never while the pile still reports
the fault, and a safety fault reported by phone takes the pile out of service like one a
rule found."""
from __future__ import annotations

import json
import threading
import time

import pytest

from maintenance.alarms.lifecycle import raise_alarm
from maintenance.orders.policy_step import settle, verify
from maintenance.alarms.rules import default
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from tests.devices import Device
from tests.maint import fast_policy
from tests.parallel import in_parallel

GROUND = default().by_id("error.GroundFailure")
POWER = default().by_id("error.PowerSwitchFailure")


def order_with_alarm(db, pile, rule=POWER, *, safety=False):
    """An order for `rule`'s category on `pile`, linked to an active alarm of the rule."""
    alarm_id, _ = raise_alarm(db, pile, 1, rule, at=db.execute("SELECT now() - interval '1 hour'").fetchone()[0],
                              clear_after_s=0)
    order_id, _ = open_corrective(db, pile, rule.category, title=f"{rule.id} on connector 1", priority=1,
                                  actor="rules", alarm_id=alarm_id, safety=safety)
    return order_id, alarm_id


def repaired(db, order_id, *, minutes_ago=0):
    """The engineer completed the order `minutes_ago` minutes ago."""
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED, S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED):
        transition(db, order_id, to, actor="eva")
    db.execute("UPDATE work_orders SET resolved_at = now() - make_interval(mins => %s) WHERE id = %s",
               (minutes_ago, order_id))


def state_of(db, order_id):
    return db.execute("SELECT state, reopened_count FROM work_orders WHERE id = %s", (order_id,)).fetchone()


def last_note(db, order_id):
    return db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s ORDER BY id DESC LIMIT 1",
                      (order_id,)).fetchone()[0]


def clear(db, alarm_id):
    db.execute("UPDATE alarms SET state = 'cleared', cleared_at = now() WHERE id = %s", (alarm_id,))


# 1. A repair that did not fix the pile.

def test_a_repair_whose_alarm_never_cleared_goes_back_to_dispatch_a_verification_period_later(db, fleet):
    policy = fast_policy(verify_s=600)
    order_id, alarm_id = order_with_alarm(db, fleet[0])
    repaired(db, order_id, minutes_ago=5)

    verify(db, policy)
    assert state_of(db, order_id) == ("resolved", 0), "within the verification period the pile gets its chance"

    db.execute("UPDATE work_orders SET resolved_at = now() - interval '11 minutes' WHERE id = %s", (order_id,))
    verify(db, policy)

    assert state_of(db, order_id) == ("ready_for_dispatch", 1)  # counted against first-time fix
    assert last_note(db, order_id) == (f"fault still present 11 min after the repair: alarm {alarm_id} "
                                       f"(error.PowerSwitchFailure) still active; dispatch")
    assert db.execute("SELECT resolved_at FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0] is None, \
        "the resolve clock runs again: the SLA is no longer shown as met"


def test_a_safety_repair_whose_alarm_never_cleared_is_reopened_too(db, fleet):
    order_id, _ = order_with_alarm(db, fleet[0], GROUND, safety=True)
    repaired(db, order_id, minutes_ago=1)

    verify(db, fast_policy(verify_s=30))

    assert state_of(db, order_id) == ("ready_for_dispatch", 1)


def test_two_maintenance_workers_reopen_a_repair_that_did_not_fix_the_pile_once(database_url, db, fleet):
    order_id, _ = order_with_alarm(db, fleet[0])
    repaired(db, order_id, minutes_ago=1)

    in_parallel(database_url, lambda conn: verify(conn, fast_policy(verify_s=30)), workers=4)

    assert state_of(db, order_id) == ("ready_for_dispatch", 1)
    assert db.execute("SELECT count(*) FROM work_order_events WHERE work_order_id = %s "
                      "AND note LIKE 'fault still present%%'", (order_id,)).fetchone()[0] == 1


# 2. Safety orders are verified by a person.

@pytest.fixture
def supervisor(client_for):
    return client_for("supervisor", "sam")


def to(client, order_id, state):
    return client.post(f"/work-orders/{order_id}/transitions", json={"to": state})


def test_a_supervisor_verifies_a_resolved_safety_order_only_once_its_alarms_cleared(supervisor, db, fleet):
    order_id, alarm_id = order_with_alarm(db, fleet[0], GROUND, safety=True)
    repaired(db, order_id)

    refused = to(supervisor, order_id, "verified")
    assert refused.status_code == 409 and f"alarm(s) {alarm_id} are still active" in refused.json()["detail"]

    clear(db, alarm_id)
    verified = to(supervisor, order_id, "verified")
    assert verified.status_code == 200 and verified.json()["state"] == "verified"
    assert verified.json()["timeline"][-1]["actor"] == "sam"


def test_only_a_supervisor_verifies_a_safety_order(client_for, db, fleet):
    order_id, alarm_id = order_with_alarm(db, fleet[0], GROUND, safety=True)
    clear(db, alarm_id)
    repaired(db, order_id)

    refused = to(client_for("dispatcher"), order_id, "verified")

    assert refused.status_code == 403 and "supervisor" in refused.json()["detail"]
    assert state_of(db, order_id)[0] == "resolved"


def test_a_non_safety_order_is_verified_from_telemetry_not_by_hand(supervisor, db, fleet):
    order_id, alarm_id = order_with_alarm(db, fleet[0])
    clear(db, alarm_id)
    repaired(db, order_id)

    refused = to(supervisor, order_id, "verified")

    assert refused.status_code == 409 and "verified from telemetry" in refused.json()["detail"]


def test_a_verified_order_is_not_closed_by_hand_while_its_alarm_is_active(supervisor, db, fleet):
    order_id, alarm_id = order_with_alarm(db, fleet[0], GROUND, safety=True)
    clear(db, alarm_id)
    repaired(db, order_id)
    assert to(supervisor, order_id, "verified").status_code == 200
    db.execute("UPDATE alarms SET state = 'active', cleared_at = NULL WHERE id = %s", (alarm_id,))

    refused = to(supervisor, order_id, "closed")
    assert refused.status_code == 409 and str(alarm_id) in refused.json()["detail"]

    clear(db, alarm_id)
    assert to(supervisor, order_id, "closed").json()["state"] == "closed"


def test_a_safety_fault_that_cleared_at_the_pile_awaits_a_supervisor_not_telemetry(db, fleet):
    order_id, alarm_id = order_with_alarm(db, fleet[0], GROUND, safety=True)
    clear(db, alarm_id)

    settle(db)

    assert state_of(db, order_id)[0] == "resolved"
    assert last_note(db, order_id) == "the fault cleared at the pile; awaiting a supervisor's verification"


# 3. A safety fault reported by phone.

def up_for_an_hour(db, pile):
    """The pile reports and (re)connected an hour ago: automatic commands may reach it."""
    db.execute("UPDATE pile_state SET online = true, last_seen = now(), connectivity_changed_at = now() - "
               "interval '1 hour' WHERE pile_id = %s", (pile,))


def safety_call(client, pile, **extra):
    return client.post("/work-orders", json={"pile_id": pile, "fault_category": "electrical", "safety": True,
                                             "title": "Caller felt a shock at the handle", "severity": "critical"}
                       | extra)


def test_a_safety_fault_reported_by_phone_takes_the_pile_out_of_service(settings, supervisor, db, fleet):
    received, got = [], threading.Event()
    device = Device(settings)
    device.client.on_message = lambda client, userdata, msg: (received.append(json.loads(msg.payload)), got.set())
    device.client.subscribe(device.topics.commands(fleet[0]), qos=1)
    time.sleep(0.3)  # let the SUBACK arrive before the API publishes
    up_for_an_hour(db, fleet[0])

    created = safety_call(supervisor, fleet[0])

    assert created.status_code == 201
    assert got.wait(10), "no command reached the pile"
    assert received[0]["type"] == "ChangeAvailability"
    assert received[0]["params"] == {"connector_id": 0, "type": "Inoperative"}
    order = created.json()
    assert order["out_of_service_at"] is not None
    assert order["timeline"][-1]["note"].startswith("safety: pile taken out of service (ChangeAvailability Inoperative")
    assert db.execute("SELECT recipient_role, work_order_id FROM notifications WHERE kind = 'safety'").fetchall() == [
        ("supervisor", order["id"])]
    device.client.loop_stop()
    device.client.disconnect()


def test_when_the_out_of_service_command_fails_the_order_stands_and_says_to_do_it_by_hand(app, supervisor, db, fleet):
    class BrokerDown:  # the broker is the external boundary
        def send(self, *args, **kwargs):
            raise ConnectionError("broker unreachable")

    app.state.downlink = BrokerDown()
    up_for_an_hour(db, fleet[0])

    created = safety_call(supervisor, fleet[0])

    assert created.status_code == 201 and created.json()["state"] == "new"
    assert created.json()["timeline"][-1]["note"] == (
        "safety: taking the pile out of service failed (broker unreachable); do it by hand")


def test_a_made_up_fault_category_is_refused_with_the_valid_ones(supervisor, db, fleet):
    refused = safety_call(supervisor, fleet[0], fault_category="banana", safety=False)

    assert refused.status_code == 422
    assert "banana" in refused.json()["detail"] and "electrical" in refused.json()["detail"]
    assert "other" in refused.json()["detail"]
    assert db.execute("SELECT count(*) FROM work_orders").fetchone()[0] == 0
