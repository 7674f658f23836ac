"""The OCPP central system (`pilecare ocpp`): handshake, security profiles, the messages it
answers and the ones it refuses, against a charge point not written here (npm ocpp-rpc in
Node.js, tests/ocpp_client) with real PostgreSQL and Mosquitto (issue 15)."""
from __future__ import annotations

import json
import time
from urllib.parse import quote

import pytest
import trustme

from gateway.credentials import Protocol, revoke
from tests.ocpp_harness import RunningGateway
from tests.ocpp_fixtures import BOOT_16, BOOT_201, envelope_of
from tests.ocpp_fixtures import (  # noqa: F401 (fixtures used by name)
    charge_points, gateway, ocpp_client_installed, ocpp_settings, piles, url, watch)


def test_a_charger_speaking_ocpp_1_6_boots_and_its_boot_reaches_the_broker(url, piles, watch, charge_points, db):
    cp = charge_points()
    assert cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6") == {"event": "open", "protocol": "ocpp1.6"}

    answer = cp.call("BootNotification", BOOT_16)

    assert answer["event"] == "result"
    # Heartbeats no further apart than its model's reporting interval (T-DC120: 15 s), shorter
    # than the configured 120 s: an idle charger must never look silent to pilecare.
    assert answer["result"]["status"] == "Accepted" and answer["result"]["interval"] == 15
    topic, envelope, retained = watch.wait_for(envelope_of("TP-0001", "BootNotification"))
    assert not retained
    assert envelope["v"] == 1 and envelope["ocpp"] == "1.6"
    assert envelope["payload"] == BOOT_16
    assert envelope["response"]["status"] == "Accepted"
    assert envelope["error"] is None and envelope["raw"] is None
    row = db.execute("SELECT connection_id::text, ocpp_version FROM ocpp_connections "
                     "WHERE pile_id = 'TP-0001'").fetchone()
    assert row == (envelope["connection_id"], "1.6")
    watch.wait_for(lambda t, p: t.endswith("/TP-0001/status") and p.get("firmware") == "6.1.0")
    retained_status = watch.retained("TP-0001", "status")
    assert retained_status["state"] == "online" and retained_status["firmware"] == "6.1.0"


def test_a_charger_speaking_ocpp_2_0_1_boots_and_reports_its_connectors(url, piles, watch, charge_points):
    cp = charge_points()
    assert cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp2.0.1")["protocol"] == "ocpp2.0.1"

    assert cp.call("BootNotification", BOOT_201)["result"]["status"] == "Accepted"
    status = {"timestamp": "2026-11-30T20:00:00Z", "connectorStatus": "Faulted", "evseId": 1, "connectorId": 1}
    assert cp.call("StatusNotification", status)["result"] == {}
    event = {"generatedAt": "2026-11-30T20:00:01Z", "seqNo": 0, "eventData": [{
        "eventId": 7, "timestamp": "2026-11-30T20:00:00Z", "trigger": "Alerting", "actualValue": "true",
        "techCode": "GF-01", "eventNotificationType": "HardWiredNotification",
        "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Problem"}}]}
    assert cp.call("NotifyEvent", event)["result"] == {}

    _, sent, _ = watch.wait_for(envelope_of("TP-0001", "NotifyEvent"))
    assert sent["ocpp"] == "2.0.1" and sent["payload"] == event and sent["response"] == {}
    assert watch.wait_for(envelope_of("TP-0001", "StatusNotification"))[1]["payload"] == status
    assert watch.wait_for(lambda t, p: t.endswith("/TP-0001/status") and p.get("firmware") == "1.8.2")


def test_a_pile_not_yet_commissioned_is_pending_and_may_only_boot_again(url, piles, watch, charge_points):
    cp = charge_points()
    cp.connect(url, "TP-0002", piles["TP-0002"], "ocpp1.6")

    boot = cp.call("BootNotification", BOOT_16)
    heartbeat = cp.call("Heartbeat", {})

    assert boot["result"]["status"] == "Pending" and boot["result"]["interval"] == 45
    assert heartbeat["event"] == "callerror" and heartbeat["code"] == "SecurityError"
    _, refused, _ = watch.wait_for(envelope_of("TP-0002", "Heartbeat"))
    assert refused["error"]["code"] == "SecurityError"


