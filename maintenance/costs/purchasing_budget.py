"""Ordering a purchase order within the parts-purchasing budget (R-COST: "spending beyond
budget needs prior approval"; R-PARTS: purchase orders to suppliers).

The inventory room owns purchase orders and sits below costs: it must not import the budget
rule, so the two meet here, above both. A purchase order is a spend when it is ordered (sent
to the supplier): from then on it counts against its month's parts-purchasing budget until
its goods are received, when the goods receipt counts instead (budgets.py). Ordering one that
would take the month's parts purchasing beyond its budget plus the manager's approvals is
refused; a manager approves the spending first (`budgets.approve`), then it is ordered.
"""
from __future__ import annotations

from datetime import datetime, timezone

import psycopg
from psycopg.rows import tuple_row

from maintenance.costs.budgets import BudgetCategory, require_within_budget
from maintenance.inventory import purchasing
from pilecare.errors import NotFound


def order_within_budget(conn: psycopg.Connection, order_id: int, *, actor: str,
                        at: datetime | None = None) -> datetime:
    """Send the draft purchase order `order_id` to its supplier (inventory's `purchasing.order`:
    state ordered, ordered_at = `at`, default the transaction's now) if its value (Σ quantity
    × unit price of its lines) fits the parts-purchasing budget of the month it is ordered in
    (UTC) plus the approvals given for it, counting what was received in that month and the
    purchase orders ordered in it and not yet received. Returns expected_at.

    One transaction: the purchase order's row is locked first (its lines cannot change, a
    second orderer of it waits and then finds it ordered), then `require_within_budget` takes
    the (month, parts purchasing) lock, so of two orders that each fit alone but not together
    the second is decided after the first committed, and sees it. Nothing is written when it
    is refused.

    Raises NotFound for an unknown purchase order; Conflict (409) when it is not a draft, or
    when it would pass the budget: naming the purchase order, parts_purchasing, the month,
    what it would make, the budget, the approvals and the shortfall; InvalidInput as
    `purchasing.order` (a part the supplier does not list). R-COST, R-PARTS."""
    with conn.transaction():
        row = conn.cursor(row_factory=tuple_row).execute(
            "SELECT state, coalesce(%s::timestamptz, now()) FROM purchase_orders WHERE id = %s FOR UPDATE",
            (at, order_id)).fetchone()
        if row is None:
            raise NotFound(f"purchase order {order_id} does not exist")
        state, ordered_at = row
        if state == purchasing.PurchaseOrderState.DRAFT.value:
            value = purchasing.purchase_order(conn, order_id)["total"]
            require_within_budget(conn, BudgetCategory.PARTS_PURCHASING, ordered_at.astimezone(timezone.utc).date(),
                                  value, subject=f"purchase order {order_id}")
        # Not a draft: inventory refuses it (409) with its own words.
        return purchasing.order(conn, order_id, actor=actor, at=ordered_at)
