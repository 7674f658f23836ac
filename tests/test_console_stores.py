"""Acceptance for issue 14, item 9 (R-PARTS): the parts keeper's console pages in a real browser
(Debian's headless Chromium via Selenium) against the real API server and PostgreSQL. A parts
keeper receives a delivery against a purchase order, fails part of it at inspection and finds
it in quarantine, not in usable stock, then ships it back on the claim; transfers parts to a
van and sees the low-stock warning appear; approves a stock-take with a variance and the
on-hand changes; turns a purchase proposal into a draft order. A viewer reads every stores
page with no form or button that would change anything. The browser's console log stays free
of errors (a failed request is one).

One browser and one API server serve the whole module (Chromium's start is the slow part);
every test empties the tables and logs in afresh. The keeper's steps are the ones `pilecare
docs screenshots` pictures (simulators/stores_tour.py)."""
from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from api import accounts
from maintenance.inventory import (Listing, OrderLine, ReceiptLine, catalogue, on_hand, purchasing, receipts,
                                   stock_takes)
from maintenance.policy import load as load_policy
from maintenance.inventory import reorder
from pilecare.settings import Settings
from simulators import browser as b
from simulators.inprocess import Server
from simulators.stores_tour import CABLE, FAN, RCD, STORES_NAMES, WAREHOUSE, StoresTour
from tests.conftest import PASSWORD
from tests.purchasing import assert_on_hand_is_the_sum_of_movements


@pytest.fixture(scope="module")
def server(database_url, broker):
    from api.app import create_app

    tag = uuid.uuid4().hex[:8]
    settings = Settings(database_url=database_url, mqtt_url=broker.url, topic_prefix=f"test-{tag}/pilecare/v1",
                        ingest_group=f"ingest-{tag}", ingest_client_id=f"ingest-{tag}", timescale="off",
                        secret_key="test-secret-" + "k" * 40)
    with Server(create_app(settings)) as running:
        yield running


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    problem = b.chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    with b.Browser(server.url, tmp_path_factory.mktemp("screenshots")) as page:
        yield page


@pytest.fixture
def tour(db, browser):
    """The keeper's stores on an emptied database (one engineer, E1, for the van); the browser
    logged out of whatever the last test left."""
    db.execute("INSERT INTO engineers (id, name, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{north}', 52.5, 13.3)")
    browser.d.delete_all_cookies()
    browser.open("/login")
    browser.drain()
    browser.log.clear()
    return StoresTour(db, browser, PASSWORD).start()


def nav(page) -> list[str]:
    return page.js("return [...document.querySelectorAll('#nav a')].map(a => a.dataset.nav)")


def low_badge(page) -> str | None:
    """The number on the Stock entry of the navigation, None while it is hidden."""
    return page.js("const b = document.querySelector('#nav [data-testid=low-stock-badge]');"
                   "return b && !b.hidden ? b.textContent : null")