@pytest.mark.parametrize("who, password", [
    ("TP-0001", "not-the-password-at-all"),   # wrong password
    ("TP-9999", "whatever-it-is-here"),        # unknown charge point id
    ("TP-0001", None),                         # no Authorization header
])
def test_a_wrong_password_or_an_unknown_id_is_refused_at_the_handshake(url, piles, charge_points, db, who, password):
    cp = charge_points()

    outcome = cp.connect(url, who, password, "ocpp1.6")

    assert outcome["event"] == "refused" and outcome["status"] == 401
    assert db.execute("SELECT count(*) FROM ocpp_connections").fetchone()[0] == 0


def test_a_revoked_password_is_refused_at_the_handshake(url, piles, charge_points, db):
    revoke(db, "TP-0001", Protocol.OCPP, revoked_by="test")

    outcome = charge_points().connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")

    assert outcome["event"] == "refused" and outcome["status"] == 401


def test_a_handshake_offering_no_ocpp_subprotocol_is_refused(url, piles, charge_points):
    outcome = charge_points().connect(url, "TP-0001", piles["TP-0001"], "ocpp2.1")

    assert outcome["event"] == "refused" and outcome["status"] == 400


def test_security_profile_2_works_over_tls_with_a_test_ca(ocpp_settings, piles, charge_points, tmp_path):
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert))
    server_cert.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    tls = ocpp_settings.model_copy(update={"ocpp_security_profile": 2, "ocpp_tls_cert": str(cert),
                                           "ocpp_tls_key": str(key)})
    running = RunningGateway(tls).start()
    try:
        cp = charge_points()
        url = f"wss://127.0.0.1:{running.port}/ocpp"
        assert cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6", ca=str(ca_file))["event"] == "open"
        assert cp.call("BootNotification", BOOT_16)["result"]["status"] == "Accepted"
        wrong = charge_points().connect(url, "TP-0001", "not-the-password-at-all", "ocpp1.6", ca=str(ca_file))
        assert wrong["event"] == "refused" and wrong["status"] == 401
    finally:
        running.stop()


@pytest.mark.parametrize("protocol, payload, code, field", [
    ("ocpp1.6", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}, "TypeConstraintViolation",
     "connectorId"),
    ("ocpp1.6", {"connectorId": 1, "errorCode": "NoError", "status": "Available", "colour": "red"},
     "FormationViolation", "colour"),
    ("ocpp1.6", {"connectorId": 1, "status": "Available"}, "ProtocolError", "errorCode"),
    ("ocpp2.0.1", {"timestamp": "2026-11-30T20:00:00Z", "connectorStatus": "Available", "evseId": 1,
                   "connectorId": 1, "colour": "red"}, "FormatViolation", "colour"),
])
def test_a_call_breaking_the_schema_gets_the_prescribed_callerror_and_a_dead_letterenvelope_of(
        url, piles, watch, charge_points, protocol, payload, code, field):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], protocol)
    frame = json.dumps([2, "broken-1", "StatusNotification", payload])

    cp.send(op="raw", message=frame)

    answer = cp.answer_to("broken-1")
    assert answer[0] == 4 and answer[2] == code and field in answer[3]
    _, sent, _ = watch.wait_for(envelope_of("TP-0001", "StatusNotification"))
    assert sent["error"] == {"code": code, "description": answer[3]}
    assert sent["raw"] == frame and sent["response"] is None
    assert cp.call("Heartbeat", {})["event"] == "result"  # and the connection goes on


def test_a_frame_that_is_no_rpc_message_is_answered_and_dead_lettered_and_the_gateway_goes_on(
        url, piles, watch, charge_points):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp2.0.1")

    cp.send(op="raw", message="this is not json")
    cp.send(op="raw", message='[2, "odd-1", ["not", "an", "action"], {}]')
    cp.send(op="raw", message='[7, "odd-2", "Heartbeat", {}]')

    assert cp.answer_to("-1")[2] == "RpcFrameworkError"
    assert cp.answer_to("odd-1")[2] == "ProtocolError"
    assert cp.answer_to("odd-2")[2] == "MessageTypeNotSupported"
    _, sent, _ = watch.wait_for(lambda t, p: t.endswith("/TP-0001/ocpp") and p.get("raw") == "this is not json")
    assert sent["error"]["code"] == "RpcFrameworkError" and sent["action"] is None
    assert cp.call("Heartbeat", {})["event"] == "result"


