"""The cost of a job (R-COST) and who pays it (R-WARRANTY), read from what the other rooms
record; nothing here writes.

Per work order, in the policy's currency:
- parts: at cost from the stock ledger, −Σ quantity × unit_cost over the order's stock
  movements (issues are negative; a defective part returned is kept at cost 0, and any part
  put back into stock against the order nets out);
- labour: (travel time + time on site) × the engineer's hourly rate. The timeline
  (work_order_events) gives both: each stay in `en_route` (setting off → arrival) is
  travel, each stay in `on_site` (arrival → completion, or leaving the site otherwise) is
  time on site; every visit of a reopened order counts. The engineer of a stay is the one
  whose assignment of the order came last before it (else the order's engineer); the rate
  is `engineers.hourly_rate`, else the policy's `pricing.labour_per_h` (the rate quotes use:
  one definition of labour and travel rates);
- travel: distance × the policy's `pricing.travel_per_km`. The field flow records no
  distance, so it is estimated: from where the engineer set off (work_orders.departed_*,
  the last reported position when going en route), else from the engineer's home, to the
  pile, by dispatch's road estimate (great circle × road factor 1.3,
  maintenance.dispatch.travel.DEFAULT), one way, once per trip (stay in `en_route`);
- other: the expenses recorded against the order (maintenance.costs.expenses).

Who pays: within warranty the company; outside warranty the customer, as much as the
approved quotes of the order say (`billable`, their totals); the rest of the cost, and every
job without an approved quote (planned work under contract, remote fixes), is the company's.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum

import numpy as np
import pandas as pd
import psycopg
from psycopg.rows import tuple_row

from maintenance.dispatch.travel import DEFAULT as ROAD
from maintenance.policy import Policy, Pricing
from maintenance.policy import load as load_policy
from pilecare.errors import NotFound
from pilecare.geo import great_circle_km_pairs

CENT = Decimal("0.01")


class Payer(str, Enum):
    """Who bears a job's cost (R-WARRANTY): the maker's faults within warranty are free to the
    customer; outside warranty the customer pays what they approved in a quote."""

    COMPANY = "company"
    CUSTOMER = "customer"


class DistanceSource(str, Enum):
    """Where a job's travel distance was estimated from (no distance is recorded in the field)."""

    DEPARTURE = "departure"   # the engineer's position when setting off
    HOME = "home"             # no position then: the engineer's home
    NONE = "none"             # no trip


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class JobCost:
    """One order's cost breakdown; money in `currency`, rounded to cents per component."""

    work_order_id: int
    pile_id: str
    model_id: str
    customer_id: str
    region: str
    kind: str
    category: str | None        # the order's fault category
    warranty: str | None        # in_warranty, out_of_warranty, or null (planned work, no diagnosis)
    completed_at: datetime | None
    travel_h: Decimal           # hours en route, every trip
    on_site_h: Decimal          # hours on site, every visit
    labour_cost: Decimal
    travel_km: Decimal
    distance_source: DistanceSource
    travel_cost: Decimal
    parts_cost: Decimal
    other_cost: Decimal
    total: Decimal
    billable: Decimal           # what the customer pays: approved quotes outside warranty
    company_cost: Decimal       # total − billable, never below 0
    payer: Payer                # customer when anything is billable, else company
    currency: str


