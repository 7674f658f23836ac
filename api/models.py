"""API bodies, in families per entity (…Create, …Public, …sPublic(data, count))."""
from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from pilecare.domain import PILE_ID_PATTERN


class PileCreate(BaseModel):
    id: str = Field(pattern=PILE_ID_PATTERN, description="Also the MQTT topic segment and client id.")
    serial: str = Field(min_length=1, max_length=64)
    model_id: str
    site_id: str
    firmware: str | None = None
    installed_on: date | None = None
    commissioned_on: date | None = None
    warranty_end: date | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class ConnectorStatePublic(BaseModel):
    connector_id: int
    time: datetime
    seq: int
    status: str
    error_code: str
    vendor_error_code: str | None
    info: str | None
    voltage_v: float | None
    current_a: float | None
    power_kw: float | None
    power_offered_kw: float | None
    energy_kwh: float | None
    temp_c: float | None
    soc_pct: float | None
    status_since: datetime


class PilePublic(BaseModel):
    id: str
    serial: str
    model_id: str
    model_name: str
    kind: str
    rated_power_kw: float
    site_id: str
    site_name: str
    customer_id: str
    customer_name: str
    firmware: str | None
    installed_on: date | None
    warranty_end: date | None
    in_warranty: bool | None
    lat: float | None
    lon: float | None
    online: bool = Field(description="Connected, and heard from within 3 reporting intervals.")
    last_seen: datetime | None
    created_at: datetime
    created_by: str


class PileDetail(PilePublic):
    connectivity_reason: str | None
    connectivity_changed_at: datetime | None
    temp_internal_c: float | None
    fan_rpm: float | None
    clock_skewed: bool
    clock_skew_s: float | None
    messages: int
    sequence_gaps: int
    connectors: list[ConnectorStatePublic]


class PilesPublic(BaseModel):
    data: list[PilePublic]
    count: int


class TelemetryPoint(BaseModel):
    time: datetime
    connector_id: int
    seq: int
    status: str | None
    error_code: str | None
    voltage_v: float | None
    current_a: float | None
    power_kw: float | None
    power_offered_kw: float | None
    energy_kwh: float | None
    temp_c: float | None
    soc_pct: float | None
    fan_rpm: float | None
    device_ts: datetime
    received_at: datetime


class TelemetryBucket(BaseModel):
    bucket: datetime
    connector_id: int
    samples: int
    power_avg_kw: float | None
    power_max_kw: float | None
    temp_avg_c: float | None
    temp_max_c: float | None
    voltage_avg_v: float | None
    current_avg_a: float | None
    energy_min_kwh: float | None
    energy_max_kwh: float | None
    energy_delivered_kwh: float | None


class TelemetryPublic(BaseModel):
    pile_id: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    bucket: str | None
    source: str = Field(description="raw, or hourly rollup")
    data: list[TelemetryPoint] | list[TelemetryBucket]
    count: int

    model_config = {"populate_by_name": True}


class SiteHealth(BaseModel):
    site_id: str
    name: str
    customer_id: str
    customer_name: str | None = None
    region: str | None = None
    lat: float
    lon: float
    piles: int
    online: int
    offline: int
    faulted: int
    charging: int
    worst: str = Field(description="faulted > offline > charging > ok")


class FleetHealth(BaseModel):
    piles: int
    online: int
    offline: int
    faulted: int
    charging: int
    connectors_by_status: dict[str, int]
    sites: list[SiteHealth]


class WorkerStats(BaseModel):
    worker: str
    received: int
    stored: int
    duplicates: int
    dead_lettered: int
    last_minute: datetime


class IngestStats(BaseModel):
    received: int
    stored: int
    duplicates: int
    dead_lettered: int
    sequence_gaps: int
    piles_with_gaps: int
    clock_skewed_piles: int
    workers: list[WorkerStats]


class DeadLetterPublic(BaseModel):
    id: int
    received_at: datetime
    topic: str
    pile_id: str | None
    kind: str | None
    reason: str
    payload: str
    payload_encoding: str = Field(description="utf-8 or base64")
    payload_size: int
    worker: str


class DeadLettersPublic(BaseModel):
    data: list[DeadLetterPublic]
    count: int


class ErrorPublic(BaseModel):
    """Every error the API answers, whatever went wrong (a 4xx; a 5xx is a bug)."""

    error: str = Field(description="A stable code: invalid_input, not_found, conflict, unauthorized, forbidden, "
                                   "unsupported_media_type, method_not_allowed, too_many_requests, …")
    detail: str = Field(description="What was wrong, starting with the field it is about (e.g. `offset: …`).")
