"""The console's fleet overview in one call: piles by state and their shares, fleet
availability over the last day and 30 days against the target, the live counts, and every
site with the worst state of its piles. Answers from the latest-state tables and the
outage history (never telemetry), so it stays fast on a fleet of thousands."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth import OFFICE, require
from api.deps import Conn
from api.fleet_view import site_counts, worst
from api.models import SiteHealth
from maintenance.kpi import service as kpi

router = APIRouter(prefix="/fleet", tags=["fleet"], dependencies=[Depends(require(*OFFICE))])

STATES = ("online", "offline", "faulted", "charging")


class Shares(BaseModel):
    online: float
    offline: float
    faulted: float
    charging: float


class FleetAvailability(BaseModel):
    day: float | None = Field(description="The last 24 hours (see docs/kpi.md).")
    month: float | None = Field(description="The last 30 days.")
    target: float
    day_covered: float | None = Field(default=None, description="Share of the 24 hours' port-time with data behind "
                                                                "`day` (0..1).")
    month_covered: float | None = Field(default=None, description="Share of the 30 days' port-time with data behind "
                                                                  "`month` (0..1): a young fleet's 30-day figure "
                                                                  "covers only its first hours.")


class OverviewSite(SiteHealth):
    # /fleet/health's site, with the customer's name and region always filled in.
    customer_name: str
    region: str


class Overview(BaseModel):
    piles: int
    online: int
    offline: int
    faulted: int
    charging: int
    shares: Shares = Field(description="Each count over all piles (0..1); faulted and charging piles are online "
                                       "or offline too, so the shares do not add up to 1.")
    availability: FleetAvailability
    open_alarms: int
    open_work_orders: int
    sla_breached: int = Field(description="Open work orders past their response or resolve due time.")
    sites: list[OverviewSite]


_LIVE = """
SELECT (SELECT count(*) FROM alarms WHERE state = 'active') AS open_alarms,
       count(*) AS open_work_orders,
       count(*) FILTER (WHERE (responded_at IS NULL AND response_due_at < now())
                           OR (resolved_at IS NULL AND resolve_due_at < now())) AS sla_breached
FROM work_orders WHERE state NOT IN ('closed', 'cancelled')
"""


@router.get(
    "/overview",
    summary="The fleet at a glance: piles by state, availability, live counts, sites by worst state",
    description="A pile is online when connected and heard from within 3 reporting intervals, faulted when a "
                "connector is Faulted or reports an error code. Availability is the share of port-time the fleet's "
                "connectors could charge, planned maintenance excluded (docs/kpi.md).",
)
def overview(conn: Conn) -> Overview:
    sites = [OverviewSite(**r, worst=worst(r)) for r in site_counts(conn)]
    counts = {state: sum(getattr(s, state) for s in sites) for state in STATES}
    piles = sum(s.piles for s in sites)
    now = datetime.now(timezone.utc)
    day = kpi.availability(conn, now - timedelta(days=1), now)
    month = kpi.availability(conn, now - timedelta(days=30), now)
    live = conn.execute(_LIVE).fetchone()
    return Overview(
        piles=piles, **counts,
        shares=Shares(**{k: round(v / piles, 4) if piles else 0.0 for k, v in counts.items()}),
        availability=FleetAvailability(day=day.value, month=month.value, target=kpi.AVAILABILITY_TARGET,
                                       day_covered=day.covered, month_covered=month.covered),
        **live, sites=sites,
    )
