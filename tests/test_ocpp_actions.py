"""pilecare commands become schema-valid OCPP 1.6 and 2.0.1 CALLs, and chargers' answers become acks."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, validate_payload
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201

from gateway.ocpp.actions import Unmappable, outcome, request_for, request_id
from pilecare.domain import CommandAckStatus as Ack
from pilecare.domain import CommandType as T

COMMAND = uuid.UUID("6f1c2d8e-6b1f-4a53-9d0c-1c1b8c1f2a3b")


def wire(type, params, version):
    """The CALL's action and JSON payload as it goes on the wire, checked against the OCPP schema."""
    request = request_for(type, params, version, COMMAND)
    payload = remove_nones(snake_to_camel_case(serialize_as_dict(request)))
    call = Call(unique_id="1", action=request.__class__.__name__, payload=payload)
    asyncio.run(validate_payload(call, "1.6" if version == "1.6" else "2.0.1"))
    return call.action, payload


@pytest.mark.parametrize("reset, immediate", [("Soft", "OnIdle"), ("Hard", "Immediate")])
def test_a_reset_is_reset_in_1_6_and_onidle_or_immediate_in_2_0_1(reset, immediate):
    assert wire(T.RESET, {"type": reset}, "1.6") == ("Reset", {"type": reset})
    assert wire(T.RESET, {"type": reset}, "2.0.1") == ("Reset", {"type": immediate})


