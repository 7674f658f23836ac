"""The parts keeper's console pages (issue 14 item 9, R-PARTS) in headless Chromium, driven as
a parts keeper would: draft a purchase order, send it, receive the delivery, inspect it
(failing part of it), read the stock, set a reorder point, transfer parts to a van, run a
stock-take. Shared by the stores' browser test (tests/test_console_stores.py) and `pilecare
docs screenshots`, which pictures the receipt, the stock and a stock-take (STORES_NAMES).

Each step fills the console's own forms and presses its buttons, and leaves the browser on
its page so that a caller can check what it shows before going on."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from simulators.browser import Browser

# The stores' pictures, in the order `take` takes them.
STORES_NAMES = ("stores-receipt", "stores-stock", "stores-stock-take")
KEEPER = "pia"
ACTOR = "stores-tour"
WAREHOUSE = "WH-1"
RCD, CABLE, FAN = "RCD-B", "CABLE-DC", "FAN-120"


def _parts():
    from maintenance.inventory import Listing

    return (
        (RCD, "Residual-current device type B", "40 A, 30 mA, 4-pole", Decimal(310),
         [Listing("ACME", Decimal(295), 21, "AC-RCDB-40")]),
        (CABLE, "DC charging cable set", None, Decimal(780),
         [Listing("ACME", Decimal(760), 14), Listing("BOLT", Decimal(740), 7, "B-7731")]),
        (FAN, "Cabinet fan 120 mm", "24 V DC", Decimal("42.50"), [Listing("BOLT", Decimal("38.50"), 5)]),
    )


class StoresTour:
    """A parts keeper (KEEPER, made here) on `page` (a Browser on the API server), on a database
    with at least one engineer: `start` seeds two suppliers, three parts (listing them when the
    demo crew's catalogue has them), the warehouse WH-1 holding 12 cabinet fans, a van for the
    first engineer unless they have one, and a parts-purchasing budget of 50,000 this month and
    next where none is set (ordering is refused beyond it, R-COST)."""

    def __init__(self, db, page: Browser, password: str):
        self.db, self.page, self.password = db, page, password
        self.engineer: str | None = None
        self.van: str | None = None
        self.taken: list[Path] = []

    def start(self) -> "StoresTour":
        from api import accounts
        from maintenance.costs import BudgetCategory, set_budget
        from maintenance.inventory import Line, LocationKind, MovementKind, catalogue, record
        from maintenance.inventory.stock_view import create_location

        db = self.db
        accounts.create(db, KEEPER, role=accounts.Role.PARTS_KEEPER, full_name="Pia Parts", password=self.password,
                        actor=ACTOR)
        for supplier, name in (("ACME", "Acme Components"), ("BOLT", "Bolt & Co")):
            if not db.execute("SELECT 1 FROM suppliers WHERE id = %s", (supplier,)).fetchone():
                catalogue.create_supplier(db, supplier, name=name, actor=ACTOR)
        # The demo crew (simulators/crew.py) may have put the parts in the catalogue already.
        for part, name, spec, cost, listings in _parts():
            if db.execute("SELECT 1 FROM parts WHERE id = %s", (part,)).fetchone():
                catalogue.update_part(db, part, {"spec": spec}, actor=ACTOR)
                for listing in listings:
                    catalogue.list_part(db, part, listing, actor=ACTOR)
            else:
                catalogue.create_part(db, part, name=name, spec=spec, unit_cost=cost, suppliers=listings, actor=ACTOR)
        self.engineer = db.execute("SELECT id FROM engineers ORDER BY id LIMIT 1").fetchone()[0]
        create_location(db, WAREHOUSE, LocationKind.WAREHOUSE, "Central store", actor=ACTOR)
        van = db.execute("SELECT id FROM stock_locations WHERE engineer_id = %s", (self.engineer,)).fetchone()
        self.van = van[0] if van else f"VAN-{self.engineer}"
        if not van:
            create_location(db, self.van, LocationKind.VAN, f"{self.engineer}'s van", engineer_id=self.engineer,
                            home_warehouse_id=WAREHOUSE, actor=ACTOR)
        record(db, MovementKind.OPENING, [Line(FAN, WAREHOUSE, 12)], actor=ACTOR, reason="opening balance")
        # Orders are placed at the database's now, which may be next month by then.
        first = datetime.now(timezone.utc).date().replace(day=1)
        for month in (first, (first + timedelta(days=31)).replace(day=1)):
            if not db.execute("SELECT 1 FROM budgets WHERE period = %s AND category = %s",
                              (month, BudgetCategory.PARTS_PURCHASING.value)).fetchone():
                set_budget(db, month, BudgetCategory.PARTS_PURCHASING, 50000, actor=ACTOR)
        return self

    def _shot(self, name: str) -> Path:
        path = self.page.shot(name)
        self.taken.append(path)
        return path

    def _field(self, form: str, name: str):
        return self.page.d.find_element("css selector", f"[data-testid={form}] [name='{name}']")

    def _fill(self, element, value) -> None:
        element.clear()
        element.send_keys(str(value))

    def _select(self, form: str, name: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self._field(form, name)).select_by_value(value)

    def opened_id(self, pattern: str, message: str) -> int:
        """The id of the page the browser went to, once its hash matches `pattern`."""
        page = self.page
        page.wait(lambda d: re.fullmatch(pattern, page.js("return location.hash") or ""), message=message)
        return int(page.js("return location.hash").rsplit("/", 1)[1])

    # --- steps -----------------------------------------------------------------------------

    def login(self, user: str = KEEPER) -> None:
        page = self.page
        if page.exists("#logout"):
            page.click("#logout")
            page.wait(lambda d: d.current_url.endswith("/login"), message="logged out")
        page.login(user, self.password)

    def draft_order(self, supplier: str, lines: list[tuple[str, int]]) -> int:
        """A draft purchase order to WAREHOUSE through the form; returns its id, its page open."""
        page = self.page
        page.route("#/stores/purchase-orders", "[data-testid=order-form] #order-supplier option")
        self._select("order-form", "supplier_id", supplier)
        self._select("order-form", "location_id", WAREHOUSE)
        for i, (part, quantity) in enumerate(lines):
            if i:
                page.click("[data-testid=add-line]")
            self._fill(self._field("order-form", f"part-{i}"), part)
            self._fill(self._field("order-form", f"quantity-{i}"), quantity)
        page.click("[data-testid=order-form] button[type=submit]")
        order_id = self.opened_id(r"#/stores/purchase-orders/\d+", "the purchase order's page")
        page.wait(lambda d: page.exists(f".page[data-order='{order_id}'][data-state='draft']"), message="the draft")
        return order_id

    def send_order(self) -> None:
        page = self.page
        page.click("[data-testid=place-form] button[type=submit]")
        page.wait(lambda d: page.exists(".page[data-order][data-state='ordered'] [data-testid=receive-form]"),
                  message="the order sent")

    def receive(self, quantities: dict[str, int], delivery_note: str) -> int:
        """Goods received against the open order's page; returns the receipt's id, its page open."""
        page = self.page
        for part, quantity in quantities.items():
            self._fill(page.d.find_element("css selector", f"[data-testid=receive-form] input[data-part='{part}']"),
                       quantity)
        self._fill(self._field("receive-form", "delivery_note"), delivery_note)
        page.click("[data-testid=receive-form] button[type=submit]")
        receipt_id = self.opened_id(r"#/stores/receipts/\d+", "the goods receipt's page")
        page.wait(lambda d: page.exists("[data-testid=receipt-lines] [data-testid=inspect-form]"),
                  message="the lines to inspect")
        return receipt_id

    def inspect(self, part: str, passed: int, failed: int, reason: str = "") -> None:
        page = self.page
        row = f"[data-testid=receipt-lines] tr[data-part='{part}']"
        find = lambda name: page.d.find_element("css selector", f"{row} [name={name}]")  # noqa: E731
        self._fill(find("passed_quantity"), passed)
        self._fill(find("failed_quantity"), failed)
        if reason:
            self._fill(find("failure_reason"), reason)
        page.click(f"{row} [data-testid=inspect-form] button[type=submit]")
        page.wait(lambda d: page.exists(f"{row}[data-inspected='true']"), message=f"{part} inspected")

    def receipt_picture(self) -> Path:
        return self._shot("stores-receipt")

    def stock(self, location: str = WAREHOUSE) -> dict[str, dict]:
        """The stock page filtered to `location`: per part, what its row says."""
        page = self.page
        page.route(f"#/stores/stock?location_id={location}", f"[data-testid=on-hand] tr[data-location='{location}']")
        page.wait(lambda d: page.js("return [...document.querySelectorAll('[data-testid=on-hand] tbody tr')]"
                                    ".every(r => r.dataset.location === arguments[0])", location),
                  message=f"the stock at {location}")
        return self.stock_rows()

    def stock_rows(self) -> dict[str, dict]:
        return {r["part"]: r for r in self.page.js(
            "return [...document.querySelectorAll('[data-testid=on-hand] tbody tr')].map(r => ({part: r.dataset.part,"
            " location: r.dataset.location, on_hand: +r.dataset.onHand, receiving: +r.dataset.receiving,"
            " quarantine: +r.dataset.quarantine, low: r.dataset.low === 'true',"
            " highlighted: r.classList.contains('row-low')}))")}

    def set_reorder_level(self, part: str, location: str, reorder_point: int, order_quantity: int, reason: str) -> None:
        """On the part's page, the parts keeper's override of its reorder level at `location`."""
        page = self.page
        page.route(f"#/stores/parts/{part}", "[data-testid=reorder-form] #reorder-location option")
        page.wait(lambda d: page.exists("[data-testid=part-facts]"), message="the part's page")
        self._select("reorder-form", "location_id", location)
        self._fill(self._field("reorder-form", "reorder_point"), reorder_point)
        self._fill(self._field("reorder-form", "order_quantity"), order_quantity)
        self._fill(self._field("reorder-form", "reason"), reason)
        page.click("[data-testid=reorder-form] button[type=submit]")
        page.wait(lambda d: page.exists(f"[data-testid=part-stock] tr[data-location='{location}']"
                                        f"[data-reorder-point='{reorder_point}']"), message="the reorder point set")

    def transfer(self, part: str, quantity: int, source: str, target: str) -> None:
        """Through the stock page's transfer form; waits until the source's row shows it."""
        page = self.page
        if not page.exists("[data-testid=transfer-form]"):
            self.stock(source)
        before = page.js("return [...document.querySelectorAll('[data-testid=on-hand] tbody tr')]"
                         ".map(r => r.dataset.location + r.dataset.part + r.dataset.onHand).join()")
        self._fill(self._field("transfer-form", "part_id"), part)
        self._fill(self._field("transfer-form", "quantity"), quantity)
        self._select("transfer-form", "from_location_id", source)
        self._select("transfer-form", "to_location_id", target)
        page.click("[data-testid=transfer-form] button[type=submit]")
        page.wait(lambda d: page.js("return [...document.querySelectorAll('[data-testid=on-hand] tbody tr')]"
                                    ".map(r => r.dataset.location + r.dataset.part + r.dataset.onHand).join()")
                  != before, message="the transfer on the stock page")

    def stock_picture(self) -> Path:
        """Where the fans are: every warehouse and van holding them, the low row highlighted."""
        page = self.page
        page.route(f"#/stores/stock?part_id={FAN}", f"[data-testid=on-hand] tr[data-location='{self.van}']")
        return self._shot("stores-stock")

    def start_stock_take(self, location: str = WAREHOUSE) -> int:
        page = self.page
        page.route("#/stores/stock-takes", "[data-testid=start-take-form] #take-location option")
        self._select("start-take-form", "location_id", location)
        page.click("[data-testid=start-take-form] button[type=submit]")
        take_id = self.opened_id(r"#/stores/stock-takes/\d+", "the count sheet")
        page.wait(lambda d: page.exists(f".page[data-take='{take_id}'][data-state='counting'] [data-testid=count-form]"),
                  message="the count sheet")
        return take_id

    def count(self, counts: dict[str, int], others_as_expected: bool = False) -> None:
        """Counts typed into the sheet and recorded; `others_as_expected`: every other line
        counted as the sheet expects it (nothing missing there)."""
        page = self.page
        if others_as_expected:
            expected = dict(page.js("return [...document.querySelectorAll('[data-testid=take-lines] tbody tr')]"
                                    ".map(r => [r.dataset.part, +r.dataset.expected])"))
            counts = expected | counts
        for part, counted in counts.items():
            self._fill(self._field("count-form", f"count:{part}"), counted)
        page.click("[data-testid=count-form] button[type=submit]")
        page.wait(lambda d: all(page.exists(f"[data-testid=take-lines] tr[data-part='{p}']:not([data-variance=''])")
                                for p in counts), message="the counts recorded")

    def take_step(self, step: str, state: str) -> None:
        """Press submit-take / approve-take / cancel-take; wait for `state`."""
        page = self.page
        page.click(f"[data-testid={step}-form] button[type=submit]")
        page.wait(lambda d: page.exists(f".page[data-take][data-state='{state}']"), message=f"the stock-take {state}")

    def variances(self) -> dict[str, int]:
        return {p: int(v) for p, v in self.page.js(
            "return [...document.querySelectorAll('[data-testid=take-lines] tbody tr')]"
            ".map(r => [r.dataset.part, r.dataset.variance])") if v != ""}

    def stock_take_picture(self) -> Path:
        return self._shot("stores-stock-take")

    def take(self) -> list[Path]:
        """The pictured tour: ten RCDs and two cables ordered and delivered, two RCDs failed at
        inspection (the cables still to inspect in the picture); three fans to the van, the
        warehouse low on them; a stock-take that finds one fan missing, submitted."""
        self.login()
        self.draft_order("ACME", [(RCD, 10), (CABLE, 2)])
        self.send_order()
        self.receive({RCD: 10, CABLE: 2}, "DN-2024-118")
        self.inspect(RCD, 8, 2, "housing cracked in transit")
        self.receipt_picture()
        self.set_reorder_level(FAN, WAREHOUSE, 10, 12, "summer fan failures")
        self.stock()
        self.transfer(FAN, 3, WAREHOUSE, self.van)
        self.stock_picture()
        self.start_stock_take()
        self.count({FAN: 8}, others_as_expected=True)
        self.take_step("submit-take", "submitted")
        self.stock_take_picture()
        return self.taken