def test_a_keeper_receives_a_delivery_fails_part_of_it_and_finds_it_in_quarantine_not_in_usable_stock(db, tour):
    page = tour.page
    tour.login()
    assert {"stock", "parts", "purchasing", "stock-takes", "suppliers"} <= set(nav(page))

    order_id = tour.draft_order("ACME", [(RCD, 10), (CABLE, 2)])
    # The prices default to ACME's listings: 10 × 295 + 2 × 760 = 4,470.
    assert db.execute("SELECT state, total, created_by FROM purchase_orders p, LATERAL (SELECT sum(quantity * "
                      "unit_price) AS total FROM purchase_order_lines WHERE purchase_order_id = p.id) t "
                      "WHERE id = %s", (order_id,)).fetchone() == ("draft", Decimal("4470.00"), "pia")
    tour.send_order()
    # The cables come later: the order is partially received after this delivery.
    receipt_id = tour.receive({RCD: 10, CABLE: 0}, "DN-2024-118")
    assert db.execute("SELECT state FROM purchase_orders WHERE id = %s", (order_id,)).fetchone()[0] == \
        "partially_received"
    # Before inspection all ten wait in receiving: none is usable.
    assert (on_hand(db, WAREHOUSE, RCD), on_hand(db, f"{WAREHOUSE}/receiving", RCD)) == (0, 10)

    tour.inspect(RCD, 7, 3, "housing cracked in transit")
    claim = page.text("[data-testid=receipt-lines] [data-testid=receipt-claim]")
    claim_id = db.execute("SELECT c.id FROM supplier_claims c JOIN goods_receipt_lines l ON l.id = "
                          "c.goods_receipt_line_id WHERE l.goods_receipt_id = %s", (receipt_id,)).fetchone()[0]
    assert claim == f"Supplier claim {claim_id}"

    # The stock page: 7 usable, the 3 failed in quarantine, nothing left in receiving.
    row = tour.stock()[RCD]
    assert (row["on_hand"], row["receiving"], row["quarantine"]) == (7, 0, 3)
    assert (on_hand(db, WAREHOUSE, RCD), on_hand(db, f"{WAREHOUSE}/quarantine", RCD),
            on_hand(db, f"{WAREHOUSE}/receiving", RCD)) == (7, 3, 0)
    # The catalogue counts usable stock only.
    page.route("#/stores/parts", f"[data-testid=parts] tr[data-part='{RCD}']")
    assert page.js(f"return document.querySelector(\"[data-testid=parts] tr[data-part='{RCD}']\").dataset.onHand") \
        == "7"

    # The claim, from the receipt's link: shipped back to ACME out of quarantine.
    page.route(f"#/stores/receipts/{receipt_id}", "[data-testid=receipt-claim]")
    page.click("[data-testid=receipt-claim]")
    page.wait(lambda d: page.exists(f"[data-testid=claims] tr.row-focus[data-claim='{claim_id}'] details[open]"),
              message="the claim, its actions open")
    page.d.find_element("id", f"ship-note-{claim_id}").send_keys("DHL 00340434161094042557")
    page.click(f"tr[data-claim='{claim_id}'] [data-testid=ship-form] button[type=submit]")
    page.wait(lambda d: page.exists(f"tr[data-claim='{claim_id}'][data-state='shipped']"), message="the claim shipped")
    assert db.execute("SELECT state, shipped_by FROM supplier_claims WHERE id = %s", (claim_id,)).fetchone() == \
        ("shipped", "pia")
    assert on_hand(db, f"{WAREHOUSE}/quarantine", RCD) == 0
    assert_on_hand_is_the_sum_of_movements(db)
    assert page.errors() == []


def test_a_keeper_transfers_to_a_van_and_back_and_the_low_stock_warning_appears(db, tour):
    page = tour.page
    tour.login()
    # 12 fans in the warehouse against a reorder point of 10: not low, no badge.
    tour.set_reorder_level(FAN, WAREHOUSE, 10, 12, "summer fan failures")
    assert db.execute("SELECT override_reorder_point, override_by FROM reorder_levels WHERE location_id = %s "
                      "AND part_id = %s", (WAREHOUSE, FAN)).fetchone() == (10, "pia")
    rows = tour.stock()
    assert (rows[FAN]["on_hand"], rows[FAN]["low"], rows[FAN]["highlighted"]) == (12, False, False)
    assert low_badge(page) is None and page.text("[data-testid=low-stock]") == ""

    # Three to the van: 12 − 3 = 9 ≤ 10, the warehouse is low.
    tour.transfer(FAN, 3, WAREHOUSE, tour.van)
    rows = tour.stock_rows()
    assert (rows[FAN]["on_hand"], rows[FAN]["low"], rows[FAN]["highlighted"]) == (9, True, True)
    page.wait(lambda d: low_badge(page) == "1", message="the low-stock badge")
    assert "FAN-120 at WH-1 (9 of 10)" in page.text("[data-testid=low-stock]")
    assert (on_hand(db, WAREHOUSE, FAN), on_hand(db, tour.van, FAN)) == (9, 3)

    # One back from the van: 9 + 1 = 10, still at the reorder point, still low.
    tour.transfer(FAN, 1, tour.van, WAREHOUSE)
    assert (on_hand(db, WAREHOUSE, FAN), on_hand(db, tour.van, FAN)) == (10, 2)
    assert tour.stock_rows()[FAN]["low"] is True
    # The van's row: its 2 fans, no reorder level there.
    van = tour.stock(tour.van)[FAN]
    assert (van["on_hand"], van["low"]) == (2, False)

    # The movement log, filtered to transfers at the van: in 3, out 1, newest first.
    page.route(f"#/stores/movements?kind=transfer&location_id={tour.van}", "[data-testid=movements] tbody tr")
    assert page.js("return [...document.querySelectorAll('[data-testid=movements] tbody tr')]"
                   ".map(r => [r.dataset.location, +r.dataset.quantity])") == [[tour.van, -1], [tour.van, 3]]
    assert_on_hand_is_the_sum_of_movements(db)
    assert page.errors() == []


