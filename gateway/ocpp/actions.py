"""pilecare's downlink commands as OCPP CALLs, and the charger's answers as acks.

`request_for(type, params, version, command_id)` builds the `ocpp` package's call payload
for OCPP 1.6 or 2.0.1 from a command's `CommandType` and `params` (the MQTT contract's
params, docs/device-protocol.md §7, plus GetDiagnostics); `outcome(type, version, response)`
turns the CALLRESULT payload into a `CommandAckStatus` and a short info text. Parameters
that cannot be expressed in the charger's version raise `Unmappable` with a reason naming
the field: the relay records the command `failed` with it, nothing is sent.

Mapping (docs/ocpp.md, "Commands"):

| pilecare | OCPP 1.6 (§5.x of the 1.6 spec) | OCPP 2.0.1 (part 2) |
|---|---|---|
| Reset `type` Soft / Hard | Reset.type Soft / Hard | Reset.type OnIdle / Immediate |
| ChangeAvailability `connector_id` 0–16, `type` Operative / Inoperative | ChangeAvailability connectorId, type | ChangeAvailability operationalStatus; evse {id: connector_id} (absent for 0: the station) |
| TriggerMessage `requested_message`, optional `connector_id` | TriggerMessage requestedMessage, connectorId | TriggerMessage requestedMessage, evse {id: connector_id} |
| UnlockConnector `connector_id` 1–16 (2.0.1: optional `evse_id`) | UnlockConnector connectorId | UnlockConnector evseId = evse_id or connector_id, connectorId = connector_id if evse_id given else 1 |
| GetDiagnostics `location` (URL), optional `start_time`, `stop_time`, `retries`, `retry_interval` | GetDiagnostics location, startTime, stopTime, retries, retryInterval | GetLog log {remoteLocation, oldestTimestamp, latestTimestamp}, logType DiagnosticsLog, requestId = `request_id(command_id)` |

pilecare connector n is 2.0.1 EVSE n (one connector per EVSE, as the ingest mapping of
StatusNotification reads it).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v16 import enums as enums16
from ocpp.v201 import call as call201
from ocpp.v201 import datatypes as types201
from ocpp.v201 import enums as enums201

from pilecare.domain import CommandAckStatus, CommandType

INFO_MAX = 256  # as the MQTT ack's `info` (gateway/protocol.py CommandAck)
MAX_CONNECTOR = 16  # as the MQTT contract (docs/device-protocol.md §7)

# TriggerMessage: the MQTT contract's words (docs/device-protocol.md §7) and OCPP's own.
_TRIGGER_WORDS = {"telemetry": "MeterValues", "status": "StatusNotification", "boot": "BootNotification"}
_TRIGGERS16 = {t.value for t in enums16.MessageTrigger}
_TRIGGERS201 = {t.value for t in enums201.MessageTriggerEnumType}

_RESET201 = {"Soft": enums201.ResetEnumType.on_idle, "Hard": enums201.ResetEnumType.immediate}

# Charger answers that are not pilecare ack words: the nearest word; the charger's own
# status goes into the info so nothing is lost.
_STATUS = {
    "NotImplemented": CommandAckStatus.NOT_SUPPORTED,          # TriggerMessage (1.6 and 2.0.1)
    "OngoingAuthorizedTransaction": CommandAckStatus.UNLOCK_FAILED,  # 2.0.1 UnlockConnector
    "UnknownConnector": CommandAckStatus.REJECTED,             # 2.0.1 UnlockConnector
    "AcceptedCanceled": CommandAckStatus.ACCEPTED,             # 2.0.1 GetLog: an earlier upload was cancelled
}


class Unmappable(ValueError):
    """A command whose type or params cannot become a CALL for this OCPP version."""


def request_id(command_id: uuid.UUID) -> int:
    """The 2.0.1 GetLog `requestId` of a command: a positive 31-bit integer derived from its id,
    so the charger's LogStatusNotification (which repeats it) can be matched to the command."""
    return command_id.int % 2_147_483_647 or 1


