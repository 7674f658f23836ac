"""Reorder planning (issue 14 item 5, R-PARTS): reorder points and order quantities from a
seeded consumption history equal a hand computation — TSB's smoothing recursion written out
here with the same alphas — and so does the purchase proposal list, grouped by the cheapest
supplier, counting what is in receiving and on order; the parts keeper's override wins."""
from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from maintenance.inventory import LocationKind, purchase_proposals
from maintenance.inventory import reorder
from maintenance.inventory.stock_view import create_location
from maintenance.orders import open_corrective
from maintenance.policy import Reorder

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
# Ten weeks of history keep the hand computation short; the alphas, service level and review
# period are the shipped policy's (maintenance/policy.default.yaml).
POLICY = Reorder(window_weeks=10, min_history_weeks=8, alpha_d=0.2, alpha_p=0.1, service_level=0.95,
                 default_lead_time_days=14, van_lead_time_days=7, review_days=28)
Z95 = 1.6448536269514722        # the standard normal quantile of 0.95


def _at(week: int, day: int = 1) -> datetime:
    """`day` days into week `week` of the ten-week window that ends at AS_OF."""
    return AS_OF - timedelta(weeks=10) + timedelta(weeks=week, days=day)


@pytest.fixture
def history(db, fleet):
    """Warehouse WH-1 and Eva's van; FAN-120, RELAY-40 and FUSE-10 with issues in given weeks."""
    db.execute("INSERT INTO engineers (id, name, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{north}', 52.5, 13.3)")
    db.execute("INSERT INTO parts (id, name, unit_cost) VALUES ('FAN-120', 'Cabinet fan', 42.50), "
               "('RELAY-40', 'Contactor 40 A', 18.00), ('FUSE-10', 'Fuse 10 A', 1.20)")
    db.execute("INSERT INTO suppliers (id, name) VALUES ('S-A', 'Alpha Parts'), ('S-B', 'Beta Electric')")
    # FAN-120: Alpha is cheaper (40.00, 10 days) than Beta (45.00, 3 days): Alpha's lead time counts.
    db.execute("INSERT INTO supplier_parts (supplier_id, part_id, price, lead_time_days) VALUES "
               "('S-A', 'FAN-120', 40.00, 10), ('S-B', 'FAN-120', 45.00, 3), ('S-B', 'RELAY-40', 12.50, 21)")
    create_location(db, "WH-1", LocationKind.WAREHOUSE, "Central store", actor="keeper")
    create_location(db, "VAN-E1", LocationKind.VAN, "Eva's van", engineer_id="E1", home_warehouse_id="WH-1",
                    actor="keeper")
    order, _ = open_corrective(db, fleet[0], "cooling", title="Fan stopped", priority=2, actor="rules",
                               severity="major")

    def move(kind, part, location, quantity, at, **extra):
        db.execute("INSERT INTO stock_movements (entry, kind, part_id, location_id, quantity, unit_cost, "
                   "work_order_id, engineer_id, reason, recorded_by, recorded_at) "
                   "VALUES (%s, %s, %s, %s, %s, 1, %s, %s, 'seeded', 'test', %s)",
                   (extra.get("entry", uuid.uuid4()), kind, part, location, quantity, extra.get("order"),
                    extra.get("engineer"), at))

    def issued(part, location, quantity, week):
        move("issue", part, location, -quantity, _at(week), order=order, engineer="E1")

    # In time order (the balance must never go below zero on the way).
    move("opening", "FAN-120", "WH-1", 11, _at(0, 0))
    move("opening", "RELAY-40", "WH-1", 10, _at(0, 0))
    issued("FAN-120", "WH-1", 3, 1)
    issued("RELAY-40", "WH-1", 1, 2)
    issued("FAN-120", "WH-1", 1, 4)
    entry = uuid.uuid4()     # Eva's van is loaded 34 days before AS_OF (in week 5)
    move("transfer", "FAN-120", "WH-1", -4, AS_OF - timedelta(days=34), entry=entry)
    move("transfer", "FAN-120", "VAN-E1", 4, AS_OF - timedelta(days=34), entry=entry)
    move("opening", "FUSE-10", "WH-1", 5, AS_OF - timedelta(days=30))   # stocked 30 days ago (week 5)
    issued("FAN-120", "VAN-E1", 2, 6)
    issued("FUSE-10", "WH-1", 2, 7)
    issued("FAN-120", "WH-1", 2, 9)
    issued("FUSE-10", "WH-1", 1, 9)
    # Purchase order for 3 FAN-120 to WH-1; a goods receipt brought 2, waiting for inspection.
    po = db.execute("INSERT INTO purchase_orders (supplier_id, state, location_id, created_by, ordered_at, expected_at) "
                    "VALUES ('S-A', 'partially_received', 'WH-1', 'kim', %s, %s) RETURNING id",
                    (AS_OF - timedelta(days=10), AS_OF + timedelta(days=4))).fetchone()[0]
    db.execute("INSERT INTO purchase_order_lines (purchase_order_id, part_id, quantity, unit_price) "
               "VALUES (%s, 'FAN-120', 3, 40.00)", (po,))
    receipt = db.execute("INSERT INTO goods_receipts (supplier_id, purchase_order_id, location_id, received_by) "
                         "VALUES ('S-A', %s, 'WH-1', 'kim') RETURNING id", (po,)).fetchone()[0]
    db.execute("INSERT INTO goods_receipt_lines (goods_receipt_id, part_id, quantity, unit_price) "
               "VALUES (%s, 'FAN-120', 2, 40.00)", (receipt,))
    move("receipt", "FAN-120", "WH-1/receiving", 2, AS_OF - timedelta(days=1))
    return order


