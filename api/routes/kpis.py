"""Service KPIs for the console's KPI page: one period, a series of periods for charts, and
the definitions the page shows as help text (the same words as docs/kpi.md)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import OFFICE, require
from api.deps import PlainConn
from maintenance.kpi import desk as desk_kpi
from maintenance.kpi import service as kpi
from pilecare.errors import InvalidInput

router = APIRouter(prefix="/kpis", tags=["kpis"], dependencies=[Depends(require(*OFFICE))])

MAX_RANGE = timedelta(days=400)


class Period(str, Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class KpisPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    response_h: float | None = Field(description="Median hours from a corrective order's creation to its first response.")
    response_mean_h: float | None
    mttr_h: float | None = Field(description="Mean hours from a corrective order's creation to its resolution, over "
                                             "the repairs that held (verified or closed).")
    mtbf_h: float | None = Field(description="Port operating hours per failure (corrective order opened).")
    first_time_fix_rate: float | None
    repeat_repair_rate: float | None
    pm_compliance: float | None
    availability: float | None = Field(description="Share of known port-time available, planned maintenance excluded.")
    availability_target: float
    orders_opened: int
    orders_resolved: int
    orders_restored: int = Field(description="Resolved in the period and held (verified or closed): MTTR's basis.")
    orders_unanswered: int = Field(description="Corrective orders opened in the period with no response yet "
                                               "(not cancelled), as of now.")
    oldest_unanswered_h: float | None = Field(description="How long the oldest unanswered order has waited, hours.")
    orders_repaired: int
    fixed_first_time: int
    repeat_orders: int
    pm_due: int
    pm_on_time: int
    pm_overdue_now: int = Field(description="Preventive orders overdue now, whenever they fell due (the backlog).")
    pm_oldest_overdue: datetime | None = Field(description="The oldest due date in that backlog.")
    port_hours: float
    down_port_hours: float
    desk: DeskKpisPublic | None = Field(default=None, description="The service desk's KPIs for the same period "
                                                                  "(none for one site: requests are a customer's).")


class DeskKpisPublic(BaseModel):
    """The service desk's KPIs (issue 13; R-KPI): definitions in GET /kpis/definitions."""

    group: str | None = Field(description="The channel, tier, agent, engineer or team grouped by; None: all.")
    requests: int = Field(description="Requests that arrived in the period.")
    responded: int
    first_response_median_h: float | None
    first_response_p90_h: float | None
    response_clock_ended: int = Field(description="Answered, or past their first-response due time now.")
    response_breached: int
    breach_share: float | None
    follow_ups_scored: int
    csat_mean: float | None = Field(description="Mean satisfaction 1–5 of the follow-ups done in the period.")
    csat_share: float | None = Field(description="Share of those scoring 4 or 5.")
    complaints: int
    complaints_closed: int
    complaint_handling_rate: float | None
    complaints_closed_in_period: int
    complaint_handling_h: float | None
    complaints_satisfied: int
    follow_ups_due: int
    follow_ups_done: int
    follow_up_completion: float | None


class DeskKpisBreakdown(BaseModel):
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    by: desk_kpi.Dimension | None
    customer_id: str | None
    total: DeskKpisPublic
    groups: list[DeskKpisPublic] = Field(description="Per group, sorted by name; an unknown group (None) last.")

    model_config = ConfigDict(populate_by_name=True)


class KpiSeries(BaseModel):
    period: Period
    site_id: str | None
    customer_id: str | None = None
    data: list[KpisPublic] = Field(description="Oldest first; the last period is the current one, up to now.")


class KpiDefinition(BaseModel):
    key: str
    name: str
    definition: str
    unit: str
    source: str