def test_a_stock_take_with_a_variance_is_approved_and_the_on_hand_changes(db, tour):
    page = tour.page
    tour.login()
    take_id = tour.start_stock_take()
    # The sheet lists what the warehouse holds: the 12 fans.
    assert page.js("return [...document.querySelectorAll('[data-testid=take-lines] tbody tr')]"
                   ".map(r => [r.dataset.part, +r.dataset.expected])") == [[FAN, 12]]
    # 11 on the shelf, and a cable found that the sheet did not list.
    page.d.find_element("id", "found-part").send_keys(CABLE)
    page.d.find_element("id", "found-count").send_keys("1")
    tour.count({FAN: 11})
    # Variance = counted − the book at the count: 11 − 12 = −1; the cable 1 − 0 = +1.
    assert tour.variances() == {FAN: -1, CABLE: 1}
    tour.take_step("submit-take", "submitted")
    approval = page.text("[data-testid=approve-take-form]")
    assert "FAN-120 -1" in approval and "CABLE-DC +1" in approval
    assert on_hand(db, WAREHOUSE, FAN) == 12  # nothing moves before the approval
    tour.take_step("approve-take", "approved")
    assert (on_hand(db, WAREHOUSE, FAN), on_hand(db, WAREHOUSE, CABLE)) == (11, 1)
    assert db.execute("SELECT part_id, quantity, recorded_by FROM stock_movements WHERE stock_take_id = %s "
                      "ORDER BY part_id", (take_id,)).fetchall() == [(CABLE, 1, "pia"), (FAN, -1, "pia")]
    assert db.execute("SELECT state, decided_by FROM stock_takes WHERE id = %s", (take_id,)).fetchone() == \
        ("approved", "pia")
    # The stock page agrees, and a closed sheet offers nothing more.
    rows = tour.stock()
    assert (rows[FAN]["on_hand"], rows[CABLE]["on_hand"]) == (11, 1)
    page.route(f"#/stores/stock-takes/{take_id}", "[data-testid=take-actions] .empty")
    assert not page.exists("[data-testid=take-lines] input")
    assert_on_hand_is_the_sum_of_movements(db)
    assert page.errors() == []


