"""Piles: listing with latest state, detail, registration, telemetry history."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth import Actor, CurrentUser, require
from api.customer_scope import Owned, check, narrow, portal
from api.deps import Conn, Offset
from api.fleet_view import PILE_FAULTED, faulted_sql
from api.models import (DeviceCredentialIssued, PileCreate, PileDetail, PilePublic, PileRegistered, PilesPublic,
                        TelemetryBucket, TelemetryPoint, TelemetryPublic)
from api.service_history import ServiceHistory, history
from gateway import credentials
from maintenance.kpi import service as kpi
from pilecare.errors import Conflict, InvalidInput, NotFound
from pilecare.liveness import online_sql

router = APIRouter(prefix="/piles", tags=["piles"])

ONLINE = online_sql("ps", "m")

_COLUMNS = f"""
p.id, p.serial, p.model_id, m.name AS model_name, m.kind, m.rated_power_kw,
       p.site_id, s.name AS site_name, s.customer_id, c.name AS customer_name,
       p.firmware, p.installed_on, p.warranty_end,
       CASE WHEN p.warranty_end IS NULL THEN NULL ELSE p.warranty_end >= current_date END AS in_warranty,
       p.lat, p.lon, coalesce({ONLINE}, false) AS online, ps.last_seen, p.created_at, p.created_by
"""
_DETAIL_COLUMNS = f"""
ps.connectivity_reason, ps.connectivity_changed_at, ps.temp_internal_c, ps.fan_rpm,
coalesce(ps.clock_skewed, false) AS clock_skewed, ps.clock_skew_s, coalesce(ps.seq_count, 0) AS messages,
coalesce(ps.seq_gaps, 0) AS sequence_gaps, coalesce(ps.seq_restarts, 0) AS sequence_restarts,
ps.status AS pile_status, ps.error_code AS pile_error_code, ps.vendor_error_code AS pile_vendor_error_code,
ps.info AS pile_info, ps.status_since AS pile_status_since,
CASE WHEN ps.reported_identity_at IS NOT NULL THEN json_build_object('vendor', ps.reported_vendor, 'model', ps.reported_model,
    'serial', ps.reported_serial, 'at', ps.reported_identity_at) END AS reported_identity,
{PILE_FAULTED} OR EXISTS (SELECT 1 FROM connector_state cs WHERE cs.pile_id = p.id
                          AND {faulted_sql("cs.status", "cs.error_code")}) AS faulted
