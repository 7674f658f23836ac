"""The parts catalogue (R-PARTS, issue 14): parts with their specification, unit, standard cost,
compatible pile models, alternates and the suppliers that list them.

Office roles read (OFFICE); the parts keeper and supervisors write (STORES). Parts are never
deleted: PATCH `active: false` retires one (the ledger and purchase orders point at it).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.auth import OFFICE, STORES, Actor, require
from api.deps import Offset, PlainConn
from api.models import RequestBody
from maintenance.inventory import Listing, catalogue

router = APIRouter(prefix="/parts", tags=["parts"])

READ = [Depends(require(*OFFICE))]
WRITE = [Depends(require(*STORES))]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
PartId = Annotated[str, Path(max_length=64, description="The part number.")]
SupplierId = Annotated[str, Path(max_length=64)]


class SupplierListing(RequestBody):
    supplier_part_number: str | None = Field(default=None, max_length=100,
                                             description="The supplier's own number for the part.")
    price: Money = Field(description="The supplier's price per unit.")
    lead_time_days: int = Field(ge=0, le=3650, description="Days from ordering to delivery.")


class PartSupplierCreate(SupplierListing):
    supplier_id: str = Field(max_length=64)


class PartCreate(RequestBody):
    id: str = Field(pattern=ID_PATTERN, description="The part number.")
    name: str = Field(min_length=1, max_length=200)
    spec: str | None = Field(default=None, max_length=2000, description="Specification / model of the part.")
    unit: str = Field(default="pcs", min_length=1, max_length=20, description="Unit of stock: pcs, m, set …")
    unit_cost: Money = Field(default=Decimal(0), description="Standard cost per unit.")
    compatible_models: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=200, description="Pile model ids it fits; each must exist.")
    alternates: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=50, description="Parts that may replace this one (one-way).")
    active: bool = True
    suppliers: list[PartSupplierCreate] = Field(default_factory=list, max_length=50)


class PartUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    spec: str | None = Field(default=None, max_length=2000)
    unit: str | None = Field(default=None, min_length=1, max_length=20)
    unit_cost: Money | None = None
    compatible_models: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=200, description="Replaces the list.")
    alternates: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=50, description="Replaces the list.")
    active: bool | None = None


class PartSupplierPublic(BaseModel):
    supplier_id: str
    supplier_name: str
    supplier_part_number: str | None
    price: float
    lead_time_days: int
    updated_by: str | None
    updated_at: datetime


class PartPublic(BaseModel):
    id: str = Field(description="The part number.")
    name: str
    spec: str | None
    unit: str
    unit_cost: float = Field(description="Standard cost per unit.")
    compatible_models: list[str]
    alternates: list[str] = Field(description="Parts that may replace this one.")
    active: bool
    on_hand: int = Field(description="Units in usable stock (warehouses and vans; not receiving or quarantine).")
    created_at: datetime
    updated_by: str | None
    updated_at: datetime | None


class PartsPublic(BaseModel):
    data: list[PartPublic]
    count: int


class PartDetail(PartPublic):
    suppliers: list[PartSupplierPublic] = Field(description="Cheapest first.")


@router.get("", dependencies=READ, summary="The catalogue by part number; filter by text, pile model, supplier, active")
def list_parts(
    conn: PlainConn,
    q: str | None = Query(default=None, max_length=100, description="In the part number, name or spec."),
    model_id: str | None = Query(default=None, max_length=64, description="Parts compatible with this pile model."),
    supplier_id: str | None = Query(default=None, max_length=64, description="Parts this supplier lists."),
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> PartsPublic:
    rows, count = catalogue.parts(conn, q=q, model_id=model_id, supplier_id=supplier_id, active=active, limit=limit,
                                  offset=offset)
    return PartsPublic(data=[PartPublic(**r) for r in rows], count=count)


@router.post("", status_code=201, dependencies=WRITE, summary="Add a part, with its alternates and suppliers")
def create_part(conn: PlainConn, actor: Actor, body: PartCreate) -> PartDetail:
    catalogue.create_part(conn, body.id, name=body.name, spec=body.spec, unit=body.unit, unit_cost=body.unit_cost,
                          compatible_models=body.compatible_models, alternates=body.alternates, active=body.active,
                          suppliers=[Listing(s.supplier_id, s.price, s.lead_time_days, s.supplier_part_number)
                                     for s in body.suppliers], actor=actor)
    return PartDetail(**catalogue.part(conn, body.id))


@router.get("/{part_id}", dependencies=READ, summary="One part with its alternates, usable stock and suppliers")
def get_part(conn: PlainConn, part_id: PartId) -> PartDetail:
    return PartDetail(**catalogue.part(conn, part_id))


@router.patch("/{part_id}", dependencies=WRITE,
              summary="Change a part; compatible_models and alternates, when given, replace the lists")
def update_part(conn: PlainConn, actor: Actor, part_id: PartId, body: PartUpdate) -> PartDetail:
    changes = body.model_dump(exclude_unset=True, exclude={"alternates"})
    for field in ("name", "unit", "active", "unit_cost", "compatible_models"):
        if field in changes and changes[field] is None:
            changes.pop(field)  # null means "leave as it is" for a field that cannot be empty
    catalogue.update_part(conn, part_id, changes, alternates=body.alternates, actor=actor)
    return PartDetail(**catalogue.part(conn, part_id))


@router.put("/{part_id}/suppliers/{supplier_id}", dependencies=WRITE,
            summary="Record or change a supplier's listing of the part: its part number, price, lead time")
def list_part(conn: PlainConn, actor: Actor, part_id: PartId, supplier_id: SupplierId,
              body: SupplierListing) -> PartDetail:
    catalogue.list_part(conn, part_id, Listing(supplier_id, body.price, body.lead_time_days,
                                               body.supplier_part_number), actor=actor)
    return PartDetail(**catalogue.part(conn, part_id))


@router.delete("/{part_id}/suppliers/{supplier_id}", dependencies=WRITE,
               summary="Remove a supplier's listing of the part (its purchase orders keep their prices)")
def unlist_part(conn: PlainConn, part_id: PartId, supplier_id: SupplierId) -> PartDetail:
    catalogue.unlist_part(conn, part_id, supplier_id)
    return PartDetail(**catalogue.part(conn, part_id))
