"""Issue 15 review: what a broken or hostile OCPP charger sends neither hides a fault nor
invents one, and never costs more than the values that cannot be true. Envelopes published
as the gateway publishes them (tests/test_ocpp_ingest.py's harness); real ingest, Mosquitto
and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.test_ocpp_ingest import gateway, iso, outcome, rows, tick  # noqa: F401 (fixtures)

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _now():
    # "Now" of each test, not of the module's import: a long suite runs this file many minutes
    # after collecting it, maybe on the next day.
    global NOW
    NOW = datetime.now(timezone.utc).replace(microsecond=0)


def test_a_fault_whose_info_holds_a_nul_byte_still_raises_its_alarm(settings, db, fleet, ingest, gateway, tick):
    gateway(fleet[0]).call("StatusNotification", {
        "connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure", "info": "relay\u0000welded",
        "vendorErrorCode": "E\ud800", "timestamp": iso(NOW)})
    tick(2)

    assert rows(db, "SELECT count(*) FROM dead_letters") == [(0,)]
    assert rows(db, "SELECT status, error_code, info FROM telemetry WHERE connector_id = 1") == [
        ("Faulted", "GroundFailure", "relay\ufffdwelded")]
    alarms, _ = outcome(db, fleet[0])
    assert alarms == [(1, "error.GroundFailure", "active")]


def test_a_boot_whose_vendor_holds_a_nul_byte_is_still_a_boot(db, fleet, ingest, gateway):
    gateway(fleet[0]).call("BootNotification", {"chargePointVendor": "Alf\u0000en", "chargePointModel": "Eve"},
                           {"status": "Accepted", "interval": 60, "currentTime": iso(NOW)})

    assert rows(db, "SELECT count(*) FROM dead_letters") == [(0,)]
    assert rows(db, "SELECT type, data->>'vendor' FROM pile_events WHERE pile_id = %s", fleet[0]) == [
        ("boot", "Alf\ufffden")]


def test_a_session_end_with_an_impossible_meter_value_keeps_the_session_and_the_true_values(
        db, fleet, ingest, gateway):
    gateway(fleet[0], "2.0.1").call("TransactionEvent", {
        "eventType": "Ended", "timestamp": iso(NOW), "triggerReason": "EVDeparted", "seqNo": 3,
        "transactionInfo": {"transactionId": "tx-9", "stoppedReason": "EVDisconnected"}, "evse": {"id": 1},
        "meterValue": [{"timestamp": iso(NOW), "sampledValue": [
            {"value": 52.5, "unitOfMeasure": {"unit": "kWh"}},
            {"value": 1, "measurand": "Voltage", "unitOfMeasure": {"multiplier": 400}},      # 10^400 V
            {"value": 1e39, "measurand": "Current.Import"},                                   # beyond real
            {"value": 5000, "measurand": "Temperature", "location": "Outlet"}]}]})          # 5000 °C

    assert rows(db, "SELECT count(*) FROM dead_letters") == [(0,)]
    assert rows(db, "SELECT type FROM pile_events WHERE pile_id = %s", fleet[0]) == [("session_stopped",)]
    assert rows(db, "SELECT energy_kwh, voltage_v, current_a, temp_c FROM telemetry WHERE connector_id = 1") == [
        (52.5, None, None, None)]
    (notes,), = rows(db, "SELECT string_agg(detail, ' | ') FROM data_quality WHERE pile_id = %s", fleet[0])
    assert "left out" in notes


def test_a_unit_multiplier_of_ten_billion_neither_hangs_ingest_nor_is_stored(db, fleet, ingest, gateway):
    gateway(fleet[0], "2.0.1").call("MeterValues", {"evseId": 1, "meterValue": [{"timestamp": iso(NOW), "sampledValue": [
        {"value": 7, "unitOfMeasure": {"unit": "kWh"}},
        {"value": 1, "measurand": "Power.Active.Import", "unitOfMeasure": {"multiplier": 10_000_000_000}}]}]})

    assert rows(db, "SELECT energy_kwh, power_kw FROM telemetry WHERE connector_id = 1") == [(7.0, None)]


def test_a_session_end_carrying_a_long_sessions_meter_values_is_stored_not_dead_lettered(
        db, fleet, ingest, gateway, settings):
    # Ten hours sampled every minute: far beyond an MQTT message's 64 KiB, well within a frame.
    samples = [{"timestamp": iso(NOW - timedelta(minutes=600 - i)), "sampledValue": [
        {"value": 1000 + i * 10, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}},
        {"value": 11000, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
        {"value": 230.5, "measurand": "Voltage", "phase": "L1-N"}]} for i in range(600)]
    event = {"eventType": "Ended", "timestamp": iso(NOW), "triggerReason": "EVDeparted", "seqNo": 9,
             "transactionInfo": {"transactionId": "tx-long", "stoppedReason": "EVDisconnected"}, "evse": {"id": 1},
             "meterValue": samples}
    assert len(json.dumps(event)) > settings.max_payload_bytes

    gateway(fleet[0], "2.0.1").call("TransactionEvent", event)

    assert rows(db, "SELECT count(*) FROM dead_letters") == [(0,)]
    assert rows(db, "SELECT type FROM pile_events WHERE pile_id = %s", fleet[0]) == [("session_stopped",)]
    assert rows(db, "SELECT count(*), max(energy_kwh) FROM telemetry WHERE connector_id = 1") == [(600, 6.99)]