@pytest.mark.parametrize("protocol, action, code", [
    ("ocpp1.6", "BrewCoffee", "NotImplemented"),       # no such action in OCPP 1.6
    ("ocpp1.6", "Reset", "NotSupported"),              # an action of 1.6 a central system does not take
    ("ocpp2.0.1", "BrewCoffee", "NotImplemented"),
    ("ocpp2.0.1", "ReportChargingProfiles", "NotSupported"),
])
def test_an_action_not_handled_is_answered_as_the_spec_says_and_dead_lettered(
        url, piles, watch, charge_points, protocol, action, code):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], protocol)

    cp.send(op="raw", message=json.dumps([2, "unhandled-1", action, {}]))

    assert cp.answer_to("unhandled-1")[2] == code
    assert watch.wait_for(envelope_of("TP-0001", action))[1]["error"]["code"] == code


def test_a_start_transaction_whose_timestamp_is_no_time_is_refused_and_dead_lettered(url, piles, watch, charge_points):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")
    start = {"connectorId": 1, "idTag": "RFID-1", "meterStart": 1200, "timestamp": "yesterday"}

    cp.send(op="raw", message=json.dumps([2, "start-1", "StartTransaction", start]))

    assert cp.answer_to("start-1")[2] == "PropertyConstraintViolation"
    _, sent, _ = watch.wait_for(envelope_of("TP-0001", "StartTransaction"))
    assert sent["error"]["code"] == "PropertyConstraintViolation" and "timestamp" in sent["error"]["description"]


def test_a_call_the_broker_has_not_acknowledged_is_never_answered_with_a_callresult(
        ocpp_settings, piles, charge_points):
    from tests.tcp_proxy import Proxy

    broker = ocpp_settings.mqtt()
    proxy = Proxy((broker.host, broker.port))
    account = f"{quote(broker.username, safe='')}:{quote(broker.password, safe='')}@" if broker.username else ""
    through_proxy = ocpp_settings.model_copy(update={"mqtt_url": f"mqtt://{account}127.0.0.1:{proxy.port}",
                                                     "ocpp_publish_timeout_s": 1.0})
    running = RunningGateway(through_proxy).start()
    try:
        cp = charge_points()
        cp.connect(f"ws://127.0.0.1:{running.port}/ocpp", "TP-0001", piles["TP-0001"], "ocpp1.6")
        assert cp.call("Heartbeat", {})["event"] == "result"

        proxy.cut()
        while_away = cp.call("Heartbeat", {})
        proxy.restore()

        assert while_away["event"] == "callerror" and while_away["code"] == "InternalError"
        deadline = time.monotonic() + 30  # paho reconnects within its 10 s back-off
        while (again := cp.call("Heartbeat", {}))["event"] != "result" and time.monotonic() < deadline:
            pass
        assert again["event"] == "result"
    finally:
        running.stop()
        proxy.close()


def test_a_start_transaction_replayed_gets_the_same_transaction_id(url, piles, charge_points):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")
    start = {"connectorId": 1, "idTag": "RFID-1", "meterStart": 1200, "timestamp": "2026-11-30T19:00:00Z"}

    first = cp.call("StartTransaction", start)["result"]
    again = cp.call("StartTransaction", start)["result"]
    other = cp.call("StartTransaction", {**start, "timestamp": "2026-11-30T19:30:00Z"})["result"]

    assert first["idTagInfo"] == {"status": "Accepted"}
    assert again["transactionId"] == first["transactionId"] != other["transactionId"]


ODD_FRAMES = ["", "null", "[]", "[2]", '[2, "a"]', '[2, "b", "Heartbeat"]', '[2, "c", "Heartbeat", null]',
              '[2, "d", "Heartbeat", []]', '[2, "e", "Heartbeat", {}, "extra"]', '[3, "f", {}]', '[4, "g"]',
              '[2, 17, "Heartbeat", {}]', '{"not": "a list"}', "[" * 100_000 + "]" * 100_000,
              '[2, "h", "BootNotification", {"chargePointVendor": "' + "x" * 5000 + '", "chargePointModel": "m"}]',
              b"\x00\xff binary", '[2, "i", "Heartbeat", {"\\ud800": 1}]']


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_whatever_a_charger_sends_the_connection_and_the_gateway_go_on(url, piles, protocol):
    import asyncio
    import base64

    from websockets.asyncio.client import connect

    token = base64.b64encode(f"TP-0001:{piles['TP-0001']}".encode()).decode()

    async def charger() -> list:
        async with connect(f"{url}/TP-0001", subprotocols=[protocol],
                           additional_headers={"Authorization": f"Basic {token}"}) as ws:
            for frame in ODD_FRAMES:
                await ws.send(frame)
            await ws.send(json.dumps([2, "still-there", "Heartbeat", {}]))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if frame[1] == "still-there":
                    return frame

    answer = asyncio.run(charger())

    assert answer[0] == 3 and "currentTime" in answer[2]
    assert asyncio.run(charger())[0] == 3  # and the gateway takes new connections