def test_a_purchase_proposal_becomes_a_draft_purchase_order_for_its_supplier(db, tour):
    page = tour.page
    policy = load_policy().reorder
    # Reorder point 4, order quantity 6, nothing held: RCD-B proposed 4 + 6 − 0 = 10 from ACME
    # (its only listing); CABLE-DC 2 + 3 − 0 = 5 from BOLT (740 < ACME's 760).
    reorder.override(db, policy, WAREHOUSE, RCD, reorder_point=4, order_quantity=6, reason="test", actor="test")
    reorder.override(db, policy, WAREHOUSE, CABLE, reorder_point=2, order_quantity=3, reason="test", actor="test")
    tour.login()
    page.route("#/stores/proposals", "[data-testid=proposal][data-supplier='ACME']")
    groups = page.js("return [...document.querySelectorAll('[data-testid=proposal]')].map(g => [g.dataset.supplier,"
                     " [...g.querySelectorAll('tbody tr')].map(r => [r.dataset.part, +r.dataset.quantity])])")
    assert sorted(groups) == [["ACME", [[RCD, 10]]], ["BOLT", [[CABLE, 5]]]]
    page.click("[data-testid=proposal][data-supplier='ACME'] [data-testid=propose-form] button[type=submit]")
    order_id = tour.opened_id(r"#/stores/purchase-orders/\d+", "the drafted order")
    page.wait(lambda d: page.exists(f".page[data-order='{order_id}'][data-state='draft']"), message="the draft")
    assert db.execute("SELECT supplier_id, location_id, created_by FROM purchase_orders WHERE id = %s",
                      (order_id,)).fetchone() == ("ACME", WAREHOUSE, "pia")
    assert db.execute("SELECT part_id, quantity, unit_price FROM purchase_order_lines WHERE purchase_order_id = %s",
                      (order_id,)).fetchall() == [(RCD, 10, Decimal("295.00"))]
    # On order now: RCD-B's position is 10 > 4, only BOLT's cables are left to propose.
    page.route("#/stores/proposals", "[data-testid=proposal]")
    assert page.js("return [...document.querySelectorAll('[data-testid=proposal]')].map(g => g.dataset.supplier)") \
        == ["BOLT"]
    assert page.errors() == []


def _records(db) -> dict:
    """Something on every page for the viewer to read: an order delivered with a failed line
    (a claim), a submitted stock-take, a part below its reorder point, a proposal."""
    order_id = purchasing.create(db, "ACME", WAREHOUSE, [OrderLine(RCD, 4)], actor="pia")
    purchasing.order(db, order_id, actor="pia")
    receipt_id = receipts.receive(db, [ReceiptLine(RCD, 4)], purchase_order_id=order_id, actor="pia")
    line_id = db.execute("SELECT id FROM goods_receipt_lines WHERE goods_receipt_id = %s", (receipt_id,)).fetchone()[0]
    receipts.inspect(db, receipt_id, line_id, passed=3, failed=1, failure_reason="dead on arrival", actor="pia")
    take_id = stock_takes.start(db, WAREHOUSE, actor="pia")
    stock_takes.count(db, take_id, [(FAN, 12), (RCD, 3)], actor="pia")
    stock_takes.submit(db, take_id, actor="pia")
    reorder.override(db, load_policy().reorder, WAREHOUSE, FAN, reorder_point=20, order_quantity=10, reason="test",
                     actor="pia")
    catalogue.list_part(db, FAN, Listing("ACME", Decimal(40), 10), actor="pia")
    return {"order": order_id, "receipt": receipt_id, "take": take_id}


