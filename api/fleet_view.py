"""The fleet by site from the latest-state tables (never telemetry): each site's piles
online, offline, faulted and charging, and the worst state it shows. Read by /fleet/health,
the console's overview and a pile's own page."""
from __future__ import annotations

from pilecare.liveness import online_sql


def faulted_sql(status: str, error: str) -> str:
    """SQL: a status/error pair that counts as a fault — Faulted, or any error code but NoError."""
    return f"({status} = 'Faulted' OR {error} <> 'NoError')"


# The pile itself (OCPP connector 0, in pile_state) counts like a connector: a pile that
# reports itself Faulted is faulted even while every connector says Available (issue 11).
PILE_FAULTED = f"coalesce({faulted_sql('ps.status', 'ps.error_code')}, false)"

_PER_PILE = f"""
WITH connectors AS (
    SELECT pile_id,
           bool_or({faulted_sql("status", "error_code")}) AS faulted,
           bool_or(status = 'Charging') AS charging
    FROM connector_state GROUP BY pile_id
)
SELECT p.id, p.site_id, coalesce({online_sql("ps", "m")}, false) AS online,
       coalesce(cs.faulted, false) OR {PILE_FAULTED} AS faulted, coalesce(cs.charging, false) AS charging
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
         "WHERE %(customer)s::text IS NULL OR s.customer_id = %(customer)s "
         "GROUP BY s.id, c.name ORDER BY s.id")


def site_counts(conn, customer_id: str | None = None) -> list[dict]:
    """Every site (or one customer's) with its piles online, offline, faulted and charging."""
    return conn.execute(SITES, {"customer": customer_id}).fetchall()


def worst(counts: dict) -> str:
    """The state a site (or any group of piles) shows: faulted > offline > charging > ok."""
    return ("faulted" if counts["faulted"] else "offline" if counts["offline"]
            else "charging" if counts["charging"] else "ok")
