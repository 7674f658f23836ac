"""Supplier evaluation (R-PARTS, issue 14 item 5; acceptance: "the supplier on-time and defect
rates equal hand-computed values"). A seeded quarter of purchase orders, goods receipts,
inspections and field returns, and its scorecard worked out by hand in the comments."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from maintenance.inventory import OrderLine, ReceiptLine, purchasing, receipts
from maintenance.orders.lifecycle import open_corrective
from tests.purchasing import CABLE, RCD, stores  # noqa: F401

START, END = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 4, 1, tzinfo=timezone.utc)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}


def day(month: int, d: int, year: int = 2026) -> datetime:
    return datetime(year, month, d, tzinfo=timezone.utc)


def po(db, supplier: str, ordered: datetime, lines: dict[str, int]) -> int:
    order_id = purchasing.create(db, supplier, "WH-1", [OrderLine(p, q) for p, q in lines.items()], actor="keeper")
    purchasing.order(db, order_id, actor="keeper", at=ordered)
    return order_id


def deliver(db, at: datetime, lines: dict[str, int], *, order_id=None, supplier=None,
            failed: dict[str, int] | None = None, inspect: bool = True) -> None:
    """A goods receipt at `at`; each line inspected then, `failed` of it failing."""
    receipt_id = receipts.receive(db, [ReceiptLine(p, q) for p, q in lines.items()], purchase_order_id=order_id,
                                  supplier_id=supplier, location_id=None if order_id else "WH-1", actor="keeper",
                                  at=at)
    if not inspect:
        return
    for line_id, part, quantity in db.execute("SELECT id, part_id, quantity FROM goods_receipt_lines "
                                              "WHERE goods_receipt_id = %s", (receipt_id,)).fetchall():
        bad = (failed or {}).get(part, 0)
        receipts.inspect(db, receipt_id, line_id, passed=quantity - bad, failed=bad, failure_reason="defective",
                         actor="keeper", at=at)


def field_claim(db, supplier: str, part: str, quantity: int, opened: datetime, pile: str, state="open") -> None:
    """A defective part from the field under warranty, claimed from `supplier` (as returns.py
    opens it, dated in the past)."""
    order_id, _ = open_corrective(db, pile, "electrical", title="RCD trips", priority=2, actor="rules",
                                  severity="major")
    db.execute("INSERT INTO supplier_claims (supplier_id, part_id, quantity, work_order_id, reason, opened_by, "
               "opened_at, state) VALUES (%s, %s, %s, %s, 'defective part removed in the field', 'eva', %s, %s)",
               (supplier, part, quantity, order_id, opened, state))


@pytest.fixture
def quarter(stores, db, fleet):  # noqa: F811
    """Q1 2026 (from 1 Jan to 1 Apr). ACME's lead times: RCD-B 21 days, CABLE-DC 14; BOLT's CABLE-DC 7."""
    db.execute("INSERT INTO suppliers (id, name) VALUES ('CARL', 'Carl Idle')")
    # ACME
    a1 = po(db, "ACME", day(1, 5), {RCD: 10})              # expected 26 Jan
    deliver(db, day(1, 20), {RCD: 10}, order_id=a1, failed={RCD: 1})       # complete 20 Jan: on time, 15 days
    a2 = po(db, "ACME", day(1, 10), {CABLE: 4})            # expected 24 Jan
    deliver(db, day(1, 20), {CABLE: 2}, order_id=a2)
    deliver(db, day(1, 30), {CABLE: 2}, order_id=a2, inspect=False)         # complete 30 Jan: late, 20 days
    a3 = po(db, "ACME", day(2, 1), {RCD: 5, CABLE: 5})     # expected 1 Feb + 21 = 22 Feb
    deliver(db, day(2, 22), {RCD: 5, CABLE: 5}, order_id=a3, failed={RCD: 2})  # at expected_at: on time, 21 days
    a4 = po(db, "ACME", day(12, 1, 2025), {RCD: 2})        # expected 22 Dec 2025
    deliver(db, day(1, 2), {RCD: 2}, order_id=a4)          # complete 2 Jan: late, 32 days
    a5 = po(db, "ACME", day(3, 20), {RCD: 1})              # expected 10 Apr
    deliver(db, day(4, 5), {RCD: 1}, order_id=a5)          # complete after the quarter: not counted
    po(db, "ACME", day(3, 1), {RCD: 3})                    # expected 22 Mar, never delivered: late_open
    deliver(db, day(3, 5), {CABLE: 6}, supplier="ACME")    # no purchase order: units only
    field_claim(db, "ACME", RCD, 2, day(2, 10), fleet[0])                    # counted
    field_claim(db, "ACME", RCD, 1, day(2, 11), fleet[1], state="rejected")  # the supplier proved otherwise
    field_claim(db, "ACME", RCD, 4, day(4, 2), fleet[2])                     # after the quarter
    # BOLT
    b1 = po(db, "BOLT", day(2, 1), {CABLE: 10})            # expected 8 Feb
    deliver(db, day(2, 7), {CABLE: 10}, order_id=b1)       # on time, 6 days
    field_claim(db, "BOLT", CABLE, 1, day(3, 1), fleet[3])
    return db


def test_the_supplier_on_time_and_defect_rates_equal_hand_computed_values(quarter, stores):  # noqa: F811
    card = stores.get("/suppliers/ACME/scorecard", params=PERIOD).json()
    # Orders completed in Q1: a1 (20 Jan ≤ 26 Jan, on time), a2 (30 Jan > 24 Jan, late),
    # a3 (22 Feb = 22 Feb, on time), a4 (2 Jan > 22 Dec, late); a5 completes 5 Apr (outside).
    # On-time rate = 2 / 4 = 0.5.
    assert (card["orders_completed"], card["orders_on_time"], card["on_time_rate"]) == (4, 2, 0.5)
    # Due in Q1 and not complete by 1 Apr: the order of 1 Mar (due 22 Mar).
    assert card["late_open"] == 1
    # Units received in Q1: a1 10 + a2 2 + 2 + a3 10 + a4 2 + no order 6 = 32 (a5's 1 came 5 Apr).
    # Failed at inspection: a1 1 + a3 2 = 3; a2's second delivery (2) is not inspected yet.
    # From the field: 2 (the rejected claim of 1 and the April claim of 4 do not count).
    # Defect rate = (3 + 2) / 32 = 0.15625.
    assert (card["units_received"], card["units_failed_inspection"], card["units_not_inspected"],
            card["units_returned_from_field"]) == (32, 3, 2, 2)
    assert card["defect_rate"] == 0.15625
    # Lead times (ordered → complete): 15, 20, 21, 32 days. Mean = 88 / 4 = 22.
    # p90 (interpolated): rank 0.9 × (4 − 1) = 2.7 → 21 + 0.7 × (32 − 21) = 28.7.
    assert card["mean_lead_time_days"] == pytest.approx(22.0)
    assert card["p90_lead_time_days"] == pytest.approx(28.7)
    assert (card["from"], card["to"]) == ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z")


def test_every_supplier_has_a_scorecard_and_one_with_no_records_has_no_rates(quarter, stores):  # noqa: F811
    cards = {c["supplier_id"]: c for c in stores.get("/suppliers/scorecards", params=PERIOD).json()["data"]}
    assert sorted(cards) == ["ACME", "BOLT", "CARL"]
    bolt = cards["BOLT"]
    # BOLT: one order, 7 Feb ≤ 8 Feb: on time 1 / 1; 6 days. Defects (0 failed + 1 from the field) / 10 = 0.1.
    assert (bolt["on_time_rate"], bolt["defect_rate"], bolt["mean_lead_time_days"], bolt["p90_lead_time_days"]) == (
        1.0, 0.1, pytest.approx(6.0), pytest.approx(6.0))
    assert (cards["CARL"]["on_time_rate"], cards["CARL"]["defect_rate"], cards["CARL"]["mean_lead_time_days"]) == (
        None, None, None)
    assert cards["ACME"]["on_time_rate"] == 0.5


def test_a_scorecard_refuses_a_backwards_period_and_an_unknown_supplier(quarter, stores):  # noqa: F811
    backwards = stores.get("/suppliers/ACME/scorecard", params={"from": PERIOD["to"], "to": PERIOD["from"]})
    assert backwards.status_code == 422 and backwards.json()["detail"].startswith("from")
    assert stores.get("/suppliers/NOPE/scorecard", params=PERIOD).status_code == 404
    assert stores.get("/suppliers/ACME/scorecard", params={"from": "2026-01-01T00:00:00"}).status_code == 422
