"""Stores for the inbound tests (tests/test_purchasing*.py): two suppliers, two parts, a
warehouse, a parts-purchasing budget, and the check that on-hand equals the sum of movements."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from maintenance.costs import BudgetCategory, set_budget

RCD = "RCD-B"
CABLE = "CABLE-DC"


@pytest.fixture
def stores(api, fleet, db):
    """Two suppliers; ACME lists RCD-B (21 days) and CABLE-DC (14 days), BOLT only CABLE-DC
    (7 days); warehouse WH-1 (with its receiving and quarantine areas); a parts-purchasing
    budget of 1,000,000.00 this month and next (ordering is refused beyond it, R-COST). The
    admin's client."""
    db.execute("INSERT INTO stock_locations (id, kind, name) VALUES ('WH-1', 'warehouse', 'Main warehouse')")
    for month in this_month_and_next():
        set_budget(db, month, BudgetCategory.PARTS_PURCHASING, 1_000_000, actor="manager")
    for supplier in ({"id": "ACME", "name": "Acme Components"}, {"id": "BOLT", "name": "Bolt & Co"}):
        assert api.post("/suppliers", json=supplier).status_code == 201
    assert api.post("/parts", json={"id": RCD, "name": "Residual-current device type B", "unit_cost": 310,
                                    "suppliers": [{"supplier_id": "ACME", "price": 295.0, "lead_time_days": 21}]}
                    ).status_code == 201
    assert api.post("/parts", json={"id": CABLE, "name": "DC charging cable set", "unit_cost": 780, "suppliers": [
        {"supplier_id": "ACME", "price": 760.0, "lead_time_days": 14},
        {"supplier_id": "BOLT", "price": 740.0, "lead_time_days": 7}]}).status_code == 201
    return api


def assert_on_hand_is_the_sum_of_movements(db) -> None:
    drift = db.execute(
        "SELECT m.location_id, m.part_id, m.total, s.quantity FROM "
        "(SELECT location_id, part_id, sum(quantity) AS total FROM stock_movements GROUP BY 1, 2) m "
        "FULL JOIN stock s USING (location_id, part_id) WHERE coalesce(m.total, 0) <> coalesce(s.quantity, 0)"
    ).fetchall()
    assert drift == []


def this_month_and_next() -> tuple[date, date]:
    """The first days of this month and the next (UTC): orders are placed at the database's
    now, which may be in the next month by then."""
    first = datetime.now(timezone.utc).date().replace(day=1)
    return first, (first + timedelta(days=31)).replace(day=1)