def test_change_availability_of_the_whole_pile_names_no_evse_in_2_0_1():
    assert wire(T.CHANGE_AVAILABILITY, {"connector_id": 0, "type": "Inoperative"}, "1.6") == (
        "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})
    assert wire(T.CHANGE_AVAILABILITY, {"connector_id": 0, "type": "Inoperative"}, "2.0.1") == (
        "ChangeAvailability", {"operationalStatus": "Inoperative"})


def test_change_availability_of_a_connector_is_that_evse_in_2_0_1():
    assert wire(T.CHANGE_AVAILABILITY, {"connector_id": 2, "type": "Operative"}, "2.0.1") == (
        "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2}})


def test_trigger_message_takes_the_mqtt_contracts_words_and_ocpps_own():
    assert wire(T.TRIGGER_MESSAGE, {"requested_message": "status", "connector_id": 1}, "1.6") == (
        "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1})
    assert wire(T.TRIGGER_MESSAGE, {"requested_message": "boot"}, "2.0.1") == (
        "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert wire(T.TRIGGER_MESSAGE, {"requested_message": "Heartbeat"}, "1.6") == (
        "TriggerMessage", {"requestedMessage": "Heartbeat"})
    assert wire(T.TRIGGER_MESSAGE, {"requested_message": "telemetry", "connector_id": 3}, "2.0.1") == (
        "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 3}})


def test_a_trigger_that_does_not_exist_in_the_chargers_version_is_unmappable():
    with pytest.raises(Unmappable, match="requested_message 'DiagnosticsStatusNotification' cannot be triggered in OCPP 2.0.1"):
        request_for(T.TRIGGER_MESSAGE, {"requested_message": "DiagnosticsStatusNotification"}, "2.0.1", COMMAND)


def test_unlock_connector_is_evse_and_connector_in_2_0_1():
    assert wire(T.UNLOCK_CONNECTOR, {"connector_id": 2}, "1.6") == ("UnlockConnector", {"connectorId": 2})
    assert wire(T.UNLOCK_CONNECTOR, {"connector_id": 2}, "2.0.1") == ("UnlockConnector", {"evseId": 2, "connectorId": 1})
    assert wire(T.UNLOCK_CONNECTOR, {"evse_id": 1, "connector_id": 2}, "2.0.1") == (
        "UnlockConnector", {"evseId": 1, "connectorId": 2})


def test_get_diagnostics_is_getlog_with_a_diagnostics_log_in_2_0_1():
    params = {"location": "ftp://logs.example.net/up", "start_time": "2026-11-30T10:00:00Z", "retries": 2}
    assert wire(T.GET_DIAGNOSTICS, params, "1.6") == ("GetDiagnostics", {
        "location": "ftp://logs.example.net/up", "startTime": "2026-11-30T10:00:00+00:00", "retries": 2})
    assert wire(T.GET_DIAGNOSTICS, params, "2.0.1") == ("GetLog", {
        "log": {"remoteLocation": "ftp://logs.example.net/up", "oldestTimestamp": "2026-11-30T10:00:00+00:00"},
        "logType": "DiagnosticsLog", "requestId": request_id(COMMAND), "retries": 2})
    assert 0 < request_id(COMMAND) < 2 ** 31


@pytest.mark.parametrize("type, params, reason", [
    (T.RESET, {}, "params.type must be Soft or Hard, not None"),
    (T.RESET, {"type": "Immediate"}, "params.type must be Soft or Hard, not 'Immediate'"),
    (T.CHANGE_AVAILABILITY, {"connector_id": 17, "type": "Operative"}, "params.connector_id must be an integer 0–16"),
    (T.CHANGE_AVAILABILITY, {"connector_id": True, "type": "Operative"}, "params.connector_id must be an integer"),
    (T.UNLOCK_CONNECTOR, {}, "params.connector_id is required"),
    (T.UNLOCK_CONNECTOR, {"connector_id": 0}, "params.connector_id must be an integer 1–16"),
    (T.TRIGGER_MESSAGE, {}, "params.requested_message is required"),
    (T.GET_DIAGNOSTICS, {}, "params.location must be the URL"),
    (T.GET_DIAGNOSTICS, {"location": "ftp://x/y", "start_time": "yesterday"}, "params.start_time must be an RFC 3339"),
    (T.GET_DIAGNOSTICS, {"location": "ftp://x/y", "stop_time": "2026-11-30T10:00:00"}, "with an offset"),
    ("Reboot", {}, "command type 'Reboot' has no OCPP counterpart"),
])
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_params_that_cannot_be_mapped_are_refused_with_a_reason_naming_the_field(type, params, reason, version):
    with pytest.raises(Unmappable, match=reason.replace("(", r"\(").replace(")", r"\)")):
        request_for(type, params, version, COMMAND)


def test_an_unknown_ocpp_version_is_unmappable():
    with pytest.raises(Unmappable, match="OCPP version '2.1' is not supported"):
        request_for(T.RESET, {"type": "Soft"}, "2.1", COMMAND)


def test_charger_answers_become_ack_statuses_keeping_what_is_not_a_pilecare_word():
    assert outcome(T.RESET, "1.6", result16.Reset(status="Accepted")) == (Ack.ACCEPTED, None)
    assert outcome(T.CHANGE_AVAILABILITY, "1.6", result16.ChangeAvailability(status="Scheduled")) == (Ack.SCHEDULED, None)
    assert outcome(T.TRIGGER_MESSAGE, "1.6", result16.TriggerMessage(status="NotImplemented")) == (
        Ack.NOT_SUPPORTED, "NotImplemented")
    assert outcome(T.UNLOCK_CONNECTOR, "1.6", result16.UnlockConnector(status="UnlockFailed")) == (Ack.UNLOCK_FAILED, None)
    assert outcome(T.UNLOCK_CONNECTOR, "2.0.1", result201.UnlockConnector(status="OngoingAuthorizedTransaction")) == (
        Ack.UNLOCK_FAILED, "OngoingAuthorizedTransaction")
    assert outcome(T.UNLOCK_CONNECTOR, "2.0.1", result201.UnlockConnector(status="UnknownConnector")) == (
        Ack.REJECTED, "UnknownConnector")


def test_a_2_0_1_status_info_is_kept_in_the_info():
    answer = result201.Reset(status="Rejected", status_info={"reason_code": "TxInProgress", "additional_info": "busy"})
    assert outcome(T.RESET, "2.0.1", answer) == (Ack.REJECTED, "TxInProgress: busy")


def test_diagnostics_answers_name_the_file_or_say_there_is_none():
    assert outcome(T.GET_DIAGNOSTICS, "1.6", result16.GetDiagnostics(file_name="diag-0042.zip")) == (
        Ack.ACCEPTED, "file diag-0042.zip")
    assert outcome(T.GET_DIAGNOSTICS, "1.6", result16.GetDiagnostics()) == (
        Ack.ACCEPTED, "no diagnostics information available")
    assert outcome(T.GET_DIAGNOSTICS, "2.0.1", result201.GetLog(status="Accepted", filename="log.tgz")) == (
        Ack.ACCEPTED, "file log.tgz")
    assert outcome(T.GET_DIAGNOSTICS, "2.0.1", result201.GetLog(status="AcceptedCanceled")) == (
        Ack.ACCEPTED, "AcceptedCanceled")
