"""Budgets per month and category, their actuals, and the manager's approvals of spending
beyond them (R-COST: "spending beyond budget needs prior approval").

Actuals of a month (UTC calendar):
- staff: the labour of the jobs completed in the month (job_costs: travel and on-site hours ×
  rate), plus expenses recorded as staff;
- travel: the travel of those jobs (distance × rate), plus travel expenses (a job's tolls,
  parking, hotel);
- parts purchasing: goods received in the month, Σ received quantity × unit price of the
  goods receipt lines, plus parts-purchasing expenses. Parts issued to jobs are not counted
  again: they were bought when received;
- training, office, equipment upkeep: their expenses.

What a category may spend in a month is its budget plus the approvals given for it; no
budget is a budget of 0. A spend that would pass that is refused (Conflict, HTTP 409) by
`require_within_budget`, which expenses call and purchasing must call when it orders.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum

import psycopg
from psycopg.rows import dict_row, tuple_row

from maintenance.costs.job_costs import labour_and_travel, money
from maintenance.policy import Policy
from pilecare.errors import Conflict, InvalidInput, NotFound


class BudgetCategory(str, Enum):
    """The budget categories of the after-sales regulations (R-COST): staff, training, parts
    purchasing, travel, office, equipment upkeep."""

    STAFF = "staff"
    TRAINING = "training"
    PARTS_PURCHASING = "parts_purchasing"
    TRAVEL = "travel"
    OFFICE = "office"
    EQUIPMENT_UPKEEP = "equipment_upkeep"


ZERO = Decimal("0.00")
# The months budgets are kept for (the API's YYYY-MM is 19xx or 20xx): a spend outside them
# could never be read against a budget.
CALENDAR = (date(1900, 1, 1), date(2099, 12, 31))


def _tuples(conn: psycopg.Connection) -> psycopg.Cursor:
    # Tuple rows whatever the caller's connection hands out (the API's may give dicts).
    return conn.cursor(row_factory=tuple_row)


def month_of(day: date) -> date:
    """The first day of `day`'s month."""
    return day.replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of `month`, in UTC."""
    first = month_of(month)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (datetime(first.year, first.month, 1, tzinfo=timezone.utc),
            datetime(following.year, following.month, 1, tzinfo=timezone.utc))


@dataclass(frozen=True)
class BudgetLine:
    """A category's month: money in the policy's currency.

    budget: None when none was set (then 0 may be spent without approval); approved: Σ
    approvals; allowed: budget + approved; actual: spent (module docstring); variance:
    budget − actual (negative: over budget); share_used: actual ÷ budget (None without a
    budget above 0)."""

    category: BudgetCategory
    budget: Decimal | None
    approved: Decimal
    allowed: Decimal
    actual: Decimal
    variance: Decimal
    share_used: float | None


def actuals(conn: psycopg.Connection, month: date, *, policy: Policy | None = None,
            only: BudgetCategory | None = None) -> dict[BudgetCategory, Decimal]:
    """What each category spent in `month` (module docstring), 0 for none; `only`: just that one
    (the job costs are read only for staff and travel)."""
    start, end = month_bounds(month)
    spent = {c: ZERO for c in BudgetCategory}
    for category, amount in _tuples(conn).execute(
            "SELECT category, sum(amount) FROM expenses WHERE spent_on >= %s AND spent_on < %s "
            "AND (%s::text IS NULL OR category = %s) GROUP BY category",
            (start.date(), end.date(), only and only.value, only and only.value)).fetchall():
        spent[BudgetCategory(category)] += amount
    if only in (None, BudgetCategory.PARTS_PURCHASING):
        received = _tuples(conn).execute(
            "SELECT coalesce(sum(l.quantity * l.unit_price), 0) FROM goods_receipt_lines l "
            "JOIN goods_receipts r ON r.id = l.goods_receipt_id WHERE r.received_at >= %s AND r.received_at < %s",
            (start, end)).fetchone()[0]
        spent[BudgetCategory.PARTS_PURCHASING] += received
    if only in (None, BudgetCategory.STAFF, BudgetCategory.TRAVEL):
        labour, travel = labour_and_travel(conn, start, end, policy=policy)
        spent[BudgetCategory.STAFF] += labour
        spent[BudgetCategory.TRAVEL] += travel
    return {c: money(v) for c, v in spent.items() if only in (None, c)}


def _limits(conn: psycopg.Connection, month: date) -> tuple[dict, dict]:
    first = month_of(month)
    budgets = dict(_tuples(conn).execute("SELECT category, amount FROM budgets WHERE period = %s", (first,)).fetchall())
    approved = dict(_tuples(conn).execute("SELECT category, sum(amount) FROM budget_approvals WHERE period = %s "
                                 "GROUP BY category", (first,)).fetchall())
    return budgets, approved


def budget_vs_actual(conn: psycopg.Connection, month: date, *, policy: Policy | None = None) -> list[BudgetLine]:
    """Budget against actual for `month` (any day of it): one BudgetLine per category, in
    BudgetCategory's order (see BudgetLine for the fields). R-COST."""
    budgets, approved = _limits(conn, month)
    spent = actuals(conn, month, policy=policy)
    lines = []
    for category in BudgetCategory:
        budget = budgets.get(category.value)
        extra = money(approved.get(category.value, 0))
        actual = spent[category]
        lines.append(BudgetLine(
            category=category, budget=budget, approved=extra, allowed=(budget or ZERO) + extra, actual=actual,
            variance=(budget or ZERO) - actual,
            share_used=float(actual / budget) if budget else None))
    return lines


