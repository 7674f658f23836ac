"""Read what can be trusted from a message that breaks the device contract (issue 11, item 1).

A pile that reports a fault in a message with something else wrong in it — a 300-character
`info`, a placeholder temperature of 6553.5, its own status as connector 0 in the list, a
sequence number out of range, a `+08` offset — still reports the fault. Refusing the whole
message would hide it. So before a message is dead-lettered it is repaired field by field,
and only in ways that keep what the pile said and invent nothing:

- a measurement out of range or of the wrong type is dropped (stored as not measured);
- text too long is cut to its limit; NUL bytes, lone UTF-16 surrogates and bytes that are
  not UTF-8 become U+FFFD (PostgreSQL cannot store them);
- an error code that is not a string of at most 64 characters is taken as text (cut), then
  mapped like any code outside OCPP 1.6 (decode._ocpp_error); a missing one is "no code",
  and the status alone says whether the connector works;
- a status in the wrong case or with spaces is read as the OCPP status it spells; a
  connector whose status is no OCPP status at all is dropped, as is one with an id outside
  1–16 or the same id twice (the first is kept);
- connector 0 in the list is the pile itself (OCPP's connector 0): its status and code are
  read as the pile's, unless the message also carries the pile's own fields;
- a pile status a pile cannot have (`Charging` for connector 0) is dropped;
- no connectors at all is a message about the pile alone;
- a sequence number that is no integer in 0 … 2^63−1 is stored as NO_SEQ (-1): the
  message is kept, and sequence accounting leaves it out;
- a zone spelt otherwise (`+08`, `+8`, ` +08:00`, `+08:00:00`, ` UTC`, `GMT`) is written as
  RFC 3339 with the same offset; a Unix time (number or digits) is read as seconds
  (milliseconds above 10^11) since 1970 in UTC; telemetry whose `ts` names no time at all
  (or has none) is stored at receive time, its clock flagged (UNREADABLE_TIME).

Anything else (not JSON, not an object, `v` other than 1, telemetry that says nothing once
repaired — no connector, no pile status, code or measurement —, an event or ack whose time
names no time, a topic/payload pile mismatch) stays a dead letter. Every repair is listed, so ingest can
report them as one data-quality problem (`invalid_field`) with the raw message.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from gateway import protocol
from pilecare.domain import ConnectorStatus

NO_SEQ = -1  # telemetry.seq of a message whose sequence number could not be read
_MAX_ATTEMPTS = 6  # a repair can uncover a problem the model checks only afterwards
_STATUSES = {s.value.lower(): s.value for s in ConnectorStatus}
# The end of a time of day and a zone as firmware writes it: "…21 UTC", "…21GMT", "…21 +08",
# "…21+8", "…21+0800", "…21+08:00:00"; the offset is kept, only its spelling changes.
_ZONE = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)\s*(?:(UTC|GMT|Z)|([+-])(\d{1,2})(?::?(\d{2}))?(?::00)?)$",
                   re.IGNORECASE)
# A device time nothing can be read from. Telemetry keeps its status all the same: stored at
# receive time (this is far outside the clock tolerance), the pile's clock flagged as skewed,
# and redeliveries still de-duplicated on (pile, seq, this time). Events and acks, whose time
# is their meaning, stay dead letters.
UNREADABLE_TIME = "1970-01-01T00:00:00Z"
_UNIX = re.compile(r"\d{9,13}(\.\d+)?")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class LenientTelemetry(protocol.Telemetry):
    """The contract's telemetry with the two shapes salvage produces: no connectors, and
    NO_SEQ. Everything else is checked exactly as protocol.Telemetry does."""

    seq: int = Field(ge=NO_SEQ, lt=2**63)
    connectors: list[protocol.ConnectorReading] = Field(max_length=16)


def _limits(model) -> dict[str, int]:
    return {name: next(m.max_length for m in f.metadata if getattr(m, "max_length", None))
            for name, f in model.model_fields.items()
            if name != "connectors" and any(getattr(m, "max_length", None) for m in f.metadata)}


def _measurements(model) -> set[str]:
    return {name for name, f in model.model_fields.items() if f.annotation == (float | None)}


_CONNECTOR = (_limits(protocol.ConnectorReading), _measurements(protocol.ConnectorReading), False)


def clean_text(value: str) -> str:
    """`value` with what PostgreSQL text cannot hold (NUL, lone surrogates) as U+FFFD."""
    return _BAD_TEXT.sub("\ufffd", value)


def salvage(model: type[BaseModel], payload: bytes) -> tuple[BaseModel, list[str]] | None:
    """(the readable message, what was repaired) from a payload that failed `model`, or None
    when nothing trustworthy can be read (it stays a dead letter). Telemetry is read with
    LenientTelemetry; other messages get the repairs that apply to their top-level fields.
    """
    if model is protocol.Telemetry:
        model = LenientTelemetry
    repairs: list[str] = []
    data = _load(payload, repairs)
    if not isinstance(data, dict) or data.get("v") != 1 or isinstance(data.get("v"), bool):
        return None
    if not isinstance(data["v"], int):
        repairs.append(f"v {data['v']!r}: read as 1")
        data["v"] = 1
    if model is LenientTelemetry:
        _connector_list(data, repairs)
        if isinstance(data.get("connectors"), list):
            _pile_from_connector_0(data, repairs)
        if isinstance(data.get("seq"), int) and not isinstance(data["seq"], bool) and data["seq"] < 0:
            repairs.append(f"seq {data['seq']}: below 0; stored without a sequence number")
            data["seq"] = NO_SEQ  # LenientTelemetry takes it: the pile's own -1 must not pass unnoted
    top = (_limits(model), _measurements(model), model is LenientTelemetry)
    for _ in range(_MAX_ATTEMPTS):
        try:
            message = model.model_validate_json(json.dumps(data))
            if model is LenientTelemetry and not _says_anything(message):
                return None  # {"v": 1} and the like: nothing to store, so nothing is invented
            return message, repairs
        except ValidationError as error:
            if not _repair(data, error.errors(include_url=False), top, repairs):
                return None
        except RecursionError:
            return None
    return None


def _says_anything(message: LenientTelemetry) -> bool:
    """A connector reading, the pile's status or code, or one of its measurements."""
    return bool(message.connectors) or any(
        getattr(message, name) is not None for name in ("status", "error_code", *_measurements(LenientTelemetry)))