def test_a_viewer_reads_every_stores_page_and_finds_no_action(db, tour):
    page = tour.page
    made = _records(db)
    accounts.create(db, "vera", role=accounts.Role.VIEWER, full_name="Vera Viewer", password=PASSWORD, actor="test")
    tour.login("vera")
    # Readers get the pages to look things up; the stock-takes entry and the badge are the keeper's.
    assert {"stock", "parts", "purchasing", "suppliers"} <= set(nav(page))
    assert "stock-takes" not in nav(page) and low_badge(page) is None
    pages = [
        ("#/stores/stock", f"[data-testid=on-hand] tr.row-low[data-part='{FAN}']"),
        ("#/stores/movements", "[data-testid=movements] tbody tr"),
        ("#/stores/parts", f"[data-testid=parts] tr[data-part='{RCD}']"),
        (f"#/stores/parts/{FAN}", "[data-testid=part-suppliers] tr[data-supplier='ACME']"),
        ("#/stores/purchase-orders", f"[data-testid=purchase-orders] tr[data-order='{made['order']}']"),
        (f"#/stores/purchase-orders/{made['order']}", "[data-testid=order-lines] tr[data-part]"),
        ("#/stores/receipts", f"[data-testid=receipts] tr[data-receipt='{made['receipt']}']"),
        (f"#/stores/receipts/{made['receipt']}", "[data-testid=receipt-claim]"),
        ("#/stores/claims", "[data-testid=claims] tr[data-state='open']"),
        # 20 + 10 − 12 = 18 fans, from BOLT (38.50 < ACME's 40).
        ("#/stores/proposals", "[data-testid=proposal][data-supplier='BOLT'] tr[data-quantity='18']"),
        ("#/stores/stock-takes", f"[data-testid=stock-takes] tr[data-take='{made['take']}']"),
        (f"#/stores/stock-takes/{made['take']}", "[data-testid=take-lines] [data-testid=variance]"),
        ("#/stores/supplier-list", "[data-testid=suppliers] tr[data-supplier='ACME']"),
        ("#/stores/suppliers", "[data-testid=scorecards] tr[data-supplier='ACME']"),
    ]
    for hash_, ready in pages:
        page.route(hash_, ready)
        # Only the filter bars: no form, button or count input that would change anything.
        acting = page.js("return [...document.querySelectorAll('main form:not(.filters), main button, "
                         "main input:not(.filters input)')].map(e => e.dataset.testid || e.name || e.tagName)")
        assert acting == [], (hash_, acting)
    # The scorecard read as the records say: 4 received, 1 failed → defect rate 1 / 4 = 25 %.
    assert page.js("return document.querySelector(\"[data-testid=scorecards] tr[data-supplier='ACME']\")"
                   ".dataset.defects") == "0.25"
    assert page.errors() == []


# --- the catalogue's forms: parts and suppliers (R-PARTS) ---------------------------------

def within(form: str) -> str:
    """A form by its test id, or any CSS selector of one (a row's form)."""
    return form if "[" in form else f"[data-testid={form}]"


def field(page, form: str, name: str):
    return page.d.find_element("css selector", f"{within(form)} [name='{name}']")


def fill(page, form: str, values: dict) -> None:
    """Types each value into the form's field of that name (a select: chooses it)."""
    from selenium.webdriver.support.ui import Select

    for name, value in values.items():
        element = field(page, form, name)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)


def tick(page, form: str, model: str) -> None:
    page.click(f"{within(form)} input[name=model][value='{model}']")


def submit(page, form: str) -> str:
    """Presses the form's button and returns what the form says once it answered."""
    page.click(f"{within(form)} button[type=submit]")
    page.wait(lambda d: page.text(f"{within(form)} .form-message"), message=f"{form}'s answer")
    return page.text(f"{within(form)} .form-message")


def refusals(page, expected: int) -> list[str]:
    """The browser log's errors once it holds `expected` of them (or what it holds after the wait)."""
    try:
        page.wait(lambda d: len(page.errors()) >= expected, timeout=5, message=f"{expected} errors logged")
    except TimeoutError:
        pass
    return page.errors()


def pile_models(db) -> None:
    db.execute("INSERT INTO pile_models (id, manufacturer, name, kind, rated_power_kw, connectors, "
               "reporting_interval_s) VALUES ('T-AC22', 'Pilecare', 'AC22 Duo', 'AC', 22, 2, 30), "
               "('T-DC120', 'Pilecare', 'DC120', 'DC', 120, 2, 15) ON CONFLICT DO NOTHING")


