"""Supplier claims and quarantined parts (R-PARTS, R-WARRANTY; issue 14): shipped back to the
supplier out of quarantine, credited or rejected, a supplier named on a field return that had
none, and quarantined parts scrapped outside a claim."""
from __future__ import annotations

import pytest

from maintenance.inventory import on_hand, return_defective
from tests.fieldjob import accepted_order, drive_to_site
from tests.purchasing import RCD, assert_on_hand_is_the_sum_of_movements, stores  # noqa: F401


def failed_claim(api, quantity=3) -> int:
    """A goods receipt from ACME of 5 × RCD-B, `quantity` of them failing inspection: its claim id."""
    receipt = api.post("/goods-receipts", json={"supplier_id": "ACME", "location_id": "WH-1",
                                                "lines": [{"part_id": RCD, "quantity": 5}]}).json()
    inspected = api.post(f"/goods-receipts/{receipt['id']}/lines/{receipt['lines'][0]['id']}/inspection", json={
        "passed_quantity": 5 - quantity, "failed_quantity": quantity, "failure_reason": "trip test fails"})
    return inspected.json()["lines"][0]["supplier_claim_id"]


@pytest.fixture
def van(db, stores):  # noqa: F811
    db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
               "('E7', 'Ida', '{AC}', '{north}', 52.5, 13.3)")
    db.execute("INSERT INTO stock_locations (id, kind, name, engineer_id) VALUES ('VAN-E7', 'van', 'Ida''s van', 'E7')")
    return "VAN-E7"


def test_a_claim_ships_its_parts_out_of_quarantine_and_is_then_credited(stores, db):  # noqa: F811
    claim_id = failed_claim(stores)
    shipped = stores.post(f"/supplier-claims/{claim_id}/ship", json={"note": "RMA 4411, DHL 00340"})
    assert shipped.status_code == 200, shipped.text
    claim = shipped.json()
    assert (claim["state"], claim["shipped_by"]) == ("shipped", "admin") and claim["shipped_at"]
    assert [(m["kind"], m["location_id"], m["quantity"]) for m in claim["movements"]][-1] == (
        "supplier_return", "WH-1/quarantine", -3)
    assert on_hand(db, "WH-1/quarantine", RCD) == 0
    again = stores.post(f"/supplier-claims/{claim_id}/ship", json={})
    assert again.status_code == 409 and "shipped" in again.json()["detail"]
    credited = stores.post(f"/supplier-claims/{claim_id}/settle", json={"outcome": "credited",
                                                                        "resolution": "credit note CN-77"}).json()
    assert (credited["state"], credited["resolution"], credited["closed_by"]) == ("credited", "credit note CN-77",
                                                                                  "admin")
    assert stores.post(f"/supplier-claims/{claim_id}/settle",
                       json={"outcome": "rejected", "resolution": "x"}).status_code == 409
    assert_on_hand_is_the_sum_of_movements(db)


def test_a_claim_is_not_shipped_when_its_quarantine_area_no_longer_holds_the_parts(stores, db):  # noqa: F811
    claim_id = failed_claim(stores, quantity=2)
    assert stores.post("/quarantined-parts/scrap", json={"part_id": RCD, "quantity": 1,
                                                         "location_id": "WH-1/quarantine",
                                                         "reason": "dropped"}).status_code == 201
    refused = stores.post(f"/supplier-claims/{claim_id}/ship", json={})
    assert refused.status_code == 409 and "holds 1 of RCD-B; 2 needed" in refused.json()["detail"]
    assert stores.get(f"/supplier-claims/{claim_id}").json()["state"] == "open"      # nothing changed


def test_a_field_return_without_a_known_supplier_gets_one_named_and_ships_from_the_van(stores, db, van):  # noqa: F811
    # No goods receipt and no listing of LOCK-ACT: the claim opens without a supplier.
    db.execute("INSERT INTO parts (id, name, unit_cost) VALUES ('LOCK-ACT', 'Connector lock actuator', 58)")
    claim_id = return_defective(db, "LOCK-ACT", 1, van, work_order_id=None, engineer_id="E7", under_warranty=True,
                                actor="ida")
    assert [c["id"] for c in stores.get("/supplier-claims", params={"without_supplier": True}).json()["data"]] == [
        claim_id]
    unnamed = stores.post(f"/supplier-claims/{claim_id}/ship", json={})
    assert unnamed.status_code == 409 and "no supplier" in unnamed.json()["detail"]
    assert stores.post(f"/supplier-claims/{claim_id}/supplier", json={"supplier_id": "NOBODY"}).status_code == 422
    named = stores.post(f"/supplier-claims/{claim_id}/supplier", json={"supplier_id": "BOLT"}).json()
    assert (named["supplier_id"], named["supplier_named_by"]) == ("BOLT", "admin")
    renamed = stores.post(f"/supplier-claims/{claim_id}/supplier", json={"supplier_id": "ACME"})
    assert renamed.status_code == 409 and "BOLT" in renamed.json()["detail"]
    shipped = stores.post(f"/supplier-claims/{claim_id}/ship", json={}).json()
    assert shipped["movements"][-1]["location_id"] == "VAN-E7/quarantine"
    assert on_hand(db, "VAN-E7/quarantine", "LOCK-ACT") == 0
    rejected = stores.post(f"/supplier-claims/{claim_id}/settle", json={"outcome": "rejected",
                                                                        "resolution": "damage by impact"}).json()
    assert rejected["state"] == "rejected"


