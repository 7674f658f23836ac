"""A report's sections as tables, one list for both renderers: pdf.py shows each cell as
`display` writes it, xlsx.py writes the raw value with a number format. So the PDF, the
workbook and the stored data model carry the same figures by construction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from maintenance.reports.model import BudgetRow, FaultAnalysis, JobCostRow, MonthlyReport


class Fmt(str, Enum):
    """How a cell's value is written."""

    TEXT = "text"
    INT = "int"
    HOURS = "hours"        # hours, 2 decimals
    SHARE = "share"        # 0..1, shown as a percentage with 1 decimal
    MONEY = "money"        # 2 decimals, thousands separated
    NUMBER = "number"      # 2 decimals


class Cell(NamedTuple):
    value: object
    fmt: Fmt = Fmt.TEXT


@dataclass
class Table:
    """One section: a sheet in the workbook, a titled table in the PDF."""

    sheet: str                       # the workbook's sheet name (≤ 31 characters)
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    note: str | None = None
    chart: list[tuple[str, float]] = field(default_factory=list)   # (label, value) for a bar chart


def display(cell: Cell) -> str:
    """The text of a cell as the PDF shows it; "–" for no value."""
    value, fmt = cell
    if value is None:
        return "–"
    if fmt is Fmt.INT:
        return f"{int(value):,}"
    if fmt is Fmt.HOURS:
        return f"{float(value):.2f} h"
    if fmt is Fmt.SHARE:
        return f"{float(value) * 100:.1f} %"
    if fmt is Fmt.MONEY:
        return f"{float(value):,.2f}"
    if fmt is Fmt.NUMBER:
        return f"{float(value):.2f}"
    return str(value)


def _basis(numerator: int, denominator: int, what: str) -> Cell:
    return Cell(f"{numerator} of {denominator} {what}")


def monthly(report: MonthlyReport) -> list[Table]:
    """The monthly service report's sections, in reading order."""
    k, c = report.kpis, report.currency
    kpis = Table("KPIs", f"Service KPIs {report.period}", ["KPI", "Value", "Basis"], [
        [Cell("Corrective orders opened"), Cell(k.orders_opened, Fmt.INT), Cell(f"{k.orders_unanswered} unanswered")],
        [Cell("Response time (median)"), Cell(k.response_median_h, Fmt.HOURS),
         Cell(f"mean {k.response_mean_h if k.response_mean_h is not None else '–'} h")],
        [Cell("Time to restore (MTTR)"), Cell(k.mttr_h, Fmt.HOURS), Cell("created to resolved, repairs that held")],
        [Cell("Repair timeliness"), Cell(k.repair_timeliness_rate, Fmt.SHARE),
         _basis(k.resolved_in_time, k.orders_resolved, "resolved in time")],
        [Cell("First-time fix"), Cell(k.first_time_fix_rate, Fmt.SHARE),
         _basis(k.fixed_first_time, k.orders_repaired, "repairs")],
        [Cell("Repeat repairs"), Cell(k.repeat_repair_rate, Fmt.SHARE),
         _basis(k.repeat_orders, k.orders_opened, "orders opened")],
        [Cell("PM compliance"), Cell(k.pm_compliance, Fmt.SHARE), _basis(k.pm_on_time, k.pm_due, "due, on time")],
        [Cell("Availability"), Cell(k.availability, Fmt.SHARE),
         Cell(f"target {k.availability_target * 100:.1f} %")],
        [Cell("Satisfaction (mean 1-5)"), Cell(k.csat_mean, Fmt.NUMBER), Cell(f"{k.follow_ups_scored} scored")],
        [Cell("Satisfied (4 or 5)"), Cell(k.csat_share, Fmt.SHARE), Cell(f"{k.follow_ups_scored} scored")],
        [Cell("Complaints"), Cell(k.complaints, Fmt.INT), Cell(f"{k.complaints_closed} closed")],
        [Cell("Complaint handling"), Cell(k.complaint_handling_rate, Fmt.SHARE),
         _basis(k.complaints_closed, k.complaints, "closed")],
    ])
    orders = Table("Orders", "Work orders by category", ["Category", "Opened", "Closed", "Cancelled", "Open at end"],
                   [[Cell(r.kind), Cell(r.opened, Fmt.INT), Cell(r.closed, Fmt.INT), Cell(r.cancelled, Fmt.INT),
                     Cell(r.open_at_end, Fmt.INT)] for r in report.orders_by_category],
                   chart=[(r.kind, r.opened) for r in report.orders_by_category])
    parts = Table("Parts", "Parts consumption (issues)", ["Part", "Name", "Unit", "Quantity", f"Value ({c})"],
                  [[Cell(p.part_id), Cell(p.name), Cell(p.unit), Cell(p.quantity, Fmt.INT), Cell(p.value, Fmt.MONEY)]
                   for p in report.parts]
                  + [[Cell("Total"), Cell(""), Cell(""), Cell(report.parts_quantity, Fmt.INT),
                      Cell(report.parts_value, Fmt.MONEY)]])
    faults = Table("Top faults", "Top faults", ["Rank", "Fault category", "Orders", "Downtime", f"Job cost ({c})"],
                   [[Cell(f.rank, Fmt.INT), Cell(f.category), Cell(f.orders, Fmt.INT), Cell(f.downtime_h, Fmt.HOURS),
                     Cell(f.cost, Fmt.MONEY)] for f in report.top_faults],
                   chart=[(f.category, f.orders) for f in report.top_faults])
    s = report.costs
    costs = Table("Costs", "Costs against budget",
                  ["Category", f"Budget ({c})", "Approved", "Allowed", "Actual", "Variance", "Used", "Note"],
                  [_budget_row(r) for r in s.rows] + [_budget_row(s.total)], note=s.note)
    j = report.job_costs
    job_costs = Table("Job costs", "Job costs of the month",
                      ["Kind", "Jobs", f"Parts ({c})", "Labour", "Travel", "Other", "Total", "Company", "Billable"],
                      [_job_cost_row(r) for r in j.rows] + [_job_cost_row(j.total)], note=j.note)
    return [kpis, orders, parts, faults, costs, job_costs]


