"""A job driven through the real field flow by E1 (Eva), its timeline then set to known
times, and a seeded October of budgets and spending, for the costs tests
(tests/test_job_costs.py, tests/test_budgets.py) and the monthly report's costs sections
(tests/test_monthly_report.py)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from maintenance import fieldwork as field
from maintenance.costs import BudgetCategory as C
from maintenance.costs import record_expense, set_budget, set_hourly_rate
from maintenance.policy import load as load_policy
from tests.factories import make_fleet
from tests.fieldjob import REPORT, accepted_order

POLICY = load_policy()          # pricing: labour 85 /h, travel 0.90 /km, EUR
DAY = datetime(2026, 10, 14, tzinfo=timezone.utc)
OCTOBER = date(2026, 10, 1)


def at(hh_mm: str) -> datetime:
    h, m = map(int, hh_mm.split(":"))
    return DAY + timedelta(hours=h, minutes=m)


def drive_job(db, pile_id: str, *, cause: str, departed: tuple[float, float] | None, times: dict[str, str],
              quote: bool = False, fan: bool = True) -> int:
    """E1 takes an order on `pile_id` through the field flow (en route from `departed`,
    arrive, diagnose `cause`, an approved quote if asked, the fan from her van, complete);
    then the timeline's moves are set to `times` (state → "hh:mm" on DAY)."""
    order = accepted_order(db, pile_id)
    if departed:
        db.execute("UPDATE engineers SET lat = %s, lon = %s, position_at = now() WHERE id = 'E1'", departed)
    else:
        db.execute("UPDATE engineers SET lat = NULL, lon = NULL, position_at = NULL WHERE id = 'E1'")
    field.start_travel(db, order, "E1", eta=datetime.now(timezone.utc) + timedelta(hours=1), actor="E1")
    field.arrive(db, POLICY, order, "E1", lat=52.52, lon=13.40, actor="E1")
    field.diagnose(db, POLICY, order, "E1", diagnosis="fan seized", cause_class=field.CauseClass(cause), actor="E1",
                   today=DAY.date())
    if quote:
        quote_id = field.make_quote(db, POLICY, order, "E1", parts=[("FAN-120", 1)], labour_h=2, travel_km=15,
                                    actor="E1")
        field.decide_quote(db, quote_id, approve=True, approver_name="J. Meyer", actor="agent")
    if fan:
        field.use_part(db, order, "E1", part_id="FAN-120", quantity=1, location_id="VAN-E1", defective_returned=True,
                       actor="E1")
    field.record_test(db, order, "E1", passed=True, notes="charges at 22 kW", actor="E1")
    field.complete(db, order, "E1", actor="E1", **(REPORT | {"no_parts": not fan, "customer_signoff_name": "J. M."}))
    for state, hh_mm in times.items():
        db.execute("UPDATE work_order_events SET at = %s WHERE work_order_id = %s AND to_state = %s "
                   "AND from_state IS DISTINCT FROM to_state", (at(hh_mm), order, state))
    db.execute("UPDATE assignments SET assigned_at = %s WHERE work_order_id = %s", (at("08:00"), order))
    db.execute("UPDATE work_orders SET resolved_at = %s WHERE id = %s", (at(times["resolved"]), order))
    return order


def receive(db, day: datetime, lines: list[tuple[int, str]]) -> None:
    """A goods receipt from ACME on `day` of FAN-120: (quantity, unit price) per line."""
    db.execute("INSERT INTO suppliers (id, name) VALUES ('ACME', 'Acme Parts') ON CONFLICT DO NOTHING")
    db.execute("INSERT INTO stock_locations (id, kind, name) VALUES ('WH-1', 'warehouse', 'Depot') "
               "ON CONFLICT DO NOTHING")
    receipt = db.execute("INSERT INTO goods_receipts (supplier_id, location_id, received_at, received_by) "
                         "VALUES ('ACME', 'WH-1', %s, 'keeper') RETURNING id", (day,)).fetchone()[0]
    for quantity, price in lines:
        db.execute("INSERT INTO goods_receipt_lines (goods_receipt_id, part_id, quantity, unit_price) "
                   "VALUES (%s, 'FAN-120', %s, %s)", (receipt, quantity, Decimal(price)))


def spend(db, category: C, amount: str, day: date, note: str = "bill", **kw) -> int:
    return record_expense(db, category=category, amount=Decimal(amount), spent_on=day, note=note, actor="dispatcher",
                          **kw)


def seed_october(db) -> tuple[int, list[str]]:
    """October 2026: budgets, one job (E1 at 60.00 /h: 40 min en route from 14.5 km away, 90 min
    on site, a fan at 42.50, in warranty), goods received, expenses (and some outside the
    month). Returns (the job's order id, the fleet's two piles). Figures: tests/test_budgets.py."""
    piles = make_fleet(db, piles=2)
    for category, amount in ((C.STAFF, 500), (C.TRAINING, 200), (C.PARTS_PURCHASING, 1000), (C.TRAVEL, 100),
                             (C.OFFICE, 300), (C.OFFICE, 250)):   # office set twice: 250 stands
        set_budget(db, OCTOBER, category, amount, actor="mia")
    set_budget(db, date(2026, 11, 1), C.OFFICE, 5000, actor="mia")
    order = drive_job(db, piles[0], cause="manufacture", departed=(52.42, 13.40),
                      times={"en_route": "09:00", "on_site": "09:40", "resolved": "11:10"})
    set_hourly_rate(db, "E1", Decimal("60.00"), actor="mia")
    receive(db, datetime(2026, 10, 5, 8, tzinfo=timezone.utc), [(10, "12.00"), (3, "55.50")])
    receive(db, datetime(2026, 9, 30, 23, 59, tzinfo=timezone.utc), [(1, "999.00")])    # September's
    spend(db, C.TRAVEL, "7.50", DAY.date(), "parking at the depot", work_order_id=order)
    spend(db, C.TRAINING, "150.00", date(2026, 10, 3), "HV course")
    spend(db, C.OFFICE, "80.00", date(2026, 10, 1), "paper")
    spend(db, C.OFFICE, "45.25", date(2026, 10, 31), "toner")
    spend(db, C.OFFICE, "999.00", date(2026, 11, 1), "November's rent")
    return order, piles
