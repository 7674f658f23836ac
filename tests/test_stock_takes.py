"""Stock-takes (issue 14 item 4, R-PARTS): a count sheet per location, counts with who and
when, one open per location, approved by the parts keeper into one adjustment per variance —
counted against the book at the moment of the count, so stock that moves during a count is
neither lost nor counted twice."""
from __future__ import annotations

import pytest

from api.accounts import Role
from maintenance.inventory import LocationKind, issue, ledger, transfer
from maintenance.inventory import stock_takes as st
from maintenance.inventory.stock_view import create_location
from maintenance.orders import open_corrective
from pilecare.errors import Conflict
from tests.factories import set_stock


@pytest.fixture
def store(db, fleet):
    db.execute("INSERT INTO engineers (id, name, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{north}', 52.5, 13.3)")
    db.execute("INSERT INTO parts (id, name, unit_cost) VALUES ('FAN-120', 'Cabinet fan', 42.50), "
               "('RELAY-40', 'Contactor 40 A', 18.00), ('FUSE-10', 'Fuse 10 A', 1.20)")
    create_location(db, "WH-1", LocationKind.WAREHOUSE, "Central store", actor="keeper")
    create_location(db, "VAN-E1", LocationKind.VAN, "Eva's van", engineer_id="E1", home_warehouse_id="WH-1",
                    actor="keeper")
    set_stock(db, "WH-1", "FAN-120", 10)
    set_stock(db, "WH-1", "RELAY-40", 5)
    order, _ = open_corrective(db, fleet[0], "cooling", title="Fan stopped", priority=2, actor="rules",
                               severity="major")
    return {"order": order}


def _adjustments(db, take_id):
    return db.execute("SELECT part_id, quantity, reason, recorded_by FROM stock_movements "
                      "WHERE kind = 'adjustment' AND stock_take_id = %s ORDER BY part_id", (take_id,)).fetchall()


def test_a_count_sheet_lists_every_part_held_there_with_its_on_hand_then(db, store):
    set_stock(db, "VAN-E1", "FUSE-10", 3)
    take = st.detail(db, st.start(db, "WH-1", actor="kim"))
    assert [(ln["part_id"], ln["expected"], ln["counted"]) for ln in take["lines"]] == \
        [("FAN-120", 10, None), ("RELAY-40", 5, None)]
    assert (take["state"], take["started_by"], take["line_count"], take["uncounted"]) == ("counting", "kim", 2, 2)


def test_only_one_stock_take_is_open_per_location_at_a_time(db, store, client_for):
    keeper = client_for(Role.PARTS_KEEPER)
    first = keeper.post("/stock-takes", json={"location_id": "WH-1"})
    assert first.status_code == 201
    second = keeper.post("/stock-takes", json={"location_id": "WH-1"})
    assert second.status_code == 409
    assert second.json()["detail"] == f"location_id: WH-1 has an open stock-take already ({first.json()['id']})"
    assert keeper.post("/stock-takes", json={"location_id": "VAN-E1"}).status_code == 201
    keeper.post(f"/stock-takes/{first.json()['id']}/cancel").raise_for_status()
    assert keeper.post("/stock-takes", json={"location_id": "WH-1"}).status_code == 201


def test_movements_during_the_count_are_neither_lost_nor_counted_twice(db, store):
    take_id = st.start(db, "WH-1", actor="kim")                      # sheet: FAN-120 expected 10
    issue(db, "FAN-120", 2, "WH-1", engineer_id="E1", actor="eva", work_order_id=store["order"])  # book 8
    st.count(db, take_id, [("FAN-120", 7), ("RELAY-40", 5)], actor="kim")   # 7 on the shelf: one is missing
    transfer(db, "FAN-120", 3, "WH-1", "VAN-E1", actor="kim")        # after the count: book 5, shelf 4
    st.submit(db, take_id, actor="kim")
    assert st.approve(db, take_id, actor="lead") == 1
    # The variance is counted − book at the count = 7 − 8 = −1; RELAY-40 (5 − 5) has none.
    assert _adjustments(db, take_id) == [("FAN-120", -1, f"stock-take {take_id}: counted 7, book 8 at the count",
                                          "lead")]
    # On hand: 10 − 2 issued − 3 transferred − 1 missing = 4, the 7 counted less the 3 that left
    # after. (counted − expected = −3 would leave 2, losing the issue twice; counted − on hand at
    # approval = +2 would leave 7, undoing the transfer.)
    assert ledger.on_hand(db, "WH-1", "FAN-120") == 4
    assert ledger.on_hand(db, "VAN-E1", "FAN-120") == 3


