"""Stock-takes (R-PARTS, issue 14 item 4): count sheets per location, counts, submission, the
parts keeper's approval into adjustments, cancellation. Every step with who and when.

Office roles read; the parts keeper and supervisors (STORES) count and decide. The variance
rule (counted − the book at the moment of the count): docs/parts.md "Stock-takes".
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.auth import OFFICE, STORES, Actor, require
from api.deps import BIGINT_MAX, INT_MAX, Conn, Offset, PlainConn
from api.models import RequestBody
from maintenance.inventory import stock_takes
from maintenance.inventory.stock_takes import StockTakeState

router = APIRouter(prefix="/stock-takes", tags=["stock-takes"])

READ = [Depends(require(*OFFICE))]
ACT = [Depends(require(*STORES))]

TakeId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]


class StockTakeCreate(RequestBody):
    location_id: str = Field(min_length=1, max_length=200, description="Any location, areas included.")


class CountCreate(RequestBody):
    part_id: str = Field(min_length=1, max_length=200)
    counted: int = Field(ge=0, le=INT_MAX, description="Units on the shelf now.")


class Counts(RequestBody):
    counts: list[CountCreate] = Field(min_length=1, max_length=1000)


class StockTakeLinePublic(BaseModel):
    part_id: str
    part_name: str
    expected: int = Field(description="On hand when the sheet was started.")
    counted: int | None
    counted_by: str | None
    counted_at: datetime | None
    book_at_count: int | None = Field(description="On hand in the ledger when the count was recorded.")
    variance: int | None = Field(description="counted − book_at_count: the adjustment approval records.")


class StockTakePublic(BaseModel):
    id: int
    location_id: str
    state: StockTakeState
    started_by: str
    started_at: datetime
    submitted_by: str | None
    submitted_at: datetime | None
    decided_by: str | None = Field(description="Who approved or cancelled it.")
    decided_at: datetime | None
    line_count: int
    uncounted: int


class StockTakeDetail(StockTakePublic):
    lines: list[StockTakeLinePublic]


class StockTakesPublic(BaseModel):
    data: list[StockTakePublic]
    count: int


def _detail(conn, take_id: int) -> StockTakeDetail:
    return StockTakeDetail(**stock_takes.detail(conn, take_id))


@router.get("", dependencies=READ, summary="Stock-takes, newest first")
def list_stock_takes(conn: Conn, location_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
                     state: StockTakeState | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Offset = 0) -> StockTakesPublic:
    rows, count = stock_takes.stock_takes(conn, location_id=location_id, state=state, limit=limit, offset=offset)
    return StockTakesPublic(data=[StockTakePublic(**r) for r in rows], count=count)


@router.post("", dependencies=ACT, status_code=201,
             summary="Start a count sheet for a location: one line per part held or planned, expected = on hand now "
                     "(409: one is open there)")
def start(conn: PlainConn, actor: Actor, body: StockTakeCreate) -> StockTakeDetail:
    return _detail(conn, stock_takes.start(conn, body.location_id, actor=actor))


@router.get("/{take_id}", dependencies=READ, summary="One stock-take with its lines and variances")
def get_stock_take(conn: Conn, take_id: TakeId) -> StockTakeDetail:
    return _detail(conn, take_id)


@router.post("/{take_id}/counts", dependencies=ACT,
             summary="Record counts (a part not on the sheet gets a line; a recount replaces the count)")
def count(conn: PlainConn, actor: Actor, take_id: TakeId, body: Counts) -> StockTakeDetail:
    stock_takes.count(conn, take_id, [(c.part_id, c.counted) for c in body.counts], actor=actor)
    return _detail(conn, take_id)


@router.post("/{take_id}/submit", dependencies=ACT, summary="Submit the counted sheet (409 names uncounted parts)")
def submit(conn: PlainConn, actor: Actor, take_id: TakeId) -> StockTakeDetail:
    stock_takes.submit(conn, take_id, actor=actor)
    return _detail(conn, take_id)


@router.post("/{take_id}/approve", dependencies=ACT,
             summary="Approve: one adjustment movement per variance, reason naming the stock-take")
def approve(conn: PlainConn, actor: Actor, take_id: TakeId) -> StockTakeDetail:
    stock_takes.approve(conn, take_id, actor=actor)
    return _detail(conn, take_id)


@router.post("/{take_id}/cancel", dependencies=ACT, summary="Cancel an open stock-take (no movement)")
def cancel(conn: PlainConn, actor: Actor, take_id: TakeId) -> StockTakeDetail:
    stock_takes.cancel(conn, take_id, actor=actor)
    return _detail(conn, take_id)
