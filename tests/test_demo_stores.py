"""The demo's stores (issue 14): the seed gives every part its suppliers, every engineer a
rate, the year its budgets and the stores a few months of history, once however often it
runs; and the simulated parts keeper, through the real HTTP API with the demo-keeper login,
restocks a van that ran low, orders what the proposals ask for, receives the delivery after
the (scaled) lead time, inspects it, ships the claims and stock-takes — every stock movement
recorded as demo-keeper."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from api.app import create_app
from maintenance.inventory import transfer
from simulators.crew import PARTS, seed_crew
from simulators.crew_accounts import KEEPER_USER, MANAGER_USER, ensure_accounts
from simulators.fleetgen import seed_fleet
from simulators.inprocess import Server
from simulators.parts_keeper import PartsKeeper
from simulators.stores_seed import SEEDED_BY, seed_stores

TABLES = ["suppliers", "supplier_parts", "budgets", "budget_changes", "reorder_levels", "expenses", "purchase_orders",
          "goods_receipts", "supplier_claims", "stock_movements"]


@pytest.fixture
def stores(db, tmp_path):
    """A seeded fleet of 30 piles, the crew of 18 with its warehouse and vans, the stores seed
    and the crew's accounts."""
    seed_fleet(db, piles=30, seed=1)
    seed_crew(db, seed=1)
    summary = seed_stores(db, seed=1)
    return summary, ensure_accounts(db, tmp_path / "crew-accounts", actor="test")


def snapshot(db) -> dict[str, int]:
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES} | {
        "rates": db.execute("SELECT count(*) FROM engineers WHERE hourly_rate IS NOT NULL").fetchone()[0]}


def test_the_seed_lists_every_part_rates_every_engineer_budgets_the_year_and_runs_once(db, stores):
    summary, accounts = stores
    assert {(a.user, a.role) for a in accounts} >= {(KEEPER_USER, "parts_keeper"), (MANAGER_USER, "manager")}
    # Every part of the crew's catalogue is listed by the two full-range suppliers, every
    # other one (5 of 10) by the quick one too: 10 + 10 + 5 = 25 listings.
    assert db.execute("SELECT count(*) FROM supplier_parts").fetchone()[0] == 25
    assert db.execute("SELECT min(n) FROM (SELECT count(*) AS n FROM supplier_parts GROUP BY part_id) x"
                      ).fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM parts WHERE id NOT IN (SELECT part_id FROM supplier_parts)").fetchone()[0] \
        == 0
    assert db.execute("SELECT count(*) FROM engineers WHERE hourly_rate IS NULL").fetchone()[0] == 0
    # Budgets: every month of this year, six categories each.
    this_year = db.execute("SELECT count(DISTINCT period), count(*) FROM budgets WHERE extract(year FROM period) = "
                           "extract(year FROM now())").fetchone()
    assert tuple(this_year) == (12, 72)
    # History: expenses in last month, deliveries received and inspected, one order on its way.
    last_month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    assert db.execute("SELECT count(*) FROM expenses WHERE date_trunc('month', spent_on) = %s",
                      (last_month,)).fetchone()[0] == 5
    states = dict(db.execute("SELECT state, count(*) FROM purchase_orders GROUP BY 1").fetchall())
    assert states.get("ordered", 0) >= 1 and states.get("received", 0) >= 6, states
    assert db.execute("SELECT count(*) FROM goods_receipt_lines WHERE inspected_at IS NULL").fetchone()[0] == 0
    before = snapshot(db)
    again = seed_stores(db, seed=1)
    assert snapshot(db) == before
    assert again == "stores seed 1: 0 listings, 0 rates, 0 budgets, 0 levels, 0 past expenses, 0 past purchase orders"
    assert summary != again


