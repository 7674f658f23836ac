"""Service costs (R-COST, R-WARRANTY; issue 14 items 6 and 7): what each job cost and who
pays it, roll-ups per order, pile, model, customer, region and period, expenses, and budgets
per month and category against their actuals, with the manager's approvals of spending
beyond them. It reads what the rooms below record (work orders and their timeline, the
stock ledger, goods receipts, quotes) and writes only its own tables (expenses, budgets,
budget_changes, budget_approvals, engineers' hourly rates) — and, through the inventory
room's own `purchasing.order`, a purchase order it lets be ordered within the budget.

    job_costs  one order's cost breakdown (`job_cost`), a period's as a DataFrame (`job_costs`),
               chosen orders' (`job_costs_of`)
    rollups    job costs grouped by order, pile, model, customer or region and month/quarter/year
    budgets    budgets, actuals, budget against actual, approvals, `require_within_budget`
    expenses   expenses per job or general, refused beyond the budget without an approval
    purchasing_budget  ordering a purchase order only within the parts-purchasing budget
    rates      engineers' hourly rates
"""
from maintenance.costs.budgets import (BudgetCategory, BudgetLine, actuals, approvals, approve, budget_vs_actual,
                                       budgets, changes, delete_budget, require_within_budget, set_budget)
from maintenance.costs.expenses import expense, expenses, record_expense
from maintenance.costs.job_costs import DistanceSource, JobCost, Payer, job_cost, job_costs, job_costs_of
from maintenance.costs.purchasing_budget import order_within_budget
from maintenance.costs.rates import set_hourly_rate
from maintenance.costs.rollups import Period, RollupBy, rollup, totals

__all__ = ["BudgetCategory", "BudgetLine", "DistanceSource", "JobCost", "Payer", "Period", "RollupBy", "actuals",
           "approvals", "approve", "budget_vs_actual", "budgets", "changes", "delete_budget", "expense", "expenses",
           "job_cost", "job_costs", "job_costs_of", "order_within_budget", "record_expense", "require_within_budget", "rollup", "set_budget",
           "set_hourly_rate", "totals"]
