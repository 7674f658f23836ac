"""Suppliers (R-PARTS, issue 14) and their evaluation: on-time delivery, defect rate and lead time
per period (the definitions: maintenance/inventory/supplier_scores.py, docs/purchasing.md).

Office roles read (OFFICE); the parts keeper and supervisors write (STORES). A supplier is
never deleted: PATCH `active: false` retires one.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import OFFICE, STORES, Actor, require
from api.deps import Offset, PlainConn
from api.models import RequestBody
from maintenance.inventory import catalogue, supplier_scores
from pilecare.errors import InvalidInput

router = APIRouter(prefix="/suppliers", tags=["suppliers"])

READ = [Depends(require(*OFFICE))]
WRITE = [Depends(require(*STORES))]
SupplierId = Annotated[str, Path(max_length=64)]
MAX_RANGE = timedelta(days=5 * 366)


class SupplierCreate(RequestBody):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=50)
    active: bool = True


class SupplierUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=50)
    active: bool | None = None


class SupplierPublic(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    active: bool
    parts_listed: int = Field(description="How many catalogue parts it lists.")
    created_at: datetime
    updated_by: str | None
    updated_at: datetime | None


class SuppliersPublic(BaseModel):
    data: list[SupplierPublic]
    count: int


class SupplierPartPublic(BaseModel):
    part_id: str
    part_name: str
    supplier_part_number: str | None
    price: float
    lead_time_days: int
    updated_by: str | None
    updated_at: datetime


class SupplierDetail(SupplierPublic):
    parts: list[SupplierPartPublic]


class Scorecard(BaseModel):
    supplier_id: str
    supplier_name: str
    orders_completed: int = Field(description="Purchase orders whose last outstanding unit arrived in the period, "
                                              "or that were closed short in it.")
    orders_on_time: int = Field(description="Of those, received in full on or before their expected_at.")
    orders_closed_short: int = Field(description="Of those, closed short (never on time; no lead time).")
    on_time_rate: float | None = Field(description="orders_on_time / orders_completed (0–1); null when none.")
    late_open: int = Field(description="Orders due in the period still not complete at its end (not in any rate).")
    units_received: int = Field(description="Units on the supplier's goods receipts received in the period.")
    units_failed_inspection: int
    units_not_inspected: int
    units_returned_from_field: int = Field(description="Units of warranty claims from work orders opened in the "
                                                       "period against the supplier, unless rejected.")
    defect_rate: float | None = Field(description="(units_failed_inspection + units_returned_from_field) / "
                                                  "units_received (0–1); null when nothing was received.")
    mean_lead_time_days: float | None = Field(description="Mean of received_at − ordered_at over orders received in "
                                                          "full.")
    p90_lead_time_days: float | None = Field(description="90th percentile of the same (interpolated).")


class ScorecardPublic(Scorecard):
    model_config = {"populate_by_name": True}

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")


class ScorecardsPublic(BaseModel):
    model_config = {"populate_by_name": True}

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    data: list[Scorecard]
    count: int


Start = Annotated[AwareDatetime | None, Query(alias="from", description="default: 365 days before `to`")]
End = Annotated[AwareDatetime | None, Query(alias="to", description="default: now")]


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or datetime.now(timezone.utc)
    start = start or end - timedelta(days=365)
    if start >= end:
        raise InvalidInput("from: must be before to")
    if end - start > MAX_RANGE:
        raise InvalidInput("from: the range from … to may span at most 5 years")
    return start, end


@router.get("", dependencies=READ, summary="Suppliers by id; filter by text and active")
def list_suppliers(
    conn: PlainConn,
    q: str | None = Query(default=None, max_length=100, description="In the id or name."),
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> SuppliersPublic:
    rows, count = catalogue.suppliers(conn, q=q, active=active, limit=limit, offset=offset)
    return SuppliersPublic(data=[SupplierPublic(**r) for r in rows], count=count)


@router.post("", status_code=201, dependencies=WRITE, summary="Add a supplier")
def create_supplier(conn: PlainConn, actor: Actor, body: SupplierCreate) -> SupplierDetail:
    catalogue.create_supplier(conn, body.id, name=body.name, email=body.email, phone=body.phone, active=body.active,
                              actor=actor)
    return SupplierDetail(**catalogue.supplier(conn, body.id))


@router.get("/scorecards", dependencies=READ,
            summary="Every supplier's scorecard for a period: on-time delivery, defect rate, lead time "
                    "(default: the last 365 days)")
def scorecards(conn: PlainConn, start: Start = None, end: End = None,
               active: bool | None = Query(default=None, description="Only active (true) or retired (false) "
                                                                     "suppliers.")) -> ScorecardsPublic:
    start, end = _period(start, end)
    cards = supplier_scores.scorecards(conn, start, end, active=active)
    return ScorecardsPublic(start=start, end=end, data=[Scorecard(**c) for c in cards], count=len(cards))


@router.get("/{supplier_id}", dependencies=READ, summary="One supplier with the parts it lists")
def get_supplier(conn: PlainConn, supplier_id: SupplierId) -> SupplierDetail:
    return SupplierDetail(**catalogue.supplier(conn, supplier_id))


@router.patch("/{supplier_id}", dependencies=WRITE, summary="Change a supplier's name, contacts or active flag")
def update_supplier(conn: PlainConn, actor: Actor, supplier_id: SupplierId, body: SupplierUpdate) -> SupplierDetail:
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "active"):
        if field in changes and changes[field] is None:
            changes.pop(field)  # null means "leave as it is" for a field that cannot be empty
    catalogue.update_supplier(conn, supplier_id, changes, actor=actor)
    return SupplierDetail(**catalogue.supplier(conn, supplier_id))


@router.get("/{supplier_id}/scorecard", dependencies=READ,
            summary="A supplier's scorecard for a period: on-time delivery, defect rate, lead time "
                    "(default: the last 365 days)")
def scorecard(conn: PlainConn, supplier_id: SupplierId, start: Start = None, end: End = None) -> ScorecardPublic:
    start, end = _period(start, end)
    return ScorecardPublic(start=start, end=end, **supplier_scores.scorecard(conn, supplier_id, start, end))