def _budget_row(r: BudgetRow) -> list[Cell]:
    return [Cell(r.category), Cell(r.budget, Fmt.MONEY), Cell(r.approved, Fmt.MONEY), Cell(r.allowed, Fmt.MONEY),
            Cell(r.actual, Fmt.MONEY), Cell(r.variance, Fmt.MONEY), Cell(r.share_used, Fmt.SHARE), Cell(r.note)]


def _job_cost_row(r: JobCostRow) -> list[Cell]:
    return [Cell(r.kind), Cell(r.jobs, Fmt.INT)] + [Cell(getattr(r, name), Fmt.MONEY) for name in
                                                    ("parts", "labour", "travel", "other", "total", "company",
                                                     "billable")]


def quarterly(analysis: FaultAnalysis) -> list[Table]:
    """The quarterly fault analysis: one table per pile model (sheet names are the model ids)."""
    tables = []
    for m in analysis.models:
        tables.append(Table(
            m.model_id[:31], f"{m.model_name} ({m.model_id}): {m.installed} installed "
                             f"({m.installed_previous} in {analysis.previous_period})",
            ["Rank", "Fault category", "Orders", "per 100", "Downtime", "h per 100",
             f"Cost ({analysis.currency})", "Cost per 100", "Cost rank",
             f"Orders {analysis.previous_period}", "per 100 before", "Change per 100"],
            [[Cell(f.rank, Fmt.INT), Cell(f.category), Cell(f.orders, Fmt.INT), Cell(f.orders_per_100, Fmt.NUMBER),
              Cell(f.downtime_h, Fmt.HOURS), Cell(f.downtime_h_per_100, Fmt.NUMBER), Cell(f.cost, Fmt.MONEY),
              Cell(f.cost_per_100, Fmt.MONEY), Cell(f.cost_rank, Fmt.INT), Cell(f.previous_orders, Fmt.INT),
              Cell(f.previous_per_100, Fmt.NUMBER), Cell(f.change_per_100, Fmt.NUMBER)] for f in m.faults],
            chart=[(f.category, f.orders) for f in m.faults[:10]]))
    if not tables:
        tables.append(Table("Faults", "No faults in the quarter", ["Note"], [[Cell("No corrective orders.")]]))
    tables[0].note = analysis.cost_note
    return tables
