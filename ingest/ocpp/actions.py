"""What each OCPP action means to pilecare: one handler per (version, action), routed by
`@on` (docs/ocpp.md, "From OCPP to pilecare", is the table these implement). A handler
reads the CALL's payload and the gateway's answer and adds rows, events or the reported
identity to a `Build`; a field it cannot read raises `Unreadable`, naming the field."""
from __future__ import annotations

from pilecare.domain import ConnectorStatus, ErrorCode, PileEventType
from ingest.decode import DataProblem, Quirk
from ingest.ocpp.envelope import Build, Identity, Unreadable, as_text, authorized, need, on, whole

# OCPP 2.0.1 ConnectorStatusEnumType → pilecare's (OCPP 1.6) connector status. Occupied says a
# vehicle is plugged in, not whether it charges: Preparing, 1.6's "no longer available for a
# new user", is the least that is true.
STATUS_201 = {
    "Available": ConnectorStatus.AVAILABLE,
    "Occupied": ConnectorStatus.PREPARING,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.UNAVAILABLE,
    "Faulted": ConnectorStatus.FAULTED,
}
_STATUSES_16 = {s.value: s for s in ConnectorStatus}
_FALSE = {"false", "0", "no", "off", ""}


# --- OCPP 1.6 -----------------------------------------------------------------------------

@on("1.6", "BootNotification")
def _boot_16(b: Build, p: dict, r: dict) -> None:
    b.identity = Identity(as_text(p, "chargePointVendor"), as_text(p, "chargePointModel"),
                          as_text(p, "chargePointSerialNumber") or as_text(p, "chargeBoxSerialNumber"),
                          as_text(p, "firmwareVersion"))
    _boot(b, r, reason=None)


@on("2.0.1", "BootNotification")
def _boot_201(b: Build, p: dict, r: dict) -> None:
    station = p.get("chargingStation")
    if not isinstance(station, dict):
        raise Unreadable("chargingStation", "missing")
    b.identity = Identity(as_text(station, "vendorName"), as_text(station, "model"), as_text(station, "serialNumber"),
                          as_text(station, "firmwareVersion"))
    _boot(b, r, reason=as_text(p, "reason"))


def _boot(b: Build, r: dict, reason: str | None) -> None:
    i = b.identity
    # A charger answered Pending repeats its BootNotification on the same connection: one
    # boot per connection, whatever the message ids.
    at = (b.received_at, b.received_at, False)
    b.event(PileEventType.BOOT, at, 0, (b.connection_id,), {
        "vendor": i.vendor, "model": i.model, "serial": i.serial, "firmware": i.firmware, "reason": reason,
        "registration": r.get("status")})


@on("1.6", "StatusNotification")
def _status_16(b: Build, p: dict, r: dict) -> None:
    connector = whole(p, "connectorId")
    status = _STATUSES_16.get(need(p, "status", ""))
    if status is None:
        raise Unreadable("status", f"{p['status']!r} is not an OCPP 1.6 ChargePointStatus")
    code = need(p, "errorCode", "")
    if not isinstance(code, str):
        raise Unreadable("errorCode", f"{code!r} is not a string")
    info = as_text(p, "info")
    vendor_id = as_text(p, "vendorId")
    if vendor_id:  # who defines the vendor error code; rules match the code, people read this
        info = f"vendorId {vendor_id}" + (f"; {info}" if info else "")
    at = b.when(p.get("timestamp"), "timestamp")
    b.status(at, connector, status, code, as_text(p, "vendorErrorCode"), info, ())


@on("1.6", "MeterValues")
def _meter_16(b: Build, p: dict, r: dict) -> None:
    b.meter_values(need(p, "meterValue", ""), whole(p, "connectorId"), p.get("transactionId"), "meterValue")


@on("1.6", "StartTransaction")
def _start_16(b: Build, p: dict, r: dict) -> None:
    connector = whole(p, "connectorId", low=1)
    at = b.when(need(p, "timestamp", ""), "timestamp")
    meter_start = p.get("meterStart")
    accepted, status = authorized(r.get("idTagInfo"))
    key = (connector, p.get("idTag"), meter_start)
    data = {"transaction_id": r.get("transactionId"), "id_tag": p.get("idTag"),
            "meter_start_kwh": meter_start / 1000 if isinstance(meter_start, (int, float)) else None,
            "reservation_id": p.get("reservationId")}
    if accepted:
        b.event(PileEventType.SESSION_STARTED, at, connector, key, data)
    else:
        b.event(PileEventType.SESSION_START_FAILED, at, connector, key, data | {"reason": f"idTag {status}"})
    if isinstance(meter_start, (int, float)):
        b.reading(at, connector, ("meter", "start", p.get("idTag")), measured={"energy_kwh": meter_start / 1000})


@on("1.6", "StopTransaction")
def _stop_16(b: Build, p: dict, r: dict) -> None:
    transaction = need(p, "transactionId", "")
    b.transaction_id = str(transaction)
    at = b.when(need(p, "timestamp", ""), "timestamp")
    meter_stop = p.get("meterStop")
    b.event(PileEventType.SESSION_STOPPED, at, None, (transaction,), {
        "transaction_id": transaction, "id_tag": p.get("idTag"), "reason": p.get("reason"),
        "meter_stop_kwh": meter_stop / 1000 if isinstance(meter_stop, (int, float)) else None})
    if isinstance(meter_stop, (int, float)):
        b.reading(at, None, ("meter", "stop", transaction), measured={"energy_kwh": meter_stop / 1000})
    if p.get("transactionData"):
        b.meter_values(p["transactionData"], None, transaction, "transactionData")