def test_a_sheet_is_submitted_only_when_every_line_is_counted(db, store, api):
    take_id = api.post("/stock-takes", json={"location_id": "WH-1"}).json()["id"]
    api.post(f"/stock-takes/{take_id}/counts", json={"counts": [{"part_id": "FAN-120", "counted": 10}]})
    refused = api.post(f"/stock-takes/{take_id}/submit")
    assert refused.status_code == 409 and refused.json()["detail"] == "counts: not counted yet: RELAY-40"
    early = api.post(f"/stock-takes/{take_id}/approve")
    assert early.status_code == 409 and "only a submitted one is approved" in early.json()["detail"]
    negative = api.post(f"/stock-takes/{take_id}/counts", json={"counts": [{"part_id": "RELAY-40", "counted": -1}]})
    assert negative.status_code == 422 and negative.json()["detail"].startswith("counts.0.counted:")


def test_every_step_is_recorded_with_who_and_when_and_a_found_part_gets_a_line(db, store, client_for):
    kim, lea = client_for(Role.PARTS_KEEPER, user_id="kim"), client_for(Role.SUPERVISOR, user_id="lea")
    take_id = kim.post("/stock-takes", json={"location_id": "WH-1"}).json()["id"]
    kim.post(f"/stock-takes/{take_id}/counts",
             json={"counts": [{"part_id": "FAN-120", "counted": 10}, {"part_id": "RELAY-40", "counted": 6},
                              {"part_id": "FUSE-10", "counted": 4}]}).raise_for_status()
    kim.post(f"/stock-takes/{take_id}/submit").raise_for_status()
    done = lea.post(f"/stock-takes/{take_id}/approve").json()
    assert (done["state"], done["started_by"], done["submitted_by"], done["decided_by"]) == \
        ("approved", "kim", "kim", "lea")
    assert all(done[f] for f in ("started_at", "submitted_at", "decided_at"))
    lines = {ln["part_id"]: (ln["expected"], ln["counted"], ln["book_at_count"], ln["variance"], ln["counted_by"])
             for ln in done["lines"]}
    # FUSE-10 was not on the sheet (nothing held): expected 0, found 4.
    assert lines == {"FAN-120": (10, 10, 10, 0, "kim"), "RELAY-40": (5, 6, 5, 1, "kim"),
                     "FUSE-10": (0, 4, 0, 4, "kim")}
    assert [(p, q) for p, q, _, _ in _adjustments(db, take_id)] == [("FUSE-10", 4), ("RELAY-40", 1)]
    assert kim.post(f"/stock-takes/{take_id}/cancel").status_code == 409


def test_an_approval_that_would_overdraw_moves_nothing_and_stays_submitted(db, store):
    take_id = st.start(db, "WH-1", actor="kim")
    st.count(db, take_id, [("FAN-120", 2), ("RELAY-40", 1)], actor="kim")   # book 10 and 5: −8 and −4
    issue(db, "FAN-120", 9, "WH-1", engineer_id="E1", actor="eva", work_order_id=store["order"])  # book 1
    st.submit(db, take_id, actor="kim")
    with pytest.raises(Conflict, match="WH-1 holds 1 of FAN-120; 8 needed"):
        st.approve(db, take_id, actor="lead")
    assert _adjustments(db, take_id) == []
    assert (ledger.on_hand(db, "WH-1", "FAN-120"), ledger.on_hand(db, "WH-1", "RELAY-40")) == (1, 5)
    assert st.detail(db, take_id)["state"] == "submitted"
    st.cancel(db, take_id, actor="lead")
    assert st.detail(db, take_id)["decided_by"] == "lead"
