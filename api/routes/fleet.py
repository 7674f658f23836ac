"""Fleet health from the latest-state tables (never scans telemetry)."""
from __future__ import annotations

from fastapi import APIRouter

from api.deps import Conn
from api.fleet_view import site_counts, worst
from api.models import FleetHealth, SiteHealth

router = APIRouter(prefix="/fleet", tags=["fleet"])


@router.get(
    "/health",
    summary="Piles online/offline/faulted/charging, connectors by status, and per site",
    description="A pile is online when its connection is up and it was heard from within 3 reporting "
                "intervals; faulted when the pile itself (OCPP connector 0) or a connector is Faulted or reports "
                "an error code other than NoError. "
                "A site's `worst` is faulted > offline > charging > ok.",
)
def fleet_health(conn: Conn) -> FleetHealth:
    sites = site_counts(conn)
    by_status = {r["status"]: r["n"] for r in conn.execute(
        "SELECT status, count(*) AS n FROM connector_state GROUP BY status ORDER BY status")}
    site_models = []
    for r in sites:
        site_models.append(SiteHealth(**r, worst=worst(r)))
    return FleetHealth(
        piles=sum(s.piles for s in site_models),
        online=sum(s.online for s in site_models),
        offline=sum(s.offline for s in site_models),
        faulted=sum(s.faulted for s in site_models),
        charging=sum(s.charging for s in site_models),
        connectors_by_status=by_status,
        sites=site_models,
    )