def _load(payload: bytes, repairs: list[str]) -> Any:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = payload.decode("utf-8", errors="replace")
        repairs.append("bytes that are not UTF-8: replaced by U+FFFD")
    try:
        data = json.loads(text, strict=False)  # strict=False: a raw control character in a string
        cleaned = clean_json(data)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        return None
    if cleaned != data:
        repairs.append("text with NUL bytes or lone UTF-16 surrogates: replaced by U+FFFD")
    return cleaned


def clean_json(value: Any) -> Any:
    """Parsed JSON with every string (keys included) passed through clean_text."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): clean_json(v) for k, v in value.items()}
    return value


def _connector_list(data: dict, repairs: list[str]) -> None:
    """Connectors sent as an object instead of a list: keyed by id ({"1": {…}}), or one
    reading on its own ({"id": 1, …}). Read as the list they mean, so their faults count."""
    connectors = data.get("connectors")
    if not isinstance(connectors, dict):
        return
    if "id" in connectors or "status" in connectors:
        data["connectors"] = [connectors]
        repairs.append("connectors: one reading sent as an object; read as a list of one")
    elif connectors and all(isinstance(v, dict) for v in connectors.values()):
        data["connectors"] = [{"id": key} | reading if "id" not in reading else reading
                              for key, reading in connectors.items()]
        repairs.append("connectors: sent as an object keyed by id; read as a list")


def _pile_from_connector_0(data: dict, repairs: list[str]) -> None:
    for i, reading in enumerate(data["connectors"]):
        if isinstance(reading, dict) and _whole(reading.get("id")) == 0:
            del data["connectors"][i]
            if data.get("status") is None and data.get("error_code") is None:
                for name in ("status", "error_code", "vendor_error_code", "info"):
                    if reading.get(name) is not None:
                        data[name] = reading[name]
                repairs.append("connector 0 in the connector list: read as the pile's own status")
            else:
                repairs.append("connector 0 in the connector list beside the pile's own status: dropped")
            return


def _repair(data: dict, errors: list[dict], top: tuple, repairs: list[str]) -> bool:
    """Apply one round of repairs for `errors`; False when one of them cannot be repaired."""
    dropped: set[int] = set()
    for error in errors:
        loc, why = error["loc"], error["msg"]
        if loc and loc[0] == "connectors" and len(loc) >= 2 and isinstance(loc[1], int):
            reading = data["connectors"][loc[1]]
            where = f"connectors[{loc[1]}]"
            if len(loc) == 2 or not isinstance(reading, dict):
                dropped.add(loc[1])
                repairs.append(f"{where}: {why}; dropped")
            elif not _repair_field(reading, str(loc[2]), _CONNECTOR, True, f"{where}.{loc[2]}", why, repairs):
                dropped.add(loc[1])
        elif loc == ("connectors",):
            if isinstance(data.get("connectors"), list):
                data["connectors"] = data["connectors"][:16]
                repairs.append(f"connectors: {why}; kept the first 16")
            else:
                data["connectors"] = []
                repairs.append(f"connectors: {why}; read as none")
        elif len(loc) == 1:
            if not _repair_field(data, str(loc[0]), top, False, str(loc[0]), why, repairs):
                return False
        elif loc == ():
            if not _repair_whole(data, why, repairs):
                return False
        else:
            return False
    if dropped:
        data["connectors"] = [c for i, c in enumerate(data["connectors"]) if i not in dropped]
    return True


def _repair_field(obj: dict, name: str, fields: tuple, connector: bool, where: str, why: str,
                  repairs: list[str]) -> bool:
    """Repair obj[name] (`fields`: the text limits and measurements of obj's model, and whether
    it is telemetry); False when the reading (a connector's) or the message (a top-level
    field) cannot be kept."""
    value = obj.get(name)
    limits, measurements, telemetry = fields
    if name in measurements:
        number = _number(value)
        if number is not None and isinstance(value, str):
            obj[name] = number  # a number sent as text is still the number sent; its range is checked next
            repairs.append(f"{where} {_show(value)}: {why}; read as {number:g}")
            return True
        obj[name] = None
        repairs.append(f"{where} {_show(value)}: {why}; dropped")
        return True
    if name in ("error_code", "vendor_error_code", "info", "reason", "firmware"):
        limit = limits.get(name, 64)
        if value is None or isinstance(value, (dict, list)) or isinstance(value, bool):
            obj[name] = "NoError" if name == "error_code" and connector else None
            repairs.append(f"{where} {_show(value)}: {why}; read as {'no code' if name == 'error_code' else 'absent'}")
        else:
            text = value if isinstance(value, str) else _number_text(value)
            obj[name] = text[:limit]
            repairs.append(f"{where} {_show(value)}: {why}; kept as text{' cut to %d characters' % limit if len(text) > limit else ''}")
        return True
    if name == "status":
        spelt = _STATUSES.get(value.strip().lower()) if isinstance(value, str) else None
        if spelt is not None and spelt != value:
            obj[name] = spelt
            repairs.append(f"{where} {_show(value)}: read as {spelt}")
            return True
        if not connector:
            obj[name] = None
            repairs.append(f"{where} {_show(value)}: {why}; dropped")
            return True
        repairs.append(f"{where} {_show(value)}: {why}; reading dropped")
        return False
    if name in ("id", "seq"):
        whole = _whole(value)
        if whole is not None and not isinstance(value, int) and (whole >= 1 if name == "id" else 0 <= whole < 2**63):
            obj[name] = whole
            repairs.append(f"{where} {_show(value)}: {why}; read as {whole}")
            return True
        if name == "id":
            repairs.append(f"{where} {_show(value)}: {why}; reading dropped")
            return False
        obj[name] = NO_SEQ
        repairs.append(f"{where} {_show(value)}: {why}; stored without a sequence number")
        return True
    if name == "ts":
        fixed = _time(value)
        if fixed is not None and fixed != value:
            obj[name] = fixed
            repairs.append(f"{where} {_show(value)}: {why}; read as {fixed}")
            return True
        if not telemetry or value == UNREADABLE_TIME:
            return False
        obj[name] = UNREADABLE_TIME
        repairs.append(f"{where} {_show(value)}: {why}; unreadable, stored at receive time")
        return True
    if name == "pile_id" and not isinstance(value, str):
        obj[name] = None
        repairs.append(f"{where} {_show(value)}: {why}; ignored")
        return True
    return False


def _repair_whole(data: dict, why: str, repairs: list[str]) -> bool:
    """The model-level checks: connector ids unique, a pile status connector 0 can have."""
    fixed = False
    status = data.get("status")
    if status is not None and status not in {s.value for s in protocol.PILE_STATUSES}:
        data["status"] = None
        repairs.append(f"status {_show(status)}: not a status of the pile as a whole; dropped")
        fixed = True
    seen: set = set()
    kept = []
    for reading in data.get("connectors") or []:
        key = reading.get("id") if isinstance(reading, dict) else None
        if key in seen:
            repairs.append(f"connector {key} twice: the first reading kept")
            fixed = True
            continue
        seen.add(key)
        kept.append(reading)
    data["connectors"] = kept
    return fixed


def _time(value: Any) -> str | None:
    """An RFC 3339 reading of a device time the contract refuses, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _UNIX.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, (int, float)):
        at = unix_time(value)
        return at.isoformat() if at is not None else None
    if isinstance(value, str):
        text = value.strip()
        zone = _ZONE.search(text)
        if zone is None:
            return text if text != value else None
        clock, word, sign, hours, minutes = zone.groups()
        offset = "Z" if word else f"{sign}{int(hours):02d}:{minutes or '00'}"
        return text[:zone.start()] + clock + offset
    return None


def unix_time(value: float) -> datetime | None:
    """Seconds since 1970 in UTC (a number above 10^11 is milliseconds, as pydantic reads a
    digit string); None beyond what a datetime holds."""
    seconds = value / 1000 if abs(value) > 1e11 else value
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _number(value: Any) -> float | None:
    """A finite number written as a JSON number or as text ("230.1"), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _whole(value: Any) -> int | None:
    """A whole number written as a JSON number (5, 5.0) or as digits ("5"), else None."""
    number = _number(value)
    if number is None or not number.is_integer() or abs(number) >= 2**63:
        return None
    return int(number)


def _number_text(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "…"
