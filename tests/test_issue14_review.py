"""A review of issue 14 as its users would try it (spare parts, costs, reports): hostile and
odd input through the real API, each a defect found and fixed (docs: parts.md, costs.md)."""
from __future__ import annotations

import pytest

from tests.fieldjob import accepted_order
from tests.factories import set_stock
from tests.purchasing import RCD, stores  # noqa: F401


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_an_expense_dated_outside_the_budget_calendar_is_refused_naming_spent_on(stores, day):
    # The budgets API reads months 1900-01 … 2099-12; a spend outside them could never be
    # read against a budget (and 9999-12's month end, year 10000, used to answer 500).
    refused = stores.post("/expenses", json={"category": "office", "amount": "5.00", "spent_on": day, "note": "x"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("spent_on"), refused.text
    assert stores.get("/expenses").json()["count"] == 0



def test_a_part_listed_twice_by_the_same_supplier_is_refused_naming_the_second_listing(stores):
    # Both offers cannot hold (one row per supplier and part): the last used to win silently.
    refused = stores.post("/parts", json={"id": "FUSE-32", "name": "Fuse 32 A", "unit_cost": 4, "suppliers": [
        {"supplier_id": "ACME", "price": 3.5, "lead_time_days": 2}, {"supplier_id": "ACME", "price": 9, "lead_time_days": 30}]})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("suppliers[1].supplier_id"), refused.text
    assert stores.get("/parts/FUSE-32").status_code == 404


def test_an_engineer_cannot_record_a_negative_expense_to_shrink_a_jobs_cost_or_free_a_budget(db, fleet, client_for):
    # A correction (negative expense) is never refused by the budget: in an engineer's hands
    # it lowered their own job's cost and made room in any category's budget. Corrections
    # are the office's (dispatchers, supervisors), who can read what they correct.
    order = accepted_order(db, fleet[1])
    eva = client_for("engineer", "eva", engineer_id="E1")
    body = {"category": "office", "amount": "-500.00", "spent_on": "2026-10-01", "note": "x", "work_order_id": order}
    refused = eva.post("/expenses", json=body)
    assert refused.status_code == 403 and "amount" in refused.json()["detail"], refused.text
    assert db.execute("SELECT count(*) FROM expenses").fetchone() == (0,)
    dispatcher = client_for("dispatcher")
    assert dispatcher.post("/expenses", json=body).status_code == 201


def test_a_huge_reorder_override_does_not_break_the_purchase_proposals_for_everyone(stores, db):
    # The override takes up to 2³¹ − 1 each; their sum overflowed PostgreSQL's integer and the
    # whole proposal list answered 422 "integer out of range" to every reader.
    set_stock(db, "WH-1", RCD, 5)
    top = 2**31 - 1
    assert stores.put("/stock/reorder-levels", json={"part_id": RCD, "location_id": "WH-1", "reorder_point": top,
                                                     "order_quantity": top, "reason": "typo"}).status_code == 200
    listed = stores.get("/stock/purchase-proposals")
    assert listed.status_code == 200, listed.text
    line = listed.json()["data"][0]["lines"][0]
    # Order up to ROP + Q from a position of 5 on hand: 2 × 2147483647 − 5 = 4294967289.
    assert (line["position"], line["quantity"]) == (5, 4294967289)
