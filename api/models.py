"""API bodies, in families per entity (…Create, …Public, …sPublic(data, count))."""
from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pilecare.domain import PILE_ID_PATTERN, SiteEnvironment


class RequestBody(BaseModel):
    """A JSON request body. A field the API does not know is a 422 naming it, never dropped in
    silence: a misspelt `recurence` must not create a window without one (issue 11, item 14)."""

    model_config = ConfigDict(extra="forbid")


class PileCreate(RequestBody):
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


class DataQualityPublic(BaseModel):
    """A problem with what a pile sends, reported once and counted (docs/device-protocol.md, 11a)."""

    problem: str = Field(description="unknown_error_code, nonstandard_error_code, invalid_field, "
                                     "timestamp_without_offset, invalid_message, reported_identity_mismatch or "
                                     "unknown_connector")
    first_seen: datetime
    last_seen: datetime
    count: int = Field(description="Messages with this problem")
    detail: str = Field(description="What the latest one had wrong")


class ReportedIdentity(BaseModel):
    """What an OCPP charger says it is in its BootNotification, beside the registry's model and
    serial, never over them (a difference is a `reported_identity_mismatch` note; docs/ocpp.md)."""

    vendor: str | None = Field(description="chargePointVendor (1.6) / chargingStation.vendorName (2.0.1)")
    model: str | None = Field(description="chargePointModel (1.6) / chargingStation.model (2.0.1)")
    serial: str | None = Field(description="chargePointSerialNumber (1.6) / chargingStation.serialNumber (2.0.1)")
    at: datetime = Field(description="When the charger last said so (its BootNotification, as received)")


class PileDetail(PilePublic):
    connectivity_reason: str | None
    connectivity_changed_at: datetime | None
    temp_internal_c: float | None
    fan_rpm: float | None
    clock_skewed: bool
    clock_skew_s: float | None
    messages: int
    sequence_gaps: int = Field(description="Messages lost: per run of the pile's counter, never negative.")
    sequence_restarts: int = Field(description="Times the pile's counter started again (a reboot), each in seq_restarts.")
    pile_status: str | None = Field(description="The pile's own OCPP status (connector 0): Available, Unavailable or "
                                                "Faulted; null while it never reported one.")
    pile_error_code: str | None = Field(description="The pile's own OCPP error code (connector 0).")
    pile_vendor_error_code: str | None
    pile_info: str | None
    pile_status_since: datetime | None
    faulted: bool = Field(description="The pile itself or a connector is Faulted or reports an error code other "
                                      "than NoError (the same rule as /fleet/health).")
    connectors: list[ConnectorStatePublic]
    reported_identity: ReportedIdentity | None = Field(
        default=None, description="An OCPP charger's own vendor, model and serial from its last BootNotification; "
                                  "null for a pile that never sent one (MQTT piles).")
    data_quality: list[DataQualityPublic] = Field(
        default_factory=list, description="Problems with what the pile sends (unknown codes, timestamps without an "
                                          "offset, invalid messages): data quality, not connectivity.")


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
    energy_min_kwh: float | None = Field(description="Lowest register reading, kWh (a reboot's 0 placeholder included).")
    energy_max_kwh: float | None
    energy_delivered_kwh: float | None = Field(
        description="kWh delivered in the bucket, the step from the reading before it included: docs/kpi.md, "
                    "\"Energy delivered\" (never max − min of the register); null for connector 0.")


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
    sequence_gaps: int = Field(description="Messages lost, summed over the piles: exact, so it may pass 2^63 (and "
                                           "JavaScript's 2^53) when a pile's counter jumped.")
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


def _known_zone(name: str) -> str:
    # zoneinfo's keys on this machine, less the two that are not places: "localtime" is the
    # host's own setting and "Factory" a placeholder. PostgreSQL must know it too (the route
    # asks it), since windows are read on the site's clock there.
    if name in ("localtime", "Factory") or name not in _zones():
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)")
    return name


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


TimeZoneName = Annotated[str, Field(max_length=64, examples=["Europe/Berlin"],
                                    description="IANA time zone of the site: recurring maintenance windows follow "
                                                "its clock, monthly plans count its calendar days."),
                         AfterValidator(_known_zone)]


class SiteCreate(RequestBody):
    """A site to register (R-INFO); unknown fields are refused."""

    id: str = Field(pattern=PILE_ID_PATTERN)
    customer_id: str
    name: str = Field(min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    region: str = Field(min_length=1, max_length=64)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    environment: list[SiteEnvironment] = Field(default_factory=list, description="Conditions that shorten PM (R-PM).")
    timezone: TimeZoneName


class SiteUpdate(RequestBody):
    """The fields of a site that may change; unknown fields are refused."""


    timezone: TimeZoneName


class SitePublic(BaseModel):
    id: str
    customer_id: str
    name: str
    address: str | None
    region: str
    lat: float
    lon: float
    environment: list[str]
    timezone: str


class ErrorPublic(BaseModel):
    """Every error the API answers, whatever went wrong (a 4xx; a 5xx is a bug)."""

    error: str = Field(description="A stable code: invalid_input, not_found, conflict, unauthorized, forbidden, "
                                   "unsupported_media_type, method_not_allowed, too_many_requests, …")
    detail: str = Field(description="What was wrong, starting with the field it is about (e.g. `offset: …`).")


class DeviceCredentialIssued(BaseModel):
    """A device credential just issued: the password is shown this once and kept only hashed
    (gateway/credentials.py). MQTT: username = pile id on the broker; OCPP: HTTP Basic user =
    charge point id = pile id."""

    pile_id: str
    protocol: str = Field(description="mqtt or ocpp")
    username: str
    password: str = Field(description="32 random URL-safe characters; not retrievable later")
    issued_at: datetime
    issued_by: str

    @classmethod
    def of(cls, credential, issued_by: str) -> "DeviceCredentialIssued":
        """From gateway.credentials.IssuedCredential."""
        return cls(pile_id=credential.pile_id, protocol=credential.protocol.value, username=credential.username,
                   password=credential.password, issued_at=credential.issued_at, issued_by=issued_by)


class DeviceCredentialPublic(BaseModel):
    """A device credential's record, live or revoked; never its hash."""

    id: int
    pile_id: str
    protocol: str
    username: str
    live: bool
    issued_at: datetime
    issued_by: str
    revoked_at: datetime | None
    revoked_by: str | None


class DeviceCredentialsPublic(BaseModel):
    data: list[DeviceCredentialPublic]
    count: int


class PileRegistered(PileDetail):
    """A pile just registered, with its MQTT and OCPP credentials (shown this once)."""

    credentials: list[DeviceCredentialIssued]
