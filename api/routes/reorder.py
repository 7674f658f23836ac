"""Reorder planning (R-PARTS, issue 14 item 5): the reorder levels per part and location,
the parts keeper's override, a recompute on demand, and the purchase proposal list.

Office roles read; the parts keeper and supervisors (STORES) override and recompute. The
method and its formulas: docs/parts.md "Reorder planning".
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.auth import OFFICE, STORES, Actor, require
from api.deps import INT_MAX, Conn, Offset, PlainConn, PolicyDep
from api.models import RequestBody
from maintenance.inventory import proposals, reorder

router = APIRouter(prefix="/stock", tags=["stock"])

READ = [Depends(require(*OFFICE))]
PLAN = [Depends(require(*STORES))]

Id = Annotated[str | None, Query(min_length=1, max_length=200)]


class ReorderLevelPublic(BaseModel):
    location_id: str
    part_id: str
    weekly_demand: Decimal = Field(description="Forecast units per week (TSB, or the mean when history is short).")
    sigma_weekly: Decimal = Field(description="Sample standard deviation of the weekly issues, units.")
    lead_time_days: int
    safety_stock: Decimal = Field(description="z(service level) × sigma_weekly × √(lead time in weeks), units.")
    reorder_point: int = Field(description="Computed: ⌈weekly_demand / 7 × lead_time_days + safety_stock⌉.")
    order_quantity: int = Field(description="Computed: ⌈weekly_demand / 7 × review days⌉.")
    supplier_id: str | None = Field(description="The cheapest supplier, whose lead time was used (warehouses).")
    history_weeks: int
    demand_weeks: int = Field(description="Weeks of the history with any issue.")
    method: str = Field(description="How the demand was forecast, e.g. 'tsb(alpha_d=0.2, alpha_p=0.1) over 52 weeks'.")
    computed_at: datetime
    override_reorder_point: int | None
    override_order_quantity: int | None
    override_reason: str | None
    override_by: str | None
    override_at: datetime | None
    effective_reorder_point: int = Field(description="The override when set, else the computed one.")
    effective_order_quantity: int


class ReorderLevelsPublic(BaseModel):
    data: list[ReorderLevelPublic]
    count: int


class ReorderOverride(RequestBody):
    location_id: str = Field(min_length=1, max_length=200, description="A warehouse or a van.")
    part_id: str = Field(min_length=1, max_length=200)
    reorder_point: int | None = Field(default=None, ge=0, le=INT_MAX,
                                      description="Wins over the computed one; null: the computed one holds.")
    order_quantity: int | None = Field(default=None, ge=0, le=INT_MAX)
    reason: str | None = Field(default=None, max_length=500,
                               description="Required when overriding; both figures null clears the override.")


class RecomputePublic(BaseModel):
    count: int = Field(description="Reorder levels computed and stored.")


class ProposalLinePublic(BaseModel):
    location_id: str
    location_name: str
    part_id: str
    part_name: str
    unit: str
    on_hand: int
    receiving: int = Field(description="Delivered, waiting for inspection.")
    on_order: int = Field(description="On open purchase orders to this warehouse, not received yet.")
    position: int = Field(description="on_hand + receiving + on_order.")
    reorder_point: int
    order_quantity: int
    quantity: int = Field(description="To order: reorder_point + order_quantity − position.")
    unit_price: Decimal | None
    supplier_part_number: str | None
    lead_time_days: int | None


class ProposalPublic(BaseModel):
    supplier_id: str | None = Field(description="The cheapest active supplier; null: no supplier lists the parts.")
    supplier_name: str | None
    total: Decimal | None = Field(description="Σ quantity × unit_price; null without a supplier.")
    lines: list[ProposalLinePublic]


class ProposalsPublic(BaseModel):
    data: list[ProposalPublic]
    count: int


@router.get("/reorder-levels", dependencies=READ, summary="Reorder levels per location and part, with overrides")
def list_levels(conn: Conn, location_id: Id = None, part_id: Id = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 1000, offset: Offset = 0) -> ReorderLevelsPublic:
    rows, count = reorder.levels(conn, location_id=location_id, part_id=part_id, limit=limit, offset=offset)
    return ReorderLevelsPublic(data=[ReorderLevelPublic(**r) for r in rows], count=count)


@router.put("/reorder-levels", dependencies=PLAN,
            summary="The parts keeper overrides a part's reorder point or order quantity at a location (both null: "
                    "clear)")
def override_level(conn: PlainConn, actor: Actor, policy: PolicyDep, body: ReorderOverride) -> ReorderLevelPublic:
    reorder.override(conn, policy.reorder, body.location_id, body.part_id, reorder_point=body.reorder_point,
                     order_quantity=body.order_quantity, reason=body.reason, actor=actor)
    return ReorderLevelPublic(**reorder.levels(conn, location_id=body.location_id, part_id=body.part_id)[0][0])


@router.post("/reorder-levels/recompute", dependencies=PLAN,
             summary="Recompute every reorder level now from the consumption history (the worker does it daily)")
def recompute(conn: PlainConn, policy: PolicyDep) -> RecomputePublic:
    return RecomputePublic(count=reorder.recompute_all(conn, policy.reorder))


@router.get("/purchase-proposals", dependencies=READ,
            summary="Parts at or below their reorder point counting what is on order, grouped by cheapest supplier")
def purchase_proposals(conn: Conn, location_id: Id = None) -> ProposalsPublic:
    groups = proposals.purchase_proposals(conn, location_id=location_id)
    return ProposalsPublic(data=[ProposalPublic(**g) for g in groups], count=len(groups))
