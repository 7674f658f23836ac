"""Dispatch from the console: run a pass now, assign by hand, and see every offer of an
order with why that engineer was picked and how it ended."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth import DISPATCH, OFFICE, User, require
from api.deps import DispatchConfigDep, PlainConn
from api.models import RequestBody
from maintenance.dispatch import offers as dispatch

router = APIRouter(tags=["dispatch"])

Dispatcher = Annotated[User, Depends(require(*DISPATCH))]
Office = Annotated[User, Depends(require(*OFFICE))]


class Override(RequestBody):
    engineer_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=2000)


class AssignmentPublic(BaseModel):
    id: int
    work_order_id: int
    engineer_id: str
    state: str = Field(description="offered | accepted | declined | timed_out | withdrawn | done")
    assigned_at: datetime
    assigned_by: str = Field(description="'dispatch' or the dispatcher who assigned by hand")
    accept_by: datetime | None
    decided_at: datetime | None
    reason: str | None
    score: dict = Field(description="Why this engineer: each cost term, travel, the constraints checked.")


class DispatchRun(BaseModel):
    expired: int = Field(description="Offers that timed out and went back to dispatch.")
    offered: list[int] = Field(description="The assignments made by this pass.")


@router.post("/dispatch/run", summary="Run a dispatch pass now (time out stale offers, then assign)")
def run(conn: PlainConn, user: Dispatcher, config: DispatchConfigDep) -> DispatchRun:
    expired = dispatch.expire_offers(conn, config)
    return DispatchRun(expired=expired, offered=dispatch.assign(conn, config))


@router.post("/work-orders/{order_id}/assign", status_code=201,
             summary="Assign by hand; broken dispatch rules are allowed and recorded")
def assign(conn: PlainConn, user: Dispatcher, config: DispatchConfigDep, order_id: int, body: Override) -> AssignmentPublic:
    assignment_id = dispatch.override(conn, order_id, body.engineer_id, actor=user.id, reason=body.reason,
                                      config=config)
    return next(AssignmentPublic(**a) for a in dispatch.assignments(conn, order_id) if a["id"] == assignment_id)


@router.get("/work-orders/{order_id}/assignments", summary="Every offer of the order with its score and outcome")
def assignments(conn: PlainConn, user: Office, order_id: int) -> list[AssignmentPublic]:
    return [AssignmentPublic(**a) for a in dispatch.assignments(conn, order_id)]
