"""Inbound (R-PARTS, issue 14 item 3): purchase orders, goods receipts into the receiving area,
inspection (passed to the warehouse, failed to quarantine with a supplier claim), and the
acceptance line "a receipt that fails inspection is never issuable"."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import psycopg
import pytest

from maintenance.inventory import ReceiptLine, issue, on_hand, receipts, transfer
from pilecare.errors import Conflict, InvalidInput
from tests.fieldjob import accepted_order, drive_to_site
from tests.purchasing import CABLE, RCD, assert_on_hand_is_the_sum_of_movements, stores  # noqa: F401


def draft(api, supplier="ACME", lines=((RCD, 10), (CABLE, 4))) -> int:
    response = api.post("/purchase-orders", json={"supplier_id": supplier, "location_id": "WH-1", "lines": [
        {"part_id": part, "quantity": quantity} for part, quantity in lines]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def ordered(api, **kwargs) -> int:
    order_id = draft(api, **kwargs)
    assert api.post(f"/purchase-orders/{order_id}/order").status_code == 200
    return order_id


def test_ordering_expects_the_goods_after_the_suppliers_longest_lead_time_of_its_lines(stores):
    order_id = draft(stores)
    assert stores.get(f"/purchase-orders/{order_id}").json()["state"] == "draft"
    placed = stores.post(f"/purchase-orders/{order_id}/order").json()
    ordered_at = datetime.fromisoformat(placed["ordered_at"])
    # RCD-B 21 days, CABLE-DC 14 days at ACME: the order is complete when the slower arrives.
    assert datetime.fromisoformat(placed["expected_at"]) - ordered_at == timedelta(days=21)
    assert (placed["state"], placed["ordered_by"]) == ("ordered", "admin")
    # Prices default to the supplier's listing: 10 × 295 + 4 × 760 = 2950 + 3040 = 5990.
    assert placed["total"] == 5990.0
    again = stores.post(f"/purchase-orders/{order_id}/order")
    assert again.status_code == 409 and "ordered" in again.json()["detail"]


def test_ordering_a_part_the_supplier_does_not_list_is_refused_naming_it(stores):
    order_id = draft(stores, supplier="BOLT", lines=((CABLE, 2), (RCD, 1)))
    refused = stores.post(f"/purchase-orders/{order_id}/order")
    assert refused.status_code == 422 and "RCD-B" in refused.json()["detail"] and "BOLT" in refused.json()["detail"]
    assert stores.get(f"/purchase-orders/{order_id}").json()["state"] == "draft"
    # The draft's lines change until it is ordered; then not any more.
    assert stores.put(f"/purchase-orders/{order_id}/lines", json={"lines": [
        {"part_id": CABLE, "quantity": 3}]}).status_code == 200
    assert stores.post(f"/purchase-orders/{order_id}/order").json()["state"] == "ordered"
    late = stores.put(f"/purchase-orders/{order_id}/lines", json={"lines": [{"part_id": CABLE, "quantity": 1}]})
    assert late.status_code == 409


def test_a_purchase_order_refuses_an_unknown_supplier_part_a_part_twice_and_a_van(stores, db):
    db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
               "('E7', 'Ida', '{AC}', '{north}', 52.5, 13.3)")
    db.execute("INSERT INTO stock_locations (id, kind, name, engineer_id) VALUES ('VAN-E7', 'van', 'Van', 'E7')")
    base = {"supplier_id": "ACME", "location_id": "WH-1", "lines": [{"part_id": RCD, "quantity": 1}]}
    for body, field in ((base | {"supplier_id": "NOBODY"}, "supplier_id"),
                        (base | {"location_id": "VAN-E7"}, "location_id"),
                        (base | {"location_id": "WH-1/receiving"}, "location_id"),
                        (base | {"lines": [{"part_id": "GHOST", "quantity": 1}]}, "lines[0].part_id"),
                        (base | {"lines": [{"part_id": RCD, "quantity": 1}, {"part_id": RCD, "quantity": 2}]},
                         "lines[1].part_id"),
                        (base | {"lines": []}, "lines")):
        response = stores.post("/purchase-orders", json=body)
        assert response.status_code == 422 and response.json()["detail"].startswith(field), (body, response.text)
    assert stores.get("/purchase-orders").json()["count"] == 0


def test_goods_receipts_land_in_receiving_and_move_the_order_to_partially_received_then_received(stores, db):
    order_id = ordered(stores)
    first = stores.post(f"/purchase-orders/{order_id}/receipts", json={
        "lines": [{"part_id": RCD, "quantity": 6}], "delivery_note": "DN-1"})
    assert first.status_code == 201, first.text
    assert (on_hand(db, "WH-1/receiving", RCD), on_hand(db, "WH-1", RCD)) == (6, 0)   # waits for inspection
    order = stores.get(f"/purchase-orders/{order_id}").json()
    assert order["state"] == "partially_received" and order["received_at"] is None
    assert [(line["part_id"], line["received"], line["outstanding"]) for line in order["lines"]] == [
        (RCD, 6, 4), (CABLE, 0, 4)]
    # More than is outstanding (10 ordered − 6 received = 4) is refused, naming the line.
    over = stores.post(f"/purchase-orders/{order_id}/receipts", json={"lines": [{"part_id": RCD, "quantity": 5}]})
    assert over.status_code == 422 and over.json()["detail"].startswith("lines[0].quantity") \
        and "4 × RCD-B outstanding" in over.json()["detail"]
    stray = stores.post(f"/purchase-orders/{order_id}/receipts", json={"lines": [{"part_id": "GHOST", "quantity": 1}]})
    assert stray.status_code == 422 and "not on purchase order" in stray.json()["detail"]
    last = stores.post(f"/purchase-orders/{order_id}/receipts", json={
        "lines": [{"part_id": RCD, "quantity": 4}, {"part_id": CABLE, "quantity": 4}]}).json()
    order = stores.get(f"/purchase-orders/{order_id}").json()
    assert order["state"] == "received" and order["received_at"] == last["received_at"]
    assert order["goods_receipt_ids"] == [first.json()["id"], last["id"]]
    assert stores.post(f"/purchase-orders/{order_id}/receipts",
                       json={"lines": [{"part_id": RCD, "quantity": 1}]}).status_code == 409
    # Each line's receipt movement carries the order's price and the receipt line.
    assert db.execute("SELECT kind, location_id, quantity, unit_cost, supplier_id FROM stock_movements "
                      "WHERE goods_receipt_line_id = %s", (last["lines"][1]["id"],)).fetchall() == [
        ("receipt", "WH-1/receiving", 4, 760, "ACME")]
    assert_on_hand_is_the_sum_of_movements(db)


def test_an_order_is_cancelled_only_before_any_goods_are_received(stores):
    untouched = ordered(stores)
    cancelled = stores.post(f"/purchase-orders/{untouched}/cancel", json={"reason": "found elsewhere"}).json()
    assert (cancelled["state"], cancelled["cancelled_by"], cancelled["cancel_reason"]) == (
        "cancelled", "admin", "found elsewhere")
    assert stores.post(f"/purchase-orders/{untouched}/receipts",
                       json={"lines": [{"part_id": RCD, "quantity": 1}]}).status_code == 409
    begun = ordered(stores)
    stores.post(f"/purchase-orders/{begun}/receipts", json={"lines": [{"part_id": RCD, "quantity": 1}]})
    refused = stores.post(f"/purchase-orders/{begun}/cancel", json={})
    assert refused.status_code == 409 and "partially_received" in refused.json()["detail"]
    assert stores.post("/purchase-orders/999/cancel", json={}).status_code == 404


def test_two_receipts_racing_for_the_last_outstanding_units_take_them_once(stores, database_url):
    order_id = ordered(stores, lines=((RCD, 3),))

    def deliver(_):
        with psycopg.connect(database_url, autocommit=True) as conn:
            try:
                return receipts.receive(conn, [ReceiptLine(RCD, 3)], purchase_order_id=order_id, actor="keeper")
            except InvalidInput:       # nothing outstanding any more
                return None
            except Conflict:           # the order was received already
                return None

    with ThreadPoolExecutor(4) as pool:
        won = [r for r in pool.map(deliver, range(4)) if r is not None]
    assert len(won) == 1
    order = stores.get(f"/purchase-orders/{order_id}").json()
    assert (order["state"], order["lines"][0]["received"]) == ("received", 3)


def test_a_receipt_without_a_purchase_order_names_its_supplier_and_warehouse(stores, db):
    body = {"supplier_id": "BOLT", "location_id": "WH-1", "lines": [{"part_id": CABLE, "quantity": 2}]}
    received = stores.post("/goods-receipts", json=body)
    assert received.status_code == 201, received.text
    receipt = received.json()
    assert (receipt["purchase_order_id"], receipt["supplier_id"], receipt["lines_to_inspect"]) == (None, "BOLT", 1)
    assert receipt["lines"][0]["unit_price"] == 740.0          # BOLT's listed price
    assert on_hand(db, "WH-1/receiving", CABLE) == 2
    missing = stores.post("/goods-receipts", json={k: v for k, v in body.items() if k != "supplier_id"})
    assert missing.status_code == 422 and "supplier_id" in missing.json()["detail"]
    assert stores.post("/goods-receipts", json=body | {"supplier_id": "NOBODY"}).status_code == 422
    assert [r["id"] for r in stores.get("/goods-receipts", params={"to_inspect": True}).json()["data"]] == [
        receipt["id"]]


def test_inspection_sends_passed_parts_to_the_warehouse_and_failed_ones_to_quarantine_with_a_claim(stores, db):
    order_id = ordered(stores)
    receipt = stores.post(f"/purchase-orders/{order_id}/receipts",
                          json={"lines": [{"part_id": RCD, "quantity": 10}]}).json()
    url = f"/goods-receipts/{receipt['id']}/lines/{receipt['lines'][0]['id']}/inspection"
    uneven = stores.post(url, json={"passed_quantity": 7, "failed_quantity": 2, "failure_reason": "cracked"})
    assert uneven.status_code == 422 and "10 received" in uneven.json()["detail"]
    unexplained = stores.post(url, json={"passed_quantity": 7, "failed_quantity": 3})
    assert unexplained.status_code == 422 and unexplained.json()["detail"].startswith("failure_reason")
    inspected = stores.post(url, json={"passed_quantity": 7, "failed_quantity": 3,
                                       "failure_reason": "trip test fails at 30 mA"})
    assert inspected.status_code == 200, inspected.text
    line = inspected.json()["lines"][0]
    assert (line["passed_quantity"], line["failed_quantity"], line["inspected_by"]) == (7, 3, "admin")
    assert (on_hand(db, "WH-1/receiving", RCD), on_hand(db, "WH-1", RCD), on_hand(db, "WH-1/quarantine", RCD)) == (
        0, 7, 3)
    claim = stores.get(f"/supplier-claims/{line['supplier_claim_id']}").json()
    assert (claim["supplier_id"], claim["part_id"], claim["quantity"], claim["state"], claim["reason"]) == (
        "ACME", RCD, 3, "open", "trip test fails at 30 mA")
    assert claim["goods_receipt_id"] == receipt["id"]
    assert [(m["kind"], m["location_id"], m["quantity"]) for m in claim["movements"]] == [
        ("inspection_failed", "WH-1/receiving", -3), ("inspection_failed", "WH-1/quarantine", 3)]
    twice = stores.post(url, json={"passed_quantity": 10, "failed_quantity": 0})
    assert twice.status_code == 409 and "inspected already" in twice.json()["detail"]
    assert stores.post(f"/goods-receipts/{receipt['id']}/lines/999/inspection",
                       json={"passed_quantity": 1, "failed_quantity": 0}).status_code == 404
    assert_on_hand_is_the_sum_of_movements(db)


def test_two_inspections_of_one_line_at_once_move_its_parts_once(stores, db, database_url):
    receipt = stores.post("/goods-receipts", json={"supplier_id": "ACME", "location_id": "WH-1",
                                                   "lines": [{"part_id": RCD, "quantity": 5}]}).json()
    line_id = receipt["lines"][0]["id"]

    def inspect(_):
        with psycopg.connect(database_url, autocommit=True) as conn:
            try:
                return receipts.inspect(conn, receipt["id"], line_id, passed=3, failed=2, failure_reason="dented",
                                        actor="keeper")
            except Conflict:
                return "refused"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(inspect, range(4)))
    assert outcomes.count("refused") == 3
    assert (on_hand(db, "WH-1", RCD), on_hand(db, "WH-1/quarantine", RCD)) == (3, 2)
    assert db.execute("SELECT count(*) FROM supplier_claims").fetchone()[0] == 1


def test_a_receipt_that_fails_inspection_is_never_issuable(stores, db, fleet, client_for):
    order = accepted_order(db, fleet[0])        # Eva (E1) holds it; her van VAN-E1
    eva = client_for("engineer", engineer_id="E1")
    drive_to_site(eva, order)
    receipt = stores.post("/goods-receipts", json={"supplier_id": "ACME", "location_id": "WH-1",
                                                   "lines": [{"part_id": RCD, "quantity": 2}]}).json()
    line_id = receipt["lines"][0]["id"]
    # Before inspection the parts wait in receiving: not issuable either.
    with pytest.raises(InvalidInput, match="receiving area"):
        issue(db, RCD, 1, "WH-1/receiving", engineer_id="E1", actor="eva", work_order_id=order)
    assert stores.post(f"/goods-receipts/{receipt['id']}/lines/{line_id}/inspection", json={
        "passed_quantity": 0, "failed_quantity": 2, "failure_reason": "housing cracked"}).status_code == 200
    # The ledger: not from the warehouse (it never got them), not from quarantine, not moved out of it.
    with pytest.raises(Conflict, match="WH-1 holds 0 of RCD-B"):
        issue(db, RCD, 1, "WH-1", engineer_id="E1", actor="eva", work_order_id=order)
    with pytest.raises(InvalidInput, match="quarantine area"):
        issue(db, RCD, 1, "WH-1/quarantine", engineer_id="E1", actor="eva", work_order_id=order)
    for source, target in (("WH-1/quarantine", "VAN-E1"), ("WH-1/quarantine", "WH-1"), ("WH-1/receiving", "WH-1")):
        with pytest.raises(InvalidInput):
            transfer(db, RCD, 1, source, target, actor="keeper")
    with pytest.raises(Conflict):
        transfer(db, RCD, 1, "WH-1", "VAN-E1", actor="keeper")
    # The API: the engineer's phone cannot take them from the warehouse, nor from quarantine.
    for location_id, status in (("WH-1", 409), ("WH-1/quarantine", 422), ("WH-1/receiving", 422)):
        used = eva.post(f"/field/work-orders/{order}/parts", json={
            "part_id": RCD, "quantity": 1, "location_id": location_id, "defective_returned": False})
        assert used.status_code == status, (location_id, used.text)
    assert (on_hand(db, "WH-1", RCD), on_hand(db, "WH-1/quarantine", RCD), on_hand(db, "VAN-E1", RCD)) == (0, 2, 0)
    assert db.execute("SELECT count(*) FROM stock_movements WHERE kind = 'issue'").fetchone()[0] == 0
    assert_on_hand_is_the_sum_of_movements(db)


def test_office_roles_read_purchasing_and_only_stores_roles_act(stores, client_for):
    viewer, keeper, manager = client_for("viewer"), client_for("parts_keeper"), client_for("manager")
    order_id = draft(stores)
    assert viewer.get(f"/purchase-orders/{order_id}").status_code == 200
    assert manager.post(f"/purchase-orders/{order_id}/order").status_code == 403
    placed = keeper.post(f"/purchase-orders/{order_id}/order")
    assert placed.status_code == 200 and placed.json()["ordered_by"].startswith("parts_keeper")
