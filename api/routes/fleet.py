"""Fleet health from the latest-state tables (never scans telemetry)."""
from __future__ import annotations

from fastapi import APIRouter

from api.auth import CurrentUser
from api.customer_scope import narrow, own_customer, portal
from api.deps import Conn
from api.fleet_view import site_counts, worst
from api.models import FleetHealth, SiteHealth

router = APIRouter(prefix="/fleet", tags=["fleet"])


@router.get(
    "/health",
    summary="Piles online/offline/faulted/charging, connectors by status, and per site (a customer's portal "
            "login: its own sites)",
    description="A pile is online when its connection is up and it was heard from within 3 reporting "
                "intervals; faulted when the pile itself (OCPP connector 0) or a connector is Faulted or reports "
                "an error code other than NoError. "
                "A site's `worst` is faulted > offline > charging > ok.",
)
@portal
def fleet_health(conn: Conn, user: CurrentUser) -> FleetHealth:
    where, params = [], {}
    narrow(user, "s.customer_id", where, params)
    sites = site_counts(conn, own_customer(user))
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    by_status = {r["status"]: r["n"] for r in conn.execute(
        "SELECT cs.status, count(*) AS n FROM connector_state cs JOIN piles p ON p.id = cs.pile_id "
        f"JOIN sites s ON s.id = p.site_id{clause} GROUP BY cs.status ORDER BY cs.status", params)}
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
