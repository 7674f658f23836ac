"""API bodies for preventive maintenance and inspections, in families per entity."""
from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from maintenance.planning.inspections import FindingCreate
from maintenance.planning.plans import PlanFields, PlanSpec

__all__ = ["FindingCreate"]  # the inspection module's model is the API body as it is


class PlanCreate(PlanSpec):
    pass


class PlanUpdate(PlanFields):
    """A replacement: every field of the plan, its id excepted."""


class PlanPublic(PlanSpec):
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class PlansPublic(BaseModel):
    data: list[PlanPublic]
    count: int


class ScheduledOrder(BaseModel):
    id: int
    kind: str
    pile_id: str
    site_id: str
    plan_id: str | None
    visit_id: int | None
    state: str
    title: str
    due_at: datetime | None
    created_at: datetime


class VisitPublic(BaseModel):
    id: int
    site_id: str
    planned_for: date
    window_days: int
    orders: list[int]
    open_orders: int


class ForecastPublic(BaseModel):
    pile_id: str
    site_id: str
    plan_id: str
    due_at: datetime
    trigger: str = Field(description="calendar, or the usage threshold that comes first")
    crossed: bool = Field(description="The usage threshold is already reached.")
    since: datetime = Field(description="Usage counts from here: the last completed PM or commissioning.")
    factor: float = Field(description="Environment factor applied to the calendar interval.")
    usage: dict[str, float]


class SchedulePublic(BaseModel):
    orders: list[ScheduledOrder] = Field(description="Open preventive and inspection orders, by due date.")
    visits: list[VisitPublic] = Field(description="Site visits with open PM orders, by planned date.")
    forecast: list[ForecastPublic] = Field(description="When piles without an open order fall due (on request).")


class CompliancePublic(BaseModel):
    kind: str
    site_id: str | None
    period_start: datetime
    period_end: datetime
    due: int = Field(description="The orders the rate is over: closed_on_time + closed_late + overdue_open "
                                 "(`pm_due` of GET /kpis).")
    closed_on_time: int = Field(description="Completed (resolved, verified or closed) by the due date "
                                            "(`pm_on_time` of GET /kpis).")
    closed_late: int = Field(description="Completed after the due date.")
    overdue_open: int = Field(description="Still open after the due date: missed.")
    open_not_yet_due: int = Field(description="Open, due date still ahead: not counted yet.")
    cancelled: int = Field(description="Not counted: a cancelled PM is planned again.")
    rate: float | None = Field(description="closed_on_time / due (`pm_compliance` of GET /kpis); "
                                           "null with nothing due yet.")


class PlannerRunPublic(BaseModel):
    ran: bool = Field(description="False when another planner was running; its orders are being made.")
    created: list[int]
    visits: list[int]
    already_open: int
    not_due: int


class RoundsRunPublic(BaseModel):
    created: list[int]


class PlanNowPublic(BaseModel):
    preventive: PlannerRunPublic
    inspections: RoundsRunPublic


class FindingPublic(BaseModel):
    id: int
    work_order_id: int
    pile_id: str
    item: str
    observation: str | None
    needs_repair: bool
    fault_category: str | None
    corrective_order_id: int | None = Field(description="The corrective order a needed repair opened or joined.")
    recorded_at: datetime
    recorded_by: str


class InspectionPublic(BaseModel):
    id: int
    site_id: str
    site_name: str
    pile_id: str = Field(description="The site's first pile, which holds the round's work order.")
    state: str
    title: str
    due_at: datetime | None
    checklist: list[dict]
    created_at: datetime
    closed_at: datetime | None
    piles: int
    finding_count: int
    repair_count: int


class InspectionDetail(InspectionPublic):
    findings: list[FindingPublic]


class InspectionsPublic(BaseModel):
    data: list[InspectionPublic]
    count: int


class InspectionInterval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_days: int | None = Field(ge=1, le=3650, description="null: the default interval.")
