"""Port uptime the way US NEVI rules count it (23 CFR 680.116(b)), each port's outages, and
the exclusions a dispatcher or supervisor records on them (docs/kpi.md, "NEVI port uptime").

Its own endpoint, apart from /kpis: it reads twelve months, and the KPI page's first
calls stay as fast as they were."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from api.auth import DISPATCH, OFFICE, Actor, require
from api.deps import Conn, PlainConn, SettingsDep
from api.models import RequestBody
from maintenance.kpi import service as kpi
from maintenance.kpi import uptime
from pilecare.errors import Conflict, InvalidInput, NotFound

router = APIRouter(prefix="/uptime", tags=["kpis"], dependencies=[Depends(require(*OFFICE))])

MonthQuery = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                         description="YYYY-MM (UTC); default: the last complete month")]


class MonthUptimePublic(BaseModel):
    month: date
    known_min: float = Field(description="Minutes the port's state was known (from its first report).")
    outage_min: float = Field(description="Minutes down, every cause merged.")
    status_min: float = Field(description="Minutes every connector of the port was Faulted or Unavailable.")
    offline_min: float = Field(description="Minutes its pile was offline or silent.")
    derated_min: float = Field(description="Minutes it charged with the pile offering less than the minimum power.")
    excluded_min: float = Field(description="Outage minutes excluded: recorded causes and allowed planned maintenance.")
    planned_min: float
    planned_excluded_min: float
    down_min: float = Field(description="outage_min − excluded_min: what counts against uptime.")
    uptime: float | None
    power_checked: bool = Field(description="False when the month began before the oldest telemetry kept.")


class PortUptimePublic(BaseModel):
    pile_id: str
    site_id: str
    port: int
    connectors: list[int]
    kind: str
    rated_power_kw: float
    minimum_power_kw: float | None = Field(description="None: no power test (AC, or a DC pile rated below it).")
    known_min: float
    outage_min: float
    excluded_min: float
    down_min: float
    uptime: float | None = Field(description="(known − down) ÷ known over the 12 months; 525,600 min in a full year.")
    met: bool | None = Field(description="uptime > 0.97 (23 CFR 680.116(b)).")
    months: list[MonthUptimePublic] = Field(description="The 12 months, oldest first.")


class UptimePublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    month: date
    start: datetime = Field(alias="from", description="The 12 months' start.")
    end: datetime = Field(alias="to", description="Their end: the month's end, or now for the current month.")
    target: float
    planned_allowance_h: float
    minimum_power_kw: dict[str, float | None]
    availability: float | None = Field(description="Today's connector availability of the same piles in the month.")
    count: int = Field(description="Ports in scope.")
    met: int = Field(description="Ports whose 12-month uptime is above the target.")
    data: list[PortUptimePublic] = Field(description="Worst first, at most `limit`.")


class OutagePublic(BaseModel):
    port: int
    start: datetime
    end: datetime
    by_status: bool
    offline: bool
    derated: bool
    excluded_min: float
    planned_min: float
    exclusions: list[int]


class ExclusionCreate(RequestBody):
    pile_id: str
    port: int | None = Field(None, ge=1, description="The port; none for every port of the pile.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    cause: uptime.ExcludedCause
    note: str = Field(min_length=1, max_length=2000,
                      description="The evidence: the utility's interruption notice, the police report, …")

    @field_validator("ends_at")
    @classmethod
    def _after_start(cls, value: datetime, info):
        start = info.data.get("starts_at")
        if start is not None and value <= start:
            raise ValueError("must be after starts_at")
        return value


class ExclusionWithdraw(RequestBody):
    reason: str = Field(min_length=1, max_length=2000)


class ExclusionPublic(BaseModel):
    id: int
    pile_id: str
    port: int | None
    starts_at: datetime
    ends_at: datetime
    cause: uptime.ExcludedCause
    note: str
    recorded_at: datetime
    recorded_by: str
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdrawn_reason: str | None


def _month(value: str | None, now: datetime) -> date:
    if value is None:
        first = now.date().replace(day=1)
        return (first - timedelta(days=1)).replace(day=1)
    try:
        month = date(int(value[:4]), int(value[5:]), 1)
    except ValueError as error:  # "0000-01", "2026-13": the pattern lets them through
        raise InvalidInput(f"month: {value!r} is not a calendar month ({error})") from error
    if month > now.date():
        raise InvalidInput(f"month: {value} has not begun")
    return month


def _exists(conn, table: str, key: str, name: str) -> None:
    if conn.execute(f"SELECT 1 FROM {table} WHERE id = %s", (key,)).fetchone() is None:
        raise NotFound(f"{name} {key!r} does not exist")


@router.get("/ports", summary="Each port's NEVI uptime over the 12 months ending with a month, worst first")
def port_uptime(conn: PlainConn, settings: SettingsDep, month: MonthQuery = None, site_id: str | None = None,
                pile_id: str | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> UptimePublic:
    now = datetime.now(timezone.utc)
    first = _month(month, now)
    if pile_id:
        _exists(conn, "piles", pile_id, "pile")
    if site_id:
        _exists(conn, "sites", site_id, "site")
    ports = uptime.port_uptime(conn, first, pile_id=pile_id, site_id=site_id, now=now,
                               telemetry_since=now - timedelta(days=settings.retention_days))
    ports.sort(key=lambda p: (p.uptime is None, p.uptime or 0, p.pile_id, p.port))
    bounds = uptime.month_bounds(first)
    month_start, month_end = bounds[-1][0], min(bounds[-1][1], now)
    available = kpi.availability(conn, month_start, month_end, site_id=site_id, pile_id=pile_id).value
    return UptimePublic(
        month=first, start=bounds[0][0], end=month_end, target=uptime.UPTIME_TARGET,
        planned_allowance_h=uptime.PLANNED_ALLOWANCE_MIN / 60, minimum_power_kw=uptime.MINIMUM_POWER_KW,
        availability=available, count=len(ports), met=sum(1 for p in ports if p.met),
        data=[PortUptimePublic(**p.as_dict()) for p in ports[:limit]])


@router.get("/piles/{pile_id}/outages", summary="A pile's port outages in a month, to record exclusions on")
def pile_outages(conn: PlainConn, pile_id: str, month: MonthQuery = None) -> list[OutagePublic]:
    now = datetime.now(timezone.utc)
    _exists(conn, "piles", pile_id, "pile")
    [(start, end)] = uptime.month_bounds(_month(month, now), 1)
    return [OutagePublic(**vars(o)) for o in uptime.outages(conn, pile_id, start, min(end, now))]


@router.get("/exclusions", summary="Recorded exclusions, newest first")
def list_exclusions(conn: Conn, pile_id: str | None = None, include_withdrawn: bool = False) -> list[ExclusionPublic]:
    where, params = ["true"], {"pile": pile_id}
    if pile_id:
        where.append("pile_id = %(pile)s")
    if not include_withdrawn:
        where.append("withdrawn_at IS NULL")
    rows = conn.execute(f"SELECT * FROM outage_exclusions WHERE {' AND '.join(where)} ORDER BY id DESC", params)
    return [ExclusionPublic(**r) for r in rows.fetchall()]


@router.post("/exclusions", dependencies=[Depends(require(*DISPATCH))], status_code=status.HTTP_201_CREATED,
             summary="Exclude an outage's time for a cause outside the operator's control (23 CFR 680.116(b)(4))")
def create_exclusion(conn: Conn, actor: Actor, body: ExclusionCreate) -> ExclusionPublic:
    row = conn.execute(
        "SELECT coalesce(m.connector_ports, ARRAY(SELECT generate_series(1, m.connectors))::smallint[]) AS ports "
        "FROM piles p JOIN pile_models m ON m.id = p.model_id WHERE p.id = %s", (body.pile_id,)).fetchone()
    if row is None:
        raise InvalidInput(f"pile_id: no pile {body.pile_id!r}")
    ports = sorted(set(row["ports"]))
    if body.port is not None and body.port not in ports:
        raise InvalidInput(f"port: pile {body.pile_id} has ports {ports}")
    if body.starts_at > datetime.now(timezone.utc):
        raise InvalidInput("starts_at: in the future; exclusions are recorded on outages that began "
                           "(plan maintenance with /maintenance/windows)")
    row = conn.execute(
        "INSERT INTO outage_exclusions (pile_id, port, starts_at, ends_at, cause, note, recorded_by) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (body.pile_id, body.port, body.starts_at, body.ends_at, body.cause.value, body.note, actor)).fetchone()
    return ExclusionPublic(**row)


@router.post("/exclusions/{exclusion_id}/withdraw", dependencies=[Depends(require(*DISPATCH))],
             summary="Withdraw a mistaken exclusion: its outage counts again; the record stays")
def withdraw_exclusion(conn: Conn, actor: Actor, exclusion_id: int, body: ExclusionWithdraw) -> ExclusionPublic:
    row = conn.execute(
        "UPDATE outage_exclusions SET withdrawn_at = now(), withdrawn_by = %s, withdrawn_reason = %s "
        "WHERE id = %s AND withdrawn_at IS NULL RETURNING *", (actor, body.reason, exclusion_id)).fetchone()
    if row is None:
        if conn.execute("SELECT 1 FROM outage_exclusions WHERE id = %s", (exclusion_id,)).fetchone() is None:
            raise NotFound(f"exclusion {exclusion_id} does not exist")
        raise Conflict(f"exclusion {exclusion_id} is already withdrawn")
    return ExclusionPublic(**row)