def test_a_claim_may_be_settled_without_shipping_and_its_parts_scrapped(stores, db):  # noqa: F811
    claim_id = failed_claim(stores, quantity=2)
    settled = stores.post(f"/supplier-claims/{claim_id}/settle", json={"outcome": "credited",
                                                                       "resolution": "credited, keep the parts"})
    assert settled.json()["state"] == "credited"
    assert stores.post(f"/supplier-claims/{claim_id}/ship", json={}).status_code == 409
    scrapped = stores.post("/quarantined-parts/scrap", json={"part_id": RCD, "quantity": 2,
                                                             "location_id": "WH-1/quarantine",
                                                             "reason": "credited; not wanted back"})
    assert scrapped.status_code == 201 and scrapped.json()["on_hand"] == 0
    assert db.execute("SELECT kind, quantity, reason FROM stock_movements WHERE kind = 'scrap'").fetchall() == [
        ("scrap", -2, "credited; not wanted back")]


def test_scrap_takes_only_quarantined_parts_with_a_reason(stores, db):  # noqa: F811
    failed_claim(stores, quantity=1)                          # WH-1 holds 4 usable, its quarantine 1
    body = {"part_id": RCD, "quantity": 1, "location_id": "WH-1/quarantine", "reason": "burnt"}
    for change, field in (({"location_id": "WH-1"}, "location_id"), ({"reason": ""}, "reason"),
                          ({"reason": "   "}, "reason"), ({"location_id": "NOWHERE"}, "location_id"),
                          ({"quantity": 0}, "quantity")):
        refused = stores.post("/quarantined-parts/scrap", json=body | change)
        assert refused.status_code == 422 and refused.json()["detail"].startswith(field), (change, refused.text)
    too_many = stores.post("/quarantined-parts/scrap", json=body | {"quantity": 2})
    assert too_many.status_code == 409
    assert (on_hand(db, "WH-1", RCD), on_hand(db, "WH-1/quarantine", RCD)) == (4, 1)


def test_claims_are_listed_by_state_and_supplier(stores):  # noqa: F811
    first, second = failed_claim(stores), failed_claim(stores, quantity=1)
    stores.post(f"/supplier-claims/{first}/ship", json={})
    listed = lambda **q: [c["id"] for c in stores.get("/supplier-claims", params=q).json()["data"]]  # noqa: E731
    assert listed() == [second, first]
    assert listed(state="open") == [second]
    assert listed(state=["open", "shipped"], supplier_id="ACME") == [second, first]
    assert listed(supplier_id="BOLT") == []
    assert stores.get("/supplier-claims/999").status_code == 404


def test_a_part_found_defective_in_the_field_is_claimed_from_its_supplier_and_counts_against_it(
        stores, db, fleet, client_for):  # noqa: F811
    order = accepted_order(db, fleet[0])          # Eva (E1) on an in-warranty pile; 2 × FAN-120 in VAN-E1
    eva = client_for("engineer", engineer_id="E1")
    drive_to_site(eva, order)
    receipt = stores.post("/goods-receipts", json={"supplier_id": "BOLT", "location_id": "WH-1",
                                                   "lines": [{"part_id": "FAN-120", "quantity": 4}]}).json()
    stores.post(f"/goods-receipts/{receipt['id']}/lines/{receipt['lines'][0]['id']}/inspection",
                json={"passed_quantity": 4, "failed_quantity": 0})
    assert eva.post(f"/field/work-orders/{order}/parts", json={
        "part_id": "FAN-120", "quantity": 1, "location_id": "VAN-E1", "defective_returned": True}).status_code == 201
    # The field flow (returns.py) claims it from the supplier that delivered the part last.
    [claim] = stores.get("/supplier-claims", params={"part_id": "FAN-120"}).json()["data"]
    assert (claim["supplier_id"], claim["work_order_id"], claim["quantity"], claim["state"]) == ("BOLT", order, 1,
                                                                                                 "open")
    shipped = stores.post(f"/supplier-claims/{claim['id']}/ship", json={}).json()
    assert [(m["kind"], m["location_id"], m["quantity"]) for m in shipped["movements"]] == [
        ("defective_return", "VAN-E1/quarantine", 1), ("supplier_return", "VAN-E1/quarantine", -1)]
    # BOLT's defect rate: (0 failed + 1 from the field) / 4 received = 0.25.
    card = stores.get("/suppliers/BOLT/scorecard").json()
    assert (card["units_received"], card["units_returned_from_field"], card["defect_rate"]) == (4, 1, 0.25)
    assert_on_hand_is_the_sum_of_movements(db)