def _committed_purchases(conn: psycopg.Connection, start: datetime, end: datetime) -> Decimal:
    """Purchase orders ordered in [start, end) and not yet received: what they will still cost."""
    return _tuples(conn).execute(
        "SELECT coalesce(sum(ordered.value - coalesce(got.value, 0)), 0) FROM ("
        "  SELECT o.id, sum(l.quantity * l.unit_price) AS value FROM purchase_orders o "
        "  JOIN purchase_order_lines l ON l.purchase_order_id = o.id "
        "  WHERE o.state IN ('ordered', 'partially_received') AND o.ordered_at >= %s AND o.ordered_at < %s "
        "  GROUP BY o.id) ordered "
        "LEFT JOIN (SELECT r.purchase_order_id, sum(l.quantity * l.unit_price) AS value FROM goods_receipts r "
        "  JOIN goods_receipt_lines l ON l.goods_receipt_id = r.id GROUP BY r.purchase_order_id) got "
        "ON got.purchase_order_id = ordered.id", (start, end)).fetchone()[0]


def require_within_budget(conn: psycopg.Connection, category: BudgetCategory | str, period: date,
                          amount: Decimal | float, *, policy: Policy | None = None, subject: str = "amount") -> None:
    """Refuse a spend of `amount` in `category` in `period`'s month (any day of it) that would
    take the category beyond its budget plus the approvals given for it (R-COST: spending
    beyond budget needs prior approval). Raises Conflict (409) starting with `subject` (the
    field or thing refused) and naming the category, month, what it would make, the budget,
    the approvals and the shortfall; returns None when the spend fits (or is not positive).
    For parts purchasing, purchase orders ordered in the month and not yet received count as
    spent.

    Call it inside the transaction that records the spend: it takes a transaction-level lock
    on (month, category), so two spends that each fit but together do not are decided one
    after the other, the second seeing the first."""
    category = BudgetCategory(category)
    amount = money(amount)
    if amount <= 0:
        return
    first = month_of(period)
    # Released at commit or rollback: the spend recorded under it is visible to the next.
    _tuples(conn).execute("SELECT pg_advisory_xact_lock(hashtext('budget'), hashtext(%s))", (f"{first}:{category.value}",))
    budgets, approved = _limits(conn, first)
    budget = budgets.get(category.value) or ZERO
    extra = money(approved.get(category.value, 0))
    spent = actuals(conn, first, policy=policy, only=category)[category]
    if category is BudgetCategory.PARTS_PURCHASING:
        spent += money(_committed_purchases(conn, *month_bounds(first)))
    if spent + amount > budget + extra:
        raise Conflict(f"{subject}: {amount} more for {category.value} in {first:%Y-%m} would make {spent + amount} "
                       f"against a budget of {budget} with {extra} approved beyond it, "
                       f"{spent + amount - budget - extra} short; spending beyond the budget needs a manager's "
                       f"approval first (POST /budgets/{first:%Y-%m}/approvals)")


