"""OCPP end to end (issue 15, acceptance): what an ocpp-rpc charger says goes through the gateway,
the broker and ingest into the same tables as an MQTT pile's, and maintenance acts on it."""
from __future__ import annotations

import json

import pytest

from tests.ocpp_fixtures import BOOT_16, BOOT_201
from tests.ocpp_fixtures import (  # noqa: F401 (fixtures used by name)
    charge_points, gateway, ocpp_client_installed, ocpp_settings, piles, url, watch)


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_a_charger_reporting_a_ground_failure_gets_an_alarm_and_a_work_order_in_the_api(
        url, piles, charge_points, db, ingest, api, protocol):
    from tests.maint import Pass, fast_policy
    from tests.devices import wait_for

    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], protocol)
    assert cp.call("BootNotification", BOOT_16 if protocol == "ocpp1.6" else BOOT_201)["result"]["status"] == "Accepted"
    if protocol == "ocpp1.6":
        faulted = cp.call("StatusNotification", {"connectorId": 1, "errorCode": "GroundFailure", "status": "Faulted",
                                                 "timestamp": "2026-11-30T20:00:00Z"})
    else:
        faulted = cp.call("NotifyEvent", {"generatedAt": "2026-11-30T20:00:01Z", "seqNo": 0, "eventData": [{
            "eventId": 7, "timestamp": "2026-11-30T20:00:00Z", "trigger": "Alerting", "actualValue": "true",
            "techCode": "GroundFailure", "eventNotificationType": "HardWiredNotification",
            "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Problem"}}]})
    assert faulted["event"] == "result"
    wait_for(lambda: db.execute("SELECT count(*) FROM connector_state WHERE pile_id = 'TP-0001' AND connector_id = 1 "
                                "AND status = 'Faulted'").fetchone()[0] == 1, message="the Faulted connector stored")

    tick = Pass(ingest.settings, fast_policy())
    try:
        tick()
    finally:
        tick.close()

    alarms = api.get("/alarms", params={"pile_id": "TP-0001"}).json()["data"]
    assert [(a["rule_id"], a["connector_id"], a["state"]) for a in alarms] == [("error.GroundFailure", 1, "active")]
    orders = api.get("/work-orders", params={"pile_id": "TP-0001"}).json()["data"]
    assert len(orders) == 1 and orders[0]["fault_category"] == "electrical"


def test_a_call_breaking_the_schema_becomes_a_dead_letter_naming_the_action_and_the_field(
        url, piles, charge_points, db, ingest):
    from tests.devices import wait_for

    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")
    frame = json.dumps([2, "broken-9", "StatusNotification", {"connectorId": "one", "errorCode": "NoError",
                                                              "status": "Available"}])

    cp.send(op="raw", message=frame)

    assert cp.answer_to("broken-9")[2] == "TypeConstraintViolation"
    reason = wait_for(lambda: db.execute("SELECT reason FROM dead_letters WHERE pile_id = 'TP-0001'").fetchone(),
                      message="the dead letter")[0]
    assert "StatusNotification" in reason and "connectorId" in reason


@pytest.mark.parametrize("protocol, reset", [("ocpp1.6", {"type": "Soft"}), ("ocpp2.0.1", {"type": "OnIdle"})])
def test_a_fault_a_remote_reset_cures_on_an_ocpp_charger_is_verified_and_closed_as_for_an_mqtt_pile(
        ocpp_settings, piles, charge_points, db, ingest, protocol, reset):
    # The same remote first line (R-TRIAGE) as tests/test_triage.py's MQTT pile: the policy's Reset
    # reaches the charger through the command relay; its StatusNotification Available then starts
    # verification, and the order closes without a visit.
    from datetime import datetime, timezone

    from gateway.ocpp.relay import CommandRelay
    from tests.devices import wait_for
    from tests.maint import fast_policy, running_worker, use_rules
    from tests.ocpp_harness import RunningGateway

    use_rules(db, "rules:\n  - {id: error.ConnectorLockFailure, kind: error_code, error_code: ConnectorLockFailure, "
                  "category: connector, severity: major}\n")
    relay = CommandRelay(ocpp_settings.database_url)
    running = RunningGateway(ocpp_settings, listeners=[relay]).start()
    running.run(relay.start())
    cp = charge_points()
    try:
        cp.connect(f"ws://127.0.0.1:{running.port}/ocpp", "TP-0001", piles["TP-0001"], protocol)
        assert cp.call("BootNotification", BOOT_16 if protocol == "ocpp1.6" else BOOT_201)["result"]["status"] == "Accepted"
        cp.send(op="answer", method="Reset", result={"status": "Accepted"})

        def status(connector_status: str, error: str) -> dict:
            now = datetime.now(timezone.utc).isoformat()
            if protocol == "ocpp1.6":
                return cp.call("StatusNotification", {"connectorId": 1, "errorCode": error, "status": connector_status,
                                                      "timestamp": now})
            if error != "NoError":
                return cp.call("NotifyEvent", {"generatedAt": now, "seqNo": 0, "eventData": [{
                    "eventId": 8, "timestamp": now, "trigger": "Alerting", "actualValue": "true", "techCode": error,
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Problem"}}]})
            cp.call("NotifyEvent", {"generatedAt": now, "seqNo": 1, "eventData": [{
                "eventId": 9, "timestamp": now, "trigger": "Alerting", "actualValue": "false", "techCode": "NoError",
                "cleared": True, "eventNotificationType": "HardWiredNotification",
                "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Problem"}}]})
            return cp.call("StatusNotification", {"timestamp": now, "connectorStatus": connector_status, "evseId": 1,
                                                  "connectorId": 1})

        with running_worker(ingest.settings, fast_policy(clear_after_s=1, verify_s=2, command_settle_s=0, triage={
                "categories": ["connector"], "attempts": 2, "wait_s": 30})):
            assert status("Faulted", "ConnectorLockFailure")["event"] == "result"
            assert cp.expect(event="call", method="Reset", timeout=30)["params"] == reset
            assert status("Available", "NoError")["event"] == "result"
            wait_for(lambda: db.execute("SELECT state FROM work_orders WHERE pile_id = 'TP-0001'").fetchone()
                     == ("closed",), timeout=40, interval=0.5, message="the cured order closed")
    finally:
        running.run(relay.close())
        running.stop()

    moves = [r[0] for r in db.execute(
        "SELECT e.to_state FROM work_order_events e JOIN work_orders o ON o.id = e.work_order_id "
        "WHERE o.pile_id = 'TP-0001' AND e.from_state IS DISTINCT FROM e.to_state ORDER BY e.id")]
    assert moves == ["new", "triage", "resolved", "verified", "closed"]
    assert db.execute("SELECT resolution, triage_attempts FROM work_orders").fetchone() == ("remote", 1)
    assert db.execute("SELECT type, state, ack_status FROM commands").fetchall() == [("Reset", "acknowledged", "Accepted")]
