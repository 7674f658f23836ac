"""Closing a purchase order short, and retried goods receipts (R-PARTS, R-COST; issue 14 items
3, 5 and 7; docs/purchasing.md, "Closing an order short" and "Retries").

A supplier that never sends the last units of a partially received order: the parts keeper
closes it short with a reason, and its outstanding units leave the purchase proposals' on
order, the budget's committed spending, and the scorecard counts it completed, never on
time. A goods receipt sent twice with one Idempotency-Key is recorded once."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from maintenance.costs import BudgetCategory, actuals, order_within_budget, set_budget
from maintenance.inventory import OrderLine, ReceiptLine, on_hand, purchase_proposals, purchasing, receipts
from pilecare.errors import Conflict
from tests.purchasing import CABLE, RCD, assert_on_hand_is_the_sum_of_movements, stores  # noqa: F401


def ordered(api, lines=((RCD, 10), (CABLE, 4))) -> int:
    response = api.post("/purchase-orders", json={"supplier_id": "ACME", "location_id": "WH-1", "lines": [
        {"part_id": part, "quantity": quantity} for part, quantity in lines]})
    assert response.status_code == 201, response.text
    order_id = response.json()["id"]
    assert api.post(f"/purchase-orders/{order_id}/order").status_code == 200
    return order_id


def receive(api, order_id: int, lines: dict[str, int], **extra):
    return api.post(f"/purchase-orders/{order_id}/receipts", json={
        "lines": [{"part_id": p, "quantity": q} for p, q in lines.items()]}, **extra)


def utc(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)


# --- closing short ---

def test_a_partially_received_order_is_closed_short_with_who_when_and_why_and_then_takes_no_goods(stores,  # noqa: F811
                                                                                                 client_for):
    keeper = client_for("parts_keeper")
    order_id = ordered(stores)
    assert receive(stores, order_id, {RCD: 6}).status_code == 201

    closed = keeper.post(f"/purchase-orders/{order_id}/close", json={"reason": "ACME discontinued the cable set"})

    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["state"], body["close_reason"]) == ("closed_short", "ACME discontinued the cable set")
    assert body["closed_by"].startswith("parts_keeper") and body["closed_at"] is not None
    assert body["received_at"] is None                  # it was never received in full
    # Outstanding is what never came: RCD-B 10 − 6 = 4, CABLE-DC 4 − 0 = 4.
    assert {line["part_id"]: line["outstanding"] for line in body["lines"]} == {RCD: 4, CABLE: 4}
    late = receive(stores, order_id, {RCD: 4})
    assert late.status_code == 409 and "closed_short" in late.json()["detail"]
    for again in (keeper.post(f"/purchase-orders/{order_id}/close", json={"reason": "twice"}),
                  keeper.post(f"/purchase-orders/{order_id}/cancel", json={})):
        assert again.status_code == 409 and "closed_short" in again.json()["detail"], again.text


def test_only_an_ordered_or_partially_received_order_is_closed_short_and_only_with_a_reason(stores):  # noqa: F811
    draft = stores.post("/purchase-orders", json={"supplier_id": "ACME", "location_id": "WH-1", "lines": [
        {"part_id": RCD, "quantity": 1}]}).json()["id"]
    refused = stores.post(f"/purchase-orders/{draft}/close", json={"reason": "never sent"})
    assert refused.status_code == 409 and "is draft" in refused.json()["detail"]
    complete = ordered(stores, lines=((RCD, 2),))
    assert receive(stores, complete, {RCD: 2}).json()["purchase_order_id"] == complete
    refused = stores.post(f"/purchase-orders/{complete}/close", json={"reason": "late"})
    assert refused.status_code == 409 and "is received" in refused.json()["detail"]
    assert stores.post("/purchase-orders/999999/close", json={"reason": "x"}).status_code == 404
    # Nothing received yet is closable too (the supplier confirmed it will not deliver).
    nothing_yet = ordered(stores, lines=((RCD, 1),))
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        blank = stores.post(f"/purchase-orders/{nothing_yet}/close", json=body)
        assert blank.status_code == 422 and "reason" in blank.text, (body, blank.text)
    assert stores.post(f"/purchase-orders/{nothing_yet}/close",
                       json={"reason": "supplier out of stock"}).json()["state"] == "closed_short"


def test_two_parts_keepers_closing_one_order_at_once_close_it_once(stores, db):  # noqa: F811
    order_id = ordered(stores, lines=((RCD, 3),))
    purchasing.close_short(db, order_id, actor="ida", reason="discontinued")
    with pytest.raises(Conflict, match="is closed_short"):
        purchasing.close_short(db, order_id, actor="max", reason="discontinued too")
    assert db.execute("SELECT closed_by, close_reason FROM purchase_orders WHERE id = %s",
                      (order_id,)).fetchone() == ("ida", "discontinued")


def test_closing_short_takes_the_outstanding_units_off_order_in_the_purchase_proposals(stores, db):  # noqa: F811
    db.execute("INSERT INTO reorder_levels (part_id, location_id, weekly_demand, sigma_weekly, lead_time_days, "
               "safety_stock, reorder_point, order_quantity, supplier_id, history_weeks, demand_weeks, method, "
               "computed_at) VALUES (%s, 'WH-1', 1, 0, 21, 0, 5, 10, 'ACME', 26, 10, 'test', now())", (RCD,))
    order_id = ordered(stores, lines=((RCD, 10),))
    assert receive(stores, order_id, {RCD: 3}).status_code == 201
    # Position = on hand 0 + receiving 3 + on order 10 − 3 = 10 > reorder point 5: nothing proposed.
    assert purchase_proposals(db) == []

    purchasing.close_short(db, order_id, actor="keeper", reason="ACME sends no more")

    # Position = 0 + 3 + 0 = 3 ≤ 5: order up to 5 + 10, so 15 − 3 = 12 × 295.00 = 3,540.00 from ACME.
    [group] = purchase_proposals(db)
    [line] = group["lines"]
    assert (group["supplier_id"], group["total"]) == ("ACME", 3540)
    assert (line["on_hand"], line["receiving"], line["on_order"], line["position"], line["quantity"]) == \
        (0, 3, 0, 3, 12)


def test_closing_short_frees_the_committed_parts_spending_in_the_budget(stores, db):  # noqa: F811
    october = date(2026, 10, 1)
    set_budget(db, october, BudgetCategory.PARTS_PURCHASING, 4000, actor="manager")
    first = purchasing.create(db, "ACME", "WH-1", [OrderLine(RCD, 10)], actor="keeper")    # 10 × 295.00 = 2,950.00
    order_within_budget(db, first, actor="keeper", at=utc(10, 6))
    receipts.receive(db, [ReceiptLine(RCD, 4)], purchase_order_id=first, actor="keeper", at=utc(10, 10))
    second = purchasing.create(db, "ACME", "WH-1", [OrderLine(CABLE, 3)], actor="keeper")  # 3 × 760.00 = 2,280.00
    # Received 4 × 295.00 = 1,180.00, committed 2,950.00 − 1,180.00 = 1,770.00: 2,950.00 spent;
    # + 2,280.00 = 5,230.00 against 4,000.00: 1,230.00 short.
    with pytest.raises(Conflict, match="would make 5230.00 against a budget of 4000.00 with 0.00 approved beyond "
                                       "it, 1230.00 short"):
        order_within_budget(db, second, actor="keeper", at=utc(10, 12))

    purchasing.close_short(db, first, actor="keeper", reason="the last 6 RCDs will not come",
                           at=utc(10, 12))

    # Now only the 1,180.00 received counts: 1,180.00 + 2,280.00 = 3,460.00 ≤ 4,000.00.
    order_within_budget(db, second, actor="keeper", at=utc(10, 13))
    assert purchasing.state_of(db, second).value == "ordered"
    # The month's actual parts purchasing is what goods receipts brought: 1,180.00.
    assert actuals(db, october, only=BudgetCategory.PARTS_PURCHASING)[BudgetCategory.PARTS_PURCHASING] == 1180


def test_a_short_closed_order_counts_on_the_scorecard_as_completed_never_on_time_without_a_lead_time(  # noqa: F811
        stores, db):
    def po(ordered_at: datetime, quantity: int) -> int:
        order_id = purchasing.create(db, "ACME", "WH-1", [OrderLine(RCD, quantity)], actor="keeper")
        purchasing.order(db, order_id, actor="keeper", at=ordered_at)    # RCD-B at ACME: 21 days
        return order_id

    def deliver(order_id: int, quantity: int, at: datetime) -> None:
        receipts.receive(db, [ReceiptLine(RCD, quantity)], purchase_order_id=order_id, actor="keeper", at=at)

    a1 = po(utc(1, 5), 10)                          # expected 26 Jan
    deliver(a1, 10, utc(1, 20))                     # in full 20 Jan: on time, 15 days
    a2 = po(utc(1, 10), 4)                          # expected 31 Jan
    deliver(a2, 2, utc(1, 20))
    purchasing.close_short(db, a2, actor="keeper", reason="rest discontinued", at=utc(2, 3))    # completed 3 Feb
    a3 = po(utc(2, 1), 5)                           # expected 22 Feb
    deliver(a3, 1, utc(2, 10))
    purchasing.close_short(db, a3, actor="keeper", reason="gave up", at=utc(4, 5))  # after the quarter
    a4 = po(utc(3, 1), 3)                           # expected 22 Mar
    deliver(a4, 1, utc(3, 5))
    purchasing.close_short(db, a4, actor="keeper", reason="rest discontinued", at=utc(3, 10))  # before its due day

    card = stores.get("/suppliers/ACME/scorecard", params={"from": "2026-01-01T00:00:00Z",
                                                           "to": "2026-04-01T00:00:00Z"}).json()

    # Completed in Q1: a1 (received in full 20 Jan ≤ 26 Jan: on time), a2 (closed short 3 Feb),
    # a4 (closed short 10 Mar, before its due day, yet short: not on time). a3 closes 5 Apr.
    # On-time rate = 1 / 3.
    assert (card["orders_completed"], card["orders_on_time"], card["orders_closed_short"]) == (3, 1, 2)
    assert card["on_time_rate"] == pytest.approx(1 / 3)
    # Due in Q1 and not complete by 1 Apr: a3 (due 22 Feb, closed only 5 Apr); a2 and a4 were closed.
    assert card["late_open"] == 1
    # Lead time only over orders received in full: a1's 15 days.
    assert (card["mean_lead_time_days"], card["p90_lead_time_days"]) == (pytest.approx(15.0), pytest.approx(15.0))
    # The units that did come count: 10 + 2 + 1 + 1 = 14.
    assert card["units_received"] == 14


# --- retried goods receipts ---

def _receipt_rows(db) -> tuple[int, int, int]:
    return db.execute("SELECT (SELECT count(*) FROM goods_receipts), (SELECT count(*) FROM goods_receipt_lines), "
                      "(SELECT count(*) FROM stock_movements WHERE kind = 'receipt')").fetchone()


def test_a_retried_receipt_against_a_purchase_order_is_recorded_once_and_answered_the_same(stores, db):  # noqa: F811
    order_id = ordered(stores)
    key = {"Idempotency-Key": "dock-2026-10-06-001"}
    body = {"lines": [{"part_id": RCD, "quantity": 6}, {"part_id": CABLE, "quantity": 4}], "delivery_note": "DN-7"}

    first = stores.post(f"/purchase-orders/{order_id}/receipts", json=body, headers=key)
    again = stores.post(f"/purchase-orders/{order_id}/receipts", json=body, headers=key)

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    assert _receipt_rows(db) == (1, 2, 2)           # one receipt, its two lines, one movement each
    assert (on_hand(db, "WH-1/receiving", RCD), on_hand(db, "WH-1/receiving", CABLE)) == (6, 4)
    # RCD-B 10 − 6 = 4 outstanding, CABLE-DC 4 − 4 = 0: partially received, not over-received.
    order = stores.get(f"/purchase-orders/{order_id}").json()
    assert (order["state"], {line["part_id"]: line["outstanding"] for line in order["lines"]}) == \
        ("partially_received", {RCD: 4, CABLE: 0})
    # The same key on another body is a mistake, named; nothing is recorded.
    other = stores.post(f"/purchase-orders/{order_id}/receipts", json={"lines": [{"part_id": RCD, "quantity": 1}]},
                        headers=key)
    assert other.status_code == 422 and other.json()["detail"].startswith("Idempotency-Key")
    assert _receipt_rows(db) == (1, 2, 2)
    assert_on_hand_is_the_sum_of_movements(db)


def test_a_retried_receipt_without_a_purchase_order_is_recorded_once_and_answered_the_same(stores, db):  # noqa: F811
    body = {"supplier_id": "BOLT", "location_id": "WH-1", "lines": [{"part_id": CABLE, "quantity": 3}],
            "delivery_note": "B-991"}

    first = stores.post("/goods-receipts", json=body, headers={"Idempotency-Key": "b-991"})
    again = stores.post("/goods-receipts", json=body, headers={"Idempotency-Key": "b-991"})

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert _receipt_rows(db) == (1, 1, 1)
    assert on_hand(db, "WH-1/receiving", CABLE) == 3
    # A new key is a new delivery: a second receipt.
    assert stores.post("/goods-receipts", json=body, headers={"Idempotency-Key": "b-992"}).status_code == 201
    assert _receipt_rows(db) == (2, 2, 2) and on_hand(db, "WH-1/receiving", CABLE) == 6   # 3 + 3
    assert_on_hand_is_the_sum_of_movements(db)
