"""Ordering a purchase order within the parts-purchasing budget (R-COST: spending beyond budget
needs prior approval): refused with a 409 naming the budget and the shortfall until a manager
approves the spending; of two orders that fit alone but not together, exactly one is ordered."""
from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import psycopg
import pytest

from maintenance.costs import BudgetCategory, approve, order_within_budget, set_budget
from maintenance.inventory import OrderLine, purchasing
from pilecare.errors import Conflict
from tests.purchasing import CABLE, RCD, stores, this_month_and_next  # noqa: F401


def draft(api, lines) -> int:
    response = api.post("/purchase-orders", json={"supplier_id": "ACME", "location_id": "WH-1", "lines": [
        {"part_id": part, "quantity": quantity} for part, quantity in lines]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_an_order_beyond_the_parts_budget_is_refused_until_a_manager_approves_the_spending(stores, db,  # noqa: F811
                                                                                       client_for):
    keeper, manager = client_for("parts_keeper"), client_for("manager")
    for month in this_month_and_next():
        set_budget(db, month, BudgetCategory.PARTS_PURCHASING, 5000, actor="manager")
    # At ACME's prices: 10 × 295.00 + 4 × 760.00 = 2,950.00 + 3,040.00 = 5,990.00 against 5,000.00.
    order_id = draft(stores, [(RCD, 10), (CABLE, 4)])

    refused = keeper.post(f"/purchase-orders/{order_id}/order")

    assert refused.status_code == 409
    detail = refused.json()["detail"]
    month = detail.split(" in ", 1)[1][:7]                     # this month, as the server saw it
    assert month in [m.strftime("%Y-%m") for m in this_month_and_next()]
    assert detail.startswith(f"purchase order {order_id}: 5990.00 more for parts_purchasing in {month} "
                             "would make 5990.00 against a budget of 5000.00 with 0.00 approved beyond it, "
                             "990.00 short"), detail              # 5,990.00 − 5,000.00
    assert stores.get(f"/purchase-orders/{order_id}").json()["state"] == "draft"

    approval = manager.post(f"/budgets/{month}/approvals", json={"category": "parts_purchasing", "amount": "1000.00",
                                                                 "reason": "RCDs for the winter campaign"})
    assert approval.status_code == 201, approval.text
    placed = keeper.post(f"/purchase-orders/{order_id}/order")
    assert placed.status_code == 200, placed.text
    assert (placed.json()["state"], placed.json()["ordered_by"].startswith("parts_keeper")) == ("ordered", True)

    # Ordered and not yet received, it counts: 5,990.00 + 1 × 760.00 = 6,750.00 against
    # 5,000.00 + 1,000.00 approved: 750.00 short.
    another = draft(stores, [(CABLE, 1)])
    again = keeper.post(f"/purchase-orders/{another}/order")
    assert again.status_code == 409 and "would make 6750.00" in again.json()["detail"] \
        and "1000.00 approved beyond it, 750.00 short" in again.json()["detail"]


def test_the_month_of_ordering_is_charged_with_what_it_received_and_ordered(stores, db):  # noqa: F811
    october = datetime(2026, 10, 6, 9, 0, tzinfo=timezone.utc)
    set_budget(db, date(2026, 10, 1), BudgetCategory.PARTS_PURCHASING, 4000, actor="manager")
    first = purchasing.create(db, "ACME", "WH-1", [OrderLine(RCD, 10)], actor="keeper")       # 2,950.00
    assert order_within_budget(db, first, actor="keeper", at=october) == datetime(2026, 10, 27, 9, 0,
                                                                                 tzinfo=timezone.utc)  # + 21 days
    second = purchasing.create(db, "ACME", "WH-1", [OrderLine(CABLE, 2)], actor="keeper")     # 1,520.00
    # 2,950.00 ordered + 1,520.00 = 4,470.00 against 4,000.00: 470.00 short.
    with pytest.raises(Conflict, match="would make 4470.00 against a budget of 4000.00 with 0.00 approved beyond "
                                       "it, 470.00 short"):
        order_within_budget(db, second, actor="keeper", at=october)
    assert purchasing.state_of(db, second).value == "draft"
    # November's budget is another month's: the same order fits there.
    set_budget(db, date(2026, 11, 1), BudgetCategory.PARTS_PURCHASING, 2000, actor="manager")
    order_within_budget(db, second, actor="keeper", at=datetime(2026, 11, 2, tzinfo=timezone.utc))
    assert purchasing.state_of(db, second).value == "ordered"


def test_of_two_orders_that_each_fit_alone_but_not_together_exactly_one_is_ordered(stores, db,  # noqa: F811
                                                                                    database_url):
    october = datetime(2026, 10, 6, 9, 0, tzinfo=timezone.utc)
    set_budget(db, date(2026, 10, 1), BudgetCategory.PARTS_PURCHASING, 4000, actor="manager")
    # 10 × 295.00 = 2,950.00 and 4 × 760.00 = 3,040.00: each ≤ 4,000.00, together 5,990.00.
    orders = [purchasing.create(db, "ACME", "WH-1", [OrderLine(RCD, 10)], actor="keeper"),
              purchasing.create(db, "ACME", "WH-1", [OrderLine(CABLE, 4)], actor="keeper")]
    results, start = {}, threading.Barrier(2)

    def place(order_id: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            start.wait()
            try:
                order_within_budget(conn, order_id, actor="keeper", at=october)
                results[order_id] = "ordered"
            except Conflict:
                results[order_id] = "refused"

    threads = [threading.Thread(target=place, args=(order_id,)) for order_id in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["ordered", "refused"]
    states = {order_id: purchasing.state_of(db, order_id).value for order_id in orders}
    assert states == {order_id: "ordered" if outcome == "ordered" else "draft" for order_id, outcome in results.items()}
    # After a manager's approval of the difference the refused one is ordered too: 5,990.00 ≤ 4,000.00 + 1,990.00.
    approve(db, date(2026, 10, 1), BudgetCategory.PARTS_PURCHASING, 1990, reason="both are needed", actor="mia")
    [refused] = [order_id for order_id, outcome in results.items() if outcome == "refused"]
    order_within_budget(db, refused, actor="keeper", at=october)
    assert purchasing.state_of(db, refused).value == "ordered"