# One pass over the orders selected by {where}: their stays en route and on site, parts,
# expenses and approved quotes. Hours are summed with each stay's engineer's rate.
_SQL = """
WITH o AS (
    SELECT w.id, w.pile_id, w.kind, w.fault_category, w.warranty, w.engineer_id,
           coalesce(w.resolved_at, w.closed_at) AS completed_at, w.departed_lat, w.departed_lon,
           p.model_id, s.customer_id, s.region, coalesce(p.lat, s.lat) AS lat, coalesce(p.lon, s.lon) AS lon
    FROM work_orders w JOIN piles p ON p.id = w.pile_id JOIN sites s ON s.id = p.site_id
    WHERE {where}
), moves AS (
    SELECT e.id, e.work_order_id, e.to_state, e.at,
           lead(e.at) OVER (PARTITION BY e.work_order_id ORDER BY e.at, e.id) AS left_at
    FROM work_order_events e JOIN o ON o.id = e.work_order_id
    WHERE e.from_state IS DISTINCT FROM e.to_state
), stays AS (
    SELECT DISTINCT ON (m.id) m.id, m.work_order_id, m.to_state, m.at,
           extract(epoch FROM m.left_at - m.at) / 3600.0 AS hours, coalesce(a.engineer_id, o.engineer_id) AS engineer_id
    FROM moves m JOIN o ON o.id = m.work_order_id
    LEFT JOIN assignments a ON a.work_order_id = m.work_order_id AND a.assigned_at <= m.at
                           AND a.state NOT IN ('declined', 'timed_out')
    WHERE m.to_state IN ('en_route', 'on_site') AND m.left_at IS NOT NULL
    ORDER BY m.id, a.assigned_at DESC NULLS LAST, a.id DESC
), labour AS (
    SELECT st.work_order_id,
           sum(st.hours) FILTER (WHERE st.to_state = 'en_route') AS travel_h,
           sum(st.hours) FILTER (WHERE st.to_state = 'on_site') AS on_site_h,
           sum(st.hours * coalesce(g.hourly_rate, %(rate)s)) AS labour_cost,
           count(*) FILTER (WHERE st.to_state = 'en_route') AS trips,
           (array_agg(st.engineer_id ORDER BY st.at DESC) FILTER (WHERE st.to_state = 'en_route'))[1] AS traveller
    FROM stays st LEFT JOIN engineers g ON g.id = st.engineer_id
    GROUP BY st.work_order_id
), parts AS (
    SELECT m.work_order_id, -sum(m.quantity * m.unit_cost) AS parts_cost
    FROM stock_movements m JOIN o ON o.id = m.work_order_id GROUP BY m.work_order_id
), other AS (
    SELECT x.work_order_id, sum(x.amount) AS other_cost
    FROM expenses x JOIN o ON o.id = x.work_order_id GROUP BY x.work_order_id
), quoted AS (
    -- Approved quotes, including an earlier visit's (superseded when the order reopened;
    -- a pending quote replaced by a newer one was never decided).
    SELECT q.work_order_id, sum(q.total) AS billable
    FROM quotes q JOIN o ON o.id = q.work_order_id
    WHERE q.state = 'approved' OR (q.state = 'superseded' AND q.decided_at IS NOT NULL)
    GROUP BY q.work_order_id
)
SELECT o.id AS work_order_id, o.pile_id, o.model_id, o.customer_id, o.region, o.kind, o.fault_category AS category,
       o.warranty, o.completed_at, coalesce(l.travel_h, 0)::float8 AS travel_h,
       coalesce(l.on_site_h, 0)::float8 AS on_site_h, coalesce(l.trips, 0) AS trips,
       -- Money in whole cents (numeric's round() is half away from zero), summed exactly.
       round(coalesce(l.labour_cost, 0) * 100)::bigint AS labour_cents,
       round(coalesce(pa.parts_cost, 0) * 100)::bigint AS parts_cents,
       round(coalesce(ot.other_cost, 0) * 100)::bigint AS other_cents,
       round(coalesce(qu.billable, 0) * 100)::bigint AS billable_cents,
       o.lat, o.lon, o.departed_lat, o.departed_lon, g.home_lat, g.home_lon
FROM o LEFT JOIN labour l ON l.work_order_id = o.id
LEFT JOIN engineers g ON g.id = coalesce(l.traveller, o.engineer_id)
LEFT JOIN parts pa ON pa.work_order_id = o.id
LEFT JOIN other ot ON ot.work_order_id = o.id
LEFT JOIN quoted qu ON qu.work_order_id = o.id
ORDER BY o.id
"""


