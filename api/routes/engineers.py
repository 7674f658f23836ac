"""Field engineers: the roster (skills, regions, home base, capacity), shifts, where they
are, what their van carries and their planned route for a day.

Phone numbers are for the service desk: viewers see the roster without them. Engineers
report their own position and read their own van and route.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import DESK, DISPATCH, OFFICE, EngineerUser, Role, User, require
from api.deps import PlainConn
from api.models import RequestBody
from maintenance.dispatch import roster as engineers
from maintenance.planning import day_routes as pm_routes
from pilecare.errors import NotFound

router = APIRouter(prefix="/engineers", tags=["engineers"])

Reader = Annotated[User, Depends(require(*DESK))]
ListReader = Annotated[User, Depends(require(*OFFICE))]
Editor = Annotated[User, Depends(require(*DISPATCH))]
Planner = Annotated[User, Depends(require(*DISPATCH, Role.ENGINEER))]

_ID = r"^[A-Za-z0-9._-]{1,64}$"
Skill = Annotated[str, Field(min_length=1, max_length=64, description="AC, DC, HV, mfr:<manufacturer>, a category")]
Region = Annotated[str, Field(min_length=1, max_length=64)]


class EngineerPublic(BaseModel):
    id: str
    user_id: str | None
    name: str
    phone: str | None = Field(description="Hidden (null) for viewers.")
    skills: list[str]
    regions: list[str]
    home_lat: float
    home_lon: float
    lat: float | None = Field(description="Last reported position.")
    lon: float | None
    position_at: datetime | None
    max_jobs: int
    active: bool
    created_at: datetime
    live_jobs: int = Field(description="Orders offered, accepted or under way.")
    on_shift: bool = Field(description="On shift right now.")


class EngineersPublic(BaseModel):
    data: list[EngineerPublic]
    count: int


class EngineerCreate(RequestBody):
    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=64)
    skills: list[Skill] = Field(default_factory=list)
    regions: list[Region] = Field(default_factory=list)
    home_lat: float = Field(ge=-90, le=90)
    home_lon: float = Field(ge=-180, le=180)
    max_jobs: int = Field(default=3, ge=1, le=50)
    # The login for the phone app is linked by an admin through /users (engineer_id), where
    # the change is recorded: a roster edit must not hand someone an engineer's jobs.


class EngineerUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, max_length=64)
    skills: list[Skill] | None = None
    regions: list[Region] | None = None
    home_lat: float | None = Field(default=None, ge=-90, le=90)
    home_lon: float | None = Field(default=None, ge=-180, le=180)
    max_jobs: int | None = Field(default=None, ge=1, le=50)
    active: bool | None = None


class ShiftCreate(RequestBody):
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class ShiftPublic(BaseModel):
    id: int
    starts_at: datetime
    ends_at: datetime


class Position(RequestBody):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    at: AwareDatetime | None = Field(default=None, description="When the fix was taken (default: now).")


class StockLine(BaseModel):
    location_id: str
    part_id: str
    name: str
    quantity: int


class StopPublic(BaseModel):
    seq: int
    site_id: str
    site_name: str
    address: str | None
    lat: float
    lon: float
    order_ids: list[int]


class RoutePublic(BaseModel):
    engineer_id: str
    day: date
    home_lat: float
    home_lon: float
    stops: list[StopPublic]
    km: float = Field(description="Home → stops → home as planned.")
    given_km: float = Field(description="The same stops in the order the orders were given.")
    solver: str


def _public(row: dict, user: User) -> EngineerPublic:
    # An engineer's phone is for those who call them about a job.
    if user.role not in (*DESK, Role.ADMIN):
        row = row | {"phone": None}
    return EngineerPublic(**row)


def _own_or_desk(user: User, engineer_id: str) -> None:
    # Engineers see only their own van and route; for them others do not exist.
    if user.role is Role.ENGINEER and user.engineer_id != engineer_id:
        raise NotFound(f"engineer {engineer_id} does not exist")


@router.get("", summary="The roster")
def list_engineers(conn: PlainConn, user: ListReader, active: bool | None = None, region: str | None = None,
                   skill: str | None = None) -> EngineersPublic:
    rows = engineers.list_all(conn, active=active, region=region, skill=skill)
    return EngineersPublic(data=[_public(r, user) for r in rows], count=len(rows))


@router.post("", status_code=201, summary="Add an engineer")
def create_engineer(conn: PlainConn, user: Editor, body: EngineerCreate) -> EngineerPublic:
    data = body.model_dump()
    return _public(engineers.create(conn, data.pop("id"), **data), user)


@router.put("/me/position", summary="Report my position (the engineers' app)")
def report_position(conn: PlainConn, user: EngineerUser, body: Position) -> EngineerPublic:
    engineers.set_position(conn, user.engineer_id, body.lat, body.lon, body.at)
    return _public(engineers.get(conn, user.engineer_id), user)


@router.get("/{engineer_id}", summary="One engineer")
def get_engineer(conn: PlainConn, user: Reader, engineer_id: str) -> EngineerPublic:
    return _public(engineers.get(conn, engineer_id), user)


@router.patch("/{engineer_id}", summary="Change skills, regions, home base, capacity; deactivate")
def update_engineer(conn: PlainConn, user: Editor, engineer_id: str, body: EngineerUpdate) -> EngineerPublic:
    return _public(engineers.update(conn, engineer_id, **body.model_dump(exclude_unset=True)), user)


@router.post("/{engineer_id}/shifts", status_code=201, summary="Add a shift")
def add_shift(conn: PlainConn, user: Editor, engineer_id: str, body: ShiftCreate) -> ShiftPublic:
    shift_id = engineers.add_shift(conn, engineer_id, body.starts_at, body.ends_at)
    return ShiftPublic(id=shift_id, starts_at=body.starts_at, ends_at=body.ends_at)


@router.get("/{engineer_id}/shifts", summary="Shifts, current and coming (or since a time)")
def list_shifts(conn: PlainConn, user: Planner, engineer_id: str,
                since: AwareDatetime | None = None) -> list[ShiftPublic]:
    _own_or_desk(user, engineer_id)
    return [ShiftPublic(**s) for s in engineers.shifts(conn, engineer_id, since=since or datetime.now().astimezone())]


@router.get("/{engineer_id}/stock", summary="What the engineer's van carries")
def van_stock(conn: PlainConn, user: Annotated[User, Depends(require(*DESK, Role.ENGINEER))],
              engineer_id: str) -> list[StockLine]:
    _own_or_desk(user, engineer_id)
    return [StockLine(**line) for line in engineers.van_stock(conn, engineer_id)]


@router.get("/{engineer_id}/route", summary="The day's preventive stops in the order that drives least")
def route(conn: PlainConn, user: Planner, engineer_id: str,
          day: Annotated[date, Query(description="The day, YYYY-MM-DD")]) -> RoutePublic:
    _own_or_desk(user, engineer_id)
    r = pm_routes.plan_route(conn, engineer_id, day)
    return RoutePublic(engineer_id=r.engineer_id, day=r.day, home_lat=r.home[0], home_lon=r.home[1],
                       stops=[StopPublic(seq=s.seq, site_id=s.site_id, site_name=s.site_name, address=s.address,
                                         lat=s.lat, lon=s.lon, order_ids=s.order_ids) for s in r.stops],
                       km=r.km, given_km=r.given_km, solver=r.solver)
