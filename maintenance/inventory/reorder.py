"""Reorder planning (R-PARTS, issue 14 item 5): per part and usable location, a reorder point
and an order quantity from the consumption history and the supplier's lead time, kept in
`reorder_levels` (migration 0041) with the parts keeper's override, which wins.

Demand is the weekly sum of `issue` movements over the policy's window (52 weeks), read
backwards from `as_of` in 7-day buckets and starting no earlier than the part's first
movement there (a part stocked last month has four weeks of history, not 48 weeks of
zeros). A warehouse's demand is its own issues and its vans' (it restocks them: a van
issues, the warehouse is drawn down). Spare parts sell intermittently, so the weekly
demand is forecast with TSB (Teunter, Syntetos & Babai 2011, statsforecast); with fewer
weeks of history than the policy's minimum the classical mean of the weeks there are is
used instead, and `method` says so. Formulas: docs/parts.md "Reorder planning".

    d      forecast demand per week (TSB: p × z)
    σ      sample standard deviation of the weekly issues (0 with fewer than 2 weeks)
    L      lead time, days: the cheapest supplier's (price, then lead time); the policy's
           default when none lists the part; a van's restocking interval for a van
    SS     = z_SL × σ × √(L / 7)        z_SL: the standard normal quantile of the service level
    ROP    = ⌈d / 7 × L + SS⌉
    Q      = ⌈d / 7 × review_days⌉
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from statistics import NormalDist, stdev

import psycopg

from psycopg.rows import dict_row

from maintenance.inventory.ledger import LocationKind, location, require_usable
from maintenance.policy import Reorder
from pilecare.errors import InvalidInput

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Forecast:
    weekly_demand: float
    sigma_weekly: float
    method: str


def forecast(weekly: list[int], policy: Reorder) -> Forecast:
    """The weekly demand forecast for a history of weekly issue quantities, oldest first.

    TSB with the policy's alpha_d and alpha_p when the history has at least
    `min_history_weeks` weeks; else the mean of the weeks there are ("history too short");
    0 without any history. statsforecast is imported here, only when needed: importing it
    costs about two seconds."""
    n = len(weekly)
    sigma = stdev(weekly) if n >= 2 else 0.0
    if n == 0:
        return Forecast(0.0, 0.0, "none: no history")
    if n < policy.min_history_weeks:
        return Forecast(sum(weekly) / n, sigma,
                        f"mean of {n} weeks (history too short for TSB: fewer than {policy.min_history_weeks} weeks)")
    import numpy as np
    from statsforecast.models import TSB

    mean = TSB(alpha_d=policy.alpha_d, alpha_p=policy.alpha_p).forecast(y=np.asarray(weekly, dtype=float), h=1)["mean"]
    return Forecast(float(mean[0]), sigma, f"tsb(alpha_d={policy.alpha_d}, alpha_p={policy.alpha_p}) over {n} weeks")


def _up(x: float) -> int:
    # Rounded to 6 places first: 2.0000000001 from floating arithmetic is 2 units, not 3.
    return math.ceil(round(x, 6))


@dataclass(frozen=True)
class Level:
    part_id: str
    location_id: str
    weekly_demand: float
    sigma_weekly: float
    lead_time_days: int
    safety_stock: float
    reorder_point: int
    order_quantity: int
    supplier_id: str | None
    history_weeks: int
    demand_weeks: int
    method: str


def level(part_id: str, location_id: str, weekly: list[int], lead_time_days: int, supplier_id: str | None,
          policy: Reorder) -> Level:
    """Reorder point and order quantity for one part and location (formulas: module docstring)."""
    f = forecast(weekly, policy)
    z = NormalDist().inv_cdf(policy.service_level)
    safety = z * f.sigma_weekly * math.sqrt(lead_time_days / 7)
    daily = f.weekly_demand / 7
    return Level(part_id, location_id, f.weekly_demand, f.sigma_weekly, lead_time_days, safety,
                 _up(daily * lead_time_days + safety), _up(daily * policy.review_days), supplier_id,
                 len(weekly), sum(1 for w in weekly if w > 0), f.method)


# Each usable location and the locations whose issues are its demand: itself, and for a
# warehouse its vans (parent_id of a van is its home warehouse).
_SCOPE = """
WITH scope AS (
    SELECT id AS location_id, id AS source, kind FROM stock_locations WHERE kind IN ('warehouse', 'van')
    UNION ALL
    SELECT v.parent_id, v.id, 'warehouse' FROM stock_locations v WHERE v.kind = 'van' AND v.parent_id IS NOT NULL
)"""


def histories(conn: psycopg.Connection, as_of: datetime, policy: Reorder, *, location_id: str | None = None,
              part_id: str | None = None) -> dict[tuple[str, str], tuple[str, list[int]]]:
    """{(location_id, part_id): (location kind, weekly issues oldest first)} for every usable
    location and part that ever moved there (or at its vans), or has a reorder level."""
    window_start = as_of - policy.window_weeks * WEEK
    params = {"as_of": as_of, "start": window_start, "l": location_id, "p": part_id}
    narrow = "AND (%(l)s::text IS NULL OR s.location_id = %(l)s) AND (%(p)s::text IS NULL OR m.part_id = %(p)s)"
    firsts = conn.execute(
        f"{_SCOPE} SELECT s.location_id, m.part_id, min(s.kind), min(m.recorded_at) FROM scope s "
        f"JOIN stock_movements m ON m.location_id = s.source WHERE m.recorded_at < %(as_of)s {narrow} "
        "GROUP BY 1, 2", params).fetchall()
    weeks: dict[tuple[str, str], tuple[str, list[int]]] = {}
    for loc, part, kind, first in firsts:
        n = min(policy.window_weeks, math.ceil((as_of - first) / WEEK))
        weeks[(loc, part)] = (kind, [0] * n)
    for loc, part, kind in conn.execute(
            "SELECT r.location_id, r.part_id, l.kind FROM reorder_levels r "
            "JOIN stock_locations l ON l.id = r.location_id "
            "WHERE (%(l)s::text IS NULL OR r.location_id = %(l)s) AND (%(p)s::text IS NULL OR r.part_id = %(p)s)",
            params):
        weeks.setdefault((loc, part), (kind, []))
    issues = conn.execute(
        f"{_SCOPE} SELECT s.location_id, m.part_id, "
        "  floor(extract(epoch FROM m.recorded_at - %(start)s) / 604800)::int, -sum(m.quantity) "
        "FROM scope s JOIN stock_movements m ON m.location_id = s.source AND m.kind = 'issue' "
        f"WHERE m.recorded_at >= %(start)s AND m.recorded_at < %(as_of)s {narrow} GROUP BY 1, 2, 3", params)
    for loc, part, bucket, quantity in issues:
        series = weeks[(loc, part)][1]
        # Bucket b of the whole window is week b − (window − n) of a history of n weeks.
        series[bucket - (policy.window_weeks - len(series))] += quantity
    return weeks


def _cheapest(conn: psycopg.Connection) -> dict[str, tuple[str, int]]:
    """{part_id: (supplier_id, lead_time_days)} of the cheapest active supplier listing it
    (then the shortest lead time, then the id): the one the purchase proposal orders from."""
    return {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT DISTINCT ON (sp.part_id) sp.part_id, sp.supplier_id, sp.lead_time_days FROM supplier_parts sp "
        "JOIN suppliers s ON s.id = sp.supplier_id AND s.active "
        "ORDER BY sp.part_id, sp.price, sp.lead_time_days, sp.supplier_id")}


def recompute(conn: psycopg.Connection, policy: Reorder, *, as_of: datetime | None = None,
              location_id: str | None = None, part_id: str | None = None, ensure: bool = False) -> list[Level]:
    """Compute and store the reorder levels of every usable location and part (or the one
    asked for), keeping any override. Returns the levels computed, by location and part.
    `ensure` (with both ids): store a level even for a pair that never moved (no history)."""
    as_of = as_of or datetime.now(timezone.utc)
    cheapest = _cheapest(conn)
    found = histories(conn, as_of, policy, location_id=location_id, part_id=part_id)
    if ensure and location_id and part_id:
        found.setdefault((location_id, part_id), (location(conn, location_id).kind.value, []))
    levels = []
    for (loc, part), (kind, weekly) in sorted(found.items()):
        if kind == LocationKind.VAN.value:
            supplier, lead = None, policy.van_lead_time_days
        else:
            supplier, lead = cheapest.get(part, (None, policy.default_lead_time_days))
        levels.append(level(part, loc, weekly, lead, supplier, policy))
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO reorder_levels (part_id, location_id, weekly_demand, sigma_weekly, lead_time_days, "
            "safety_stock, reorder_point, order_quantity, supplier_id, history_weeks, demand_weeks, method, "
            "computed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (location_id, part_id) DO UPDATE SET weekly_demand = EXCLUDED.weekly_demand, "
            "sigma_weekly = EXCLUDED.sigma_weekly, lead_time_days = EXCLUDED.lead_time_days, "
            "safety_stock = EXCLUDED.safety_stock, reorder_point = EXCLUDED.reorder_point, "
            "order_quantity = EXCLUDED.order_quantity, supplier_id = EXCLUDED.supplier_id, "
            "history_weeks = EXCLUDED.history_weeks, demand_weeks = EXCLUDED.demand_weeks, "
            "method = EXCLUDED.method, computed_at = EXCLUDED.computed_at",
            [(lv.part_id, lv.location_id, round(lv.weekly_demand, 4), round(lv.sigma_weekly, 4), lv.lead_time_days,
              round(lv.safety_stock, 4), lv.reorder_point, lv.order_quantity, lv.supplier_id, lv.history_weeks,
              lv.demand_weeks, lv.method, as_of) for lv in levels])
    return levels


def recompute_all(conn: psycopg.Connection, policy: Reorder | None = None, *, as_of: datetime | None = None) -> int:
    """The worker's job: recompute every reorder level (policy: the shipped one when not
    given). Returns how many were stored."""
    if policy is None:
        from maintenance import policy as policies
        policy = policies.load().reorder
    return len(recompute(conn, policy, as_of=as_of))


def override(conn: psycopg.Connection, policy: Reorder, location_id: str, part_id: str, *,
             reorder_point: int | None, order_quantity: int | None, reason: str | None, actor: str) -> None:
    """The parts keeper sets (or, with both None, clears) the reorder point and order quantity
    of a part at a usable location; the override wins over the computed figures until
    cleared, and the recompute job keeps it. A pair never computed is computed first.
    Raises InvalidInput (an area, a negative figure, no reason), NotFound (location)."""
    require_usable(location(conn, location_id))
    for name, value in (("reorder_point", reorder_point), ("order_quantity", order_quantity)):
        if value is not None and value < 0:
            raise InvalidInput(f"{name}: cannot be below 0")
    setting = reorder_point is not None or order_quantity is not None
    if setting and not (reason and reason.strip()):
        raise InvalidInput("reason: say why the computed level is overridden")
    if not conn.execute("SELECT EXISTS (SELECT 1 FROM parts WHERE id = %s)", (part_id,)).fetchone()[0]:
        raise InvalidInput(f"part_id: {part_id!r} is not in the catalogue")
    with conn.transaction():
        if not conn.execute("SELECT 1 FROM reorder_levels WHERE location_id = %s AND part_id = %s",
                            (location_id, part_id)).fetchone():
            recompute(conn, policy, location_id=location_id, part_id=part_id, ensure=True)
        conn.execute("UPDATE reorder_levels SET override_reorder_point = %s, override_order_quantity = %s, "
                     "override_reason = %s, override_by = %s, override_at = %s "
                     "WHERE location_id = %s AND part_id = %s",
                     (reorder_point, order_quantity, reason if setting else None, actor if setting else None,
                      datetime.now(timezone.utc) if setting else None, location_id, part_id))


def levels(conn: psycopg.Connection, *, location_id: str | None = None, part_id: str | None = None,
           limit: int = 1000, offset: int = 0) -> tuple[list[dict], int]:
    """Stored reorder levels by location and part: (rows, count). A row: the computed figures
    (weekly_demand, sigma_weekly, lead_time_days, safety_stock, reorder_point,
    order_quantity, supplier_id, history_weeks, demand_weeks, method, computed_at), the
    override (override_reorder_point, override_order_quantity, override_reason, override_by,
    override_at), and the effective ones (effective_reorder_point, effective_order_quantity)."""
    where = " WHERE (%(l)s::text IS NULL OR location_id = %(l)s) AND (%(p)s::text IS NULL OR part_id = %(p)s)"
    params = {"l": location_id, "p": part_id, "limit": limit, "offset": offset}
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(
        "SELECT *, coalesce(override_reorder_point, reorder_point) AS effective_reorder_point, "
        f"coalesce(override_order_quantity, order_quantity) AS effective_order_quantity FROM reorder_levels{where} "
        "ORDER BY location_id, part_id LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()
    return rows, cur.execute(f"SELECT count(*) AS n FROM reorder_levels{where}", params).fetchone()["n"]
