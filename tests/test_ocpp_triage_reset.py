"""Remote triage's Reset reaches a charge point not written here (npm ocpp-rpc) through the
real OCPP gateway and its command relay, and the charger's answer reaches the work order's
timeline — for OCPP 1.6 and 2.0.1."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from gateway.commands import Downlink
from gateway.credentials import Protocol, issue
from gateway.ocpp.relay import CommandRelay
from maintenance.alarms.lifecycle import raise_alarm
from maintenance.alarms.rules import default
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from maintenance.orders.policy_step import step
from tests.devices import wait_for
from tests.maint import fast_policy
from tests.ocpp_harness import ChargePoint, RunningGateway, client_missing

POLICY = fast_policy(command_settle_s=3, triage={"categories": ["connector"], "attempts": 2, "wait_s": 60})
LOCK = default().by_id("error.ConnectorLockFailure")


@pytest.fixture(scope="module", autouse=True)
def _client_installed():
    problem = client_missing()
    if problem:
        pytest.exit(problem, returncode=3)  # stop with one clear message, never skip silently


@pytest.fixture
def gateway(settings):
    ocpp_settings = settings.model_copy(update={"ocpp_port": 0, "ocpp_host": "127.0.0.1",
                                                "ocpp_gateway_name": f"ocpp-test-{uuid.uuid4().hex[:6]}"})
    relay = CommandRelay(settings.database_url)
    running = RunningGateway(ocpp_settings, listeners=[relay]).start()
    running.run(relay.start())
    yield running
    running.run(relay.close())
    running.stop()


@pytest.fixture
def charge_point():
    cp = ChargePoint()
    yield cp
    cp.close()


@pytest.fixture
def downlink(settings):
    link = Downlink(settings, f"test-triage-{uuid.uuid4().hex[:6]}")
    yield link
    link.close()


def settled_order_in_triage(db, pile):
    """An order for an active connector-lock alarm whose first reset is due, on a pile up for an hour."""
    db.execute("UPDATE pile_state SET online = true, connectivity_changed_at = now() - interval '1 hour', "
               "last_seen = now() WHERE pile_id = %s", (pile,))
    alarm_id, _ = raise_alarm(db, pile, 1, LOCK, at=datetime.now(timezone.utc), clear_after_s=0)
    order_id, _ = open_corrective(db, pile, LOCK.category, title="ConnectorLockFailure on connector 1", priority=2,
                                  actor="rules", alarm_id=alarm_id)
    db.execute("UPDATE work_orders SET triage_next_at = now() WHERE id = %s", (order_id,))
    transition(db, order_id, S.TRIAGE, actor="rules")
    return order_id


@pytest.mark.parametrize("protocol, wire", [("ocpp1.6", {"type": "Soft"}), ("ocpp2.0.1", {"type": "OnIdle"})])
def test_remote_triage_resets_an_ocpp_charger_and_its_answer_is_on_the_orders_timeline(
        db, fleet, gateway, charge_point, downlink, protocol, wire):
    pile = fleet[0]
    password = issue(db, pile, Protocol.OCPP, issued_by="test").password
    order_id = settled_order_in_triage(db, pile)
    assert charge_point.connect(f"ws://127.0.0.1:{gateway.port}/ocpp", pile, password, protocol)["event"] == "open"
    charge_point.send(op="answer", method="Reset", result={"status": "Accepted"})

    step(db, POLICY, downlink)  # the policy sends the due reset

    assert charge_point.expect(event="call", method="Reset")["params"] == wire
    wait_for(lambda: db.execute("SELECT state FROM commands").fetchone()[0] == "acknowledged")
    step(db, POLICY, downlink)  # and writes its outcome to the timeline
    notes = db.execute("SELECT actor, note FROM work_order_events WHERE work_order_id = %s AND note IS NOT NULL "
                       "ORDER BY id", (order_id,)).fetchall()
    command_id = db.execute("SELECT id FROM commands").fetchone()[0]
    assert ("rules", f"remote reset 1 of 2 sent (command {command_id})") in notes
    actor, outcome = notes[-1]
    assert actor == "commands"
    assert outcome.startswith(f"command {command_id} (Reset Soft, requested by rules, via OCPP): "
                              f"pile {pile} answered Accepted at 20")
