"""Job costs rolled up per order, pile, model, customer or region and per calendar period
(R-COST: the cost report to finance), from `job_costs` with pandas.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

import pandas as pd
import psycopg

from maintenance.costs.job_costs import MONEY, job_costs
from maintenance.policy import Policy


class RollupBy(str, Enum):
    """What job costs are grouped by (R-COST: per order, pile, model, customer, region)."""

    ORDER = "order"
    PILE = "pile"
    MODEL = "model"
    CUSTOMER = "customer"
    REGION = "region"


class Period(str, Enum):
    """Calendar periods of a roll-up, in UTC."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


_KEY = {RollupBy.ORDER: "work_order_id", RollupBy.PILE: "pile_id", RollupBy.MODEL: "model_id",
        RollupBy.CUSTOMER: "customer_id", RollupBy.REGION: "region"}
_FREQ = {Period.MONTH: "M", Period.QUARTER: "Q", Period.YEAR: "Y"}
SUMMED = MONEY + ["travel_h", "on_site_h", "travel_km"]


def rollup(conn: psycopg.Connection, start: datetime, end: datetime, by: RollupBy | str,
           period: Period | str = Period.MONTH, *, policy: Policy | None = None) -> list[dict]:
    """Job costs of the orders completed in [start, end), grouped by `by` and `period`.

    Returns a list of dicts, by period then key: {"key": str (the order id as text for
    by=order), "period": date (first day of the month, quarter or year, UTC), "jobs": int,
    and the sums of travel_h, on_site_h, travel_km, labour_cost, travel_cost, parts_cost,
    other_cost, total, billable, company_cost (float, currency units, rounded to cents)}.
    [] when nothing was completed. Raises ValueError for an unknown `by` or `period`."""
    by, period = RollupBy(by), Period(period)
    frame = job_costs(conn, start, end, policy=policy)
    if frame.empty:
        return []
    frame["key"] = frame[_KEY[by]].astype(str)
    # Periods of the UTC calendar: drop the zone first, so pandas does not warn and the
    # boundaries are UTC midnight.
    frame["period"] = frame["completed_at"].dt.tz_convert("UTC").dt.tz_localize(None) \
        .dt.to_period(_FREQ[period]).dt.start_time.dt.date
    grouped = frame.groupby(["period", "key"], sort=True).agg(
        jobs=("work_order_id", "size"), **{c: (c, "sum") for c in SUMMED}).reset_index()
    grouped[SUMMED] = grouped[SUMMED].round(2)
    return [dict(r, jobs=int(r["jobs"])) for r in grouped.to_dict("records")]


def totals(rows: list[dict]) -> dict:
    """The sums over `rollup`'s rows (jobs and every summed column), for a report's last line."""
    frame = pd.DataFrame(rows, columns=["jobs"] + SUMMED)
    return {"jobs": int(frame["jobs"].sum())} | {c: round(float(frame[c].sum()), 2) for c in SUMMED}
