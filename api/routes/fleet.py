"""Fleet health from the latest-state tables (never scans telemetry)."""
from __future__ import annotations

from fastapi import APIRouter

from api.deps import Conn
from api.models import FleetHealth, SiteHealth
from pilecare.liveness import online_sql

router = APIRouter(prefix="/fleet", tags=["fleet"])

_PER_PILE = f"""
WITH connectors AS (
    SELECT pile_id,
           bool_or(status = 'Faulted' OR error_code <> 'NoError') AS faulted,
           bool_or(status = 'Charging') AS charging
    FROM connector_state GROUP BY pile_id
)
SELECT p.id, p.site_id, coalesce({online_sql("ps", "m")}, false) AS online,
       coalesce(cs.faulted, false) AS faulted, coalesce(cs.charging, false) AS charging
FROM piles p
JOIN pile_models m ON m.id = p.model_id
LEFT JOIN pile_state ps ON ps.pile_id = p.id
LEFT JOIN connectors cs ON cs.pile_id = p.id
"""

SITES = ("WITH per_pile AS (" + _PER_PILE + ") "
         "SELECT s.id AS site_id, s.name, s.customer_id, c.name AS customer_name, s.region, s.lat, s.lon, "
         "count(pp.id) AS piles, count(*) FILTER (WHERE pp.online) AS online, "
         "count(*) FILTER (WHERE pp.id IS NOT NULL AND NOT pp.online) AS offline, "
         "count(*) FILTER (WHERE pp.faulted) AS faulted, count(*) FILTER (WHERE pp.charging) AS charging "
         "FROM sites s JOIN customers c ON c.id = s.customer_id LEFT JOIN per_pile pp ON pp.site_id = s.id "
         "GROUP BY s.id, c.name ORDER BY s.id")


def site_counts(conn) -> list[dict]:
    """Every site with its piles online, offline, faulted and charging."""
    return conn.execute(SITES).fetchall()


def worst(counts: dict) -> str:
    """The state a site (or any group of piles) shows: faulted > offline > charging > ok."""
    return ("faulted" if counts["faulted"] else "offline" if counts["offline"]
            else "charging" if counts["charging"] else "ok")


@router.get(
    "/health",
    summary="Piles online/offline/faulted/charging, connectors by status, and per site",
    description="A pile is online when its connection is up and it was heard from within 3 reporting "
                "intervals; faulted when a connector is Faulted or reports an error code other than NoError. "
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
