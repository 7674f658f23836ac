"""Budgets per month and category against their actuals, and spending beyond a budget only
with a manager's approval (R-COST)."""
from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import psycopg
import pytest

from maintenance.costs import BudgetCategory as C
from maintenance.costs import approve, budget_vs_actual, changes, delete_budget, require_within_budget
from pilecare.errors import Conflict
from tests.costjob import OCTOBER, seed_october, spend


@pytest.fixture
def month(db):
    """October 2026 (tests/costjob.py: seed_october): budgets, one job, goods received, expenses."""
    return seed_october(db)[0]


def test_a_seeded_month_s_budget_against_actual_equals_the_hand_computation(db, month):
    lines = {line.category: line for line in budget_vs_actual(db, date(2026, 10, 17))}

    assert list(lines) == list(C)
    got = {c.value: (line.budget, line.actual, line.variance, line.share_used) for c, line in lines.items()}
    assert got == {
        # the job's labour: en route 40 min + on site 90 min = 130 min × 60.00 /h = 130.00
        "staff": (Decimal("500.00"), Decimal("130.00"), Decimal("370.00"), 0.26),        # 130 / 500
        "training": (Decimal("200.00"), Decimal("150.00"), Decimal("50.00"), 0.75),      # 150 / 200
        # received 5 October: 10 × 12.00 + 3 × 55.50 = 120.00 + 166.50 = 286.50 (30 September's not)
        "parts_purchasing": (Decimal("1000.00"), Decimal("286.50"), Decimal("713.50"), 0.2865),
        # the job's 14.5 km × 0.90 = 13.05, + its parking 7.50 = 20.55
        "travel": (Decimal("100.00"), Decimal("20.55"), Decimal("79.45"), 0.2055),
        # 80.00 + 45.25 = 125.25 against the 250.00 that replaced 300.00 (November's rent not)
        "office": (Decimal("250.00"), Decimal("125.25"), Decimal("124.75"), 0.501),
        "equipment_upkeep": (None, Decimal("0.00"), Decimal("0.00"), None),
    }


def test_every_budget_change_is_kept_with_who_and_when(db, month):
    delete_budget(db, OCTOBER, C.OFFICE, actor="max")

    office = [(c["old_amount"], c["new_amount"], c["changed_by"]) for c in changes(db, OCTOBER)
              if c["category"] == "office"]
    assert office == [(None, Decimal("300.00"), "mia"), (Decimal("300.00"), Decimal("250.00"), "mia"),
                      (Decimal("250.00"), None, "max")]
    assert all(c["changed_at"] is not None for c in changes(db, OCTOBER))


def test_an_expense_beyond_the_budget_is_refused_until_a_manager_approves_it(db, month):
    # Office: 250.00 budget, 125.25 spent; 124.75 fits exactly, one cent more does not.
    with pytest.raises(Conflict, match="office in 2026-10 would make 250.01 against a budget of 250.00"):
        spend(db, C.OFFICE, "124.76", date(2026, 10, 20))
    approve(db, OCTOBER, C.OFFICE, Decimal("50.00"), reason="the printer died", actor="mia")
    spend(db, C.OFFICE, "124.76", date(2026, 10, 20))     # 250.01 ≤ 250.00 + 50.00
    with pytest.raises(Conflict, match="50.00 approved beyond it"):
        spend(db, C.OFFICE, "50.00", date(2026, 10, 21))  # 300.01 > 300.00
    spend(db, C.OFFICE, "-10.00", date(2026, 10, 22), "toner refunded")   # a correction is never refused
    line = next(x for x in budget_vs_actual(db, OCTOBER) if x.category is C.OFFICE)
    # 125.25 + 124.76 − 10.00 = 240.01; variance 250.00 − 240.01 = 9.99
    assert (line.approved, line.allowed, line.actual, line.variance) == \
        (Decimal("50.00"), Decimal("300.00"), Decimal("240.01"), Decimal("9.99"))


def test_a_category_without_a_budget_spends_nothing_without_approval(db, month):
    with pytest.raises(Conflict, match="equipment_upkeep"):
        spend(db, C.EQUIPMENT_UPKEEP, "0.01", date(2026, 10, 2))