def set_budget(conn: psycopg.Connection, month: date, category: BudgetCategory | str, amount: Decimal | float, *,
               actor: str) -> None:
    """Set (create or change) the budget of `category` for `month`, recorded in budget_changes
    with who and when. Raises InvalidInput for a negative amount."""
    category, first, amount = BudgetCategory(category), month_of(month), money(amount)
    if amount < 0:
        raise InvalidInput("amount: a budget is 0 or more")
    with conn.transaction():
        old = _tuples(conn).execute("SELECT amount FROM budgets WHERE period = %s AND category = %s FOR UPDATE",
                           (first, category.value)).fetchone()
        _tuples(conn).execute("INSERT INTO budgets (period, category, amount, created_by, updated_by) VALUES (%s, %s, %s, %s, %s) "
                     "ON CONFLICT (period, category) DO UPDATE SET amount = excluded.amount, "
                     "updated_by = excluded.updated_by, updated_at = now()",
                     (first, category.value, amount, actor, actor))
        _tuples(conn).execute("INSERT INTO budget_changes (period, category, old_amount, new_amount, changed_by) "
                     "VALUES (%s, %s, %s, %s, %s)", (first, category.value, old and old[0], amount, actor))


def delete_budget(conn: psycopg.Connection, month: date, category: BudgetCategory | str, *, actor: str) -> None:
    """Remove a month's budget of a category (who and when in budget_changes). NotFound if none."""
    category, first = BudgetCategory(category), month_of(month)
    with conn.transaction():
        old = _tuples(conn).execute("DELETE FROM budgets WHERE period = %s AND category = %s RETURNING amount",
                           (first, category.value)).fetchone()
        if old is None:
            raise NotFound(f"no {category.value} budget for {first:%Y-%m}")
        _tuples(conn).execute("INSERT INTO budget_changes (period, category, old_amount, new_amount, changed_by) "
                     "VALUES (%s, %s, %s, NULL, %s)", (first, category.value, old[0], actor))


def budgets(conn: psycopg.Connection, first_month: date, last_month: date) -> list[dict]:
    """The budgets of the months first_month … last_month: dicts of period, category, amount,
    created_by/at, updated_by/at; by period, then category."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT period, category, amount, created_by, created_at, updated_by, updated_at "
                           "FROM budgets WHERE period BETWEEN %s AND %s ORDER BY period, category",
                           (month_of(first_month), month_of(last_month))).fetchall()


def changes(conn: psycopg.Connection, month: date) -> list[dict]:
    """Every change of `month`'s budgets, oldest first: period, category, old_amount, new_amount, changed_by/at."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT period, category, old_amount, new_amount, changed_by, changed_at FROM budget_changes "
                           "WHERE period = %s ORDER BY id", (month_of(month),)).fetchall()


def approve(conn: psycopg.Connection, month: date, category: BudgetCategory | str, amount: Decimal | float, *,
            reason: str, actor: str) -> int:
    """A manager's approval to spend `amount` beyond `category`'s budget in `month` (R-COST);
    returns its id. The role check is the API's (MANAGE). InvalidInput for an amount not
    above 0 or an empty reason."""
    category, first, amount = BudgetCategory(category), month_of(month), money(amount)
    if amount <= 0:
        raise InvalidInput("amount: an approval is for more than 0")
    if not reason.strip():
        raise InvalidInput("reason: say why the spending beyond the budget is approved")
    return _tuples(conn).execute("INSERT INTO budget_approvals (period, category, amount, reason, approved_by) "
                        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                        (first, category.value, amount, reason.strip(), actor)).fetchone()[0]


def approvals(conn: psycopg.Connection, month: date) -> list[dict]:
    """`month`'s approvals, oldest first: id, period, category, amount, reason, approved_by/at."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT id, period, category, amount, reason, approved_by, approved_at "
                           "FROM budget_approvals WHERE period = %s ORDER BY id", (month_of(month),)).fetchall()
