"""Faults ranked (R-KPI): the month's top faults, and the quarterly analysis per pile model —
the most frequent and most damaging faults, normalised per 100 installed piles of the model,
against the previous quarter: the feedback to product engineering the regulations ask for.

A fault is a corrective work order opened in the period and not cancelled, under its fault
category ("uncategorised" when it has none). Its downtime is the order's open span as
maintenance.kpi.service measures a repair (MTTR: created → resolved), the part inside the
period: an order still open counts to the period's end (or now, for a period not over), so
a closed period's downtime never changes. Its cost is the order's job cost as the costs room
defines it (maintenance.costs.job_costs_of through costs_section.order_costs: parts from the
ledger + labour + travel + other expenses; an open order: what it has cost so far). A pile
model's installed piles are those installed (else registered) before the period's end.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import psycopg
from psycopg.rows import tuple_row

from maintenance.policy import Policy
from maintenance.policy import load as load_policy
from maintenance.reports import costs_section
from maintenance.reports.model import FaultAnalysis, FaultRow, ModelFault, ModelFaults
from maintenance.reports.periods import Period

COST_NOTE = ("Cost: the job costs of the orders (parts at ledger cost + labour + travel + other expenses), as the "
             "costs room defines them (docs/costs.md). Rank: by orders, then downtime, then cost; cost rank: by "
             "cost.")

# One row per fault of [s, e): order, pile model, category, downtime seconds inside the period.
_FAULTS = """
SELECT wo.id, p.model_id, coalesce(wo.fault_category, 'uncategorised') AS category,
       greatest(extract(epoch FROM least(coalesce(wo.resolved_at, 'infinity'), %(e)s, %(now)s) - wo.created_at),
                0)::float8 AS down_s
FROM work_orders wo JOIN piles p ON p.id = wo.pile_id
WHERE wo.kind = 'corrective' AND wo.state <> 'cancelled' AND wo.created_at >= %(s)s AND wo.created_at < %(e)s
"""

_INSTALLED = """
SELECT m.id, m.manufacturer || ' ' || m.name,
       count(p.id) FILTER (WHERE coalesce(p.installed_on, p.created_at::date) < %(end)s),
       count(p.id) FILTER (WHERE coalesce(p.installed_on, p.created_at::date) < %(previous_end)s)
FROM pile_models m LEFT JOIN piles p ON p.model_id = m.id
GROUP BY m.id, m.manufacturer, m.name
"""


def _grouped(conn: psycopg.Connection, group: list[str], period: Period, now: datetime,
             policy: Policy | None) -> dict[tuple, tuple[int, float, float]]:
    """{group key: (orders, downtime hours, cost)} of the period's faults grouped by `group`
    (columns of model_id, category); cost 0 without a `policy` (not needed: not costed)."""
    cur = conn.cursor(row_factory=tuple_row)
    rows = cur.execute(_FAULTS, {"s": period.start, "e": period.end, "now": now}).fetchall()
    frame = pd.DataFrame(rows, columns=["id", "model_id", "category", "down_s"])
    frame["cost"] = 0.0
    if policy is not None and not frame.empty:
        frame["cost"] = frame["id"].map(costs_section.order_costs(conn, frame["id"], policy=policy)).fillna(0.0)
    sums = frame.groupby(group).agg(orders=("id", "size"), down_s=("down_s", "sum"), cost=("cost", "sum"))
    return {(key if isinstance(key, tuple) else (key,)): (int(n), float(down) / 3600, float(cost))
            for key, n, down, cost in sums.itertuples()}


def top_faults(conn: psycopg.Connection, period: Period, *, now: datetime | None = None,
               policy: Policy | None = None, limit: int = 10) -> list[FaultRow]:
    """The period's fault categories fleet-wide, most orders first (then most downtime, then
    most cost, then name), at most `limit`; downtime in hours, cost the orders' job costs
    (2 decimals). Job costs at `policy`'s rates (default: the shipped policy)."""
    now = now or datetime.now(timezone.utc)
    rows = [(c, n, h, cost) for (c,), (n, h, cost) in
            _grouped(conn, ["category"], period, now, policy or load_policy()).items()]
    rows.sort(key=lambda r: (-r[1], -round(r[2], 2), -round(r[3], 2), r[0]))
    return [FaultRow(rank=i, category=c, orders=n, downtime_h=round(h, 2), cost=round(cost, 2))
            for i, (c, n, h, cost) in enumerate(rows[:limit], start=1)]


def _per_100(value: float, installed: int) -> float | None:
    return None if not installed else round(value * 100 / installed, 2)


def analysis(conn: psycopg.Connection, quarter: Period, *, now: datetime | None = None,
             policy: Policy | None = None) -> FaultAnalysis:
    """The fault analysis of `quarter` (a quarterly Period) per pile model, against the
    quarter before. Models with a fault in either quarter are listed, by name; within a model
    the categories of either quarter are ranked (`rank`) by orders, then downtime, then cost,
    then name (a category gone since the previous quarter ranks last, with 0 orders: its
    change shows), and by cost (`cost_rank`: cost, then orders, then downtime, then name).
    Money in `policy`'s currency, job costs at its rates (default: the shipped policy)."""
    now = now or datetime.now(timezone.utc)
    policy = policy or load_policy()
    previous = quarter.previous()
    current = _grouped(conn, ["model_id", "category"], quarter, now, policy)
    before = {key: n for key, (n, _, _) in _grouped(conn, ["model_id", "category"], previous, now, None).items()}
    installed = {m: (name, n, n_prev) for m, name, n, n_prev in conn.cursor(row_factory=tuple_row).execute(
        _INSTALLED, {"end": quarter.end.date(), "previous_end": previous.end.date()})}
    models = []
    for model_id in sorted({m for m, _ in current} | {m for m, _ in before}, key=lambda m: (installed[m][0], m)):
        name, n_now, n_prev = installed[model_id]
        faults = []
        for category in {c for m, c in current if m == model_id} | {c for m, c in before if m == model_id}:
            orders, hours, cost = current.get((model_id, category), (0, 0.0, 0.0))
            prev_orders = before.get((model_id, category), 0)
            per_100, prev_per_100 = _per_100(orders, n_now), _per_100(prev_orders, n_prev)
            faults.append(ModelFault(
                # Faults of a model with no pile installed by then (installed_on after the fault,
                # or piles registered late) have no rate: None, never an invented 0.
                rank=0, cost_rank=0, category=category, orders=orders, orders_per_100=per_100,
                downtime_h=round(hours, 2), downtime_h_per_100=_per_100(hours, n_now),
                cost=round(cost, 2), cost_per_100=_per_100(cost, n_now),
                previous_orders=prev_orders, previous_per_100=prev_per_100,
                change_per_100=None if per_100 is None or prev_per_100 is None else round(per_100 - prev_per_100, 2)))
        for i, fault in enumerate(sorted(faults, key=lambda f: (-f.cost, -f.orders, -f.downtime_h, f.category)), 1):
            fault.cost_rank = i
        faults.sort(key=lambda f: (-f.orders, -f.downtime_h, -f.cost, f.category))
        for i, fault in enumerate(faults, start=1):
            fault.rank = i
        models.append(ModelFaults(model_id=model_id, model_name=name, installed=n_now, installed_previous=n_prev,
                                  faults=faults))
    return FaultAnalysis(period=quarter.name, previous_period=previous.name, start=quarter.start, end=quarter.end,
                         generated_at=now, currency=policy.pricing.currency, cost_note=COST_NOTE, models=models)
