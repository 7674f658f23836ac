"""Stores for the inbound tests (tests/test_purchasing*.py): two suppliers, two parts, a
warehouse, and the check that on-hand equals the sum of movements."""
from __future__ import annotations

import pytest

RCD = "RCD-B"
CABLE = "CABLE-DC"


@pytest.fixture
def stores(api, fleet, db):
    """Two suppliers; ACME lists RCD-B (21 days) and CABLE-DC (14 days), BOLT only CABLE-DC
    (7 days); warehouse WH-1 (with its receiving and quarantine areas). The admin's client."""
    db.execute("INSERT INTO stock_locations (id, kind, name) VALUES ('WH-1', 'warehouse', 'Main warehouse')")
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