def test_a_keeper_adds_a_part_with_a_supplier_listing_and_finds_it_in_the_catalogue_and_on_its_page(db, tour):
    page = tour.page
    pile_models(db)
    tour.login()
    page.route("#/stores/parts", "[data-testid=new-part-form] input[name=model][value='T-DC120']")
    fill(page, "new-part-form", {"id": "RCD-B63", "name": "Residual-current device type B, 63 A",
                                 "spec": "63 A, 30 mA, 4-pole", "unit_cost": "415.20", "alternates": "RCD-B",
                                 "supplier-0": "BOLT", "number-0": "B-6330", "price-0": "389.90", "lead-0": "12"})
    tick(page, "new-part-form", "T-DC120")
    assert submit(page, "new-part-form") == "Done."

    # In the catalogue (in use, so under the default filter), with what the form said.
    page.wait(lambda d: page.exists("[data-testid=parts] tr[data-part='RCD-B63']"), message="the new part listed")
    row = page.js("return [...document.querySelectorAll(\"[data-testid=parts] tr[data-part='RCD-B63'] td\")]"
                  ".map(c => c.textContent)")
    assert row[1:7] == ["Residual-current device type B, 63 A", "63 A, 30 mA, 4-pole", "pcs", "415.20", "T-DC120",
                        "RCD-B"]
    assert db.execute("SELECT name, unit_cost, compatible_models, active FROM parts WHERE id = 'RCD-B63'").fetchone() \
        == ("Residual-current device type B, 63 A", Decimal("415.20"), ["T-DC120"], True)
    assert db.execute("SELECT alternate_id FROM part_alternates WHERE part_id = 'RCD-B63'").fetchall() == [("RCD-B",)]
    assert db.execute("SELECT supplier_id, supplier_part_number, price, lead_time_days, updated_by FROM "
                      "supplier_parts WHERE part_id = 'RCD-B63'").fetchall() == \
        [("BOLT", "B-6330", Decimal("389.90"), 12, "pia")]

    # On its page: BOLT's listing; the edit form holds the part as it is.
    page.route("#/stores/parts/RCD-B63", "[data-testid=part-suppliers] tr[data-supplier='BOLT']")
    assert page.text("[data-testid=part-suppliers] tr[data-supplier='BOLT']") == \
        "Bolt & Co (BOLT)B-6330389.9012 dRemove"
    page.wait(lambda d: page.exists("[data-testid=edit-part-form]"), message="the edit form")
    assert field(page, "edit-part-form", "unit_cost").get_attribute("value") == "415.2"
    # It fits the AC22 too, and costs 420 now; ACME lists it at 398.00, 20 days.
    tick(page, "edit-part-form", "T-AC22")
    fill(page, "edit-part-form", {"unit_cost": "420"})
    assert submit(page, "edit-part-form") == "Done."
    page.wait(lambda d: "T-AC22, T-DC120" in page.text("[data-testid=part-facts]"), message="the part changed")
    fill(page, "listing-form", {"supplier_id": "ACME", "price": "398.00", "lead_time_days": "20"})
    assert submit(page, "listing-form") == "Done."
    # Cheapest first: BOLT's 389.90 before ACME's 398.00.
    page.wait(lambda d: page.exists("[data-testid=part-suppliers] tr[data-supplier='ACME']"), message="ACME listed")
    assert page.js("return [...document.querySelectorAll('[data-testid=part-suppliers] tbody tr')]"
                   ".map(r => r.dataset.supplier)") == ["BOLT", "ACME"]
    assert db.execute("SELECT unit_cost, compatible_models, updated_by FROM parts WHERE id = 'RCD-B63'").fetchone() \
        == (Decimal("420.00"), ["T-AC22", "T-DC120"], "pia")
    # Choosing a supplier that lists it already fills in its listing.
    fill(page, "listing-form", {"supplier_id": "BOLT"})
    assert field(page, "listing-form", "price").get_attribute("value") == "389.9"
    assert page.errors() == []