def _frame(conn: psycopg.Connection, pricing: Pricing, where: str, params: dict) -> pd.DataFrame:
    """The orders selected by `where`, costed: the SQL's columns plus travel_km, travel_cents,
    total_cents, company_cents, distance_source and payer. Money in whole cents (int64), so
    sums are exact; vectorised, so a year of a large fleet costs one query and a few arrays."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(_SQL.format(where=where), params | {"rate": Decimal(str(pricing.labour_per_h))})
        frame = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in frame.columns})
    trips = frame["trips"].to_numpy(dtype="int64")
    departed = frame["departed_lat"].notna().to_numpy() & (trips > 0)
    home = ~departed & frame["home_lat"].notna().to_numpy() & (trips > 0)
    site = frame[["lat", "lon"]].to_numpy(dtype=float)
    origin = np.where(departed[:, None], frame[["departed_lat", "departed_lon"]].to_numpy(dtype=float),
                      np.where(home[:, None], frame[["home_lat", "home_lon"]].to_numpy(dtype=float), site))
    km = ROAD.road_factor * great_circle_km_pairs(origin, site) * trips
    # Tenths of a km, half up (quotes keep 0.1 km too); × the rate in thousandths per km gives
    # ten-thousandths of the currency, rounded half up to cents in integers.
    tenths = np.floor(km * 10 + 0.5).astype("int64")
    frame["travel_tenths"] = tenths
    frame["travel_km"] = tenths / 10
    frame["travel_cents"] = (tenths * int(Decimal(str(pricing.travel_per_km)) * 1000) + 50) // 100
    frame["distance_source"] = np.where(departed, DistanceSource.DEPARTURE.value,
                                        np.where(home, DistanceSource.HOME.value, DistanceSource.NONE.value))
    cents = ["labour_cents", "travel_cents", "parts_cents", "other_cents", "billable_cents"]
    frame[cents] = frame[cents].astype("int64")
    frame["total_cents"] = frame[cents[:4]].sum(axis=1).astype("int64")
    # Outside warranty only: within it the maker's fault is free whatever was quoted.
    frame["billable_cents"] = np.where(frame["warranty"] == "out_of_warranty", frame["billable_cents"], 0)
    frame["company_cents"] = np.maximum(frame["total_cents"] - frame["billable_cents"], 0)
    frame["payer"] = np.where(frame["billable_cents"] > 0, Payer.CUSTOMER.value, Payer.COMPANY.value)
    frame["currency"] = pricing.currency
    return frame


def _cents(value) -> Decimal:
    return (Decimal(int(value)) / 100).quantize(CENT)


def _job(row: dict) -> JobCost:
    return JobCost(
        work_order_id=int(row["work_order_id"]), pile_id=row["pile_id"], model_id=row["model_id"],
        customer_id=row["customer_id"], region=row["region"], kind=row["kind"], category=row["category"],
        warranty=row["warranty"], completed_at=row["completed_at"],
        travel_h=money(row["travel_h"]), on_site_h=money(row["on_site_h"]), labour_cost=_cents(row["labour_cents"]),
        travel_km=Decimal(int(row["travel_tenths"])) / 10, distance_source=DistanceSource(row["distance_source"]),
        travel_cost=_cents(row["travel_cents"]), parts_cost=_cents(row["parts_cents"]),
        other_cost=_cents(row["other_cents"]), total=_cents(row["total_cents"]),
        billable=_cents(row["billable_cents"]), company_cost=_cents(row["company_cents"]), payer=Payer(row["payer"]),
        currency=row["currency"])


def job_cost(conn: psycopg.Connection, order_id: int, *, policy: Policy | None = None) -> JobCost:
    """The cost breakdown of work order `order_id` as it stands (an open order: what it has
    cost so far; a stay not yet left is not counted). Rates from `policy` (default: the
    shipped policy). Raises NotFound for an unknown order."""
    found = _frame(conn, (policy or load_policy()).pricing, "w.id = %(id)s", {"id": order_id})
    if found.empty:
        raise NotFound(f"work order {order_id} does not exist")
    return _job(found.iloc[0].to_dict())


_COMPLETED = "coalesce(w.resolved_at, w.closed_at) >= %(start)s AND coalesce(w.resolved_at, w.closed_at) < %(end)s"


def labour_and_travel(conn: psycopg.Connection, start: datetime, end: datetime, *,
                      policy: Policy | None = None) -> tuple[Decimal, Decimal]:
    """(Σ labour_cost, Σ travel_cost) of the orders completed in [start, end), exact to the
    cent: the staff and travel actuals of a budget (maintenance.costs.budgets)."""
    frame = _frame(conn, (policy or load_policy()).pricing, _COMPLETED, {"start": start, "end": end})
    return _cents(frame["labour_cents"].sum()), _cents(frame["travel_cents"].sum())


COLUMNS = ["work_order_id", "pile_id", "model_id", "customer_id", "region", "kind", "category", "warranty",
           "completed_at", "travel_h", "on_site_h", "labour_cost", "travel_km", "distance_source", "travel_cost",
           "parts_cost", "other_cost", "total", "billable", "company_cost", "payer", "currency"]
_CENTS = {"labour_cost": "labour_cents", "travel_cost": "travel_cents", "parts_cost": "parts_cents",
          "other_cost": "other_cents", "total": "total_cents", "billable": "billable_cents",
          "company_cost": "company_cents"}
MONEY = list(_CENTS)


def job_costs(conn: psycopg.Connection, start: datetime, end: datetime, *,
              policy: Policy | None = None) -> pd.DataFrame:
    """One row per work order completed in [start, end) (resolved, else closed or cancelled,
    by `resolved_at`/`closed_at`), by order id, with the columns of `COLUMNS`:

        work_order_id int, pile_id, model_id, customer_id, region, kind, category (fault
        category or None), warranty (in_warranty | out_of_warranty | None), completed_at
        (UTC timestamp), travel_h, on_site_h, travel_km (float), distance_source
        (departure | home | none), labour_cost, travel_cost, parts_cost, other_cost, total,
        billable, company_cost (float, currency units, each rounded to cents per order),
        payer (company | customer), currency.

    Empty frame (same columns) when nothing was completed. `start`/`end`: aware datetimes.
    Rates from `policy` (default: the shipped policy). R-COST, R-WARRANTY."""
    return _public(_frame(conn, (policy or load_policy()).pricing, _COMPLETED, {"start": start, "end": end}))


def job_costs_of(conn: psycopg.Connection, order_ids: Iterable[int], *, policy: Policy | None = None) -> pd.DataFrame:
    """As `job_costs`, for the work orders `order_ids` whatever their state or completion time
    (an open order: what it has cost so far, as `job_cost`): one row per order that exists, by
    id; unknown ids are left out. For readers that select orders by another rule (the reports'
    faults: orders opened in a quarter) and must cost them as this room does. R-COST."""
    ids = sorted({int(i) for i in order_ids})
    return _public(_frame(conn, (policy or load_policy()).pricing, "w.id = ANY(%(ids)s::bigint[])", {"ids": ids}))


def _public(frame: pd.DataFrame) -> pd.DataFrame:
    """`_frame`'s costed orders as `COLUMNS`: money in currency units (from exact cents)."""
    for column, cents in _CENTS.items():
        frame[column] = frame[cents] / 100
    frame[["travel_h", "on_site_h"]] = frame[["travel_h", "on_site_h"]].astype(float).round(2)
    frame["work_order_id"] = frame["work_order_id"].astype("int64")
    frame["completed_at"] = pd.to_datetime(frame["completed_at"], utc=True)
    return frame[COLUMNS].reset_index(drop=True)
