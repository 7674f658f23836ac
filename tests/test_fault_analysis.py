"""The quarterly fault analysis per pile model (R-KPI, issue 14): ranked as a hand computation
does, per 100 installed piles, against the previous quarter, its cost the orders' job costs
(the costs room's: parts, labour, travel, other); served and stored as a report."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import openpyxl
import pytest

from maintenance import policy as policies
from maintenance.costs import BudgetCategory, record_expense, set_budget
from maintenance.reports import fault_analysis, generate_due, quarter
from tests.report_history import engineers, issue, order, parts

Q3 = quarter(date(2026, 7, 1))


def fault(db, pile, category, created, hours, state="closed"):
    """A corrective order opened at `created` and resolved `hours` later."""
    resolved = datetime.fromisoformat(created) + timedelta(hours=hours)
    return order(db, pile, category, created, state=state, resolved=resolved.isoformat(),
                 closed=resolved.isoformat() if state == "closed" else None)


@pytest.fixture
def quarters(db, fleet):
    """make_fleet: 13 AC22 piles (TP-0002, -0003, -0005, …) and 7 DC120 (TP-0001, -0004, …); one
    more AC22 pile (TP-0020) installed in August, so 12 AC22 piles by Q2's end, 13 by Q3's."""
    engineers(db)
    parts(db, ("P-LOCK", "Connector lock", 25))
    db.execute("UPDATE piles SET installed_on = '2026-08-01' WHERE id = 'TP-0020'")
    # Q3, AC22: connector × 3 (10 h each), controller × 1 (50 h), a cancelled cooling order.
    lock = fault(db, "TP-0002", "connector", "2026-07-03T00:00:00+00:00", 10)
    fault(db, "TP-0003", "connector", "2026-08-10T00:00:00+00:00", 10)
    fault(db, "TP-0020", "connector", "2026-09-01T00:00:00+00:00", 10)
    controller = fault(db, "TP-0005", "controller", "2026-08-15T00:00:00+00:00", 50)
    order(db, "TP-0006", "cooling", "2026-08-20Z", state="cancelled", closed="2026-08-20 01:00Z")
    issue(db, "P-LOCK", 1, lock, "2026-07-03 05:00Z")
    # Q3, DC120: cooling × 2 (5 h, 7 h).
    fault(db, "TP-0001", "cooling", "2026-07-10T00:00:00+00:00", 5)
    fault(db, "TP-0004", "cooling", "2026-09-10T00:00:00+00:00", 7)
    # Q2: AC22 connector × 1, controller × 2; DC120 power_module × 1.
    fault(db, "TP-0002", "connector", "2026-04-03T00:00:00+00:00", 4)
    fault(db, "TP-0003", "controller", "2026-05-03T00:00:00+00:00", 4)
    fault(db, "TP-0005", "controller", "2026-06-03T00:00:00+00:00", 4)
    fault(db, "TP-0007", "power_module", "2026-06-13T00:00:00+00:00", 4)
    # Q4 and Q1: outside both quarters.
    fault(db, "TP-0002", "connector", "2026-10-03T00:00:00+00:00", 4)
    fault(db, "TP-0002", "connector", "2026-03-31T23:00:00+00:00", 4)
    return {"lock": lock, "controller": controller}


def _rows(model):
    return [(f.rank, f.category, f.orders, f.orders_per_100, f.downtime_h, f.downtime_h_per_100, f.cost,
             f.previous_orders, f.previous_per_100, f.change_per_100) for f in model.faults]


def test_the_quarter_s_faults_rank_per_model_as_a_hand_computation_does(db, quarters):
    found = fault_analysis(db, Q3)
    assert (found.period, found.previous_period) == ("2026Q3", "2026Q2")
    ac, dc = found.models
    assert (ac.model_id, ac.installed, ac.installed_previous) == ("T-AC22", 13, 12)
    assert _rows(ac) == [
        # 3 orders: 3 × 100 / 13 = 23.08; 30 h × 100 / 13 = 230.77; before 1 × 100 / 12 = 8.33; 23.08 − 8.33
        (1, "connector", 3, 23.08, 30.0, 230.77, 25.0, 1, 8.33, 14.75),
        # 1 × 100 / 13 = 7.69; 50 h × 100 / 13 = 384.62; before 2 × 100 / 12 = 16.67; 7.69 − 16.67
        (2, "controller", 1, 7.69, 50.0, 384.62, 0.0, 2, 16.67, -8.98),
    ]
    assert ac.faults[0].cost_per_100 == 192.31                       # its lock, 25 × 100 / 13
    assert (dc.model_id, dc.installed, dc.installed_previous) == ("T-DC120", 7, 7)
    assert _rows(dc) == [
        (1, "cooling", 2, 28.57, 12.0, 171.43, 0.0, 0, 0.0, 28.57),  # 2 × 100 / 7; 12 h × 100 / 7
        (2, "power_module", 0, 0.0, 0.0, 0.0, 0.0, 1, 14.29, -14.29),  # gone since Q2: last, its drop shown
    ]
    assert "job costs" in found.cost_note


def test_a_model_with_faults_but_no_pile_installed_by_the_quarters_end_has_no_rate_rather_than_zero(db, quarters):
    # Real registries hold piles whose install date follows their first fault (imported
    # late, dated by the commissioning report): no installed base, so no rate per 100.
    db.execute("INSERT INTO pile_models (id, manufacturer, name, kind, rated_power_kw, connectors, "
               "reporting_interval_s) VALUES ('T-HPC', 'Pilecare', 'HPC300', 'DC', 300, 2, 15)")
    db.execute("INSERT INTO piles (id, serial, model_id, site_id, firmware, installed_on, warranty_end, lat, lon) "
               "VALUES ('TP-HPC1', 'SN-HPC1', 'T-HPC', 'SITE-1', '1.0', '2026-12-01', '2029-12-01', 52.52, 13.40)")
    fault(db, "TP-HPC1", "cooling", "2026-08-05T00:00:00+00:00", 3)
    hpc = next(m for m in fault_analysis(db, Q3).models if m.model_id == "T-HPC")
    assert (hpc.installed, hpc.installed_previous) == (0, 0)
    assert _rows(hpc) == [(1, "cooling", 1, None, 3.0, None, 0.0, 0, None, None)]
    assert hpc.faults[0].cost_per_100 is None


def test_the_ranking_by_cost_takes_each_order_s_labour_travel_and_expenses_from_its_job_cost(db, quarters):
    # The controller order: E1 (no own rate: the policy's 85.00 /h) on the road 01:00 → 02:00,
    # on site 02:00 → 04:00, from her home.
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (quarters["controller"],))
    for at, old, new in (("01:00", "accepted", "en_route"), ("02:00", "en_route", "on_site"),
                         ("04:00", "on_site", "resolved")):
        db.execute("INSERT INTO work_order_events (work_order_id, at, actor, from_state, to_state) "
                   "VALUES (%s, %s, 'E1', %s, %s)", (quarters["controller"], f"2026-08-15 {at}Z", old, new))
    # The connector order with the lock: a toll of 12.00 against it.
    set_budget(db, date(2026, 7, 1), BudgetCategory.TRAVEL, 100, actor="mia")
    record_expense(db, category=BudgetCategory.TRAVEL, amount=12, spent_on=date(2026, 7, 3), note="toll",
                   work_order_id=quarters["lock"], actor="dispatcher")

    ac, dc = fault_analysis(db, Q3).models
    costs = [(f.cost_rank, f.category, f.cost, f.cost_per_100) for f in sorted(ac.faults, key=lambda f: f.cost_rank)]
    assert costs == [
        # labour (1 h + 2 h) × 85.00 = 255.00; travel: her home 52.5° N 13.4° E to the pile at
        # 52.52° N: 0.02° of arc = 2.2239 km × road factor 1.3 = 2.891 → 2.9 km × 0.90 = 2.61;
        # 255.00 + 2.61 = 257.61; per 100 of 13 piles: 25,761 / 13 = 1,981.62.
        (1, "controller", 257.61, 1981.62),
        # the lock 25.00 + the toll 12.00 = 37.00 (parts alone would rank it first: 25.00 > 0);
        # 37 × 100 / 13 = 284.62.
        (2, "connector", 37.0, 284.62),
    ]
    assert [(f.rank, f.category) for f in ac.faults] == [(1, "connector"), (2, "controller")]   # most orders
    # No cost on the DC120's faults: equal at 0.00, more orders rank first.
    assert [(f.cost_rank, f.category, f.cost) for f in dc.faults] == [(1, "cooling", 0.0), (2, "power_module", 0.0)]


def test_equal_counts_rank_the_fault_with_more_downtime_first(db, quarters):
    fault(db, "TP-0008", "controller", "2026-09-20T00:00:00+00:00", 1)
    fault(db, "TP-0009", "controller", "2026-09-21T00:00:00+00:00", 1)
    [first, second] = fault_analysis(db, Q3).models[0].faults
    # connector 3 orders, 30 h; controller 3 orders, 52 h.
    assert [(first.category, first.orders, first.downtime_h), (second.category, second.orders, second.downtime_h)] == [
        ("controller", 3, 52.0), ("connector", 3, 30.0)]


def test_the_analysis_is_served_for_a_quarter_and_a_misspelt_quarter_is_named(api, quarters):
    response = api.get("/reports/fault-analysis", params={"quarter": "2026Q3"})
    assert response.status_code == 200, response.text
    assert [(m["model_id"], [f["category"] for f in m["faults"]]) for m in response.json()["models"]] == [
        ("T-AC22", ["connector", "controller"]), ("T-DC120", ["cooling", "power_module"])]
    for bad in ("2026Q5", "2026-07", "Q3"):
        response = api.get("/reports/fault-analysis", params={"quarter": bad})
        assert response.status_code == 422 and response.json()["detail"].startswith("quarter:"), response.text


def test_after_a_quarter_the_worker_stores_its_analysis_as_a_quarterly_report(api, db, quarters):
    produced = generate_due(db, datetime(2026, 10, 5, 3, 0, tzinfo=timezone.utc), policy=policies.load(None))
    kinds = dict(db.execute("SELECT kind, id FROM reports").fetchall())
    assert sorted(kinds) == ["monthly", "quarterly"] and sorted(produced) == sorted(kinds.values())
    totals = api.get(f"/reports/{kinds['quarterly']}").json()["totals"]
    assert [f["category"] for f in totals["models"][0]["faults"]] == ["connector", "controller"]
    book = openpyxl.load_workbook(io.BytesIO(api.get(f"/reports/{kinds['quarterly']}.xlsx").content))
    assert book.sheetnames == ["T-AC22", "T-DC120"]
    rows = list(book["T-AC22"].iter_rows(min_row=2, max_row=3, values_only=True))
    assert [(r[1], r[2], r[3]) for r in rows] == [("connector", 3, 23.08), ("controller", 1, 7.69)]
    # Cost (the lock's 25.00; the controller order cost nothing) and the rank by it.
    assert [(r[6], r[8]) for r in rows] == [(25.0, 1), (0.0, 2)]