def test_a_bad_price_shows_the_apis_message_next_to_the_form_and_adds_nothing(db, tour):
    page = tour.page
    tour.login()
    page.route("#/stores/parts", "[data-testid=new-part-form] select[name=supplier-0] option[value='BOLT']")
    fill(page, "new-part-form", {"id": "FUSE-32", "name": "Fuse 32 A", "supplier-0": "BOLT", "price-0": "-4.50",
                                 "lead-0": "5"})
    assert submit(page, "new-part-form") == "suppliers.0.price: Input should be greater than or equal to 0"
    assert page.exists("[data-testid=new-part-form] .form-message.error")
    assert db.execute("SELECT count(*) FROM parts WHERE id = 'FUSE-32'").fetchone()[0] == 0
    # On a part's page: a price in tenths of a cent.
    page.route(f"#/stores/parts/{FAN}", "[data-testid=listing-form] option[value='ACME']")
    fill(page, "listing-form", {"supplier_id": "ACME", "price": "39.995", "lead_time_days": "5"})
    assert submit(page, "listing-form") == "price: Decimal input should have no more than 2 decimal places"
    assert db.execute("SELECT count(*) FROM supplier_parts WHERE part_id = %s AND supplier_id = 'ACME'",
                      (FAN,)).fetchone()[0] == 0
    # The two refusals are the browser log's only errors (Chromium logs a failed request a little
    # after the page has its answer).
    errors = refusals(page, 2)
    assert len(errors) == 2 and all("422" in e for e in errors), errors


def test_a_keeper_adds_a_supplier_edits_it_and_opens_its_scorecard(db, tour):
    page = tour.page
    tour.login()
    page.click("#nav a[data-nav=suppliers]")
    page.wait(lambda d: page.exists("tr[data-supplier='ACME'] [data-testid=edit-supplier-form]"),
              message="the suppliers list, a form in each row")
    fill(page, "new-supplier-form", {"id": "VOLTA", "name": "Volta Parts", "email": "orders@volta.example"})
    assert submit(page, "new-supplier-form") == "Done."
    page.wait(lambda d: page.exists("[data-testid=suppliers] tr[data-supplier='VOLTA']"), message="VOLTA listed")
    assert db.execute("SELECT name, email, phone, active FROM suppliers WHERE id = 'VOLTA'").fetchone() == \
        ("Volta Parts", "orders@volta.example", None, True)

    # A bad e-mail is the API's to refuse, next to the row's form; then a phone, and retired.
    page.click("tr[data-supplier='VOLTA'] .row-actions summary")
    edit = "tr[data-supplier='VOLTA'] [data-testid=edit-supplier-form]"
    fill(page, edit, {"email": "orders at volta", "phone": "+49 30 555 0101"})
    assert submit(page, edit).startswith("email: String should match pattern")
    fill(page, edit, {"email": "orders@volta.example"})
    page.click("tr[data-supplier='VOLTA'] input[name=active]")
    page.click(f"{edit} button[type=submit]")
    # Retired: gone from the list of those in use.
    page.wait(lambda d: not page.exists("[data-testid=suppliers] tr[data-supplier='VOLTA']"), message="VOLTA retired")
    assert db.execute("SELECT phone, active, updated_by FROM suppliers WHERE id = 'VOLTA'").fetchone() == \
        ("+49 30 555 0101", False, "pia")

    page.click("[data-testid=suppliers] tr[data-supplier='ACME'] [data-testid=scorecard-link]")
    page.wait(lambda d: page.exists("[data-testid=scorecards] tr.row-focus[data-supplier='ACME']"),
              message="ACME's scorecard")
    errors = refusals(page, 1)
    assert len(errors) == 1 and "422" in errors[0], errors


def test_the_tour_takes_the_stores_pictures(db, tour):
    taken = tour.take()
    assert [p.name for p in taken] == [f"{name}.png" for name in STORES_NAMES]
    assert all(p.stat().st_size > 10_000 for p in taken)
    assert tour.page.errors() == []