@pytest.mark.timeout(60)
def test_the_demo_keeper_restocks_a_low_van_orders_receives_and_inspects_through_the_api(db, settings, stores):
    _, accounts = stores
    started = db.execute("SELECT now()").fetchone()[0]
    # A van that ran low: one of its kit parts down to its reorder point of 1 (seeded override).
    van, part, held = db.execute(
        "SELECT s.location_id, s.part_id, s.quantity FROM stock s JOIN stock_locations l ON l.id = s.location_id "
        "WHERE l.kind = 'van' AND s.quantity >= 2 ORDER BY 1, 2 LIMIT 1").fetchone()
    transfer(db, part, held - 1, van, "WH-CENTRAL", actor="test", reason="the van was used")
    with Server(create_app(settings)) as server:
        keeper = PartsKeeper(server.url, accounts, speed=1e6, seed=1, fail_share=1.0, variance_share=1.0)
        assert keeper.restock_vans() >= 1
        # Restocked up to reorder point + order quantity: 1 + 2 = 3.
        assert db.execute("SELECT quantity FROM stock WHERE location_id = %s AND part_id = %s",
                          (van, part)).fetchone()[0] == 3
        # The warehouse runs short of a part nobody has on order: 5 left, reorder point 8.
        short = db.execute("SELECT p FROM unnest(%s::text[]) p WHERE p <> %s AND p NOT IN (SELECT l.part_id FROM "
                           "purchase_order_lines l JOIN purchase_orders o ON o.id = l.purchase_order_id "
                           "WHERE o.state IN ('draft', 'ordered', 'partially_received')) ORDER BY 1 LIMIT 1",
                           ([p[0] for p in PARTS], part)).fetchone()[0]
        in_warehouse = db.execute("SELECT quantity FROM stock WHERE location_id = 'WH-CENTRAL' AND part_id = %s",
                                  (short,)).fetchone()[0]
        transfer(db, short, in_warehouse - 5, "WH-CENTRAL", van, actor="test", reason="taken for a big job")
        assert keeper.order_proposals() >= 1
        order_id, quantity, supplier, ordered_by = db.execute(
            "SELECT o.id, l.quantity, o.supplier_id, o.ordered_by FROM purchase_orders o JOIN purchase_order_lines l "
            "ON l.purchase_order_id = o.id WHERE l.part_id = %s AND o.state = 'ordered'", (short,)).fetchone()
        # Order up to reorder point + order quantity: 8 + 12 − 5 = 15, from the cheapest supplier.
        assert (quantity, supplier, ordered_by) == (15, "SUP-VOLTA", KEEPER_USER)
        # At ×1,000,000 the supplier's days of lead time have passed a minute later.
        assert keeper.receive_deliveries(datetime.now(timezone.utc) + timedelta(minutes=1)) >= 2
        assert keeper.inspect_receipts() >= 1
        passed, failed, inspected_by, received_by = db.execute(
            "SELECT l.passed_quantity, l.failed_quantity, l.inspected_by, r.received_by FROM goods_receipt_lines l "
            "JOIN goods_receipts r ON r.id = l.goods_receipt_id WHERE r.purchase_order_id = %s AND l.part_id = %s",
            (order_id, short)).fetchone()
        assert (passed + failed, inspected_by, received_by) == (15, KEEPER_USER, KEEPER_USER) and failed in (1, 2)
        # 5 left + the units that passed inspection; the failed ones wait in quarantine for their claim.
        assert db.execute("SELECT quantity FROM stock WHERE location_id = 'WH-CENTRAL' AND part_id = %s",
                          (short,)).fetchone()[0] == 5 + passed
        assert db.execute("SELECT state FROM purchase_orders WHERE id = %s", (order_id,)).fetchone()[0] == "received"
        assert keeper.work_claims(datetime.now(timezone.utc)) >= 1
        assert db.execute("SELECT count(*) FROM supplier_claims WHERE state = 'open'").fetchone()[0] == 0
        assert db.execute("SELECT shipped_by FROM supplier_claims c JOIN goods_receipt_lines l ON "
                          "l.id = c.goods_receipt_line_id JOIN goods_receipts r ON r.id = l.goods_receipt_id "
                          "WHERE r.purchase_order_id = %s", (order_id,)).fetchone()[0] == KEEPER_USER
        take_id = keeper.stock_take()
        assert db.execute("SELECT state, decided_by FROM stock_takes WHERE id = %s", (take_id,)).fetchone() \
            == ("approved", KEEPER_USER)
        assert db.execute("SELECT count(*) FROM stock_movements WHERE stock_take_id = %s", (take_id,)).fetchone()[0] \
            >= 1
    # Every stock movement since the test began that the test did not make is the keeper's.
    kinds = dict(db.execute("SELECT kind, count(DISTINCT recorded_by) FILTER (WHERE recorded_by <> %s) "
                            "FROM stock_movements WHERE recorded_at >= %s AND recorded_by <> 'test' GROUP BY 1",
                            (KEEPER_USER, started)).fetchall())
    assert set(kinds) >= {"transfer", "receipt", "inspection_passed", "inspection_failed", "supplier_return",
                          "adjustment"}
    assert set(kinds.values()) == {0}, kinds
    assert db.execute("SELECT count(*) FROM purchase_orders WHERE created_by NOT IN (%s, %s)",
                      (KEEPER_USER, SEEDED_BY)).fetchone()[0] == 0
