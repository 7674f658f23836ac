"""The field flow's parts go through the stock ledger (issue 14, R-PARTS): a part used on the
engineer's phone is an issue movement against the order, received by the engineer holding
it; a defective part they bring back goes into the van's quarantine, and under warranty
(R-WARRANTY) becomes a claim on the supplier that delivered it."""
from __future__ import annotations

from decimal import Decimal

import pytest

from maintenance.inventory import return_defective
from tests.fieldjob import accepted_order, drive_to_site

PART = {"part_id": "FAN-120", "quantity": 1, "location_id": "VAN-E1"}


@pytest.fixture
def job(db, fleet):
    order_id = accepted_order(db, fleet[1])
    db.execute("INSERT INTO suppliers (id, name) VALUES ('FANCO', 'Fan Company')")
    db.execute("INSERT INTO supplier_parts (supplier_id, part_id, price, lead_time_days) "
               "VALUES ('FANCO', 'FAN-120', 38.00, 10)")
    return order_id


@pytest.fixture
def eva(client_for, job):
    return client_for("engineer", "eva", engineer_id="E1")


def movements(db, order_id):
    return db.execute("SELECT kind, part_id, location_id, quantity, unit_cost, engineer_id, recorded_by "
                      "FROM stock_movements WHERE work_order_id = %s ORDER BY id", (order_id,)).fetchall()


def on_hand(db, location_id):
    row = db.execute("SELECT quantity FROM stock WHERE location_id = %s AND part_id = 'FAN-120'",
                     (location_id,)).fetchone()
    return row[0] if row else 0


def test_a_part_used_on_the_phone_is_an_issue_movement_against_the_order_received_by_its_engineer(db, job, eva):
    drive_to_site(eva, job)
    assert eva.post(f"/field/work-orders/{job}/parts", json=PART).status_code == 201
    # One unit out of Eva's van at the part's standard cost, against this order, received by E1.
    assert movements(db, job) == [("issue", "FAN-120", "VAN-E1", -1, Decimal("42.50"), "E1", "eva")]
    assert on_hand(db, "VAN-E1") == 1
    # The field record points at its ledger entry.
    assert db.execute("SELECT count(*) FROM parts_used u JOIN stock_movements m ON m.entry = u.entry "
                      "WHERE u.work_order_id = %s", (job,)).fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM supplier_claims").fetchone() == (0,)


def test_a_defective_part_returned_under_warranty_goes_to_quarantine_and_becomes_a_supplier_claim(db, job, eva):
    drive_to_site(eva, job)  # cause: manufacture, within the pile's warranty
    assert db.execute("SELECT warranty FROM work_orders WHERE id = %s", (job,)).fetchone() == ("in_warranty",)
    assert eva.post(f"/field/work-orders/{job}/parts", json=PART | {"defective_returned": True}).status_code == 201
    assert movements(db, job) == [
        ("issue", "FAN-120", "VAN-E1", -1, Decimal("42.50"), "E1", "eva"),
        # The removed part rides in the van's quarantine box, worth nothing in stock.
        ("defective_return", "FAN-120", "VAN-E1/quarantine", 1, Decimal("0.00"), "E1", "eva")]
    claim = db.execute("SELECT supplier_id, part_id, quantity, work_order_id, state, opened_by FROM supplier_claims"
                       ).fetchall()
    assert claim == [("FANCO", "FAN-120", 1, job, "open", "eva")]
    assert (on_hand(db, "VAN-E1"), on_hand(db, "VAN-E1/quarantine")) == (1, 1)
    # Quarantined parts are never issuable, not even by the engineer whose van holds them.
    refused = eva.post(f"/field/work-orders/{job}/parts", json=PART | {"location_id": "VAN-E1/quarantine"})
    assert refused.status_code == 422
    assert on_hand(db, "VAN-E1/quarantine") == 1


def test_a_defective_part_outside_warranty_goes_to_quarantine_without_a_claim(db, job):
    claim = return_defective(db, "FAN-120", 1, "VAN-E1", work_order_id=job, engineer_id="E1", under_warranty=False,
                             actor="eva")
    assert claim is None
    assert db.execute("SELECT count(*) FROM supplier_claims").fetchone() == (0,)
    assert on_hand(db, "VAN-E1/quarantine") == 1
