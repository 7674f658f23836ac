"""Preventive maintenance (R-PM) and inspection rounds (R-INSPECT): plans, the schedule,
compliance, a planner run on demand, inspection records and their findings."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from api.auth import DISPATCH, OFFICE, SUPERVISE, Actor, CurrentUser, Role, require
from api.deps import Conn, Offset, PolicyDep
from api.maintenance_models import (CompliancePublic, FindingCreate, FindingPublic, ForecastPublic, InspectionDetail,
                                    InspectionInterval, InspectionPublic, InspectionsPublic, PlanCreate,
                                    PlannerRunPublic, PlanNowPublic, PlanPublic, PlansPublic, PlanUpdate,
                                    RoundsRunPublic, ScheduledOrder, SchedulePublic, VisitPublic)
from maintenance.kpi import pm_compliance
from maintenance.planning import inspections
from maintenance.planning import planner
from maintenance.planning import plans as pm_plans
from pilecare.domain import PileKind
from pilecare.errors import Forbidden, InvalidInput, NotFound

router = APIRouter(prefix="/maintenance", tags=["maintenance"])
Office = [Depends(require(*OFFICE))]
Supervisor = [Depends(require(*SUPERVISE))]
Dispatch = [Depends(require(*DISPATCH))]
DEFAULT_HORIZON = timedelta(days=90)
_PLAN_RULES = (
    "A calendar interval is `interval_days` or `interval_months`, never both. Months count from the pile's in-service "
    "day on its site's local calendar (`GET /sites`, `timezone`), a day the month lacks moving to its last: from "
    "31 January, due 28 February (29 in a leap year), 31 March, 30 April …, at the end of that local day. The next "
    "date follows the last completed PM's due day and the day it was done. Environment factors shorten months to "
    "whole months (at least one). `lead_days` must be shorter than the interval (28 days a month). Unknown fields "
    "(e.g. `timezone`, `recurrence`, a typo) are a 422 naming them.")


def _aware(**values: datetime | None) -> None:
    for name, value in values.items():
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{name}: give a timezone, e.g. 2026-11-22T10:00:00Z")


@router.get("/plans", dependencies=Office, summary="Preventive-maintenance plans")
def list_plans(conn: Conn, kind: PileKind | None = None, model_id: str | None = None,
               active: bool | None = None) -> PlansPublic:
    rows = pm_plans.list_plans(conn, kind=kind, model_id=model_id, active=active)
    return PlansPublic(data=[PlanPublic(**r) for r in rows], count=len(rows))


@router.post("/plans", dependencies=Supervisor, status_code=status.HTTP_201_CREATED, summary="Create a plan",
             description=_PLAN_RULES)
def create_plan(conn: Conn, actor: Actor, body: PlanCreate) -> PlanPublic:
    return PlanPublic(**pm_plans.create_plan(conn, body, actor))


@router.get("/plans/{plan_id}", dependencies=Office, summary="One plan")
def get_plan(conn: Conn, plan_id: str) -> PlanPublic:
    return PlanPublic(**pm_plans.get_plan(conn, plan_id))


@router.put("/plans/{plan_id}", dependencies=Supervisor, summary="Replace a plan (issued orders keep their checklist and due date)",
            description=_PLAN_RULES)
def update_plan(conn: Conn, actor: Actor, plan_id: str, body: PlanUpdate) -> PlanPublic:
    return PlanPublic(**pm_plans.update_plan(conn, plan_id, body, actor))


@router.delete("/plans/{plan_id}", dependencies=Supervisor, status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a plan without orders (409 otherwise: deactivate it)")
def delete_plan(conn: Conn, plan_id: str) -> Response:
    pm_plans.delete_plan(conn, plan_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_SCHEDULED = """
SELECT w.id, w.kind, w.pile_id, coalesce(w.site_id, p.site_id) AS site_id, w.plan_id, w.visit_id, w.state, w.title,
       w.due_at, w.created_at
FROM work_orders w JOIN piles p ON p.id = w.pile_id
WHERE w.kind IN ('preventive', 'inspection') AND w.state NOT IN ('closed', 'cancelled')
  AND (%(site)s::text IS NULL OR coalesce(w.site_id, p.site_id) = %(site)s)
  AND (%(start)s::timestamptz IS NULL OR w.due_at >= %(start)s) AND w.due_at < %(end)s
ORDER BY w.due_at, w.id LIMIT %(limit)s
"""
_VISITS = """
SELECT v.id, v.site_id, v.planned_for, v.window_days, array_agg(w.id ORDER BY w.id) AS orders,
       count(*) FILTER (WHERE w.state NOT IN ('closed', 'cancelled')) AS open_orders
FROM pm_visits v JOIN work_orders w ON w.visit_id = v.id
WHERE (%(site)s::text IS NULL OR v.site_id = %(site)s)
  AND (%(start)s::timestamptz IS NULL OR v.planned_for >= %(start)s::date) AND v.planned_for < %(end)s
