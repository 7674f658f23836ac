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
