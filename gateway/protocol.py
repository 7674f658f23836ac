"""Device contract v1: the payloads piles publish and receive, validated strictly.

Strict mode: a number sent as a string, a float sequence number or NaN/Infinity is an
error, not something to guess at. Unknown extra fields are ignored so devices can add
fields before the platform knows them.

Two field quirks are accepted here and settled by ingest (ingest/decode.py), because
refusing them would hide a fault or make a talking pile look silent (issue 11): an error
code outside OCPP 1.6's list (`"Error"`, seen on a real wallbox) and a device time without
a UTC offset. A message these models refuse is not lost yet: ingest/salvage.py reads what
it can be trusted for (its status and error code) before anything is dead-lettered. The
JSON Schemas still say what a pile should send.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from pilecare.domain import PILE_ID_PATTERN, CommandAckStatus, CommandType, ConnectorStatus, ErrorCode, PileEventType


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore", frozen=True)


# Strict int: `true` and `1.0` are not version 1.
Version = Annotated[int, Field(ge=1, le=1, description="Protocol version; always 1 in v1.")]

# OCPP 1.6 connector 0 (the pile as a whole) only takes these statuses.
PILE_STATUSES = {ConnectorStatus.AVAILABLE, ConnectorStatus.UNAVAILABLE, ConnectorStatus.FAULTED}


# An error code as sent. OCPP 1.6's codes are the contract (and the schema); any other string
# of up to 64 characters is taken too, and ingest maps it to OtherError keeping the device's
# code as vendor text, so a fault named in a vendor's own words still raises its alarm.
ReportedErrorCode = Annotated[str, Field(max_length=64), WithJsonSchema(
    {"type": "string", "enum": [code.value for code in ErrorCode],
     "description": "OCPP 1.6 ChargePointErrorCode. Any other string is stored as OtherError with the code "
                    "as vendor_error_code (docs/device-protocol.md, section 8)."})]

# A device time. RFC 3339 with an offset is the contract; a time without one (a clock that
# knows no zone) is taken as UTC by ingest, flagged and never trusted for placement
# (docs/device-protocol.md, section 9). Unix numbers stay refused.
DeviceTime = Annotated[datetime, WithJsonSchema(
    {"type": "string", "format": "date-time",
     "description": "RFC 3339 with an offset. Without one it is read as UTC and flagged (section 9)."})]


def _measure(low: float, high: float, doc: str):
    return Annotated[float | None, Field(default=None, ge=low, le=high, description=doc)]


class ConnectorReading(_Strict):
    """One connector's state and measurements (OCPP 1.6 status and error vocabulary)."""

    id: int = Field(ge=1, le=16, description="Connector number, 1-based (0 is the pile itself).")
    status: ConnectorStatus
    error_code: ReportedErrorCode
    vendor_error_code: str | None = Field(default=None, max_length=64)
    info: str | None = Field(default=None, max_length=256)
    voltage_v: _measure(0, 2000, "Voltage in V (OCPP Voltage)")
    current_a: _measure(-1000, 1000, "Current drawn by the vehicle in A (OCPP Current.Import)")
    current_offered_a: _measure(0, 1000, "Current the pile offers in A (OCPP Current.Offered)")
    power_kw: _measure(-1000, 2000, "Active power delivered in kW (OCPP Power.Active.Import)")
    power_offered_kw: _measure(0, 2000, "Power the pile offers in kW (OCPP Power.Offered)")
    energy_kwh: _measure(0, 1e9, "Energy register in kWh, only ever grows (OCPP Energy.Active.Import.Register)")
    temp_c: _measure(-100, 300, "Connector/cable temperature in °C (OCPP Temperature)")
    soc_pct: _measure(0, 100, "Vehicle state of charge in % (OCPP SoC)")


class Telemetry(_Strict):
    """Periodic report on `…/piles/{pile_id}/telemetry`."""

    v: Version
    ts: DeviceTime = Field(description="Device time, RFC 3339 with offset.")
    seq: int = Field(ge=0, lt=2**63, description="Increases by one per report, kept across reboots.")
    connectors: list[ConnectorReading] = Field(min_length=1, max_length=16)
    pile_id: str | None = Field(default=None, description="Optional; must match the topic.")
    temp_internal_c: _measure(-100, 300, "Cabinet temperature in °C")
    ambient_c: _measure(-100, 100, "Ambient temperature in °C")
    fan_rpm: _measure(0, 100_000, "Cooling fan speed in revolutions per minute (OCPP RPM)")
    insulation_mohm: _measure(0, 1e6, "DC insulation resistance in MΩ")
    status: ConnectorStatus | None = Field(
        default=None, description="Status of the pile as a whole (OCPP connector 0): Available, Unavailable or Faulted.")
    error_code: ReportedErrorCode | None = Field(default=None, description="Pile-wide error (OCPP connector 0).")
    vendor_error_code: str | None = Field(default=None, max_length=64)
    info: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _consistent(self):
        ids = [c.id for c in self.connectors]
        if len(ids) != len(set(ids)):
            raise ValueError(f"connector ids must be unique, got {ids}")
        if self.status is not None and self.status not in PILE_STATUSES:
            raise ValueError(f"pile status must be Available, Unavailable or Faulted, got {self.status.value}")
        return self


class Status(_Strict):
    """Retained connectivity state on `…/status`; also the MQTT last will (offline)."""

    v: Version
    state: Literal["online", "offline"]
    ts: DeviceTime | None = Field(default=None, description="Absent in a last will.")
    reason: str | None = Field(default=None, max_length=128)
    firmware: str | None = Field(default=None, max_length=64)
    pile_id: str | None = None


class Event(_Strict):
    """A discrete occurrence on `…/events` (boot, session start/stop, e-stop, …)."""

    v: Version
    id: str = Field(min_length=1, max_length=64, description="Unique per pile; redeliveries repeat it.")
    ts: DeviceTime
    type: PileEventType
    connector_id: int | None = Field(default=None, ge=0, le=16)
    data: dict = Field(default_factory=dict)
    pile_id: str | None = None


class Command(_Strict):
    """Downlink on `…/commands`."""

    v: Version = 1
    id: UUID
    type: CommandType
    params: dict = Field(default_factory=dict)
    ts: AwareDatetime


class CommandAck(_Strict):
    """The pile's answer on `…/commands/ack`."""

    v: Version
    id: UUID
    status: CommandAckStatus
    ts: DeviceTime
    info: str | None = Field(default=None, max_length=256)
    pile_id: str | None = None


SCHEMAS = {"telemetry": Telemetry, "status": Status, "events": Event, "commands": Command, "commands-ack": CommandAck}
