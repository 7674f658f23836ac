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

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum

import pandas as pd
import psycopg
from psycopg.rows import dict_row

from maintenance.dispatch.travel import DEFAULT as ROAD
from maintenance.policy import Policy, Pricing
from maintenance.policy import load as load_policy
from pilecare.errors import NotFound

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
       o.warranty, o.completed_at, coalesce(l.travel_h, 0) AS travel_h, coalesce(l.on_site_h, 0) AS on_site_h,
       coalesce(l.labour_cost, 0) AS labour_cost, coalesce(l.trips, 0) AS trips,
       coalesce(pa.parts_cost, 0) AS parts_cost, coalesce(ot.other_cost, 0) AS other_cost,
       coalesce(qu.billable, 0) AS billable,
       o.lat, o.lon, o.departed_lat, o.departed_lon, g.home_lat, g.home_lon
FROM o LEFT JOIN labour l ON l.work_order_id = o.id
LEFT JOIN engineers g ON g.id = coalesce(l.traveller, o.engineer_id)
LEFT JOIN parts pa ON pa.work_order_id = o.id
LEFT JOIN other ot ON ot.work_order_id = o.id
LEFT JOIN quoted qu ON qu.work_order_id = o.id
ORDER BY o.id
"""


def _rows(conn: psycopg.Connection, pricing: Pricing, where: str, params: dict) -> list[JobCost]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_SQL.format(where=where), params | {"rate": Decimal(str(pricing.labour_per_h))}).fetchall()
    return [_cost(r, pricing) for r in rows]


def _cost(r: dict, pricing: Pricing) -> JobCost:
    trips = r["trips"]
    if trips and r["departed_lat"] is not None:
        source, origin = DistanceSource.DEPARTURE, (r["departed_lat"], r["departed_lon"])
    elif trips and r["home_lat"] is not None:
        source, origin = DistanceSource.HOME, (r["home_lat"], r["home_lon"])
    else:
        source, origin = DistanceSource.NONE, None
    km = Decimal("0") if origin is None else Decimal(str(ROAD.km(origin, (r["lat"], r["lon"])))) * trips
    km = km.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    labour, parts, other = money(r["labour_cost"]), money(r["parts_cost"]), money(r["other_cost"])
    travel = money(km * Decimal(str(pricing.travel_per_km)))
    total = labour + travel + parts + other
    billable = money(r["billable"]) if r["warranty"] == "out_of_warranty" else Decimal("0.00")
    return JobCost(
        work_order_id=r["work_order_id"], pile_id=r["pile_id"], model_id=r["model_id"], customer_id=r["customer_id"],
        region=r["region"], kind=r["kind"], category=r["category"], warranty=r["warranty"],
        completed_at=r["completed_at"], travel_h=Decimal(r["travel_h"]).quantize(CENT),
        on_site_h=Decimal(r["on_site_h"]).quantize(CENT), labour_cost=labour, travel_km=km, distance_source=source,
        travel_cost=travel, parts_cost=parts, other_cost=other, total=total, billable=billable,
        company_cost=max(total - billable, Decimal("0.00")),
        payer=Payer.CUSTOMER if billable > 0 else Payer.COMPANY, currency=pricing.currency)


def job_cost(conn: psycopg.Connection, order_id: int, *, policy: Policy | None = None) -> JobCost:
    """The cost breakdown of work order `order_id` as it stands (an open order: what it has
    cost so far; a stay not yet left is not counted). Rates from `policy` (default: the
    shipped policy). Raises NotFound for an unknown order."""
    found = _rows(conn, (policy or load_policy()).pricing, "w.id = %(id)s", {"id": order_id})
    if not found:
        raise NotFound(f"work order {order_id} does not exist")
    return found[0]


def completed_between(conn: psycopg.Connection, start: datetime, end: datetime, *,
                      policy: Policy | None = None) -> list[JobCost]:
    """`JobCost` (Decimal money) of every order completed in [start, end): resolved, else
    closed or cancelled, by `resolved_at`, else `closed_at`; by order id."""
    return _rows(conn, (policy or load_policy()).pricing,
                 "coalesce(w.resolved_at, w.closed_at) >= %(start)s AND coalesce(w.resolved_at, w.closed_at) < %(end)s",
                 {"start": start, "end": end})


COLUMNS = ["work_order_id", "pile_id", "model_id", "customer_id", "region", "kind", "category", "warranty",
           "completed_at", "travel_h", "on_site_h", "labour_cost", "travel_km", "distance_source", "travel_cost",
           "parts_cost", "other_cost", "total", "billable", "company_cost", "payer", "currency"]
MONEY = ["labour_cost", "travel_cost", "parts_cost", "other_cost", "total", "billable", "company_cost"]


def job_costs(conn: psycopg.Connection, start: datetime, end: datetime, *,
              policy: Policy | None = None) -> pd.DataFrame:
    """One row per work order completed in [start, end) (resolved, else closed or cancelled,
    by `resolved_at`/`closed_at`), with the columns of `COLUMNS`:

        work_order_id int, pile_id, model_id, customer_id, region, kind, category (fault
        category or None), warranty (in_warranty | out_of_warranty | None), completed_at
        (UTC timestamp), travel_h, on_site_h, travel_km (float), distance_source
        (departure | home | none), labour_cost, travel_cost, parts_cost, other_cost, total,
        billable, company_cost (float, currency units, each rounded to cents per order),
        payer (company | customer), currency.

    Empty frame (same columns) when nothing was completed. `start`/`end`: aware datetimes.
    Rates from `policy` (default: the shipped policy). R-COST, R-WARRANTY."""
    costs = completed_between(conn, start, end, policy=policy)
    frame = pd.DataFrame([[getattr(c, k) for k in COLUMNS] for c in costs], columns=COLUMNS)
    for column in MONEY + ["travel_h", "on_site_h", "travel_km"]:
        frame[column] = frame[column].astype(float)
    for column in ("distance_source", "payer"):
        frame[column] = frame[column].map(lambda v: v.value)
    frame["completed_at"] = pd.to_datetime(frame["completed_at"], utc=True)
    return frame