GROUP BY v.id
HAVING count(*) FILTER (WHERE w.state NOT IN ('closed', 'cancelled')) > 0
ORDER BY v.planned_for, v.id LIMIT %(limit)s
"""


@router.get("/schedule", dependencies=Office, summary="Upcoming preventive and inspection orders, site visits and, on request, forecasts",
            description="Without `from`, overdue orders are included. `to` defaults to 90 days ahead. "
                        "`forecast=true` adds when piles without an open order fall due, per plan.")
def schedule(
    conn: Conn,
    site_id: str | None = None,
    start: Annotated[datetime | None, Query(alias="from", description="ISO 8601 with timezone")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO 8601 with timezone")] = None,
    forecast: bool = False,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> SchedulePublic:
    _aware(**{"from": start, "to": end})
    now = datetime.now(timezone.utc)
    end = end or now + DEFAULT_HORIZON
    if start is not None and start >= end:
        raise InvalidInput("from must be before to")
    params = {"site": site_id, "start": start, "end": end, "limit": limit}
    orders = [ScheduledOrder(**r) for r in conn.execute(_SCHEDULED, params).fetchall()]
    visits = [VisitPublic(**r) for r in conn.execute(_VISITS, params).fetchall()]
    projected: list[ForecastPublic] = []
    if forecast:
        open_pairs = {(r["pile_id"], r["plan_id"]) for r in conn.execute(
            "SELECT pile_id, plan_id FROM work_orders WHERE kind = 'preventive' "
            "AND state NOT IN ('closed', 'cancelled')").fetchall()}
        dues = sorted((d for d in planner.forecast(conn, now)
                       if (d.pile_id, d.plan_id) not in open_pairs and d.due_at < end
                       and (start is None or d.due_at >= start) and site_id in (None, d.site_id)),
                      key=lambda d: (d.due_at, d.pile_id))
        projected = [ForecastPublic(**{k: v for k, v in asdict(d).items() if k != "lead_days"}) for d in dues[:limit]]
    return SchedulePublic(orders=orders, visits=visits, forecast=projected)


@router.get("/compliance", dependencies=Office, summary="PM compliance: orders due in a period, done on time, late, overdue",
            description="The same figure as `pm_compliance` of `GET /kpis` for the same period "
                        "(one definition: docs/kpi.md, PM compliance).")
def get_compliance(
    conn: Conn,
    start: Annotated[datetime | None, Query(alias="from", description="default: start of this month (UTC)")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: start of next month (UTC)")] = None,
    site_id: str | None = None,
    kind: Annotated[str, Query(pattern="^(preventive|inspection)$")] = "preventive",
) -> CompliancePublic:
    _aware(**{"from": start, "to": end})
    month = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = start or month
    end = end or (month + timedelta(days=32)).replace(day=1)
    if start >= end:
        raise InvalidInput("from must be before to")
    [result] = pm_compliance.compliance(conn, [(start, end)], kind=kind, site_id=site_id)
    return CompliancePublic(kind=kind, site_id=site_id, period_start=start, period_end=end, due=result.due,
                            closed_on_time=result.on_time, closed_late=result.late, overdue_open=result.overdue,
                            open_not_yet_due=result.not_yet_due, cancelled=result.cancelled, rate=result.rate)


@router.post("/plan-now", dependencies=Dispatch, summary="Run the PM planner and the inspection-round planner once")
def plan_now(conn: Conn) -> PlanNowPublic:
    pm = planner.plan(conn)
    rounds = inspections.plan_rounds(conn)
    return PlanNowPublic(preventive=PlannerRunPublic(**asdict(pm)), inspections=RoundsRunPublic(**asdict(rounds)))


@router.get("/inspections", dependencies=Office, summary="Inspection rounds per site, newest due first, with finding counts")
def list_inspections(
    conn: Conn,
    site_id: str | None = None,
    is_open: Annotated[bool | None, Query(alias="open", description="true: open rounds only; false: the others")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Offset = 0,
) -> InspectionsPublic:
    rows, count = inspections.list_rounds(conn, site_id=site_id, open_only=is_open, limit=limit, offset=offset)
    return InspectionsPublic(data=[InspectionPublic(**r) for r in rows], count=count)


@router.get("/inspections/{order_id}", dependencies=Office, summary="One inspection round with its record of findings")
def get_inspection(conn: Conn, order_id: int) -> InspectionDetail:
    row = inspections.get_round(conn, order_id)
    return InspectionDetail(**row, findings=inspections.findings(conn, order_id))


@router.post("/inspections/{order_id}/findings", status_code=status.HTTP_201_CREATED,
             summary="Record a finding; one that needs a repair opens (or joins) a corrective order for the pile",
             description="Also accepted on open preventive orders: hidden defects found during PM (R-PM).")
def add_finding(conn: Conn, user: CurrentUser, policy: PolicyDep, order_id: int, body: FindingCreate) -> FindingPublic:
    if user.role is Role.ENGINEER:
        # An engineer records findings on the rounds they hold, and sees no other.
        if conn.execute("SELECT 1 FROM work_orders WHERE id = %s AND engineer_id = %s",
                        (order_id, user.engineer_id)).fetchone() is None:
            raise NotFound(f"work order {order_id} does not exist")
    elif user.role not in (Role.ADMIN, *DISPATCH):
        raise Forbidden("this needs one of the roles: admin, dispatcher, engineer, supervisor")
    finding = body.model_copy(update={"recorded_by": user.id})
    return FindingPublic(**inspections.record_finding(conn, policy, order_id, finding))


@router.put("/sites/{site_id}/inspection-interval", dependencies=Supervisor, status_code=status.HTTP_204_NO_CONTENT,
            summary="Set a site's inspection interval in days (null: the default)")
def set_inspection_interval(conn: Conn, site_id: str, body: InspectionInterval) -> Response:
    inspections.set_interval(conn, site_id, body.interval_days)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
