"""Turn one raw MQTT message into rows to store, or a dead letter with a clear reason."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import re

from pydantic import ValidationError

from gateway import protocol
from gateway.topics import Topics
from pilecare.domain import MessageKind
from pilecare.settings import Settings


@dataclass(slots=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: float  # broker-receive time as seen by this worker (epoch seconds)
    generation: int  # which MQTT connection delivered it: acks never cross connections


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


@dataclass(slots=True)
class StatusMessage:
    pile_id: str
    online: bool
    reason: str | None
    device_ts: datetime | None
    received_at: datetime
    firmware: str | None


@dataclass(slots=True)
class EventMessage:
    pile_id: str
    event: protocol.Event
    received_at: datetime


@dataclass(slots=True)
class AckMessage:
    pile_id: str
    ack: protocol.CommandAck
    received_at: datetime


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


class Decoder:
    def __init__(self, settings: Settings):
        self.topics = Topics(settings.topic_prefix)
        self.max_payload = settings.max_payload_bytes
        self.ahead = timedelta(seconds=settings.clock_ahead_tolerance_s)
        self.max_age = timedelta(days=settings.clock_max_age_days)

    def decode(self, inbound: Inbound) -> Decoded | DeadLetter:
        parsed = self.topics.parse(inbound.topic)
        if parsed is None:
            return DeadLetter(inbound, "topic is not part of the device contract")
        pile_id, kind = parsed
        if not _PILE_ID.match(pile_id):
            return DeadLetter(inbound, f"pile id {pile_id!r} in the topic is not a valid pile id", None, kind.value)
        if len(inbound.payload) > self.max_payload:
            return DeadLetter(
                inbound,
                f"payload of {len(inbound.payload)} bytes exceeds the limit of {self.max_payload}",
                pile_id, kind.value,
            )
        try:
            message = _MODELS[kind].model_validate_json(inbound.payload)
        except ValidationError as error:
            return DeadLetter(inbound, describe(error), pile_id, kind.value)
        if message.pile_id is not None and message.pile_id != pile_id:
            return DeadLetter(
                inbound, f"payload pile_id {message.pile_id!r} disagrees with topic pile id {pile_id!r}",
                pile_id, kind.value,
            )
        received_at = datetime.fromtimestamp(inbound.received_at, timezone.utc)
        if kind is MessageKind.TELEMETRY:
            return self._telemetry(pile_id, message, received_at)
        if kind is MessageKind.STATUS:
            return StatusMessage(
                pile_id, message.state == "online", message.reason, message.ts, received_at, message.firmware
            )
        if kind is MessageKind.EVENTS:
            return EventMessage(pile_id, message, received_at)
        return AckMessage(pile_id, message, received_at)

    def _telemetry(self, pile_id: str, m: protocol.Telemetry, received_at: datetime) -> TelemetryMessage:
        device_ts = m.ts
        # A reset RTC (1970) or a clock far ahead would put the data where nobody looks:
        # store it at receive time and keep the device time beside it.
        skewed = not (received_at - self.max_age <= device_ts <= received_at + self.ahead)
        time = received_at if skewed else device_ts
        rows = [(
            time, pile_id, 0, m.seq, device_ts, received_at,
            m.status.value if m.status else None, m.error_code.value if m.error_code else None,
            m.vendor_error_code, m.info,
            None, None, None, None, None, None,
            m.temp_internal_c, None, m.fan_rpm, m.insulation_mohm, m.ambient_c,
            skewed,
        )]
        for c in m.connectors:
            rows.append((
                time, pile_id, c.id, m.seq, device_ts, received_at,
                c.status.value, c.error_code.value, c.vendor_error_code, c.info,
                c.voltage_v, c.current_a, c.current_offered_a, c.power_kw, c.power_offered_kw,
                c.energy_kwh, c.temp_c, c.soc_pct, None, None, None,
                skewed,
            ))
        return TelemetryMessage(pile_id, rows, skewed)
