"""Device contract v1: the payloads piles publish and receive, validated strictly.

Strict mode: a number sent as a string, a float sequence number or NaN/Infinity is an
error, not something to guess at. Unknown extra fields are ignored so devices can add
fields before the platform knows them.
"""
from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from pilecare.domain import CommandAckStatus, CommandType, ConnectorStatus, ErrorCode, PileEventType

PILE_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, allow_inf_nan=False, extra="ignore", frozen=True)


def _measure(low: float, high: float, doc: str):
    return Annotated[float | None, Field(default=None, ge=low, le=high, description=doc)]


class ConnectorReading(_Strict):
    """One connector's state and measurements (OCPP 1.6 status and error vocabulary)."""

    id: int = Field(ge=1, le=16, description="Connector number, 1-based (0 is the pile itself).")
    status: ConnectorStatus
    error_code: ErrorCode
    vendor_error_code: str | None = Field(default=None, max_length=64)
    info: str | None = Field(default=None, max_length=256)
    voltage_v: _measure(0, 2000, "Voltage")
    current_a: _measure(-1000, 1000, "Current.Import")
    current_offered_a: _measure(0, 1000, "Current.Offered")
    power_kw: _measure(-1000, 2000, "Power.Active.Import")
    power_offered_kw: _measure(0, 2000, "Power.Offered")
    energy_kwh: _measure(0, 1e9, "Energy.Active.Import.Register (only grows)")
    temp_c: _measure(-100, 300, "Connector/cable temperature")
    soc_pct: _measure(0, 100, "Vehicle state of charge")


class Telemetry(_Strict):
    """Periodic report on `…/piles/{pile_id}/telemetry`."""

    v: Literal[1]
    ts: AwareDatetime = Field(description="Device time, RFC 3339 with offset.")
    seq: int = Field(ge=0, lt=2**63, description="Increases by one per report, kept across reboots.")
    connectors: list[ConnectorReading] = Field(min_length=1, max_length=16)
    pile_id: str | None = Field(default=None, description="Optional; must match the topic.")
    temp_internal_c: _measure(-100, 300, "Cabinet temperature")
    ambient_c: _measure(-100, 100, "Ambient temperature")
    fan_rpm: _measure(0, 100_000, "Cooling fan speed (RPM measurand)")
    insulation_mohm: _measure(0, 1e6, "DC insulation resistance")

    @model_validator(mode="after")
    def _connector_ids_are_unique(self):
        ids = [c.id for c in self.connectors]
        if len(ids) != len(set(ids)):
            raise ValueError(f"connector ids must be unique, got {ids}")
        return self


class Status(_Strict):
    """Retained connectivity state on `…/status`; also the MQTT last will (offline)."""

    v: Literal[1]
    state: Literal["online", "offline"]
    ts: AwareDatetime | None = Field(default=None, description="Absent in a last will.")
    reason: str | None = Field(default=None, max_length=128)
    firmware: str | None = Field(default=None, max_length=64)
    pile_id: str | None = None


class Event(_Strict):
    """A discrete occurrence on `…/events` (boot, session start/stop, e-stop, …)."""

    v: Literal[1]
    id: str = Field(min_length=1, max_length=64, description="Unique per pile; redeliveries repeat it.")
    ts: AwareDatetime
    type: PileEventType
    connector_id: int | None = Field(default=None, ge=0, le=16)
    data: dict = Field(default_factory=dict)
    pile_id: str | None = None


class Command(_Strict):
    """Downlink on `…/commands`."""

    v: Literal[1] = 1
    id: UUID
    type: CommandType
    params: dict = Field(default_factory=dict)
    ts: AwareDatetime


class CommandAck(_Strict):
    """The pile's answer on `…/commands/ack`."""

    v: Literal[1]
    id: UUID
    status: CommandAckStatus
    ts: AwareDatetime
    info: str | None = Field(default=None, max_length=256)
    pile_id: str | None = None


SCHEMAS = {"telemetry": Telemetry, "status": Status, "events": Event, "commands": Command, "commands-ack": CommandAck}
