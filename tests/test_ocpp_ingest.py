"""Issue 15, item 3: what OCPP chargers say lands in the same tables, with the same
guarantees, as what MQTT piles say (docs/ocpp.md, "From OCPP to pilecare"). Envelopes are
published with paho as the OCPP gateway publishes them; a real ingest worker, Mosquitto,
PostgreSQL and maintenance pass do the rest."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from ingest.decode import Decoder, Inbound
from ingest.store import Store
from pilecare.db import database_url
from tests.devices import Device, wait_for
from tests.maint import Pass, fast_policy


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class Gateway:
    """Publishes what the OCPP gateway publishes for one charger: one envelope per accepted
    CALL, QoS 1, not retained, on `{prefix}/piles/{id}/ocpp`; then waits until ingest has
    stored (or dead-lettered) every one of them."""

    def __init__(self, settings, ingest, pile_id: str, version: str = "1.6"):
        self.ingest, self.pile_id, self.version = ingest, pile_id, version
        self.device = Device(settings)
        self.connection_id = str(uuid.uuid4())

    def envelope(self, action: str, payload: dict, response: dict | None = None, *, error: dict | None = None,
                 raw: str | None = None) -> dict:
        return {"v": 1, "ocpp": self.version, "action": action, "message_id": str(uuid.uuid4()),
                "received_at": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
                "connection_id": self.connection_id, "payload": payload, "response": response or {},
                "error": error, "raw": raw}

    def call(self, action: str, payload: dict, response: dict | None = None, **kwargs) -> None:
        self.publish(self.envelope(action, payload, response, **kwargs))
        self.wait()

    def publish(self, body: dict | bytes) -> None:
        self.device.publish(self.device.topics.ocpp(self.pile_id), body)

    def wait(self) -> None:
        sent = len(self.device.infos)
        self.device.wait_acked()
        wait_for(lambda: self.ingest.totals.received >= self._before + sent, message="ingest to store the envelopes")

    def __enter__(self):
        self._before = self.ingest.totals.received
        return self

    def __exit__(self, *exc):
        self.device.client.disconnect()
        self.device.client.loop_stop()


@pytest.fixture
def gateway(settings, ingest):
    opened = []

    def open_(pile_id: str, version: str = "1.6") -> Gateway:
        g = Gateway(settings, ingest, pile_id, version).__enter__()
        opened.append(g)
        return g
    yield open_
    for g in opened:
        g.__exit__()


@pytest.fixture
def tick(settings):
    p = Pass(settings, fast_policy(clear_after_s=0))
    yield p
    p.close()


def mqtt_report(settings, ingest, pile_id: str, status: str, error: str) -> None:
    """The MQTT equivalent: connector 1 in `status`/`error`, connector 2 Available."""
    device = Device(settings)
    before = ingest.totals.received
    device.publish(device.topics.telemetry(pile_id), {
        "v": 1, "ts": iso(datetime.now(timezone.utc)), "seq": 1,
        "connectors": [{"id": 1, "status": status, "error_code": error},
                       {"id": 2, "status": "Available", "error_code": "NoError"}]})
    device.wait_acked()
    wait_for(lambda: ingest.totals.received > before)
    device.client.disconnect()
    device.client.loop_stop()


def outcome(db, pile_id: str) -> tuple[list, list]:
    """(alarms, work orders) of one pile, as the maintenance API would show them."""
    alarms = db.execute("SELECT connector_id, rule_id, state FROM alarms WHERE pile_id = %s ORDER BY id",
                        (pile_id,)).fetchall()
    orders = db.execute("SELECT fault_category, replace(title, %s, 'PILE'), state, safety FROM work_orders "
                        "WHERE pile_id = %s ORDER BY id", (pile_id, pile_id)).fetchall()
    return alarms, orders


def rows(db, sql: str, *args):
    return db.execute(sql, args).fetchall()


NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _now():
    # "Now" of each test, not of the module's import: a long suite runs this file many minutes
    # after collecting it, maybe on the next day.
    global NOW
    NOW = datetime.now(timezone.utc).replace(microsecond=0)


# --- statuses and faults --------------------------------------------------------------------

def test_a_16_ground_failure_on_connector_1_raises_the_same_alarm_and_work_order_as_the_mqtt_report(
        settings, db, fleet, ingest, gateway, tick):
    ocpp_pile, mqtt_pile = fleet[0], fleet[3]  # both DC120s
    gateway(ocpp_pile).call("StatusNotification", {
        "connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure", "timestamp": iso(NOW)})
    mqtt_report(settings, ingest, mqtt_pile, "Faulted", "GroundFailure")
    tick(2)

    assert outcome(db, ocpp_pile) == outcome(db, mqtt_pile)
    alarms, orders = outcome(db, ocpp_pile)
    assert alarms == [(1, "error.GroundFailure", "active")]
    assert len(orders) == 1



def test_a_16_status_for_a_connector_the_model_does_not_have_is_stored_and_noted_but_raises_no_alarm(
        settings, db, fleet, ingest, gateway, tick):
    pile = fleet[0]  # a DC120: two connectors
    gateway(pile).call("StatusNotification", {
        "connectorId": 7, "status": "Faulted", "errorCode": "GroundFailure", "timestamp": iso(NOW)})
    wait_for(lambda: rows(db, "SELECT count(*) FROM telemetry WHERE pile_id = %s AND connector_id = 7", pile)
             == [(1,)])
    tick(2)
    assert outcome(db, pile) == ([], [])
    assert rows(db, "SELECT connector_id FROM connector_state WHERE pile_id = %s", pile) == []
    assert rows(db, "SELECT problem, detail FROM data_quality WHERE pile_id = %s", pile) == [
        ("unknown_connector", "connector 7 reported, but model T-DC120 has 2: stored in telemetry, not a port "
                              "(no status change, no alarm, no uptime)")]


def test_a_201_notify_event_problem_with_a_tech_code_raises_the_same_alarm_and_work_order_as_the_mqtt_report(
        settings, db, fleet, ingest, gateway, tick):
    ocpp_pile, mqtt_pile = fleet[0], fleet[3]
    station = gateway(ocpp_pile, "2.0.1")
    station.call("StatusNotification", {"timestamp": iso(NOW - timedelta(seconds=5)), "connectorStatus": "Available",
                                        "evseId": 1, "connectorId": 1})
    station.call("NotifyEvent", {"generatedAt": iso(NOW), "seqNo": 0, "eventData": [{
        "eventId": 17, "timestamp": iso(NOW), "trigger": "Delta", "actualValue": "true", "techCode": "GroundFailure",
        "techInfo": "RCD tripped", "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}, "variable": {"name": "Problem"}}]})
    mqtt_report(settings, ingest, mqtt_pile, "Faulted", "GroundFailure")
    tick(2)

    assert outcome(db, ocpp_pile) == outcome(db, mqtt_pile)
    assert rows(db, "SELECT status, error_code, info FROM connector_state WHERE pile_id = %s", ocpp_pile) == [
        ("Faulted", "GroundFailure", "RCD tripped")]
    assert rows(db, "SELECT type, connector_id, data->>'tech_code' FROM pile_events WHERE pile_id = %s",
                ocpp_pile) == [("fault", 1, "GroundFailure")]


def test_a_16_status_keeps_the_vendor_error_code_and_a_code_outside_16_becomes_other_error(
        db, fleet, ingest, gateway):
    g = gateway(fleet[0])
    g.call("StatusNotification", {"connectorId": 2, "status": "Faulted", "errorCode": "OtherError",
                                  "vendorErrorCode": "E42", "vendorId": "com.acme", "info": "contactor",
                                  "timestamp": iso(NOW)})
    assert rows(db, "SELECT connector_id, status, error_code, vendor_error_code, info FROM connector_state") == [
        (2, "Faulted", "OtherError", "E42", "vendorId com.acme; contactor")]


def test_connector_0_of_a_16_charger_is_the_pile_itself(db, fleet, ingest, gateway):
    gateway(fleet[0]).call("StatusNotification", {"connectorId": 0, "status": "Faulted",
                                                  "errorCode": "InternalError", "timestamp": iso(NOW)})
    assert rows(db, "SELECT status, error_code FROM pile_state WHERE pile_id = %s", fleet[0]) == [
        ("Faulted", "InternalError")]
    assert rows(db, "SELECT connector_id, new_status, new_error_code FROM connector_status_changes") == [
        (0, "Faulted", "InternalError")]


def test_a_meter_value_of_connector_0_leaves_the_charger_s_status_as_it_was(db, fleet, ingest, gateway):
    g = gateway(fleet[0])
    g.call("StatusNotification", {"connectorId": 0, "status": "Faulted", "errorCode": "InternalError",
                                  "timestamp": iso(NOW - timedelta(minutes=1))})
    g.call("MeterValues", {"connectorId": 0, "meterValue": [{"timestamp": iso(NOW),
                                                              "sampledValue": [{"value": "99000"}]}]})
    assert rows(db, "SELECT status, error_code, status_time FROM pile_state WHERE pile_id = %s", fleet[0]) == [
        ("Faulted", "InternalError", NOW - timedelta(minutes=1))]
    assert rows(db, "SELECT count(*) FROM connector_status_changes") == [(1,)]


@pytest.mark.parametrize("ocpp_status, pilecare_status", [
    ("Available", "Available"), ("Occupied", "Preparing"), ("Reserved", "Reserved"),
    ("Unavailable", "Unavailable"), ("Faulted", "Faulted")])
def test_201_connector_statuses_map_onto_pilecares_with_the_evse_as_the_connector(
        db, fleet, ingest, gateway, ocpp_status, pilecare_status):
    gateway(fleet[0], "2.0.1").call("StatusNotification", {
        "timestamp": iso(NOW), "connectorStatus": ocpp_status, "evseId": 2, "connectorId": 1})
    assert rows(db, "SELECT connector_id, status, error_code FROM connector_state") == [(2, pilecare_status, "NoError")]


def test_the_same_status_replayed_with_a_new_message_id_is_stored_once(db, fleet, ingest, gateway):
    g = gateway(fleet[0])
    status = {"connectorId": 1, "status": "Faulted", "errorCode": "HighTemperature", "timestamp": iso(NOW)}
    g.call("StatusNotification", status)
    g.call("StatusNotification", status)  # after a reconnect: same content, new message id

    assert rows(db, "SELECT count(*) FROM telemetry WHERE connector_id = 1") == [(1,)]
    assert rows(db, "SELECT count(*) FROM connector_status_changes") == [(1,)]
    assert ingest.totals.stored == 1 and ingest.totals.duplicates == 1


# --- meter values ---------------------------------------------------------------------------

def test_16_meter_values_are_stored_in_pilecares_units(db, fleet, ingest, gateway):
    gateway(fleet[0]).call("MeterValues", {"connectorId": 1, "transactionId": 9, "meterValue": [{
        "timestamp": iso(NOW), "sampledValue": [
            {"value": "123456", "unit": "Wh"},  # the default measurand, Energy.Active.Import.Register
            {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "11", "measurand": "Power.Offered", "unit": "kW"},
            {"value": "10", "measurand": "Current.Import", "phase": "L1"},
            {"value": "12", "measurand": "Current.Import", "phase": "L2"},
            {"value": "32", "measurand": "Current.Offered"},
            {"value": "229", "measurand": "Voltage", "phase": "L1-N"},
            {"value": "231", "measurand": "Voltage", "phase": "L2-N"},
            {"value": "41.5", "measurand": "Temperature", "location": "Outlet", "unit": "Celsius"},
            {"value": "30", "measurand": "Temperature", "location": "Body"},
            {"value": "64", "measurand": "SoC", "unit": "Percent"},
            {"value": "5", "measurand": "Frequency"}]}]})

    assert rows(db, "SELECT connector_id, status, energy_kwh, power_kw, power_offered_kw, current_a, "
                    "current_offered_a, voltage_v, temp_c, soc_pct FROM telemetry ORDER BY connector_id") == [
        (0, None, None, None, None, None, None, None, 30.0, None),
        (1, None, 123.456, 7.4, 11.0, 12.0, 32.0, 230.0, 41.5, 64.0)]
    assert rows(db, "SELECT temp_internal_c, last_telemetry_at FROM pile_state WHERE pile_id = %s", fleet[0]) == [
        (30.0, NOW)]


def test_201_meter_values_apply_the_unit_multiplier_and_sum_the_phases_of_power(db, fleet, ingest, gateway):
    gateway(fleet[0], "2.0.1").call("MeterValues", {"evseId": 1, "meterValue": [{
        "timestamp": iso(NOW), "sampledValue": [
            {"value": 52.5, "unitOfMeasure": {"unit": "Wh", "multiplier": 3}},  # 52.5 kWh
            {"value": 2000, "measurand": "Power.Active.Import", "phase": "L1"},
            {"value": 2100, "measurand": "Power.Active.Import", "phase": "L2"},
            {"value": 2200, "measurand": "Power.Active.Import", "phase": "L3"}]}]})
    assert rows(db, "SELECT connector_id, energy_kwh, round(power_kw::numeric, 2)::float FROM telemetry") == [
        (1, 52.5, 6.3)]


def test_a_meter_value_neither_invents_nor_hides_a_status_change(db, fleet, ingest, gateway):
    g = gateway(fleet[0])
    g.call("StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError",
                                  "timestamp": iso(NOW - timedelta(minutes=2))})
    g.call("MeterValues", {"connectorId": 1, "meterValue": [
        {"timestamp": iso(NOW), "sampledValue": [{"value": "1000"}]}]})
    assert rows(db, "SELECT new_status FROM connector_status_changes ORDER BY id") == [("Available",)], \
        "a meter value invents no status"

    # a status older than the meter value but newer than the last status still counts
    g.call("StatusNotification", {"connectorId": 1, "status": "Faulted", "errorCode": "NoError",
                                  "timestamp": iso(NOW - timedelta(minutes=1))})
    assert rows(db, "SELECT new_status FROM connector_status_changes ORDER BY id") == [("Available",), ("Faulted",)]
    assert rows(db, "SELECT status, energy_kwh, time, measured_at FROM connector_state") == [
        ("Faulted", 1.0, NOW - timedelta(minutes=1), NOW)]


def test_500_meter_values_replayed_after_an_offline_period_are_stored_once_in_order_without_a_stale_alarm(
        db, fleet, ingest, gateway, tick):
    g = gateway(fleet[0])
    g.call("StatusNotification", {"connectorId": 1, "status": "Available", "errorCode": "NoError", "timestamp": iso(NOW)})
    tick(2)
    offline = NOW - timedelta(hours=2)
    queued = [g.envelope("MeterValues", {"connectorId": 1, "transactionId": 3, "meterValue": [{
        "timestamp": iso(offline + timedelta(seconds=10 * i)),
        "sampledValue": [{"value": str(10_000 + 50 * i), "unit": "Wh"}]}]}) for i in range(500)]
    # a fault while offline, over before the charger came back
    queued.insert(250, g.envelope("StatusNotification", {
        "connectorId": 1, "status": "Faulted", "errorCode": "GroundFailure",
        "timestamp": iso(offline + timedelta(seconds=2500))}))

    for replay in range(2):  # delivered twice: a second reconnect replays them again
        for body in queued:
            body = body | {"message_id": str(uuid.uuid4())}  # a new OCPP message id each time
            g.publish(body)
        g.wait()
    tick(2)

    stored = rows(db, "SELECT time, energy_kwh FROM telemetry WHERE connector_id = 1 AND status IS NULL ORDER BY time")
    assert len(stored) == 500
    assert [s[0] for s in stored] == [offline + timedelta(seconds=10 * i) for i in range(500)], "device time kept"
    assert [s[1] for s in stored] == [(10_000 + 50 * i) / 1000 for i in range(500)]
    assert rows(db, "SELECT new_status FROM connector_status_changes") == [("Available",)]
    assert outcome(db, fleet[0]) == ([], [])
    assert rows(db, "SELECT status, energy_kwh FROM connector_state") == [("Available", 34.95)]
    assert ingest.totals.duplicates == 501


def test_a_fault_replayed_in_one_burst_with_its_end_raises_no_alarm(settings, db, fleet, tick):
    # One batch, as a burst after a reconnect arrives: written through the store directly so
    # the batch boundary is the test's, not the worker's timing.
    g = Gateway(settings, None, fleet[0])
    offline = NOW - timedelta(hours=1)
    burst = [g.envelope("StatusNotification", {"connectorId": 1, "status": status, "errorCode": code,
                                               "timestamp": iso(offline + timedelta(minutes=minute))})
             for minute, status, code in [(0, "Available", "NoError"), (10, "Faulted", "GroundFailure"),
                                          (20, "Faulted", "NoError"), (30, "Available", "NoError")]]
    decoder = Decoder(settings)
    topic = g.device.topics.ocpp(fleet[0])
    inbound = [Inbound(topic, json.dumps(body).encode(), i, 1, NOW.timestamp(), 1) for i, body in enumerate(burst)]
    with psycopg.connect(database_url(settings)) as conn:
        Store(conn, "test").write([(m, decoder.decode(m)) for m in inbound])
    g.__exit__()
    tick(2)

    assert rows(db, "SELECT new_status FROM connector_status_changes") == [("Available",)]
    assert outcome(db, fleet[0]) == ([], [])
    assert rows(db, "SELECT count(*) FROM telemetry WHERE connector_id = 1") == [(4,)], "all kept as history"


# --- sessions -------------------------------------------------------------------------------

def test_a_16_session_start_and_stop_become_session_events_on_the_connector(db, fleet, ingest, gateway):
    g = gateway(fleet[0])
    start = NOW - timedelta(minutes=30)
    g.call("StartTransaction", {"connectorId": 2, "idTag": "TAG1", "meterStart": 1500, "timestamp": iso(start)},
           {"transactionId": 77, "idTagInfo": {"status": "Accepted"}})
    g.call("StopTransaction", {"transactionId": 77, "meterStop": 9500, "timestamp": iso(NOW),
                               "reason": "EVDisconnected", "transactionData": [{
                                   "timestamp": iso(start + timedelta(minutes=15)),
                                   "sampledValue": [{"value": "5500", "unit": "Wh"}]}]})

    assert rows(db, "SELECT type, connector_id, data->>'transaction_id', data->>'reason' FROM pile_events ORDER BY id") == [
        ("session_started", 2, "77", None), ("session_stopped", 2, "77", "EVDisconnected")]
    assert rows(db, "SELECT connector_id, energy_kwh FROM telemetry ORDER BY time") == [
        (2, 1.5), (2, 5.5), (2, 9.5)]


def test_a_16_start_refused_by_the_central_system_is_a_failed_start(db, fleet, ingest, gateway):
    gateway(fleet[0]).call("StartTransaction", {"connectorId": 1, "idTag": "STOLEN", "meterStart": 0,
                                                "timestamp": iso(NOW)},
                           {"transactionId": 5, "idTagInfo": {"status": "Blocked"}})
    assert rows(db, "SELECT type, connector_id, data->>'reason' FROM pile_events") == [
        ("session_start_failed", 1, "idTag Blocked")]


def test_201_transaction_events_become_session_events_and_meter_values(db, fleet, ingest, gateway):
    g = gateway(fleet[0], "2.0.1")
    tx = {"transactionId": "a1b2"}
    g.call("TransactionEvent", {"eventType": "Started", "timestamp": iso(NOW - timedelta(minutes=5)), "triggerReason": "Authorized",
                                "seqNo": 0, "transactionInfo": tx, "evse": {"id": 1, "connectorId": 1},
                                "idToken": {"idToken": "TAG", "type": "ISO14443"}},
           {"idTokenInfo": {"status": "Accepted"}})
    g.call("TransactionEvent", {"eventType": "Ended", "timestamp": iso(NOW),
                                "triggerReason": "EVCommunicationLost", "seqNo": 1,
                                "transactionInfo": tx | {"stoppedReason": "EVDisconnected"},
                                "meterValue": [{"timestamp": iso(NOW),
                                                "sampledValue": [{"value": 4.2, "unitOfMeasure": {"unit": "kWh"}}]}]})

    assert rows(db, "SELECT type, connector_id, data->>'reason' FROM pile_events ORDER BY id") == [
        ("session_started", 1, None), ("session_stopped", 1, "EVDisconnected")]
    assert rows(db, "SELECT connector_id, energy_kwh FROM telemetry") == [(1, 4.2)]


# --- boot, liveness, dead letters -----------------------------------------------------------

def test_a_boot_notification_reports_firmware_and_identity_beside_the_registry(db, fleet, ingest, gateway, api):
    assert api.get(f"/piles/{fleet[0]}").json()["reported_identity"] is None  # nothing said yet
    g = gateway(fleet[0])
    boot = {"chargePointVendor": "Acme", "chargePointModel": "Wallbox 9", "chargePointSerialNumber": "X-1",
            "firmwareVersion": "2.1.0"}
    g.call("BootNotification", boot, {"status": "Accepted", "interval": 300, "currentTime": iso(NOW)})
    g.call("BootNotification", boot, {"status": "Accepted", "interval": 300, "currentTime": iso(NOW)})  # a retry

    assert rows(db, "SELECT firmware_reported, reported_vendor, reported_model, reported_serial FROM pile_state "
                    "WHERE pile_id = %s", fleet[0]) == [("2.1.0", "Acme", "Wallbox 9", "X-1")]
    assert rows(db, "SELECT model_id FROM piles WHERE id = %s", fleet[0]) == [("T-DC120",)], "the registry stays"
    assert rows(db, "SELECT type, data->>'firmware' FROM pile_events") == [("boot", "2.1.0")], "one boot per connection"
    (detail,), = rows(db, "SELECT detail FROM data_quality WHERE problem = 'reported_identity_mismatch'")
    assert "model 'Wallbox 9' (registry: 'DC120')" in detail
    pile = api.get(f"/piles/{fleet[0]}").json()
    assert (pile["model_id"], pile["serial"]) != ("Wallbox 9", "X-1"), "the registry's, in the API too"
    said = pile["reported_identity"]
    assert (said["vendor"], said["model"], said["serial"]) == ("Acme", "Wallbox 9", "X-1") and said["at"]
    assert "reported_identity_mismatch" in [q["problem"] for q in pile["data_quality"]]


def test_a_heartbeat_proves_the_charger_alive(db, fleet, ingest, gateway):
    db.execute("UPDATE pile_state SET last_seen = now() - interval '1 hour'")
    gateway(fleet[0]).call("Heartbeat", {}, {"currentTime": iso(NOW)})
    (seen,), = rows(db, "SELECT last_seen FROM pile_state WHERE pile_id = %s", fleet[0])
    assert seen > datetime.now(timezone.utc) - timedelta(minutes=1)


def test_an_envelope_with_an_error_is_dead_lettered_naming_the_action_and_the_field_and_proves_life(
        db, fleet, ingest, gateway):
    gateway(fleet[0]).call("StatusNotification", {}, error={
        "code": "FormationViolation", "description": "connectorId: required property missing"},
        raw='[2,"19","StatusNotification",{"status":"Available"}]')

    (reason, kind), = rows(db, "SELECT reason, kind FROM dead_letters")
    assert kind == "ocpp"
    assert "StatusNotification" in reason and "FormationViolation" in reason and "connectorId" in reason
    assert rows(db, "SELECT count(*) FROM data_quality WHERE problem = 'invalid_message'") == [(1,)]
    assert rows(db, "SELECT last_seen IS NOT NULL FROM pile_state WHERE pile_id = %s", fleet[0]) == [(True,)]


@pytest.mark.parametrize("body, says", [
    (b"{not json", "malformed JSON"),
    ({"v": 2, "ocpp": "1.6", "action": "Heartbeat", "payload": {}}, "v must be 1"),
    ({"v": 1, "ocpp": "1.5", "action": "Heartbeat", "payload": {}}, "ocpp must be"),
    ({"v": 1, "ocpp": "1.6", "action": "StatusNotification", "payload": {"status": "Available", "errorCode": "NoError"}},
     "StatusNotification: connectorId: missing"),
    ({"v": 1, "ocpp": "1.6", "action": "MeterValues",
      "payload": {"connectorId": 1, "meterValue": [{"timestamp": "yesterday", "sampledValue": []}]}},
     "MeterValues: meterValue[0].timestamp: 'yesterday' is not an RFC 3339 time"),
    ({"v": 1, "ocpp": "2.0.1", "action": None, "payload": None, "raw": "[2, 17",
      "error": {"code": "RpcFrameworkError", "description": "the frame is not a JSON array"}},
     "OCPP 2.0.1 frame without a readable action refused by the gateway (RpcFrameworkError): the frame is not a JSON array"),
], ids=["not-json", "version", "ocpp-version", "missing-field", "bad-time", "unreadable-frame"])
def test_a_malformed_envelope_is_dead_lettered_with_a_reason(db, fleet, ingest, gateway, body, says):
    g = gateway(fleet[0])
    g.publish(body)
    g.wait()
    (reason,), = rows(db, "SELECT reason FROM dead_letters")
    assert says in reason