"""
_FROM = """
FROM piles p
JOIN pile_models m ON m.id = p.model_id
JOIN sites s ON s.id = p.site_id
JOIN customers c ON c.id = s.customer_id
LEFT JOIN pile_state ps ON ps.pile_id = p.id
"""


@router.get("", summary="List piles with their latest state (a customer's portal login: its own piles)")
@portal
def list_piles(
    conn: Conn,
    user: CurrentUser,
    site_id: str | None = None,
    customer_id: str | None = None,
    model_id: str | None = None,
    online: bool | None = None,
    connector_status: Annotated[str | None, Query(description="piles with a connector in this OCPP status")] = None,
    q: Annotated[str | None, Query(description="search pile id, serial, site or customer name")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
    offset: Offset = 0,
) -> PilesPublic:
    where, params = [], {}
    narrow(user, "s.customer_id", where, params)
    for column, value in (("p.site_id", site_id), ("s.customer_id", customer_id), ("p.model_id", model_id)):
        if value is not None:
            key = column.split(".")[1]
            where.append(f"{column} = %({key})s")
            params[key] = value
    if online is not None:
        where.append(f"coalesce({ONLINE}, false) = %(online)s")
        params["online"] = online
    if connector_status:
        where.append("EXISTS (SELECT 1 FROM connector_state cs WHERE cs.pile_id = p.id AND cs.status = %(cs)s)")
        params["cs"] = connector_status
    if q:
        where.append("(p.id ILIKE %(q)s OR p.serial ILIKE %(q)s OR s.name ILIKE %(q)s OR c.name ILIKE %(q)s)")
        params["q"] = f"%{q}%"
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = conn.execute("SELECT" + _COLUMNS + _FROM + clause + " ORDER BY p.id LIMIT %(limit)s OFFSET %(offset)s",
                        {**params, "limit": limit, "offset": offset}).fetchall()
    count = conn.execute("SELECT count(*) AS n" + _FROM + clause, params).fetchone()["n"]
    return PilesPublic(data=[PilePublic(**r) for r in rows], count=count)


@router.get("/{pile_id}", summary="One pile: identity, connectivity, connectors' latest state")
@portal
def get_pile(conn: Conn, user: CurrentUser, pile_id: str) -> PileDetail:
    check(conn, user, Owned.PILE, pile_id)
    return _detail(conn, pile_id)


def _detail(conn, pile_id: str) -> PileDetail:
    row = conn.execute("SELECT" + _COLUMNS + "," + _DETAIL_COLUMNS + _FROM + " WHERE p.id = %s", (pile_id,)).fetchone()
    if row is None:
        raise NotFound(f"pile {pile_id!r} does not exist")
    connectors = conn.execute(
        "SELECT connector_id, time, seq, status, error_code, vendor_error_code, info, voltage_v, current_a, power_kw, "
        "power_offered_kw, energy_kwh, temp_c, soc_pct, status_since FROM connector_state WHERE pile_id = %s "
        "ORDER BY connector_id", (pile_id,)).fetchall()
    quality = conn.execute(
        "SELECT problem, first_seen, last_seen, count, detail FROM data_quality WHERE pile_id = %s ORDER BY problem",
        (pile_id,)).fetchall()
    return PileDetail(**row, connectors=connectors, data_quality=quality)


@router.post("", dependencies=[Depends(require())], status_code=status.HTTP_201_CREATED,
             summary="Register a pile; its MQTT and OCPP passwords are in the answer, this once")
def create_pile(conn: Conn, actor: Actor, body: PileCreate) -> PileRegistered:
    for table, key in (("pile_models", body.model_id), ("sites", body.site_id)):
        if conn.execute(f"SELECT 1 FROM {table} WHERE id = %s", (key,)).fetchone() is None:
            name = "model_id" if table == "pile_models" else "site_id"
            raise InvalidInput(f"{name}: no {table[:-1].replace('_', ' ')} {key!r}")
    try:
        # The pile and its credentials together (issue 15, item 6): never a registered pile
        # that cannot connect, nor a password for a pile that does not exist.
        with conn.transaction():
            conn.execute(
                "INSERT INTO piles (id, serial, model_id, site_id, firmware, installed_on, commissioned_on, "
                "warranty_end, lat, lon, created_by) VALUES (%(id)s, %(serial)s, %(model_id)s, %(site_id)s, "
                "%(firmware)s, %(installed_on)s, %(commissioned_on)s, %(warranty_end)s, %(lat)s, %(lon)s, %(actor)s)",
                body.model_dump() | {"actor": actor})
            issued = [credentials.issue(conn, body.id, protocol, issued_by=actor) for protocol in credentials.Protocol]
    except psycopg.errors.UniqueViolation as error:
        which = "serial" if "serial" in str(error) else "id"
        raise Conflict(f"a pile with this {which} already exists") from error
    detail = _detail(conn, body.id)
    return PileRegistered(**detail.model_dump(), credentials=[DeviceCredentialIssued.of(c, actor) for c in issued])


_BUCKET = re.compile(r"^\s*(\d+)\s*(m|min|h|d)\s*$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400}
MAX_RANGE = timedelta(days=366)
MAX_BUCKETS = 10_000


def parse_bucket(text: str) -> timedelta:
    match = _BUCKET.match(text)
    if not match:
        raise InvalidInput(f"bucket: {text!r} is not a bucket size; use e.g. 1m, 5m, 15m, 1h, 6h, 1d")
    size = timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if size < timedelta(minutes=1):
        raise InvalidInput("bucket: the smallest bucket is 1m")
    return size


@router.get(
    "/{pile_id}/telemetry",
    summary="Telemetry history: raw rows, or time-bucketed aggregates with `bucket`",
    description="Without `bucket`: raw rows (connector 0 is the pile itself) in time order. With `bucket` "
                "(1m … 1d): per-bucket, per-connector aggregates. Whole-hour buckets read the hourly rollup, "
                "which on plain PostgreSQL is refreshed every minute, so the newest hour can lag by up to a minute.",
)
@portal
def telemetry(
    conn: Conn,
    user: CurrentUser,
    pile_id: str,
    start: Annotated[datetime | None, Query(alias="from", description="ISO 8601 with timezone; default: 1 h ago")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO 8601 with timezone; default: now")] = None,
    bucket: Annotated[str | None, Query(description="e.g. 1m, 5m, 15m, 1h, 1d")] = None,
    connector_id: Annotated[int | None, Query(ge=0, le=16)] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
    offset: Offset = 0,
) -> TelemetryPublic:
    now = datetime.now(timezone.utc)
    end = end or now
    start = start or end - timedelta(hours=1)
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise InvalidInput(f"{name}: give a timezone, e.g. 2026-11-22T10:00:00Z")
    if start >= end:
        raise InvalidInput("from must be before to")
    if end - start > MAX_RANGE:
        raise InvalidInput("the range from … to may span at most 366 days")
    check(conn, user, Owned.PILE, pile_id)
    if conn.execute("SELECT 1 FROM piles WHERE id = %s", (pile_id,)).fetchone() is None:
        raise NotFound(f"pile {pile_id!r} does not exist")
    params = {"pile": pile_id, "start": start, "end": end, "connector": connector_id, "limit": limit, "offset": offset}
    connector = " AND connector_id = %(connector)s" if connector_id is not None else ""
    if bucket is None:
        rows = conn.execute(
            "SELECT time, connector_id, seq, status, error_code, voltage_v, current_a, power_kw, power_offered_kw, "
            "energy_kwh, temp_c, soc_pct, fan_rpm, device_ts, received_at FROM telemetry "
            "WHERE pile_id = %(pile)s AND time >= %(start)s AND time < %(end)s" + connector +
            " ORDER BY time, connector_id LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()
        data = [TelemetryPoint(**r) for r in rows]
        return TelemetryPublic(pile_id=pile_id, start=start, end=end, bucket=None, source="raw", data=data,
                               count=len(data))
    size = parse_bucket(bucket)
    if (end - start) / size > MAX_BUCKETS:
        raise InvalidInput(f"bucket: {bucket} gives more than {MAX_BUCKETS} buckets over this range; use a larger one")
    params["size"] = size
    if size % timedelta(hours=1) == timedelta(0):
        source = "hourly rollup"
        query = (
            "SELECT date_bin(%(size)s, bucket, TIMESTAMPTZ '2000-01-01') AS bucket, connector_id, "
            "sum(samples)::bigint AS samples, sum(power_avg_kw * samples) / nullif(sum(samples), 0) AS power_avg_kw, "
            "max(power_max_kw) AS power_max_kw, sum(temp_avg_c * samples) / nullif(sum(samples), 0) AS temp_avg_c, "
            "max(temp_max_c) AS temp_max_c, sum(voltage_avg_v * samples) / nullif(sum(samples), 0) AS voltage_avg_v, "
            "sum(current_avg_a * samples) / nullif(sum(samples), 0) AS current_avg_a, "
            "min(energy_min_kwh) AS energy_min_kwh, max(energy_max_kwh) AS energy_max_kwh "
            "FROM telemetry_hourly WHERE pile_id = %(pile)s AND bucket >= date_bin(INTERVAL '1 hour', %(start)s, "
            "TIMESTAMPTZ '2000-01-01') AND bucket < %(end)s" + connector)
        energy = ("SELECT date_bin(%(size)s, bucket, TIMESTAMPTZ '2000-01-01') AS bucket, connector_id, "
                  "sum(delivered_kwh) AS kwh FROM energy_hourly(%(pile)s, date_bin(INTERVAL '1 hour', %(start)s, "
                  "TIMESTAMPTZ '2000-01-01'), %(end)s)")
    else:
        source = "raw"
        query = (
            "SELECT date_bin(%(size)s, time, TIMESTAMPTZ '2000-01-01') AS bucket, connector_id, count(*) AS samples, "
            "avg(power_kw) AS power_avg_kw, max(power_kw) AS power_max_kw, avg(temp_c) AS temp_avg_c, "
            "max(temp_c) AS temp_max_c, avg(voltage_v) AS voltage_avg_v, avg(current_a) AS current_avg_a, "
            "min(energy_kwh) AS energy_min_kwh, max(energy_kwh) AS energy_max_kwh "
            "FROM telemetry WHERE pile_id = %(pile)s AND time >= %(start)s AND time < %(end)s" + connector)
        energy = ("SELECT date_bin(%(size)s, at, TIMESTAMPTZ '2000-01-01') AS bucket, connector_id, "
                  "sum(delivered_kwh) AS kwh FROM energy_steps(%(pile)s, %(start)s, %(end)s)")
    # Energy delivered is migration 0025's one definition (energy_hourly, energy_steps), never
    # max − min of the register: that would chart a reboot's 0 placeholder or a session
    # register's restart as a whole lifetime delivered (docs/kpi.md).
    rows = conn.execute(
        f"WITH m AS ({query} GROUP BY 1, 2), e AS ({energy} WHERE true{connector} GROUP BY 1, 2) "
        "SELECT m.*, CASE WHEN m.energy_max_kwh IS NOT NULL THEN coalesce(e.kwh, 0) END AS energy_delivered_kwh "
        "FROM m LEFT JOIN e USING (bucket, connector_id) ORDER BY 1, 2 LIMIT %(limit)s OFFSET %(offset)s",
        params).fetchall()
    data = [TelemetryBucket(**r) for r in rows]
    return TelemetryPublic(pile_id=pile_id, start=start, end=end, bucket=bucket, source=source, data=data,
                           count=len(data))


class PileAvailability(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    pile_id: str
    days: int
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    availability: float | None = Field(description="Share of the connectors' known time they could charge, planned "
                                                    "maintenance counted as available (docs/kpi.md).")
    target: float
    online_share: float | None = Field(description="Share of the known time the pile was connected and heard from.")
    faulted_hours: float = Field(description="Hours Faulted or Unavailable, averaged over the connectors.")
    offline_hours: float = Field(description="Hours offline (connection lost, or silent beyond 3 reporting intervals).")
    down_hours: float = Field(description="Hours unavailable for either cause, planned maintenance excluded, "
                                          "averaged over the connectors.")
    planned_hours: float = Field(description="Outage hours inside planned maintenance windows, averaged over the "
                                             "connectors.")
    connectors: int


@router.get("/{pile_id}/availability", summary="The pile's uptime over the last days, for its page")
@portal
def pile_availability(conn: Conn, user: CurrentUser, pile_id: str,
                      days: Annotated[int, Query(ge=1, le=366)] = 30) -> PileAvailability:
    check(conn, user, Owned.PILE, pile_id)
    if conn.execute("SELECT 1 FROM piles WHERE id = %s", (pile_id,)).fetchone() is None:
        raise NotFound(f"pile {pile_id!r} does not exist")
    end = datetime.now(timezone.utc)
    a = kpi.availability(conn, end - timedelta(days=days), end, pile_id=pile_id)

    def hours(seconds: float) -> float:
        return round(seconds / a.ports / 3600, 2) if a.ports else 0.0

    return PileAvailability(
        pile_id=pile_id, days=days, start=a.start, end=a.end, availability=a.value, target=kpi.AVAILABILITY_TARGET,
        online_share=round(1 - a.offline_s / a.known_s, 5) if a.known_s else None,
        faulted_hours=hours(a.status_s), offline_hours=hours(a.offline_s), down_hours=hours(a.down_s),
        planned_hours=hours(a.planned_s), connectors=a.ports,
    )


@router.get("/{pile_id}/history",
            summary="The pile's service history in time order: requests, work orders (those it opened itself "
                    "through telemetry too), service reports, complaints, follow-ups")
@portal
def pile_history(conn: Conn, user: CurrentUser, pile_id: str, since: AwareDatetime | None = None,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> ServiceHistory:
    check(conn, user, Owned.PILE, pile_id)
    if conn.execute("SELECT 1 FROM piles WHERE id = %s", (pile_id,)).fetchone() is None:
        raise NotFound(f"pile {pile_id!r} does not exist")
    return history(conn, pile_id=pile_id, since=since, limit=limit)
