"""The monthly report's costs against budget (R-COST), kept apart so that it is the one place
wired to the costs room (maintenance/costs: `budget_vs_actual(conn, month)`, `job_costs`,
`rollup`) once that room is merged. Until then the section says it is not available rather
than show figures computed here: costs are defined in one room only.

Wiring (once maintenance/costs is merged): `budgets.budget_vs_actual(conn, month.start.date())`
gives one BudgetLine per category (category, budget or None, approved, allowed, actual,
variance = budget − actual): a BudgetRow each (budget None → 0 with "no budget set" in the
note), totals summed, `available=True`. The fault analysis's cost (faults.py, COST_NOTE) then
takes labour and travel from `job_costs(conn, start, end)` per order.
"""
from __future__ import annotations

import psycopg

from maintenance.reports.model import CostsSection
from maintenance.reports.periods import Period

NOT_WIRED = ("Costs against budget are not in this report yet: the costs room (budgets, job costs) is not wired "
             "into reports. Parts consumption below is at ledger cost.")


def section(conn: psycopg.Connection, month: Period) -> CostsSection:
    """The month's budget, actual and variance per budget category (staff, training, parts
    purchasing, travel, office, equipment upkeep) with totals; `available` False until the
    costs room is wired."""
    return CostsSection(available=False, note=NOT_WIRED)
