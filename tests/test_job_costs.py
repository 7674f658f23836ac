"""Costs per job (R-COST) and who pays them (R-WARRANTY): a job driven through the real field
flow, its timeline then set to known times, costed by hand."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from maintenance.costs import (BudgetCategory, job_cost, job_costs, record_expense, rollup, set_budget,
                               set_hourly_rate)
from tests.costjob import DAY, drive_job
from tests.factories import make_fleet

@pytest.fixture
def piles(db):
    return make_fleet(db, piles=4)


def test_a_seeded_job_costs_its_parts_labour_travel_and_expenses_as_computed_by_hand(db, piles):
    set_budget(db, DAY.date(), BudgetCategory.TRAVEL, 100, actor="manager")
    order = drive_job(db, piles[0], cause="wear", departed=(52.42, 13.40), quote=True,
                      times={"en_route": "09:00", "on_site": "09:40", "resolved": "11:10"})
    set_hourly_rate(db, "E1", Decimal("60.00"), actor="manager")
    record_expense(db, category=BudgetCategory.TRAVEL, amount=Decimal("7.50"), spent_on=DAY.date(),
                   note="parking at the depot", work_order_id=order, actor="dispatcher")

    cost = job_cost(db, order)

    # Labour: en route 09:00 → 09:40 = 40 min, on site 09:40 → 11:10 = 90 min;
    # (40 + 90) min = 130 min = 2 h 10 min × 60.00 /h = 130.00.
    assert (cost.travel_h, cost.on_site_h) == (Decimal("0.67"), Decimal("1.50"))
    assert cost.labour_cost == Decimal("130.00")
    # Travel: set off at 52.42° N, the pile at 52.52° N on the same meridian: 0.1° of arc =
    # 6371.0088 km × 0.1 × π / 180 = 11.1195 km; × road factor 1.3 = 14.455 km → 14.5 km;
    # × 0.90 /km = 13.05.
    assert (cost.travel_km, cost.distance_source.value) == (Decimal("14.5"), "departure")
    assert cost.travel_cost == Decimal("13.05")
    # Parts: one fan issued at its standard cost 42.50; the defective one taken back into
    # quarantine counts 0.
    assert cost.parts_cost == Decimal("42.50")
    assert cost.other_cost == Decimal("7.50")
    # 130.00 + 13.05 + 42.50 + 7.50 = 193.05
    assert cost.total == Decimal("193.05")
    # Out of warranty (wear): the customer pays the approved quote, 1 fan 42.50 + 2 h × 85
    # + 15 km × 0.90 = 42.50 + 170.00 + 13.50 = 226.00; nothing is left for the company.
    assert (cost.warranty, cost.payer.value, cost.billable, cost.company_cost) == \
        ("out_of_warranty", "customer", Decimal("226.00"), Decimal("0.00"))


def test_in_warranty_the_company_pays_and_an_engineer_without_a_rate_costs_the_policy_rate(db, piles):
    order = drive_job(db, piles[0], cause="manufacture", departed=(52.42, 13.40),
                      times={"en_route": "13:00", "on_site": "13:30", "resolved": "14:00"})

    cost = job_cost(db, order)

    # 30 min + 30 min = 1 h × 85.00 (the policy's labour_per_h) = 85.00;
    # travel 14.5 km × 0.90 = 13.05; the fan 42.50; 85.00 + 13.05 + 42.50 = 140.55.
    assert (cost.labour_cost, cost.travel_cost, cost.parts_cost, cost.total) == \
        (Decimal("85.00"), Decimal("13.05"), Decimal("42.50"), Decimal("140.55"))
    assert (cost.warranty, cost.payer.value, cost.billable, cost.company_cost) == \
        ("in_warranty", "company", Decimal("0.00"), Decimal("140.55"))


def test_without_a_departure_position_the_trip_is_counted_from_the_engineers_home(db, piles):
    order = drive_job(db, piles[0], cause="manufacture", departed=None, fan=False,
                      times={"en_route": "13:00", "on_site": "13:30", "resolved": "14:00"})

    cost = job_cost(db, order)

    # Eva's home 52.5° N 13.3° E to the pile 52.52° N 13.40° E: haversine 7.1236 km × 1.3 =
    # 9.261 km → 9.3 km × 0.90 = 8.37.
    assert (cost.distance_source.value, cost.travel_km, cost.travel_cost) == ("home", Decimal("9.3"), Decimal("8.37"))
    assert cost.parts_cost == Decimal("0.00")


def test_a_period_s_job_costs_are_one_row_per_completed_order_and_roll_up_by_customer_and_region(db, piles):
    first = drive_job(db, piles[0], cause="manufacture", departed=(52.42, 13.40),
                      times={"en_route": "13:00", "on_site": "13:30", "resolved": "14:00"})
    # make_fleet: piles[0] is a DC120 at SITE-2 (region coast), piles[1] an AC22 at SITE-1 (north).
    second = drive_job(db, piles[1], cause="manufacture", departed=(52.42, 13.40),
                       times={"en_route": "15:00", "on_site": "15:30", "resolved": "16:00"})
    db.execute("UPDATE work_orders SET resolved_at = %s WHERE id = %s", (datetime(2026, 11, 2, tzinfo=timezone.utc),
                                                                         second))

    frame = job_costs(db, datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 12, 1, tzinfo=timezone.utc))

    assert frame["work_order_id"].tolist() == [first, second]
    assert frame["total"].tolist() == [140.55, 140.55]
    assert {"order", "pile_id", "model_id", "customer_id", "region", "category", "warranty"} - set(frame.columns) \
        == {"order"}
    october = job_costs(db, datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 11, 1, tzinfo=timezone.utc))
    assert october["work_order_id"].tolist() == [first]
    september = job_costs(db, datetime(2026, 9, 1, tzinfo=timezone.utc), datetime(2026, 10, 1, tzinfo=timezone.utc))
    assert september.empty and list(september.columns) == list(october.columns)
    assert rollup(db, datetime(2026, 9, 1, tzinfo=timezone.utc), datetime(2026, 10, 1, tzinfo=timezone.utc),
                  "pile") == []

    by_region = rollup(db, datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 12, 1, tzinfo=timezone.utc),
                       "region", "month")
    assert [(r["period"], r["key"], r["jobs"], r["total"]) for r in by_region] == \
        [(date(2026, 10, 1), "coast", 1, 140.55), (date(2026, 11, 1), "north", 1, 140.55)]
    by_customer = rollup(db, datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 12, 1, tzinfo=timezone.utc),
                      "customer", "quarter")
    # Both in Q4 2026, one customer: 140.55 × 2 = 281.10.
    assert [(r["period"], r["key"], r["jobs"], r["total"]) for r in by_customer] == \
        [(date(2026, 10, 1), "CUST-1", 2, 281.10)]


def test_an_order_that_never_existed_has_no_cost(db):
    from pilecare.errors import NotFound

    with pytest.raises(NotFound):
        job_cost(db, 987654)


def test_the_api_gives_a_manager_the_breakdown_and_the_roll_ups(db, piles, client_for):
    order = drive_job(db, piles[0], cause="manufacture", departed=(52.42, 13.40),
                      times={"en_route": "13:00", "on_site": "13:30", "resolved": "14:00"})
    manager = client_for("manager")

    cost = manager.get(f"/work-orders/{order}/cost").json()
    # as in the warranty test above: 85.00 + 13.05 + 42.50 = 140.55, all the company's
    assert (cost["labour_cost"], cost["travel_cost"], cost["parts_cost"], cost["total"], cost["payer"]) == \
        ("85.00", "13.05", "42.50", "140.55", "company")
    rolled = manager.get("/costs", params={"by": "model", "period": "year", "from": "2026-01-01T00:00:00Z",
                                           "to": "2027-01-01T00:00:00Z"}).json()
    assert [(r["key"], r["period"], r["jobs"], r["total"]) for r in rolled["data"]] == \
        [("T-DC120", "2026-01-01", 1, 140.55)]
    assert (rolled["count"], rolled["totals"]["total"], rolled["currency"]) == (1, 140.55, "EUR")
    assert manager.get("/work-orders/987654/cost").status_code == 404
    assert manager.get("/costs", params={"by": "colour"}).status_code == 422


def test_an_engineer_records_expenses_only_on_orders_they_hold(db, piles, client_for):
    order = drive_job(db, piles[0], cause="manufacture", departed=(52.42, 13.40),
                      times={"en_route": "13:00", "on_site": "13:30", "resolved": "14:00"})
    eva = client_for("engineer", user_id="eva", engineer_id="E1")
    set_budget(db, DAY.date(), BudgetCategory.TRAVEL, 100, actor="manager")
    body = {"category": "travel", "amount": "4.20", "spent_on": "2026-10-14", "note": "toll", "work_order_id": order}

    db.execute("UPDATE work_orders SET engineer_id = 'E2' WHERE id = %s", (order,))   # Emil's now
    assert eva.post("/expenses", json=body).status_code == 404
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (order,))
    assert eva.post("/expenses", json=body | {"work_order_id": None}).status_code == 422
    recorded = eva.post("/expenses", json=body)
    assert recorded.status_code == 201, recorded.text
    assert (recorded.json()["amount"], recorded.json()["recorded_by"]) == ("4.20", "eva")
    assert job_cost(db, order).other_cost == Decimal("4.20")


def test_every_visit_of_a_reopened_order_counts(db, piles):
    from maintenance import fieldwork as field
    from maintenance.orders.lifecycle import WorkOrderState as S
    from maintenance.orders.lifecycle import transition
    from tests.costjob import POLICY, at
    from tests.fieldjob import REPORT

    order = drive_job(db, piles[0], cause="manufacture", departed=(52.42, 13.40),
                      times={"en_route": "09:00", "on_site": "09:30", "resolved": "10:00"})
    # The repair did not hold: back to dispatch, and Eva goes again (no parts this time).
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
        transition(db, order, to, actor="dispatch")
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (order,))
    db.execute("INSERT INTO assignments (work_order_id, engineer_id, state, assigned_by) VALUES (%s, 'E1', 'accepted', "
               "'dispatch')", (order,))
    transition(db, order, S.ACCEPTED, actor="E1")
    db.execute("UPDATE engineers SET lat = 52.42, lon = 13.40, position_at = now() WHERE id = 'E1'")
    field.start_travel(db, order, "E1", eta=datetime.now(timezone.utc) + timedelta(hours=1), actor="E1")
    field.arrive(db, POLICY, order, "E1", lat=52.52, lon=13.40, actor="E1")
    field.diagnose(db, POLICY, order, "E1", diagnosis="connector loose", cause_class=field.CauseClass("manufacture"),
                   actor="E1", today=date(2026, 10, 14))
    field.record_test(db, order, "E1", passed=True, notes="ok", actor="E1")
    field.complete(db, order, "E1", actor="E1", **(REPORT | {"customer_signoff_name": "J. M."}))
    second = {"ready_for_dispatch": "12:00", "assigned": "12:05", "accepted": "12:10", "en_route": "13:00",
              "on_site": "13:20", "resolved": "14:20"}
    for state, hh_mm in second.items():
        db.execute("UPDATE work_order_events SET at = %s WHERE id = (SELECT max(id) FROM work_order_events "
                   "WHERE work_order_id = %s AND to_state = %s AND from_state IS DISTINCT FROM to_state)",
                   (at(hh_mm), order, state))
    db.execute("UPDATE assignments SET assigned_at = %s WHERE work_order_id = %s AND state <> 'done'",
               (at("12:05"), order))

    cost = job_cost(db, order)

    # Visit 1: 30 min en route + 30 on site; visit 2: 20 + 60; 140 min × 85.00 /h = 198.33.
    assert (cost.travel_h, cost.on_site_h, cost.labour_cost) == (Decimal("0.83"), Decimal("1.50"), Decimal("198.33"))
    # Two trips of 14.455 km: 28.91 → 28.9 km × 0.90 = 26.01; the first visit's fan 42.50.
    assert (cost.travel_km, cost.travel_cost, cost.parts_cost) == (Decimal("28.9"), Decimal("26.01"), Decimal("42.50"))
    assert cost.total == Decimal("266.84")    # 198.33 + 26.01 + 42.50
