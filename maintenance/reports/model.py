"""The reports' data: what a monthly service report and a quarterly fault analysis say,
built from the records first (monthly.py, faults.py) and only then rendered (pdf.py,
xlsx.py through layout.py), so the files and the API carry the same figures. Stored as
`reports.totals` (jsonb) beside the files.

Units: hours (`_h`), shares 0..1 (`_rate`, `_share`, `share_used`, availability), money in
the policy's currency (parts consumption's `value` at the ledger's cost; every other amount
as the costs room defines it: job costs, budgets, actuals), counts otherwise.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime


@dataclass
class KpiFigures:
    """The month's service KPIs (R-KPI), each from the room that defines it: maintenance.kpi
    (service: response, MTTR, first-time fix, repeat repairs, availability, PM compliance;
    desk: satisfaction and complaints) and the SLA clock of maintenance.orders (timeliness)."""

    orders_opened: int
    response_median_h: float | None
    response_mean_h: float | None
    orders_unanswered: int
    mttr_h: float | None
    orders_resolved: int                 # corrective orders resolved in the month, with a resolve clock
    resolved_in_time: int                # of those, resolved by their resolve due time (R-RESPONSE)
    repair_timeliness_rate: float | None
    orders_repaired: int
    fixed_first_time: int
    first_time_fix_rate: float | None
    repeat_orders: int
    repeat_repair_rate: float | None
    pm_due: int
    pm_on_time: int
    pm_compliance: float | None
    availability: float | None
    availability_target: float
    follow_ups_scored: int
    csat_mean: float | None              # 1..5
    csat_share: float | None             # share scoring 4 or 5
    complaints: int
    complaints_closed: int
    complaint_handling_rate: float | None


@dataclass
class CategoryRow:
    """Work orders of one kind (corrective, preventive, inspection, installation) in the month."""

    kind: str
    opened: int          # created in the month
    closed: int          # closed in the month
    cancelled: int       # cancelled in the month
    open_at_end: int     # created before the month's end and not closed or cancelled by then


@dataclass
class PartRow:
    """One part's issue movements of the month (stock_movements kind 'issue'): quantity out,
    and its value at the cost recorded on each movement."""

    part_id: str
    name: str
    unit: str
    quantity: int
    value: float


@dataclass
class FaultRow:
    """One fault category: corrective orders opened in the period (not cancelled), the downtime
    they caused inside it (hours, created → resolved, still open: to the period's end), and
    their cost: the job costs of those orders (parts + labour + travel + other, the costs
    room's definition)."""

    rank: int
    category: str
    orders: int
    downtime_h: float
    cost: float


@dataclass
class BudgetRow:
    """One budget category of the month (R-COST), as maintenance.costs.budget_vs_actual has it:
    budget (0 when none was set: `note` says so), approved (a manager's approvals beyond it),
    allowed = budget + approved, actual, variance = budget − actual (negative: over budget),
    share_used = actual ÷ budget (None without a budget above 0)."""

    category: str
    budget: float
    approved: float
    allowed: float
    actual: float
    variance: float
    share_used: float | None
    note: str                            # "", "no budget set", "over budget, within approvals", …


@dataclass
class CostsSection:
    """Costs against budget (R-COST): one row per budget category in the regulations' order,
    and their total (category "total"); `note` says what the actuals are."""

    note: str
    rows: list[BudgetRow]
    total: BudgetRow


@dataclass
class JobCostRow:
    """The job costs of the work orders of one kind completed in the month (R-COST, R-WARRANTY;
    maintenance.costs.job_costs): parts, labour, travel, other and their total; billable: what
    customers pay per their approved quotes outside warranty; company: each job's total less
    its billable, never below 0."""

    kind: str
    jobs: int
    parts: float
    labour: float
    travel: float
    other: float
    total: float
    company: float
    billable: float


@dataclass
class JobCostsSection:
    """The month's job costs per order kind (every kind listed) and their total (kind "total"):
    the monthly cost report to finance (R-COST)."""

    note: str
    rows: list[JobCostRow]
    total: JobCostRow


@dataclass
class MonthlyReport:
    period: str                           # "2026-10"
    start: datetime
    end: datetime
    generated_at: datetime
    currency: str
    kpis: KpiFigures
    orders_by_category: list[CategoryRow]
    parts: list[PartRow]                  # by value, highest first
    parts_quantity: int
    parts_value: float
    top_faults: list[FaultRow]            # by orders, then downtime, then cost
    costs: CostsSection                   # against budget
    job_costs: JobCostsSection

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ModelFault:
    """One fault category of one pile model in a quarter, against the previous quarter.
    `_per_100`: per 100 piles of the model installed by the quarter's end. `cost`: the job
    costs of its orders (the costs room's). `rank`: by orders, then downtime, then cost (the
    most frequent); `cost_rank`: by cost, then orders, then downtime (the most damaging)."""

    rank: int
    cost_rank: int
    category: str
    orders: int
    orders_per_100: float | None          # None: none of the model installed by the quarter's end
    downtime_h: float
    downtime_h_per_100: float | None
    cost: float
    cost_per_100: float | None
    previous_orders: int
    previous_per_100: float | None        # None: none of the model installed then
    change_per_100: float | None          # orders_per_100 − previous_per_100; None when either is


@dataclass
class ModelFaults:
    model_id: str
    model_name: str
    installed: int                        # piles of the model installed by the quarter's end
    installed_previous: int               # … by the previous quarter's end
    faults: list[ModelFault]              # by rank: orders, then downtime, then cost, then category


@dataclass
class FaultAnalysis:
    """The quarterly fault analysis (R-KPI: the most frequent and most damaging faults per
    model, fed back to product engineering)."""

    period: str                           # "2026Q3"
    previous_period: str
    start: datetime
    end: datetime
    generated_at: datetime
    currency: str
    cost_note: str
    models: list[ModelFaults]

    def as_dict(self) -> dict:
        return asdict(self)
