"""Expenses (R-COST): money spent beside the stock ledger and a job's measured labour and
travel — a job's tolls, parking or hotel (with its work order: the job's "other" cost), or
the office's, training's and equipment upkeep's bills. Each in a budget category, with who
recorded it and when; never changed or deleted (a correction is a negative expense).

A positive expense that would take its category beyond the month's budget plus approvals
is refused (Conflict, 409) unless a manager approved the excess first (budgets.approve).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row, tuple_row

from maintenance.costs.budgets import CALENDAR, BudgetCategory, require_within_budget
from maintenance.costs.job_costs import money
from maintenance.policy import Policy
from pilecare.errors import Forbidden, InvalidInput, NotFound


def record_expense(conn: psycopg.Connection, *, category: BudgetCategory | str, amount: Decimal | float,
                   spent_on: date, note: str, actor: str, work_order_id: int | None = None,
                   engineer_id: str | None = None, policy: Policy | None = None) -> int:
    """Record an expense of `amount` (currency units, not 0; negative: a correction) in
    `category`, spent on `spent_on`, optionally against `work_order_id`; returns its id.

    `engineer_id`: an engineer recording for a job they hold (their own orders only; any
    other order, or none, answers NotFound as if it did not exist). Raises InvalidInput for
    an amount of 0, an empty note or a day outside budgets.CALENDAR, NotFound for an unknown
    order, Forbidden for an engineer's correction (a negative amount), Conflict (409) when the
    category's budget for the month would be exceeded without an approval covering it."""
    category, amount = BudgetCategory(category), money(amount)
    if amount == 0:
        raise InvalidInput("amount: an expense is not 0")
    if not note.strip():
        raise InvalidInput("note: say what the money was spent on")
    if not CALENDAR[0] <= spent_on <= CALENDAR[1]:
        raise InvalidInput(f"spent_on: a day from {CALENDAR[0]} to {CALENDAR[1]} (the months budgets are kept for)")
    if engineer_id is not None and work_order_id is None:
        raise InvalidInput("work_order_id: an engineer records expenses against an order they hold")
    if engineer_id is not None and amount < 0:
        # A correction is never refused by the budget: in an engineer's hands it would shrink
        # their own job's cost and free any category's budget.
        raise Forbidden("amount: an engineer records what was spent; a correction (negative) is a dispatcher's "
                        "or a supervisor's")
    cur = conn.cursor(row_factory=tuple_row)
    with conn.transaction():
        if work_order_id is not None:
            held = cur.execute("SELECT 1 FROM work_orders WHERE id = %s AND (%s::text IS NULL OR engineer_id = %s)",
                               (work_order_id, engineer_id, engineer_id)).fetchone()
            if held is None:
                raise NotFound(f"work order {work_order_id} does not exist")
        require_within_budget(conn, category, spent_on, amount, policy=policy)
        return cur.execute(
            "INSERT INTO expenses (category, amount, spent_on, work_order_id, note, recorded_by) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (category.value, amount, spent_on, work_order_id, note.strip(), actor)).fetchone()[0]


COLUMNS = "id, category, amount, spent_on, work_order_id, note, recorded_by, recorded_at"


def expense(conn: psycopg.Connection, expense_id: int) -> dict:
    """One expense as a dict of COLUMNS; NotFound if none."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(f"SELECT {COLUMNS} FROM expenses WHERE id = %s", (expense_id,)).fetchone()
    if row is None:
        raise NotFound(f"expense {expense_id} does not exist")
    return row


def expenses(conn: psycopg.Connection, *, start: date | None = None, end: date | None = None,
             category: BudgetCategory | None = None, work_order_id: int | None = None, limit: int = 100,
             offset: int = 0) -> tuple[list[dict], int]:
    """Expenses spent in [start, end) (dates; either may be None), of `category` and
    `work_order_id` when given; newest first. Returns (dicts of COLUMNS, count of all matching)."""
    where = ("(%(start)s::date IS NULL OR spent_on >= %(start)s) AND (%(end)s::date IS NULL OR spent_on < %(end)s) "
             "AND (%(category)s::text IS NULL OR category = %(category)s) "
             "AND (%(order)s::bigint IS NULL OR work_order_id = %(order)s)")
    params = {"start": start, "end": end, "category": category and BudgetCategory(category).value,
              "order": work_order_id}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT {COLUMNS} FROM expenses WHERE {where} ORDER BY spent_on DESC, id DESC "
                           "LIMIT %(limit)s OFFSET %(offset)s", params | {"limit": limit, "offset": offset}).fetchall()
        count = cur.execute(f"SELECT count(*) AS n FROM expenses WHERE {where}", params).fetchone()["n"]
    return rows, count
