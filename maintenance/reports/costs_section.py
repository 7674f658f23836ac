"""The costs room's figures in the reports (R-COST), kept in one module so that reports have
one definition of cost, the costs room's (maintenance/costs), and compute none of their own:

    budget_section     the monthly report's costs against budget, from `budget_vs_actual`
    job_cost_section   the month's job costs per order kind, from `job_costs` (the monthly
                       cost report to finance)
    order_costs        chosen orders' job costs, from `job_costs_of` (the faults' cost)
"""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import pandas as pd
import psycopg

from maintenance.costs import budget_vs_actual, job_costs, job_costs_of
from maintenance.orders import WorkOrderKind
from maintenance.policy import Policy
from maintenance.reports.model import BudgetRow, CostsSection, JobCostRow, JobCostsSection
from maintenance.reports.periods import Period

BUDGET_NOTE = ("Actuals (docs/costs.md): staff and travel are the labour and the travel of the jobs completed in the "
               "month plus their expenses; parts purchasing the goods received in the month plus its expenses; "
               "training, office and equipment upkeep their expenses. Variance = budget - actual (negative: over "
               "budget). Spending beyond the budget needs a manager's approval first (R-COST).")
JOB_COST_NOTE = ("Jobs completed in the month (resolved, else closed or cancelled). Parts at cost from the stock "
                 "ledger, labour (travel and on-site hours x the engineer's rate), travel (distance x rate), other "
                 "(expenses against the job). Billable: what customers pay per their approved quotes outside "
                 "warranty; company: each job's total less its billable, never below 0 (R-WARRANTY).")


def _money(value: Decimal | float | None) -> float:
    return round(float(value or 0), 2)


def _share(actual: float, budget: float) -> float | None:
    return round(actual / budget, 4) if budget > 0 else None


def _note(budget: Decimal | None, actual: Decimal, allowed: Decimal) -> str:
    notes = [] if budget is not None else ["no budget set"]
    if actual > allowed:
        notes.append("beyond budget and approvals")
    elif actual > (budget or 0):
        notes.append("within approvals" if budget is None else "over budget, within approvals")
    return "; ".join(notes)


def budget_section(conn: psycopg.Connection, month: Period, *, policy: Policy) -> CostsSection:
    """The month's budget, approvals, allowed, actual, variance and share used per budget
    category (staff, training, parts purchasing, travel, office, equipment upkeep), from
    maintenance.costs.budget_vs_actual, with their total. R-COST."""
    rows = [BudgetRow(category=line.category.value, budget=_money(line.budget), approved=_money(line.approved),
                      allowed=_money(line.allowed), actual=_money(line.actual), variance=_money(line.variance),
                      share_used=None if line.share_used is None else round(line.share_used, 4),
                      note=_note(line.budget, line.actual, line.allowed))
            for line in budget_vs_actual(conn, month.start.date(), policy=policy)]
    sums = {name: round(sum(getattr(r, name) for r in rows), 2)
            for name in ("budget", "approved", "allowed", "actual", "variance")}
    total = BudgetRow(category="total", **sums, share_used=_share(sums["actual"], sums["budget"]), note="")
    return CostsSection(note=BUDGET_NOTE, rows=rows, total=total)


_SUMS = {"parts": "parts_cost", "labour": "labour_cost", "travel": "travel_cost", "other": "other_cost",
         "total": "total", "company": "company_cost", "billable": "billable"}


def _job_row(kind: str, frame: pd.DataFrame) -> JobCostRow:
    return JobCostRow(kind=kind, jobs=len(frame), **{name: round(float(frame[column].sum()), 2)
                                                      for name, column in _SUMS.items()})


def job_cost_section(conn: psycopg.Connection, month: Period, *, policy: Policy) -> JobCostsSection:
    """The job costs of the orders completed in the month (maintenance.costs.job_costs) per
    order kind, every kind listed, and their total. R-COST."""
    frame = job_costs(conn, month.start, month.end, policy=policy)
    kinds = [k.value for k in WorkOrderKind]
    rows = [_job_row(kind, frame[frame["kind"] == kind]) for kind in kinds]
    return JobCostsSection(note=JOB_COST_NOTE, rows=rows, total=_job_row("total", frame))


def order_costs(conn: psycopg.Connection, order_ids: Iterable[int], *, policy: Policy) -> pd.Series:
    """Each order's job cost total (parts + labour + travel + other; maintenance.costs.job_costs_of),
    as a float Series indexed by work order id; an open order: what it has cost so far."""
    frame = job_costs_of(conn, order_ids, policy=policy)
    return pd.Series(frame["total"].to_numpy(dtype=float), index=frame["work_order_id"].to_numpy(dtype="int64"))
