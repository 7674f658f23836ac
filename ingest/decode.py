"""Turn one raw MQTT message into rows to store, or a dead letter with a clear reason.

Field quirks that would otherwise hide a fault or make a talking pile look silent are
settled here, each noted as a `Quirk` that ingest reports once per pile and problem in
`data_quality` (docs/device-protocol.md, section 11a):

- an error code outside OCPP 1.6 is stored as `OtherError`, the device's code kept as
  `vendor_error_code` (or, when the pile sent one, at the head of `info`);
- a `ts` without a UTC offset is read as UTC for the record and, its zone being unknown,
  the message is stored at receive time like one from a skewed clock.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum

from pydantic import ValidationError

from gateway import protocol
from gateway.topics import Topics
from ingest.salvage import salvage
from pilecare.domain import ErrorCode, MessageKind
from pilecare.settings import Settings

_OCPP_CODES = frozenset(code.value for code in ErrorCode)
# A code as firmware spells it (case, spaces, "_" or "-" left out) → the OCPP code it means.
# "No error" comes in many spellings; read as anything else it would invent a fault on a
# working connector (issue 11, item 1): "", "0", "0x00", "none", "null", "ok", "no_error".
_SPELLINGS = {code.value.lower(): code.value for code in ErrorCode} | {
    spelling: ErrorCode.NO_ERROR.value for spelling in ("", "none", "null", "nil", "ok", "noerr", "noerrors", "na")}
_SEPARATORS = re.compile(r"[\s_\-/.]+")
# What is not part of a code: a C string's NUL and the buffer after it (as U+FFFD once text
# is cleaned), a byte-order mark, zero-width characters.
_END = re.compile("[\x00\ufffd]")
_INVISIBLE = re.compile("[\ufeff\u200b-\u200d\u2060]")
_ZERO = re.compile(r"(0x)?0+", re.IGNORECASE)
_INFO_MAX = 256
_NUL = b"\\u0000"
_UNIX_TS = re.compile(rb'"ts"\s*:\s*"\s*\d{9,13}(\.\d+)?\s*"')


class DataProblem(str, Enum):
    """What was wrong with a pile's message that ingest stored anyway, or dead-lettered
    (docs/device-protocol.md, section 11a). One `data_quality` row per pile and problem."""

    UNKNOWN_ERROR_CODE = "unknown_error_code"   # outside OCPP 1.6: stored as OtherError
    TIMESTAMP_WITHOUT_OFFSET = "timestamp_without_offset"  # read as UTC, stored at receive time
    NONSTANDARD_ERROR_CODE = "nonstandard_error_code"  # "noError", "NoError ", "0", "": read as the code it means
    INVALID_FIELD = "invalid_field"             # a field broke the contract: stored with it repaired (salvage.py)
    INVALID_MESSAGE = "invalid_message"         # dead-lettered; still proves the pile is alive
    REPORTED_IDENTITY_MISMATCH = "reported_identity_mismatch"  # an OCPP BootNotification's vendor/model/serial differ from the registry
    UNKNOWN_CONNECTOR = "unknown_connector"     # a connector the pile's model does not have: stored, not a port


@dataclass(slots=True, frozen=True)
class Quirk:
    problem: DataProblem
    detail: str


@dataclass(slots=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: float  # broker-receive time as seen by this worker (epoch seconds)
    generation: int  # which MQTT connection delivered it: acks never cross connections
    # Sent by the broker from its retained store on subscribe (MQTT RETAIN flag): a
    # snapshot of unknown age, not news (docs/device-protocol.md, section 5).
    retained: bool = False


@dataclass(slots=True)
class DeadLetter:
    inbound: Inbound
    reason: str
    pile_id: str | None = None
    kind: str | None = None


@dataclass(slots=True)
class TelemetryMessage:
    pile_id: str
    rows: list[tuple]  # storage.TELEMETRY_COLUMNS order, connector 0 first
    skewed: bool
    quirks: list[Quirk] = field(default_factory=list)


@dataclass(slots=True)
class StatusMessage:
    pile_id: str
    online: bool
    reason: str | None
    device_ts: datetime | None
    received_at: datetime
    firmware: str | None
    quirks: list[Quirk] = field(default_factory=list)


@dataclass(slots=True)
class EventMessage:
    pile_id: str
    event: protocol.Event
    received_at: datetime
    quirks: list[Quirk] = field(default_factory=list)


@dataclass(slots=True)
class AckMessage:
    pile_id: str
    ack: protocol.CommandAck
    received_at: datetime
    quirks: list[Quirk] = field(default_factory=list)


# … or an ingest.ocpp.OcppMessage, for an envelope from the OCPP gateway.
Decoded = TelemetryMessage | StatusMessage | EventMessage | AckMessage

_PILE_ID = re.compile(protocol.PILE_ID_PATTERN)

_MODELS = {
    MessageKind.TELEMETRY: protocol.Telemetry,
    MessageKind.STATUS: protocol.Status,
    MessageKind.EVENTS: protocol.Event,
    MessageKind.COMMAND_ACK: protocol.CommandAck,
}


def describe(error: ValidationError) -> str:
    """A short, readable reason from a pydantic error (first three problems)."""
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:3]:
        if item["type"] == "json_invalid":
            return f"malformed JSON: {item.get('ctx', {}).get('error', item['msg'])}"
        where = ".".join(str(p) for p in item["loc"]) or "payload"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "invalid payload: " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


OCPP_ENVELOPE_MAX = 1024 * 1024  # bytes: the broker's message_size_limit


class Decoder:
    def __init__(self, settings: Settings):
        self.topics = Topics(settings.topic_prefix)
        self.max_payload = settings.max_payload_bytes
        self.ahead = timedelta(seconds=settings.clock_ahead_tolerance_s)
        self.max_age = timedelta(days=settings.clock_max_age_days)
        # Imported here, not above: ingest.ocpp builds on this module's message types.
        from ingest.ocpp import OcppDecoder
        self.ocpp = OcppDecoder(settings)

    def decode(self, inbound: Inbound) -> Decoded | DeadLetter:
        parsed = self.topics.parse(inbound.topic)
        if parsed is None:
            return DeadLetter(inbound, "topic is not part of the device contract")
        pile_id, kind = parsed
        if not _PILE_ID.match(pile_id):
            return DeadLetter(inbound, f"pile id {pile_id!r} in the topic is not a valid pile id", None, kind.value)
        # An OCPP envelope carries a whole WebSocket frame (up to 1 MiB, websockets' max_size):
        # a StopTransaction's transactionData or a TransactionEvent Ended of a long session is
        # far beyond an MQTT pile's 64 KiB, and the gateway has already answered it. Its bound
        # is the broker's message_size_limit (deploy/mosquitto/mosquitto.conf).
        limit = max(self.max_payload, OCPP_ENVELOPE_MAX) if kind is MessageKind.OCPP else self.max_payload
        if len(inbound.payload) > limit:
            return DeadLetter(
                inbound,
                f"payload of {len(inbound.payload)} bytes exceeds the limit of {limit}",
                pile_id, kind.value,
            )
        if kind is MessageKind.OCPP:
            return self.ocpp.decode(pile_id, inbound)
        quirks: list[Quirk] = []
        try:
            message = _MODELS[kind].model_validate_json(inbound.payload)
            if _NUL in inbound.payload:  # valid JSON, but PostgreSQL text cannot hold it
                message = _salvaged(kind, inbound.payload, quirks) or message
            elif _UNIX_TS.search(inbound.payload):
                quirks.append(Quirk(DataProblem.INVALID_FIELD,
                                    f"ts {message.ts.isoformat()!r} was sent as a Unix time, not RFC 3339; read as UTC"))
        except ValidationError as error:
            message = _salvaged(kind, inbound.payload, quirks)
            if message is None:
                return DeadLetter(inbound, describe(error), pile_id, kind.value)
        if message.pile_id is not None and message.pile_id != pile_id:
            return DeadLetter(
                inbound, f"payload pile_id {message.pile_id!r} disagrees with topic pile id {pile_id!r}",
                pile_id, kind.value,
            )
        received_at = datetime.fromtimestamp(inbound.received_at, timezone.utc)
        if kind is MessageKind.TELEMETRY:
            return self._telemetry(pile_id, message, received_at, quirks)
        if kind is MessageKind.STATUS:
            ts = _as_utc(message.ts, quirks) if message.ts is not None else None
            return StatusMessage(
                pile_id, message.state == "online", message.reason, ts, received_at, message.firmware, quirks
            )
        if kind is MessageKind.EVENTS:
            if message.ts.tzinfo is None:
                message = message.model_copy(update={"ts": _as_utc(message.ts, quirks)})
            data = _finite(message.data)
            if data != message.data or _has_nan(message.data):
                # NaN and 1e400 are not JSON: the event is kept, those values read as null.
                quirks.append(Quirk(DataProblem.INVALID_FIELD, "event data: NaN or an infinite number; read as null"))
                message = message.model_copy(update={"data": data})
            return EventMessage(pile_id, message, received_at, quirks)
        if message.ts.tzinfo is None:
            message = message.model_copy(update={"ts": _as_utc(message.ts, quirks)})
        return AckMessage(pile_id, message, received_at, quirks)

    def _telemetry(self, pile_id: str, m: protocol.Telemetry, received_at: datetime,
                   quirks: list[Quirk]) -> TelemetryMessage:
        if m.ts.tzinfo is None:
            # Without an offset the zone is unknown (UTC? the site's? the factory's?), so the
            # time cannot place the data: store at receive time, as for a skewed clock.
            device_ts, skewed = _as_utc(m.ts, quirks), True
        else:
            device_ts = m.ts
            # A reset RTC (1970) or a clock far ahead would put the data where nobody looks:
            # store it at receive time and keep the device time beside it.
            skewed = not (received_at - self.max_age <= device_ts <= received_at + self.ahead)
        time = received_at if skewed else device_ts
        pile_error, pile_vendor, pile_info = (
            ocpp_error(m.error_code, m.vendor_error_code, m.info, "pile", quirks) if m.error_code is not None
            else (None, m.vendor_error_code, m.info))
        rows = [(
            time, pile_id, 0, m.seq, device_ts, received_at,
            m.status.value if m.status else None, pile_error, pile_vendor, pile_info,
            None, None, None, None, None, None,
            m.temp_internal_c, None, m.fan_rpm, m.insulation_mohm, m.ambient_c,
            skewed,
        )]
        for c in m.connectors:
            error, vendor, info = ocpp_error(c.error_code, c.vendor_error_code, c.info, f"connector {c.id}", quirks)
            rows.append((
                time, pile_id, c.id, m.seq, device_ts, received_at,
                c.status.value, error, vendor, info,
                c.voltage_v, c.current_a, c.current_offered_a, c.power_kw, c.power_offered_kw,
                c.energy_kwh, c.temp_c, c.soc_pct, None, None, None,
                skewed,
            ))
        return TelemetryMessage(pile_id, rows, skewed, quirks)


def ocpp_error(code: str, vendor: str | None, info: str | None, where: str,
                quirks: list[Quirk]) -> tuple[str, str | None, str | None]:
    """(error_code, vendor_error_code, info) in OCPP 1.6 terms.

    A code outside OCPP 1.6 still reports a fault: it becomes OtherError (OCPP's "any other
    error; say what in vendorErrorCode/info") with the device's code as vendor text, so the
    OtherError rule, or a rule naming that vendor code, raises its alarm. A vendor code the
    pile sent itself is more specific and stays; the device's code then heads `info`.
    """
    if code in _OCPP_CODES:
        return code, vendor, info
    spelt = _spelling(code)
    if spelt is not None:
        quirks.append(Quirk(DataProblem.NONSTANDARD_ERROR_CODE, f"{where}: error_code {code!r} read as {spelt}"))
        return spelt, vendor, info
    quirks.append(Quirk(DataProblem.UNKNOWN_ERROR_CODE,
                        f"{where}: error_code {code!r} is not an OCPP 1.6 code; stored as OtherError"))
    if not vendor:
        return ErrorCode.OTHER_ERROR.value, code, info
    noted = f"error_code {code!r}" + (f"; {info}" if info else "")
    return ErrorCode.OTHER_ERROR.value, vendor, noted[:_INFO_MAX]


def _finite(value):
    """`value` (JSON data) with NaN and infinities as None; jsonb cannot hold them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _has_nan(value) -> bool:
    # NaN != NaN, so a comparison alone would call every NaN a change; look for one instead.
    if isinstance(value, float):
        return value != value
    if isinstance(value, list):
        return any(_has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    return False


def _spelling(code: str) -> str | None:
    """The OCPP 1.6 code a non-standard spelling means, or None for a code of its own."""
    plain = _SEPARATORS.sub("", _INVISIBLE.sub("", _END.split(code, 1)[0])).lower()
    if _ZERO.fullmatch(plain):
        return ErrorCode.NO_ERROR.value
    return _SPELLINGS.get(plain)


def _salvaged(kind: MessageKind, payload: bytes, quirks: list[Quirk]):
    """The message salvage.py can read from a payload that broke the contract, its repairs
    noted as one quirk; None when it stays a dead letter."""
    rescued = salvage(_MODELS[kind], payload)
    if rescued is None:
        return None
    message, repairs = rescued
    if repairs:
        quirks.append(Quirk(DataProblem.INVALID_FIELD, "; ".join(repairs)))
    return message


def _as_utc(ts: datetime, quirks: list[Quirk]) -> datetime:
    """A device time as an aware datetime; one without an offset is read as UTC and noted."""
    if ts.tzinfo is not None:
        return ts
    quirks.append(Quirk(DataProblem.TIMESTAMP_WITHOUT_OFFSET,
                        f"ts {ts.isoformat()!r} has no UTC offset; read as UTC (telemetry: stored at receive time)"))
    return ts.replace(tzinfo=timezone.utc)
