"""Budgets (R-COST): a budget per month and category, budget against actual, every change
with who and when, and the manager's approvals of spending beyond a budget.

Managers and supervisors (and admins) read; a manager sets budgets and approves. A month
is written YYYY-MM; money is in the policy's currency, as decimal strings. The rules:
maintenance/costs/budgets.py and docs/costs.md.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from api.auth import MANAGE, Role, User, require
from api.deps import PlainConn, PolicyDep
from api.models import RequestBody
from maintenance import costs
from maintenance.costs import BudgetCategory
from pilecare.errors import InvalidInput

router = APIRouter(prefix="/budgets", tags=["budgets"])

READ = [Depends(require(Role.MANAGER, Role.SUPERVISOR))]
Manager = Annotated[User, Depends(require(*MANAGE))]
MONTH = r"^(19|20)\d{2}-(0[1-9]|1[0-2])$"
Month = Annotated[str, Path(pattern=MONTH, description="A month, YYYY-MM.", examples=["2026-10"])]
Money = Annotated[Decimal, Field(max_digits=14, decimal_places=2)]


def _month(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


class BudgetPublic(BaseModel):
    period: date = Field(description="The month's first day.")
    category: BudgetCategory
    amount: Decimal
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class BudgetsPublic(BaseModel):
    data: list[BudgetPublic]
    count: int


class BudgetSet(RequestBody):
    amount: Money = Field(ge=0, description="What the category may spend in the month, currency units.")


class BudgetLinePublic(BaseModel):
    category: BudgetCategory
    budget: Decimal | None = Field(description="Null: none set (a budget of 0).")
    approved: Decimal = Field(description="Approved beyond the budget.")
    allowed: Decimal = Field(description="budget + approved: what may be spent without a further approval.")
    actual: Decimal = Field(description="Spent in the month (docs/costs.md: where each category's actual comes from).")
    variance: Decimal = Field(description="budget − actual; negative: over budget.")
    share_used: float | None = Field(description="actual ÷ budget; null without a budget above 0.")


class BudgetActualsPublic(BaseModel):
    period: date
    currency: str
    data: list[BudgetLinePublic] = Field(description="One per category, in the regulations' order.")
    count: int


class BudgetChangePublic(BaseModel):
    period: date
    category: BudgetCategory
    old_amount: Decimal | None
    new_amount: Decimal | None = Field(description="Null: the budget was removed.")
    changed_by: str
    changed_at: datetime


class ApprovalCreate(RequestBody):
    category: BudgetCategory
    amount: Money = Field(gt=0, description="How much more than the budget may be spent this month.")
    reason: str = Field(min_length=1, max_length=2000)


class ApprovalPublic(BaseModel):
    id: int
    period: date
    category: BudgetCategory
    amount: Decimal
    reason: str
    approved_by: str
    approved_at: datetime


@router.get("", dependencies=READ, summary="Budgets of the months from … to (default: this year)")
def list_budgets(
    conn: PlainConn,
    start: Annotated[str | None, Query(alias="from", pattern=MONTH, description="YYYY-MM")] = None,
    end: Annotated[str | None, Query(alias="to", pattern=MONTH, description="YYYY-MM, included")] = None,
) -> BudgetsPublic:
    year = date.today().year
    first = _month(start) if start else date(year, 1, 1)
    last = _month(end) if end else date(year, 12, 1)
    if first > last:
        raise InvalidInput("from: must not be after to")
    rows = costs.budgets(conn, first, last)
    return BudgetsPublic(data=[BudgetPublic(**r) for r in rows], count=len(rows))


@router.put("/{period}/{category}", summary="Set a month's budget of a category (a manager)")
def set_budget(conn: PlainConn, user: Manager, period: Month, category: BudgetCategory,
               body: BudgetSet) -> BudgetPublic:
    costs.set_budget(conn, _month(period), category, body.amount, actor=user.id)
    row = next(r for r in costs.budgets(conn, _month(period), _month(period)) if r["category"] == category.value)
    return BudgetPublic(**row)


@router.delete("/{period}/{category}", status_code=204, summary="Remove a month's budget of a category (a manager)")
def delete_budget(conn: PlainConn, user: Manager, period: Month, category: BudgetCategory) -> Response:
    costs.delete_budget(conn, _month(period), category, actor=user.id)
    return Response(status_code=204)


@router.get("/{period}/actuals", dependencies=READ,
            summary="Budget against actual for a month: per category budget, approvals, actual, variance, share used")
def actuals(conn: PlainConn, policy: PolicyDep, period: Month) -> BudgetActualsPublic:
    lines = costs.budget_vs_actual(conn, _month(period), policy=policy)
    return BudgetActualsPublic(period=_month(period), currency=policy.pricing.currency,
                               data=[BudgetLinePublic(**vars(line)) for line in lines], count=len(lines))


@router.get("/{period}/changes", dependencies=READ, summary="Every change of a month's budgets, who and when")
def changes(conn: PlainConn, period: Month) -> list[BudgetChangePublic]:
    return [BudgetChangePublic(**r) for r in costs.changes(conn, _month(period))]


@router.post("/{period}/approvals", status_code=201,
             summary="Approve spending beyond a month's budget of a category (a manager; R-COST prior approval)")
def approve(conn: PlainConn, user: Manager, period: Month, body: ApprovalCreate) -> ApprovalPublic:
    approval_id = costs.approve(conn, _month(period), body.category, body.amount, reason=body.reason, actor=user.id)
    return ApprovalPublic(**next(a for a in costs.approvals(conn, _month(period)) if a["id"] == approval_id))


@router.get("/{period}/approvals", dependencies=READ, summary="A month's approvals beyond budget, oldest first")
def list_approvals(conn: PlainConn, period: Month) -> list[ApprovalPublic]:
    return [ApprovalPublic(**a) for a in costs.approvals(conn, _month(period))]
