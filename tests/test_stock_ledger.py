"""Stock as a ledger through its API (issue 14 items 2 and 9, R-PARTS): locations with their
areas, on-hand split into usable, receiving and quarantine with the low-stock flag, the
movement log, transfers and issues — and the acceptance line: eight concurrent requests for
the last unit in a van, exactly one succeeds, the rest get a 409 naming the van and the
part, and on-hand always equals the sum of movements."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from api.accounts import Role
from maintenance.inventory import Line, LocationKind, MovementKind, issue, ledger, record
from maintenance.inventory.stock_view import create_location
from maintenance.orders import open_corrective
from pilecare.errors import Conflict, InvalidInput
from tests.factories import set_stock


@pytest.fixture
def store(db, fleet):
    """Warehouse WH-1 with Eva's van VAN-E1 and Emil's VAN-E2, the part FAN-120, and an order."""
    db.execute("INSERT INTO engineers (id, name, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{north}', 52.5, 13.3), ('E2', 'Emil', '{north}', 52.5, 13.3)")
    db.execute("INSERT INTO parts (id, name, unit_cost) VALUES ('FAN-120', 'Cabinet fan 120 mm', 42.50), "
               "('RELAY-40', 'Contactor 40 A', 18.00)")
    create_location(db, "WH-1", LocationKind.WAREHOUSE, "Central store", actor="keeper")
    create_location(db, "VAN-E1", LocationKind.VAN, "Eva's van", engineer_id="E1", home_warehouse_id="WH-1",
                    actor="keeper")
    create_location(db, "VAN-E2", LocationKind.VAN, "Emil's van", engineer_id="E2", home_warehouse_id="WH-1",
                    actor="keeper")
    order, _ = open_corrective(db, fleet[0], "cooling", title="Fan stopped", priority=2, actor="rules",
                               severity="major")
    return {"order": order}


def _balances_equal_movements(db) -> list:
    """(location, part, stock, Σ movements) wherever the two differ: none, always."""
    return db.execute(
        "SELECT coalesce(s.location_id, m.location_id), coalesce(s.part_id, m.part_id), s.quantity, m.total "
        "FROM stock s FULL JOIN (SELECT location_id, part_id, sum(quantity) AS total FROM stock_movements "
        "GROUP BY 1, 2) m ON m.location_id = s.location_id AND m.part_id = s.part_id "
        "WHERE s.quantity IS DISTINCT FROM m.total").fetchall()


def test_eight_concurrent_issues_of_the_last_unit_in_a_van_give_one_success_and_seven_conflicts(
        db, store, database_url):
    set_stock(db, "VAN-E1", "FAN-120", 1)
    barrier = threading.Barrier(8)

    def attempt(_):
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            try:
                issue(conn, "FAN-120", 1, "VAN-E1", engineer_id="E1", actor="eva", work_order_id=store["order"])
                return "issued"
            except Conflict as e:
                return str(e)

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("issued") == 1
    assert sorted(set(outcomes) - {"issued"}) == ["VAN-E1 holds 0 of FAN-120; 1 needed"]
    assert db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E1'").fetchone()[0] == 0
    assert _balances_equal_movements(db) == []


def test_eight_concurrent_api_requests_for_the_last_unit_in_a_van_give_one_201_and_seven_409s(
        db, store, client_for):
    set_stock(db, "VAN-E1", "FAN-120", 1)
    keepers = [client_for(Role.PARTS_KEEPER) for _ in range(8)]
    barrier = threading.Barrier(8)
    body = {"part_id": "FAN-120", "quantity": 1, "location_id": "VAN-E1", "engineer_id": "E1",
            "work_order_id": store["order"]}

    def attempt(client):
        barrier.wait()
        return client.post("/stock/issues", json=body)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(attempt, keepers))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert r.json() == {"error": "conflict", "detail": "VAN-E1 holds 0 of FAN-120; 1 needed"}
    done = next(r.json() for r in responses if r.status_code == 201)
    assert [(m["kind"], m["location_id"], m["quantity"], m["engineer_id"], m["work_order_id"])
            for m in done["movements"]] == [("issue", "VAN-E1", -1, "E1", store["order"])]
    assert _balances_equal_movements(db) == []


def test_the_balance_cannot_be_written_directly_only_through_movements(db, store):
    set_stock(db, "WH-1", "FAN-120", 5)
    for sql in ("UPDATE stock SET quantity = 50 WHERE location_id = 'WH-1'",
                "DELETE FROM stock WHERE location_id = 'WH-1'",
                "INSERT INTO stock (location_id, part_id, quantity) VALUES ('VAN-E1', 'FAN-120', 3)"):
        with pytest.raises(psycopg.errors.RestrictViolation, match="stock changes only through stock_movements"):
            db.execute(sql)
    assert ledger.on_hand(db, "WH-1", "FAN-120") == 5


def test_movements_are_never_updated_or_deleted(db, store):
    set_stock(db, "WH-1", "FAN-120", 5)
    for sql in ("UPDATE stock_movements SET quantity = 500", "DELETE FROM stock_movements"):
        with pytest.raises(psycopg.errors.RestrictViolation, match="never changed or deleted"):
            db.execute(sql)
    assert db.execute("SELECT sum(quantity) FROM stock_movements").fetchone()[0] == 5


def test_a_warehouse_and_a_van_opened_through_the_api_come_with_their_areas(db, store, client_for):
    keeper = client_for(Role.PARTS_KEEPER, user_id="kim")
    assert keeper.post("/stock/locations", json={"id": "WH-2", "kind": "warehouse", "name": "South"}).status_code == 201
    db.execute("INSERT INTO engineers (id, name, home_lat, home_lon) VALUES ('E3', 'Ida', 48.1, 11.6)")
    van = keeper.post("/stock/locations", json={"id": "VAN-E3", "kind": "van", "name": "Ida's van",
                                                "engineer_id": "E3", "home_warehouse_id": "WH-2"})
    assert van.status_code == 201, van.text
    assert (van.json()["parent_id"], van.json()["areas"], van.json()["created_by"]) == \
        ("WH-2", ["VAN-E3/quarantine"], "kim")
    areas = keeper.get("/stock/locations", params={"parent_id": "WH-2"}).json()["data"]
    assert [(a["id"], a["kind"]) for a in areas] == [("VAN-E3", "van"), ("WH-2/quarantine", "quarantine"),
                                                     ("WH-2/receiving", "receiving")]
    again = keeper.post("/stock/locations", json={"id": "VAN-X", "kind": "van", "name": "Second van",
                                                  "engineer_id": "E3", "home_warehouse_id": "WH-2"})
    assert again.status_code == 409 and again.json()["detail"] == "engineer_id: 'E3' has a van already"
    homeless = keeper.post("/stock/locations", json={"id": "VAN-Y", "kind": "van", "name": "Y", "engineer_id": "E2",
                                                     "home_warehouse_id": "VAN-E1"})
    assert homeless.status_code == 422 and homeless.json()["detail"].startswith("home_warehouse_id:")


def test_transfers_load_a_van_from_its_warehouse_and_bring_defective_parts_in_between_quarantines(db, store, api):
    set_stock(db, "WH-1", "FAN-120", 5)
    loaded = api.post("/stock/transfers", json={"part_id": "FAN-120", "quantity": 3, "from_location_id": "WH-1",
                                                "to_location_id": "VAN-E1"})
    assert loaded.status_code == 201
    assert [(m["location_id"], m["quantity"]) for m in loaded.json()["movements"]] == [("WH-1", -3), ("VAN-E1", 3)]
    record(db, MovementKind.DEFECTIVE_RETURN, [Line("FAN-120", "VAN-E1/quarantine", 1, unit_cost=0)], actor="eva")
    brought = api.post("/stock/transfers", json={"part_id": "FAN-120", "quantity": 1,
                                                 "from_location_id": "VAN-E1/quarantine",
                                                 "to_location_id": "WH-1/quarantine"})
    assert brought.status_code == 201
    # A quarantined part never becomes usable by a transfer.
    mixed = api.post("/stock/transfers", json={"part_id": "FAN-120", "quantity": 1,
                                               "from_location_id": "WH-1/quarantine", "to_location_id": "WH-1"})
    assert mixed.status_code == 422 and "not issuable" in mixed.json()["detail"]
    too_many = api.post("/stock/transfers", json={"part_id": "FAN-120", "quantity": 9, "from_location_id": "WH-1",
                                                  "to_location_id": "VAN-E2"})
    assert too_many.status_code == 409 and too_many.json()["detail"] == "WH-1 holds 2 of FAN-120; 9 needed"
    assert _balances_equal_movements(db) == []


def test_on_hand_splits_usable_receiving_and_quarantine_and_flags_stock_at_or_below_the_reorder_point(db, store, api):
    set_stock(db, "WH-1", "FAN-120", 4)
    set_stock(db, "WH-1/receiving", "FAN-120", 6)
    set_stock(db, "WH-1/quarantine", "FAN-120", 1)
    set_stock(db, "VAN-E1", "FAN-120", 2)
    set_stock(db, "WH-1", "RELAY-40", 9)
    api.put("/stock/reorder-levels", json={"location_id": "WH-1", "part_id": "FAN-120", "reorder_point": 4,
                                           "reason": "summer fans"}).raise_for_status()
    api.put("/stock/reorder-levels", json={"location_id": "WH-1", "part_id": "RELAY-40", "reorder_point": 8,
                                           "reason": "site works"}).raise_for_status()
    rows = api.get("/stock/on-hand", params={"location_id": "WH-1"}).json()["data"]
    # FAN-120: 4 usable ≤ reorder point 4 → low; RELAY-40: 9 > 8 → not low.
    assert [(r["part_id"], r["on_hand"], r["receiving"], r["quarantine"], r["reorder_point"], r["low"])
            for r in rows] == [("FAN-120", 4, 6, 1, 4, True), ("RELAY-40", 9, 0, 0, 8, False)]
    low = api.get("/stock/low").json()
    assert (low["count"], low["data"][0]["location_id"], low["data"][0]["part_id"]) == (1, "WH-1", "FAN-120")
    van = api.get("/stock/on-hand", params={"kind": "van"}).json()["data"]
    assert [(r["location_id"], r["on_hand"], r["reorder_point"], r["low"]) for r in van] == [("VAN-E1", 2, None, False)]


def test_the_movement_log_filters_by_part_location_kind_and_order_newest_first_in_pages(db, store, api):
    set_stock(db, "VAN-E1", "FAN-120", 3)
    set_stock(db, "WH-1", "RELAY-40", 2)
    for _ in range(2):
        issue(db, "FAN-120", 1, "VAN-E1", engineer_id="E1", actor="eva", work_order_id=store["order"])
    log = api.get("/stock/movements", params={"location_id": "VAN-E1", "kind": "issue"}).json()
    assert log["count"] == 2 and log["data"][0]["id"] > log["data"][1]["id"]
    page = api.get("/stock/movements", params={"limit": 1, "offset": 1, "part_id": "FAN-120"}).json()
    assert page["count"] == 3 and [m["kind"] for m in page["data"]] == ["issue"]
    by_order = api.get("/stock/movements", params={"work_order_id": store["order"]}).json()
    assert {m["engineer_id"] for m in by_order["data"]} == {"E1"} and by_order["count"] == 2
    assert api.get("/stock/movements", params={"kind": "scrap"}).json()["count"] == 0
    bad = api.get("/stock/movements", params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("from:")


def test_an_issue_needs_a_job_and_goes_only_to_the_vans_own_engineer(db, store, api):
    set_stock(db, "VAN-E1", "FAN-120", 3)
    no_job = api.post("/stock/issues", json={"part_id": "FAN-120", "quantity": 1, "location_id": "VAN-E1",
                                             "engineer_id": "E1"})
    assert no_job.status_code == 422 and no_job.json()["detail"].startswith("work_order_id:")
    other = api.post("/stock/issues", json={"part_id": "FAN-120", "quantity": 1, "location_id": "VAN-E1",
                                            "engineer_id": "E2", "work_order_id": store["order"]})
    assert other.status_code == 422 and "another engineer's van" in other.json()["detail"]
    with pytest.raises(InvalidInput):
        issue(db, "FAN-120", 1, "WH-1/quarantine", engineer_id="E1", actor="x", work_order_id=store["order"])
    assert ledger.on_hand(db, "VAN-E1", "FAN-120") == 3