def tsb(weekly: list[int], alpha_d: float, alpha_p: float) -> float:
    """TSB (Teunter, Syntetos & Babai 2011) by hand: p, the probability of demand in a week, is
    smoothed every week towards 1 (demand) or 0 (none); z, the size of a demand, only in weeks
    with demand. Both start at their first observation (as statsforecast does). Forecast p × z."""
    p = 1.0 if weekly[0] else 0.0
    sizes = [w for w in weekly if w]
    z = float(sizes[0])
    for w in weekly[1:]:
        p += alpha_p * ((1.0 if w else 0.0) - p)
    for size in sizes[1:]:
        z += alpha_d * (size - z)
    return p * z


def sample_sd(xs: list[int]) -> float:
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def test_reorder_levels_of_a_seeded_history_equal_a_hand_computation(db, history):
    stored = {(lv.location_id, lv.part_id): lv for lv in reorder.recompute(db, POLICY, as_of=AS_OF)}

    # FAN-120 at WH-1, weeks 0‥9: its own issues (3 in week 1, 1 in 4, 2 in 9) and its van's (2 in 6).
    fan = [0, 3, 0, 0, 1, 0, 2, 0, 0, 2]
    # p: 0 → .1 → .09 → .081 → .1729 → .15561 → .240049 → .2160441 → .19443969 → .274995721
    # z: 3 → 2.6 → 2.48 → 2.384 (sizes 3, 1, 2, 2);   d = p × z = 0.6555898…/week
    d = tsb(fan, 0.2, 0.1)
    assert d == pytest.approx(0.274995721 * 2.384)
    sd = sample_sd(fan)                                   # √(11.6 / 9) = 1.135292…
    safety = Z95 * sd * math.sqrt(10 / 7)                 # Alpha's 10 days: 2.231958…
    rop = math.ceil(d / 7 * 10 + safety)                  # ⌈0.936557 + 2.231958⌉ = ⌈3.168515⌉ = 4
    q = math.ceil(d / 7 * 28)                             # ⌈2.622359⌉ = 3
    assert (rop, q) == (4, 3)
    lv = stored[("WH-1", "FAN-120")]
    assert (lv.weekly_demand, lv.sigma_weekly, lv.safety_stock) == pytest.approx((d, sd, safety))
    assert (lv.reorder_point, lv.order_quantity, lv.lead_time_days, lv.supplier_id) == (4, 3, 10, "S-A")
    assert (lv.history_weeks, lv.demand_weeks, lv.method) == (10, 4, "tsb(alpha_d=0.2, alpha_p=0.1) over 10 weeks")

    # RELAY-40 at WH-1: one unit in week 2. p decays from .1 by 0.9 a week for 7 weeks: .1 × .9^7.
    relay = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    d = tsb(relay, 0.2, 0.1)
    assert d == pytest.approx(0.1 * 0.9 ** 7)             # 0.04782969
    safety = Z95 * sample_sd(relay) * math.sqrt(21 / 7)   # 1.644854 × √0.1 × √3 = 0.900923
    assert (stored[("WH-1", "RELAY-40")].reorder_point, stored[("WH-1", "RELAY-40")].order_quantity) == \
        (math.ceil(d / 7 * 21 + safety), math.ceil(d / 7 * 28)) == (2, 1)   # ⌈1.044412⌉, ⌈0.191319⌉

    # FUSE-10, stocked 30 days ago: ⌈30 / 7⌉ = 5 weeks of history (weeks 5‥9), fewer than 8,
    # so the mean: (2 + 1) / 5 = 0.6/week; no supplier: the default 14 days.
    fuse = [0, 0, 2, 0, 1]
    safety = Z95 * sample_sd(fuse) * math.sqrt(14 / 7)    # 1.644854 × √0.8 × √2 = 2.080593
    lv = stored[("WH-1", "FUSE-10")]
    assert (lv.reorder_point, lv.order_quantity) == (math.ceil(0.6 / 7 * 14 + safety), math.ceil(0.6 * 4)) == (4, 3)
    assert (lv.weekly_demand, lv.lead_time_days, lv.supplier_id) == (pytest.approx(0.6), 14, None)
    assert lv.method == "mean of 5 weeks (history too short for TSB: fewer than 8 weeks)"

    # The van, loaded 34 days ago (5 weeks), issued 2 in week 6: mean 0.4/week, restocked weekly.
    lv = stored[("VAN-E1", "FAN-120")]
    safety = Z95 * sample_sd([0, 2, 0, 0, 0]) * 1.0       # 1.471201
    assert (lv.reorder_point, lv.order_quantity) == (math.ceil(0.4 + safety), math.ceil(0.4 * 4)) == (2, 2)
    assert set(stored) == {("WH-1", "FAN-120"), ("WH-1", "RELAY-40"), ("WH-1", "FUSE-10"), ("VAN-E1", "FAN-120")}


