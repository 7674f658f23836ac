"""Stock (R-PARTS, issue 14 item 2): locations (warehouses and engineers' vans), on-hand per
location and part with the low-stock flag, the movement log, transfers and issues.

Office roles read; the parts keeper and supervisors (STORES) move stock. Every movement goes
through the ledger (maintenance/inventory/ledger.py): a location that holds too few is a 409
naming the location, the part, what it holds and what was asked.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import OFFICE, STORES, Actor, require
from api.deps import BIGINT_MAX, INT_MAX, Conn, Offset, PlainConn
from api.models import RequestBody
from maintenance.inventory import LocationKind, MovementKind, ledger, stock_view
from pilecare.errors import InvalidInput

router = APIRouter(prefix="/stock", tags=["stock"])

READ = [Depends(require(*OFFICE))]
MOVE = [Depends(require(*STORES))]

Id = Annotated[str | None, Query(min_length=1, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Quantity = Annotated[int, Field(ge=1, le=INT_MAX, description="Units, at least one.")]


class LocationCreate(RequestBody):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                    description="Its areas get '<id>/receiving' and '<id>/quarantine'.")
    kind: Literal["warehouse", "van"]
    name: str = Field(min_length=1, max_length=200)
    engineer_id: str | None = Field(default=None, max_length=64, description="A van's engineer; else absent.")
    home_warehouse_id: str | None = Field(default=None, max_length=200,
                                          description="A van's home warehouse (it restocks the van); else absent.")


class LocationPublic(BaseModel):
    id: str
    kind: LocationKind
    name: str
    engineer_id: str | None
    parent_id: str | None = Field(description="A van's home warehouse; an area's warehouse or van.")
    areas: list[str] = Field(description="Ids of its receiving and quarantine areas (made with it).")
    created_by: str | None
    created_at: datetime


class LocationsPublic(BaseModel):
    data: list[LocationPublic]
    count: int


class OnHandPublic(BaseModel):
    location_id: str
    kind: LocationKind
    location_name: str
    engineer_id: str | None
    parent_id: str | None
    part_id: str
    part_name: str
    unit: str
    on_hand: int = Field(description="Usable (issuable) units at the location.")
    receiving: int = Field(description="Units in its receiving area, waiting for inspection.")
    quarantine: int = Field(description="Units in its quarantine area: failed inspection or defective.")
    reorder_point: int | None = Field(description="Effective (override wins); null before reorder planning.")
    order_quantity: int | None
    low: bool = Field(description="on_hand ≤ reorder_point (and reorder_point > 0): the low-stock warning.")


class OnHandsPublic(BaseModel):
    data: list[OnHandPublic]
    count: int


class MovementPublic(BaseModel):
    id: int
    entry: uuid.UUID = Field(description="Shared by the rows of one stock entry (a transfer's two).")
    kind: MovementKind
    part_id: str
    location_id: str
    quantity: int = Field(description="Signed: + into the location, − out of it.")
    unit_cost: Decimal
    work_order_id: int | None
    plan_id: str | None
    engineer_id: str | None = Field(description="The engineer who received an issue.")
    supplier_id: str | None
    goods_receipt_line_id: int | None
    stock_take_id: int | None
    supplier_claim_id: int | None
    reason: str | None
    recorded_by: str
    recorded_at: datetime


class MovementsPublic(BaseModel):
    data: list[MovementPublic]
    count: int


class TransferCreate(RequestBody):
    part_id: str = Field(min_length=1, max_length=200)
    quantity: Quantity
    from_location_id: str = Field(min_length=1, max_length=200)
    to_location_id: str = Field(min_length=1, max_length=200,
                                description="Warehouse ↔ van, or quarantine area ↔ quarantine area.")
    reason: str | None = Field(default=None, max_length=500)


class IssueCreate(RequestBody):
    part_id: str = Field(min_length=1, max_length=200)
    quantity: Quantity
    location_id: str = Field(min_length=1, max_length=200, description="A warehouse or the engineer's own van.")
    engineer_id: str = Field(min_length=1, max_length=64, description="Who receives the parts.")
    work_order_id: int | None = Field(default=None, ge=1, le=BIGINT_MAX)
    plan_id: str | None = Field(default=None, min_length=1, max_length=64,
                                description="A preventive plan; a work order or a plan is required.")


class EntryPublic(BaseModel):
    entry: uuid.UUID
    movements: list[MovementPublic]


def _entry(conn, entry: uuid.UUID) -> EntryPublic:
    return EntryPublic(entry=entry, movements=[MovementPublic(**m) for m in stock_view.entry_movements(conn, entry)])


@router.get("/locations", dependencies=READ, summary="Stock locations: warehouses, vans and their areas, by id")
def list_locations(conn: Conn, kind: LocationKind | None = None,
                   parent_id: Annotated[str | None, Query(max_length=200, description="A warehouse's vans and "
                                                                                     "areas, a van's area")] = None,
                   limit: Limit = 1000, offset: Offset = 0) -> LocationsPublic:
    rows, count = stock_view.locations(conn, kind=kind, parent_id=parent_id, limit=limit, offset=offset)
    return LocationsPublic(data=[LocationPublic(**r) for r in rows], count=count)


@router.post("/locations", dependencies=MOVE, status_code=201,
             summary="Open a warehouse, or a van for an engineer with its home warehouse; its receiving and "
                     "quarantine areas appear with it")
def create_location(conn: PlainConn, actor: Actor, body: LocationCreate) -> LocationPublic:
    return LocationPublic(**stock_view.create_location(
        conn, body.id, LocationKind(body.kind), body.name, actor=actor, engineer_id=body.engineer_id,
        home_warehouse_id=body.home_warehouse_id))


@router.get("/on-hand", dependencies=READ,
            summary="On-hand per warehouse or van and part: usable, receiving, quarantine, reorder point, low flag")
def on_hand(conn: Conn, location_id: Id = None, part_id: Id = None,
            kind: Annotated[Literal["warehouse", "van"] | None, Query()] = None, engineer_id: Id = None,
            low: bool | None = None, limit: Limit = 1000, offset: Offset = 0) -> OnHandsPublic:
    rows, count = stock_view.on_hand_rows(conn, location_id=location_id, part_id=part_id,
                                          kind=LocationKind(kind) if kind else None, engineer_id=engineer_id,
                                          low=low, limit=limit, offset=offset)
    return OnHandsPublic(data=[OnHandPublic(**r) for r in rows], count=count)


@router.get("/low", dependencies=READ,
            summary="Warehouses and vans at or below their reorder point (the low-stock warning)")
def low_stock(conn: Conn, location_id: Id = None, kind: Annotated[Literal["warehouse", "van"] | None, Query()] = None,
              limit: Limit = 1000, offset: Offset = 0) -> OnHandsPublic:
    rows, count = stock_view.on_hand_rows(conn, location_id=location_id, kind=LocationKind(kind) if kind else None,
                                          low=True, limit=limit, offset=offset)
    return OnHandsPublic(data=[OnHandPublic(**r) for r in rows], count=count)


@router.get("/movements", dependencies=READ, summary="The movement log, newest first")
def list_movements(
    conn: Conn,
    part_id: Id = None,
    location_id: Id = None,
    kind: Annotated[list[MovementKind] | None, Query()] = None,
    work_order_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    plan_id: Id = None,
    engineer_id: Id = None,
    start: Annotated[AwareDatetime | None, Query(alias="from", description="Recorded at or after.")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="Recorded before.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> MovementsPublic:
    if start and end and start >= end:
        raise InvalidInput("from: must be before to")
    rows, count = stock_view.movements(
        conn, stock_view.MovementFilter(part_id=part_id, location_id=location_id, kind=kind,
                                        work_order_id=work_order_id, plan_id=plan_id, engineer_id=engineer_id,
                                        start=start, end=end), limit=limit, offset=offset)
    return MovementsPublic(data=[MovementPublic(**r) for r in rows], count=count)


@router.post("/transfers", dependencies=MOVE, status_code=201,
             summary="Move parts warehouse ↔ van, or defective parts quarantine ↔ quarantine (409: too few)")
def transfer(conn: PlainConn, actor: Actor, body: TransferCreate) -> EntryPublic:
    entry = ledger.transfer(conn, body.part_id, body.quantity, body.from_location_id, body.to_location_id,
                            actor=actor, reason=body.reason)
    return _entry(conn, entry)


@router.post("/issues", dependencies=MOVE, status_code=201,
             summary="Issue parts to a work order or preventive plan, with the engineer receiving them "
                     "(409: too few)")
def issue(conn: PlainConn, actor: Actor, body: IssueCreate) -> EntryPublic:
    entry = ledger.issue(conn, body.part_id, body.quantity, body.location_id, engineer_id=body.engineer_id,
                         actor=actor, work_order_id=body.work_order_id, plan_id=body.plan_id)
    return _entry(conn, entry)