# The same words as docs/kpi.md: the console shows them as the KPI page's help text.
DEFINITIONS = [
    KpiDefinition(
        key="response_h", name="Response time", unit="hours (median)",
        definition="From a corrective work order's creation to its first response: an engineer accepting it, or "
                   "the remote first line resolving it. Median over the corrective orders created in the period "
                   "that have had a response (the mean is given beside it), shown beside the orders created in the "
                   "period still unanswered now (not cancelled) and how long the oldest has waited.",
        source="pilecare, for R-RESPONSE (every request answered within 24 h)"),
    KpiDefinition(
        key="mttr_h", name="MTTR (mean time to restore)", unit="hours",
        definition="Mean time from a corrective work order's creation to its resolution (the pile working again), "
                   "over the corrective orders resolved in the period whose repair held (verified or closed); a "
                   "repair that failed verification counts once, at its final restore.",
        source="after SMRP's mean time to repair (MTTR); measured from the order, not from the fault's start"),
    KpiDefinition(
        key="mtbf_h", name="MTBF (mean time between failures)", unit="hours",
        definition="Available port-hours in the period (port-time minus outage time, planned maintenance counted as "
                   "available) divided by the failures: corrective work orders opened in the period.",
        source="after SMRP's mean time between failures (MTBF), with ports as the equipment"),
    KpiDefinition(
        key="first_time_fix_rate", name="First-time-fix rate", unit="share (0..1)",
        definition="Of the corrective orders repaired on site and closed in the period, the share that never came "
                   "back from verification (the fault did not return).",
        source="pilecare, for R-KPI (repair success rate)"),
    KpiDefinition(
        key="repeat_repair_rate", name="Repeat-repair rate", unit="share (0..1)",
        definition="Of the corrective orders opened in the period, the share that repeat a repair of the same fault "
                   "on the same pile closed within the previous 30 days.",
        source="pilecare, for R-NO-REPEAT"),
    KpiDefinition(
        key="pm_compliance", name="PM compliance", unit="share (0..1)",
        definition="Of the preventive work orders due in the period, the share completed (resolved, verified or "
                   "closed) by their due date; overdue open orders count as missed, cancelled orders and open ones "
                   "not yet due are not counted.",
        source="after SMRP's preventive maintenance (PM) compliance, for R-PM; no grace period"),
    KpiDefinition(
        key="availability", name="Availability (uptime)", unit="share (0..1), target 0.97",
        definition="The share of port-time in the period that the fleet's connectors could charge: not Faulted or "
                   "Unavailable, their pile connected and heard from within 3 reporting intervals. Counted from "
                   "each port's first report. Outage time inside a planned maintenance window counts as available.",
        source="after the US NEVI uptime rule (23 CFR 680.116, > 97 % per port) and California's 97 % with "
               "planned maintenance excluded"),
    KpiDefinition(
        key="nevi_uptime", name="NEVI port uptime", unit="share (0..1) per port, target > 0.97",
        definition="(525,600 − (outage minutes − excluded minutes)) ÷ 525,600 per port over the trailing 12 months, "
                   "and each month on its own. A port is the charging position (connectors sharing a power cabinet "
                   "are one port, up while either works); it is down while all its connectors are Faulted or "
                   "Unavailable, its pile is offline, or, for a DC port, it charges with the pile offering less than "
                   "150 kW. Excluded: outage time recorded as a grid outage, vehicle fault, vandalism or natural "
                   "disaster, and planned maintenance up to 72 h in the 12 months. AC ports have no power test.",
        source="US NEVI rules, 23 CFR 680.116(b) and 680.106(d); California's 72 h planned-maintenance allowance"),
    KpiDefinition(
        key="csat", name="Customer satisfaction (CSAT)", unit="mean score 1–5, and share scoring 4–5",
        definition="Over the follow-ups done in the period that recorded a score (call or survey link): the mean "
                   "satisfaction, and the share of customers scoring 4 or 5.",
        source="pilecare, for R-FOLLOWUP and R-KPI (customer satisfaction); the 4–5 share is the usual CSAT"),
    KpiDefinition(
        key="first_response_h", name="First-response time", unit="hours (median and 90th percentile)",
        definition="From a customer request's arrival (any channel) to the first response by a person: an answer, "
                   "a progress update, a promised reply time, an apology, or resolving it — not the automatic "
                   "acknowledgement. Over the requests that arrived in the period and have had one. Beside it, the "
                   "breach share: of the requests of the period whose first-response clock has ended (answered, "
                   "or past due now), the share answered after the due time of their customer's tier or not at "
                   "all; waiting for the customer moves the due time on. Per channel and tier in GET /kpis/desk.",
        source="pilecare, for R-RESPONSE (every request answered within 24 h; shorter per tier)"),
    KpiDefinition(
        key="complaint_handling_rate", name="Complaint handling rate and time", unit="share (0..1); hours",
        definition="Of the complaints recorded in the period, the share closed by now; and the mean hours from "
                   "recording to closing of those closed in the period, with how many closed satisfied.",
        source="pilecare, for R-COMPLAINT and R-KPI (complaint handling rate)"),
    KpiDefinition(
        key="follow_up_completion", name="Follow-up completion", unit="share (0..1)",
        definition="Of the follow-ups that fell due in the period (up to now), the share done (by call or survey).",
        source="pilecare, for R-FOLLOWUP"),
]