def request_for(type: CommandType | str, params: dict | None, version: str, command_id: uuid.UUID) -> Any:
    """The OCPP call payload for a command. `version` is "1.6" or "2.0.1".

    Raises Unmappable (reason names the field) for an unknown type, a missing or invalid
    parameter, or a version it does not exist in.
    """
    if version not in ("1.6", "2.0.1"):
        raise Unmappable(f"OCPP version {version!r} is not supported (1.6 or 2.0.1)")
    try:
        kind = CommandType(type)
    except ValueError:
        raise Unmappable(f"command type {type!r} has no OCPP counterpart") from None
    params = params if isinstance(params, dict) else {}
    v16 = version == "1.6"
    if kind is CommandType.RESET:
        reset = _choice(params, "type", ("Soft", "Hard"))
        return call16.Reset(type=enums16.ResetType(reset)) if v16 else call201.Reset(type=_RESET201[reset])
    if kind is CommandType.CHANGE_AVAILABILITY:
        connector = _connector(params, "connector_id", low=0, default=0)
        availability = _choice(params, "type", ("Operative", "Inoperative"))
        if v16:
            return call16.ChangeAvailability(connector_id=connector, type=enums16.AvailabilityType(availability))
        return call201.ChangeAvailability(operational_status=enums201.OperationalStatusEnumType(availability),
                                          evse=types201.EVSEType(id=connector) if connector else None)
    if kind is CommandType.TRIGGER_MESSAGE:
        word = params.get("requested_message")
        if not isinstance(word, str):
            raise Unmappable("params.requested_message is required (telemetry, status, boot or an OCPP message name)")
        message = _TRIGGER_WORDS.get(word, word)
        known = _TRIGGERS16 if v16 else _TRIGGERS201
        if message not in known:
            raise Unmappable(f"params.requested_message {word!r} cannot be triggered in OCPP {version} "
                             f"(one of telemetry, status, boot, {', '.join(sorted(known))})")
        connector = _connector(params, "connector_id", low=1, default=None)
        if v16:
            return call16.TriggerMessage(requested_message=enums16.MessageTrigger(message), connector_id=connector)
        return call201.TriggerMessage(requested_message=enums201.MessageTriggerEnumType(message),
                                      evse=types201.EVSEType(id=connector) if connector else None)
    if kind is CommandType.UNLOCK_CONNECTOR:
        connector = _connector(params, "connector_id", low=1, default=...)
        if v16:
            return call16.UnlockConnector(connector_id=connector)
        evse = _connector(params, "evse_id", low=1, default=None)
        if evse is None:  # pilecare connector n = EVSE n with its one connector
            return call201.UnlockConnector(evse_id=connector, connector_id=1)
        return call201.UnlockConnector(evse_id=evse, connector_id=connector)
    # GetDiagnostics
    location = params.get("location")
    if not isinstance(location, str) or "://" not in location or len(location) > 512:
        raise Unmappable("params.location must be the URL the charger uploads to (e.g. ftp://… or https://…, "
                         "at most 512 characters)")
    start, stop = _timestamp(params, "start_time"), _timestamp(params, "stop_time")
    retries = _count(params, "retries")
    interval = _count(params, "retry_interval")
    if v16:
        return call16.GetDiagnostics(location=location, retries=retries, retry_interval=interval,
                                     start_time=start, stop_time=stop)
    return call201.GetLog(log=types201.LogParametersType(remote_location=location, oldest_timestamp=start,
                                                         latest_timestamp=stop),
                          log_type=enums201.LogEnumType.diagnostics_log, request_id=request_id(command_id),
                          retries=retries, retry_interval=interval)


def outcome(type: CommandType | str, version: str, response: Any) -> tuple[CommandAckStatus, str | None]:
    """The ack status and info for a charger's CALLRESULT payload (an `ocpp` call_result
    object, schema-checked by the package). 2.0.1 statusInfo (reasonCode, additionalInfo)
    and a charger status that is not a pilecare word go into the info."""
    notes: list[str] = []
    if CommandType(type) is CommandType.GET_DIAGNOSTICS and version == "1.6":
        # 1.6 §6.21 GetDiagnostics.conf has no status: fileName is absent when the charger has
        # no diagnostics to upload.
        name = getattr(response, "file_name", None)
        return CommandAckStatus.ACCEPTED, (f"file {name}" if name else "no diagnostics information available")
    raw = getattr(response, "status", None)
    word = raw.value if hasattr(raw, "value") else str(raw)
    try:
        status = CommandAckStatus(word)
    except ValueError:
        status = _STATUS.get(word, CommandAckStatus.REJECTED)
        notes.append(word)
    if getattr(response, "filename", None):  # 2.0.1 GetLog
        notes.append(f"file {response.filename}")
    info = getattr(response, "status_info", None)
    if info:
        reason = info.get("reason_code") if isinstance(info, dict) else getattr(info, "reason_code", None)
        extra = info.get("additional_info") if isinstance(info, dict) else getattr(info, "additional_info", None)
        notes.append(": ".join(str(x) for x in (reason, extra) if x))
    text = "; ".join(n for n in notes if n)
    return status, (text[:INFO_MAX] if text else None)


def _choice(params: dict, name: str, allowed: tuple[str, ...]) -> str:
    value = params.get(name)
    if value not in allowed:
        raise Unmappable(f"params.{name} must be {' or '.join(allowed)}, not {value!r}")
    return value


def _connector(params: dict, name: str, *, low: int, default):
    value = params.get(name, default)
    if value is ...:
        raise Unmappable(f"params.{name} is required ({low}–{MAX_CONNECTOR})")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_CONNECTOR:
        raise Unmappable(f"params.{name} must be an integer {low}–{MAX_CONNECTOR}, not {value!r}")
    return value


def _count(params: dict, name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 86_400:
        raise Unmappable(f"params.{name} must be an integer 0–86400, not {value!r}")
    return value


def _timestamp(params: dict, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Unmappable(f"params.{name} must be an RFC 3339 timestamp with an offset, not {value!r}")
    return parsed.isoformat()
