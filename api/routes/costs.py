"""Service costs (R-COST, R-WARRANTY): one work order's cost and who pays it, roll-ups per
order, pile, model, customer or region and period, expenses, engineers' hourly rates.

Managers and supervisors (and admins) read; dispatchers and supervisors record expenses,
an engineer only against an order they hold; a manager sets hourly rates. Money is in the
policy's currency, as decimal strings rounded to cents. The rules: maintenance/costs/ and
docs/costs.md.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import DISPATCH, MANAGE, Role, User, require
from api.deps import BIGINT_MAX, Offset, PlainConn, PolicyDep
from api.models import RequestBody
from maintenance import costs
from maintenance.costs import BudgetCategory, DistanceSource, Payer, Period, RollupBy
from pilecare.errors import InvalidInput

router = APIRouter(tags=["costs"])

READERS = (Role.MANAGER, Role.SUPERVISOR)
READ = [Depends(require(*READERS))]
Recorder = Annotated[User, Depends(require(*DISPATCH, Role.ENGINEER))]
Manager = Annotated[User, Depends(require(*MANAGE))]
MAX_RANGE = timedelta(days=5 * 366)
Money = Annotated[Decimal, Field(max_digits=12, decimal_places=2)]


class JobCostPublic(BaseModel):
    work_order_id: int
    pile_id: str
    model_id: str
    customer_id: str
    region: str
    kind: str
    category: str | None = Field(description="The order's fault category.")
    warranty: str | None = Field(description="in_warranty, out_of_warranty, or null (planned work, no diagnosis).")
    completed_at: datetime | None = Field(description="Resolved, else closed or cancelled; null while open.")
    travel_h: Decimal = Field(description="Hours en route (setting off → arrival), every trip.")
    on_site_h: Decimal = Field(description="Hours on site (arrival → completion), every visit.")
    labour_cost: Decimal = Field(description="(travel_h + on_site_h) × the engineer's hourly rate.")
    travel_km: Decimal = Field(description="Estimated: from where the engineer set off (else home) to the pile, "
                                           "by road estimate, once per trip.")
    distance_source: DistanceSource
    travel_cost: Decimal = Field(description="travel_km × the policy's travel_per_km.")
    parts_cost: Decimal = Field(description="Parts at cost from the stock ledger, net of any put back.")
    other_cost: Decimal = Field(description="Expenses recorded against the order.")
    total: Decimal
    billable: Decimal = Field(description="What the customer pays: the approved quotes, outside warranty only.")
    company_cost: Decimal = Field(description="total − billable, never below 0.")
    payer: Payer
    currency: str


class CostRow(BaseModel):
    key: str = Field(description="The order id, pile, model, customer or region.")
    period: date = Field(description="First day of the month, quarter or year (UTC).")
    jobs: int
    travel_h: float
    on_site_h: float
    travel_km: float
    labour_cost: float
    travel_cost: float
    parts_cost: float
    other_cost: float
    total: float
    billable: float
    company_cost: float


class CostTotals(BaseModel):
    jobs: int
    travel_h: float
    on_site_h: float
    travel_km: float
    labour_cost: float
    travel_cost: float
    parts_cost: float
    other_cost: float
    total: float
    billable: float
    company_cost: float


class CostsPublic(BaseModel):
    model_config = {"populate_by_name": True}

    by: RollupBy
    period: Period
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    currency: str
    data: list[CostRow] = Field(description="By period, then key.")
    count: int
    totals: CostTotals


class ExpenseCreate(RequestBody):
    category: BudgetCategory
    amount: Money = Field(description="Currency units; not 0. Negative: a correction of an earlier expense.")
    spent_on: date = Field(description="The day the money was spent: its month's budget is charged.")
    note: str = Field(min_length=1, max_length=2000, description="What it was for (receipt number, place).")
    work_order_id: int | None = Field(default=None, ge=1, le=BIGINT_MAX,
                                      description="The job it was spent on (an engineer: required, one they hold).")


class ExpensePublic(BaseModel):
    id: int
    category: BudgetCategory
    amount: Decimal
    spent_on: date
    work_order_id: int | None
    note: str
    recorded_by: str
    recorded_at: datetime


class ExpensesPublic(BaseModel):
    data: list[ExpensePublic]
    count: int


Rate = Annotated[Decimal, Field(ge=0, max_digits=8, decimal_places=2)]


class HourlyRate(RequestBody):
    hourly_rate: Rate | None = Field(description="Currency units per hour; null: the policy's labour rate.")


@router.get("/work-orders/{order_id}/cost", dependencies=READ,
            summary="A work order's cost (parts, labour, travel, other) and what the customer pays")
def work_order_cost(conn: PlainConn, policy: PolicyDep,
                    order_id: Annotated[int, Path(ge=1, le=BIGINT_MAX)]) -> JobCostPublic:
    return JobCostPublic(**vars(costs.job_cost(conn, order_id, policy=policy)))


@router.get("/costs", dependencies=READ,
            summary="Job costs rolled up by order, pile, model, customer or region and by month, quarter or year "
                    "(default: the last 12 months by month)")
def cost_rollup(
    conn: PlainConn,
    policy: PolicyDep,
    by: RollupBy = RollupBy.ORDER,
    period: Period = Period.MONTH,
    start: Annotated[AwareDatetime | None, Query(alias="from", description="default: 365 days before `to`")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="default: now")] = None,
) -> CostsPublic:
    end = end or datetime.now(timezone.utc)
    start = start or end - timedelta(days=365)
    if start >= end:
        raise InvalidInput("from: must be before to")
    if end - start > MAX_RANGE:
        raise InvalidInput("from: the range from … to may span at most 5 years")
    rows = costs.rollup(conn, start, end, by, period, policy=policy)
    return CostsPublic(by=by, period=period, start=start, end=end, currency=policy.pricing.currency,
                       data=[CostRow(**r) for r in rows], count=len(rows), totals=CostTotals(**costs.totals(rows)))


@router.post("/expenses", status_code=201,
             summary="Record an expense (refused with 409 beyond the month's budget unless a manager approved it)")
def record_expense(conn: PlainConn, policy: PolicyDep, user: Recorder, body: ExpenseCreate) -> ExpensePublic:
    """Dispatchers and supervisors record any expense; an engineer only one spent on an order
    they hold (any other order answers 404)."""
    expense_id = costs.record_expense(
        conn, category=body.category, amount=body.amount, spent_on=body.spent_on, note=body.note,
        work_order_id=body.work_order_id, actor=user.id, policy=policy,
        engineer_id=user.engineer_id if user.role is Role.ENGINEER else None)
    return ExpensePublic(**costs.expense(conn, expense_id))


@router.get("/expenses", dependencies=READ, summary="Expenses, newest first; filter by days, category, work order")
def list_expenses(
    conn: PlainConn,
    start: Annotated[date | None, Query(alias="from", description="spent on or after this day")] = None,
    end: Annotated[date | None, Query(alias="to", description="spent before this day")] = None,
    category: BudgetCategory | None = None,
    work_order_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ExpensesPublic:
    rows, count = costs.expenses(conn, start=start, end=end, category=category, work_order_id=work_order_id,
                                 limit=limit, offset=offset)
    return ExpensesPublic(data=[ExpensePublic(**r) for r in rows], count=count)


@router.put("/engineers/{engineer_id}/hourly-rate", status_code=204,
            summary="Set an engineer's hourly rate for job costs (null: the policy's labour rate)")
def set_hourly_rate(conn: PlainConn, user: Manager, engineer_id: Annotated[str, Path(max_length=64)],
                    body: HourlyRate) -> None:
    costs.set_hourly_rate(conn, engineer_id, body.hourly_rate, actor=user.id)