def _public(k: kpi.Kpis) -> KpisPublic:
    values = k.as_dict()
    return KpisPublic(**values, response_h=values["response_median_h"])


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput(f"{name}: give a timezone, e.g. 2026-11-01T00:00:00Z")
    return value.astimezone(timezone.utc)


@router.get("", summary="Service KPIs for one period (default: the last 30 days), fleet-wide, one site or one customer")
def kpis(
    conn: PlainConn,
    start: Annotated[datetime | None, Query(alias="from", description="ISO 8601 with timezone; default: 30 days ago")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO 8601 with timezone; default: now")] = None,
    site_id: str | None = None,
    customer_id: Annotated[str | None, Query(description="the piles at this customer's sites")] = None,
) -> KpisPublic:
    start, end = _bounds(start, end)
    public = _public(kpi.compute(conn, start, end, site_id=site_id, customer_id=customer_id))
    if site_id is None:   # requests belong to customers, not sites
        public.desk = DeskKpisPublic(**desk_kpi.compute(conn, start, end, customer_id=customer_id).as_dict())
    return public


@router.get("/desk", summary="The service desk's KPIs for one period (default: the last 30 days), in total and per "
                             "channel, tier, agent, engineer or team")
def desk_kpis(
    conn: PlainConn,
    start: Annotated[datetime | None, Query(alias="from", description="ISO 8601 with timezone; default: 30 days ago")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO 8601 with timezone; default: now")] = None,
    by: desk_kpi.Dimension | None = None,
    customer_id: str | None = None,
) -> DeskKpisBreakdown:
    start, end = _bounds(start, end)
    total = desk_kpi.compute(conn, start, end, customer_id=customer_id)
    groups = desk_kpi.breakdown(conn, start, end, by, customer_id=customer_id) if by else []
    return DeskKpisBreakdown(start=start, end=end, by=by, customer_id=customer_id,
                             total=DeskKpisPublic(**total.as_dict()),
                             groups=[DeskKpisPublic(**g.as_dict()) for g in groups])


def _bounds(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = _utc(end, "to") if end else datetime.now(timezone.utc)
    start = _utc(start, "from") if start else end - timedelta(days=30)
    if start >= end:
        raise InvalidInput("from must be before to")
    if end - start > MAX_RANGE:
        raise InvalidInput("the range from … to may span at most 400 days")
    return start, end


def periods(period: Period, count: int, now: datetime) -> list[tuple[datetime, datetime]]:
    """The `count` calendar periods (UTC) up to and including the current one, oldest first."""
    day = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.DAY:
        starts = [day - timedelta(days=i) for i in range(count)]
        bounds = [(s, s + timedelta(days=1)) for s in starts]
    elif period is Period.WEEK:
        monday = day - timedelta(days=day.weekday())
        starts = [monday - timedelta(weeks=i) for i in range(count)]
        bounds = [(s, s + timedelta(weeks=1)) for s in starts]
    else:
        first = day.replace(day=1)
        bounds = []
        for _ in range(count):
            following = (first + timedelta(days=32)).replace(day=1)
            bounds.append((first, following))
            first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(bounds))


@router.get("/series", summary="The KPIs per day, week or month (UTC calendar periods), oldest first, for charts")
def kpi_series(
    conn: PlainConn,
    period: Period = Period.MONTH,
    count: Annotated[int, Query(ge=1, le=60)] = 12,
    site_id: str | None = None,
    customer_id: Annotated[str | None, Query(description="the piles at this customer's sites")] = None,
) -> KpiSeries:
    now = datetime.now(timezone.utc)
    bounds = periods(period, count, now)
    data = [_public(k) for k in kpi.series(conn, bounds, site_id=site_id, now=now, customer_id=customer_id)]
    if site_id is None:
        for public, (start, end) in zip(data, bounds):
            public.desk = DeskKpisPublic(**desk_kpi.compute(conn, start, min(end, now), customer_id=customer_id)
                                         .as_dict())
    return KpiSeries(period=period, site_id=site_id, customer_id=customer_id, data=data)


@router.get("/definitions", summary="What each KPI means: the KPI page's help text")
def definitions() -> list[KpiDefinition]:
    return DEFINITIONS