def test_a_boot_whose_firmware_version_holds_a_lone_surrogate_is_still_accepted(url, piles, watch, charge_points):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")

    cp.send(op="raw", message=json.dumps([2, "boot-1", "BootNotification", BOOT_16 | {"firmwareVersion": "6.1\ud800"}]))

    answer = cp.answer_to("boot-1")
    assert answer[0] == 3 and answer[2]["status"] == "Accepted"
    assert watch.retained("TP-0001", "status")["firmware"] == "6.1\ufffd"


@pytest.mark.parametrize("start, field", [
    ({"connectorId": 2**40, "meterStart": 1200}, "connectorId"),
    ({"connectorId": -1, "meterStart": 1200}, "connectorId"),
    ({"connectorId": 1, "meterStart": 2**63}, "meterStart"),
    ({"connectorId": 1, "meterStart": -5}, "meterStart"),
], ids=["connector-beyond-integer", "connector-negative", "meter-beyond-bigint", "meter-negative"])
def test_a_start_transaction_naming_no_connector_or_register_is_refused_naming_the_field_and_dead_lettered(
        url, piles, watch, charge_points, start, field):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")
    start = start | {"idTag": "RFID-1", "timestamp": "2026-11-30T20:00:00Z"}

    cp.send(op="raw", message=json.dumps([2, "start-1", "StartTransaction", start]))

    answer = cp.answer_to("start-1")
    assert answer[2] == "PropertyConstraintViolation" and field in answer[4]["cause"]
    _, sent, _ = watch.wait_for(envelope_of("TP-0001", "StartTransaction"))
    assert sent["error"]["code"] == "PropertyConstraintViolation" and field in sent["error"]["description"]


def test_a_start_transaction_whose_id_tag_holds_a_nul_byte_gets_a_transaction_id(url, piles, charge_points):
    cp = charge_points()
    cp.connect(url, "TP-0001", piles["TP-0001"], "ocpp1.6")
    start = {"connectorId": 1, "idTag": "RF\u0000ID", "meterStart": 1200, "timestamp": "2026-11-30T20:00:00Z"}

    cp.send(op="raw", message=json.dumps([2, "start-1", "StartTransaction", start]))

    answer = cp.answer_to("start-1")
    assert answer[0] == 3 and isinstance(answer[2]["transactionId"], int)


def test_a_frame_whose_envelope_the_broker_would_refuse_is_dead_lettered_and_the_gateway_goes_on_publishing(
        url, piles, watch):
    import asyncio
    import base64

    from websockets.asyncio.client import connect

    token = base64.b64encode(f"TP-0001:{piles['TP-0001']}".encode()).decode()
    # 600 kB on the wire; escaped as ASCII for the broker, 1.8 MB: above its message_size_limit.
    frame = json.dumps([2, "big-1", "DataTransfer", {"vendorId": "acme", "data": "é" * 300_000}], ensure_ascii=False)

    async def charger() -> tuple[list, list]:
        async with connect(f"{url}/TP-0001", subprotocols=["ocpp1.6"], max_size=None,
                           additional_headers={"Authorization": f"Basic {token}"}) as ws:
            await ws.send(frame)
            big = json.loads(await asyncio.wait_for(ws.recv(), 15))
            await ws.send(json.dumps([2, "after-1", "Heartbeat", {}]))
            return big, json.loads(await asyncio.wait_for(ws.recv(), 15))

    big, after = asyncio.run(charger())

    assert big[:3] == [4, "big-1", "InternalError"] and "too large" in big[3]
    _, dead, _ = watch.wait_for(lambda t, p: t.endswith("/TP-0001/ocpp") and p.get("message_id") == "big-1")
    assert dead["error"]["code"] == "InternalError" and dead["raw"] == frame[:len(dead["raw"])]
    assert after[:2] == [3, "after-1"]
    assert watch.wait_for(lambda t, p: t.endswith("/TP-0001/ocpp") and p.get("message_id") == "after-1")