def test_purchase_orders_not_yet_received_count_against_the_parts_budget(db, month):
    db.execute("INSERT INTO purchase_orders (supplier_id, state, location_id, ordered_at, expected_at, created_by) "
               "VALUES ('ACME', 'ordered', 'WH-1', '2026-10-06', '2026-10-20', 'keeper')")
    db.execute("INSERT INTO purchase_order_lines (purchase_order_id, part_id, quantity, unit_price) "
               "SELECT id, 'FAN-120', 10, 40.00 FROM purchase_orders")
    # received 286.50 + ordered 10 × 40.00 = 400.00 → 686.50; 1000.00 − 686.50 = 313.50 left
    with db.transaction():
        require_within_budget(db, C.PARTS_PURCHASING, date(2026, 10, 9), Decimal("313.50"))
    with pytest.raises(Conflict, match="1000.01"), db.transaction():
        require_within_budget(db, C.PARTS_PURCHASING, date(2026, 10, 9), Decimal("313.51"))


def test_of_two_expenses_that_fit_alone_but_not_together_only_one_is_recorded(db, database_url, month):
    # Training: 200.00 budget, 150.00 spent; two of 30.00 each fit alone, not together.
    results, start = [], threading.Barrier(2)

    def one():
        with psycopg.connect(database_url, autocommit=True) as conn:
            start.wait()
            try:
                spend(conn, C.TRAINING, "30.00", date(2026, 10, 25))
                results.append("recorded")
            except Conflict:
                results.append("refused")

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["recorded", "refused"]
    assert db.execute("SELECT sum(amount) FROM expenses WHERE category = 'training'").fetchone()[0] == Decimal("180.00")


def test_an_expense_is_never_changed_or_deleted(db, month):
    with pytest.raises(psycopg.errors.RestrictViolation):
        db.execute("UPDATE expenses SET amount = 1")


def test_through_the_api_a_manager_sets_budgets_approves_and_reads_budget_against_actual(db, month, client_for):
    manager, dispatcher = client_for("manager", user_id="mia2"), client_for("dispatcher", user_id="dan")

    assert manager.put("/budgets/2026-10/equipment_upkeep", json={"amount": "40.00"}).json()["updated_by"] == "mia2"
    refused = dispatcher.post("/expenses", json={"category": "equipment_upkeep", "amount": "55.00",
                                                 "spent_on": "2026-10-09", "note": "torque wrench calibration"})
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("amount: 55.00 more for equipment_upkeep in 2026-10 would make 55.00")
    approval = manager.post("/budgets/2026-10/approvals", json={"category": "equipment_upkeep", "amount": "15.00",
                                                                "reason": "calibration due"})
    assert (approval.status_code, approval.json()["approved_by"]) == (201, "mia2")
    assert dispatcher.post("/expenses", json={"category": "equipment_upkeep", "amount": "55.00",
                                              "spent_on": "2026-10-09", "note": "torque wrench calibration"}
                           ).status_code == 201

    actuals = manager.get("/budgets/2026-10/actuals").json()
    upkeep = next(line for line in actuals["data"] if line["category"] == "equipment_upkeep")
    # 55.00 spent against 40.00 (+15.00 approved): variance 40.00 − 55.00 = −15.00, 55 / 40 = 1.375 used
    assert (upkeep["budget"], upkeep["allowed"], upkeep["actual"], upkeep["variance"], upkeep["share_used"]) == \
        ("40.00", "55.00", "55.00", "-15.00", 1.375)
    assert actuals["count"] == 6 and actuals["currency"] == "EUR"
    listed = manager.get("/budgets", params={"from": "2026-10", "to": "2026-11"}).json()
    assert [(b["period"], b["category"]) for b in listed["data"]][-1] == ("2026-11-01", "office")
    assert manager.delete("/budgets/2026-10/equipment_upkeep").status_code == 204
    assert manager.delete("/budgets/2026-10/equipment_upkeep").status_code == 404
    assert manager.get("/budgets/2026-13/actuals").status_code == 422
    assert manager.put("/budgets/2026-10/snacks", json={"amount": "1"}).status_code == 422