# --- OCPP 2.0.1 ---------------------------------------------------------------------------

@on("2.0.1", "StatusNotification")
def _status_201(b: Build, p: dict, r: dict) -> None:
    # pilecare's connector is 2.0.1's EVSE (one vehicle at a time); evseId 0 is the station.
    connector = whole(p, "evseId")
    status = STATUS_201.get(need(p, "connectorStatus", ""))
    if status is None:
        raise Unreadable("connectorStatus", f"{p['connectorStatus']!r} is not an OCPP 2.0.1 ConnectorStatusEnumType")
    at = b.when(need(p, "timestamp", ""), "timestamp")
    # 2.0.1 reports errors through NotifyEvent, not here: a status alone says NoError.
    b.status(at, connector, status, ErrorCode.NO_ERROR.value, None, None, (p.get("connectorId"),))


@on("2.0.1", "NotifyEvent")
def _notify_201(b: Build, p: dict, r: dict) -> None:
    items = need(p, "eventData", "")
    if not isinstance(items, list):
        raise Unreadable("eventData", "must be a list of EventData")
    for i, item in enumerate(items):
        where = f"eventData[{i}]"
        if not isinstance(item, dict):
            raise Unreadable(where, "must be an EventData object")
        component, variable = item.get("component") or {}, item.get("variable") or {}
        evse = component.get("evse") if isinstance(component, dict) else None
        connector = whole(evse, "id", f"{where}.component.evse") if isinstance(evse, dict) else 0
        name = variable.get("name") if isinstance(variable, dict) else None
        value = item.get("actualValue")
        at = b.when(need(item, "timestamp", where), f"{where}.timestamp")
        key = (item.get("eventId"), component.get("name"), name)
        if name == "AvailabilityState":
            status = STATUS_201.get(value)
            if status is None:
                b.quirks.append(Quirk(DataProblem.INVALID_FIELD,
                                      f"NotifyEvent {where}.actualValue {value!r}: not a connector status; left out"))
                continue
            b.status(at, connector, status, ErrorCode.NO_ERROR.value, None, None, key)
            continue
        tech_code, tech_info = as_text(item, "techCode"), as_text(item, "techInfo")
        problem = name == "Problem" or tech_code is not None
        if not problem:
            continue  # a monitored value, not a fault: the envelope still proves the charger alive
        data = {"component": component.get("name"), "variable": name, "actual_value": value,
                "trigger": item.get("trigger"), "tech_code": tech_code, "tech_info": tech_info,
                "event_id": item.get("eventId"), "transaction_id": item.get("transactionId")}
        if item.get("cleared") is True or (name == "Problem" and str(value).strip().lower() in _FALSE):
            # The fault is gone; the connector's status comes with its StatusNotification.
            b.event(PileEventType.FAULT_CLEARED, at, connector, key, data)
            continue
        b.event(PileEventType.FAULT, at, connector, key, data)
        b.status(at, connector, ConnectorStatus.FAULTED, tech_code or ErrorCode.NO_ERROR.value,
                 None, tech_info, key)


@on("2.0.1", "MeterValues")
def _meter_201(b: Build, p: dict, r: dict) -> None:
    b.meter_values(need(p, "meterValue", ""), whole(p, "evseId"), None, "meterValue")


@on("2.0.1", "TransactionEvent")
def _transaction_201(b: Build, p: dict, r: dict) -> None:
    kind = need(p, "eventType", "")
    info = need(p, "transactionInfo", "")
    if not isinstance(info, dict):
        raise Unreadable("transactionInfo", "must be an object")
    transaction = need(info, "transactionId", "transactionInfo")
    evse = p.get("evse")
    connector = whole(evse, "id", "evse", low=1) if isinstance(evse, dict) else None
    if connector is None:
        b.transaction_id = str(transaction)  # only the transaction's first event must name its EVSE
    at = b.when(need(p, "timestamp", ""), "timestamp")
    token = p.get("idToken")
    data = {"transaction_id": transaction, "seq_no": p.get("seqNo"), "trigger_reason": p.get("triggerReason"),
            "charging_state": info.get("chargingState"), "offline": p.get("offline"),
            "id_token": token.get("idToken") if isinstance(token, dict) else None}
    key = (transaction, kind, p.get("seqNo"))
    accepted, status = authorized(r.get("idTokenInfo"))
    if kind == "Started":
        if accepted:
            b.event(PileEventType.SESSION_STARTED, at, connector, key, data)
        else:
            b.event(PileEventType.SESSION_START_FAILED, at, connector, key, data | {"reason": f"idToken {status}"})
    elif kind == "Ended":
        b.event(PileEventType.SESSION_STOPPED, at, connector, key, data | {"reason": info.get("stoppedReason")})
    elif kind != "Updated":
        raise Unreadable("eventType", f"{kind!r} is not Started, Updated or Ended")
    if p.get("meterValue"):
        b.meter_values(p["meterValue"], connector, transaction, "meterValue")