def test_purchase_proposals_equal_a_hand_computation_grouped_by_the_cheapest_supplier(db, history, api):
    assert reorder.recompute_all(db, POLICY, as_of=AS_OF) == 4
    # The parts keeper raises RELAY-40's reorder point to 10 for a site works; it wins.
    reorder.override(db, POLICY, "WH-1", "RELAY-40", reorder_point=10, order_quantity=None, reason="site works",
                     actor="kim")
    # FAN-120:  on hand 11 − 3 − 1 − 4 − 2 = 1, receiving 2, on order 3 − 2 = 1: position 4 ≤ ROP 4;
    #           order 4 + 3 − 4 = 3 from Alpha at 40.00 = 120.00.
    # RELAY-40: on hand 9, position 9 ≤ 10 (override); order 10 + 1 − 9 = 2 from Beta at 12.50 = 25.00.
    # FUSE-10:  on hand 5 − 3 = 2 ≤ 4; order 4 + 3 − 2 = 5, no supplier lists it.
    # The van (2 on hand ≤ ROP 2) is restocked by a transfer, not bought: low, not proposed.
    groups = purchase_proposals(db)
    assert [(g["supplier_id"], g["total"], [(ln["part_id"], ln["on_hand"], ln["receiving"], ln["on_order"],
                                             ln["reorder_point"], ln["quantity"]) for ln in g["lines"]])
            for g in groups] == [("S-A", Decimal("120.00"), [("FAN-120", 1, 2, 1, 4, 3)]),
                                 ("S-B", Decimal("25.00"), [("RELAY-40", 9, 0, 0, 10, 2)]),
                                 (None, None, [("FUSE-10", 2, 0, 0, 4, 5)])]
    assert api.get("/stock/purchase-proposals").json()["count"] == 3
    low = api.get("/stock/low", params={"kind": "van"}).json()["data"]
    assert [(r["location_id"], r["part_id"], r["on_hand"], r["reorder_point"]) for r in low] == \
        [("VAN-E1", "FAN-120", 2, 2)]


def test_the_keepers_override_survives_the_recompute_and_needs_a_reason(db, history, api):
    reorder.recompute(db, POLICY, as_of=AS_OF)
    no_reason = api.put("/stock/reorder-levels", json={"location_id": "WH-1", "part_id": "FAN-120",
                                                       "reorder_point": 9})
    assert no_reason.status_code == 422 and no_reason.json()["detail"].startswith("reason:")
    set_ = api.put("/stock/reorder-levels", json={"location_id": "WH-1", "part_id": "FAN-120", "reorder_point": 9,
                                                  "reason": "summer heat"})
    assert set_.status_code == 200
    assert (set_.json()["override_by"], set_.json()["effective_reorder_point"]) == ("admin", 9)
    assert reorder.recompute_all(db, POLICY, as_of=AS_OF) == 4     # the worker's job runs again
    row = api.get("/stock/reorder-levels", params={"location_id": "WH-1", "part_id": "FAN-120"}).json()["data"][0]
    assert (row["reorder_point"], row["effective_reorder_point"]) == (4, 9)
    cleared = api.put("/stock/reorder-levels", json={"location_id": "WH-1", "part_id": "FAN-120"}).json()
    assert (cleared["override_reorder_point"], cleared["override_by"], cleared["effective_reorder_point"]) == \
        (None, None, cleared["reorder_point"])
    area = api.put("/stock/reorder-levels", json={"location_id": "WH-1/quarantine", "part_id": "FAN-120",
                                                  "reorder_point": 1, "reason": "x"})
    assert area.status_code == 422
