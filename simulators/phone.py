"""The engineer's app (/app/) in a phone-sized headless Chromium, driven as an engineer
would: log in, take an offer, travel, arrive, work on site, sign, complete. Shared by the
app's browser test (tests/test_engineer_app.py) and `pilecare docs screenshots`.

Each step fills the app's own forms and presses its buttons; `settled()` waits until the
phone's queue has sent everything (or, offline, until the step is queued)."""
from __future__ import annotations

import struct
import tempfile
import zlib
from pathlib import Path

from simulators.browser import Browser

# What a page logs for each request while its network is cut: expected, not an error.
OFFLINE_NOISE = "net::ERR_INTERNET_DISCONNECTED"
# The app's pictures in the README, in the order AppTour takes them.
APP_NAMES = ("app-today", "app-job", "app-signature", "app-queue")


def png(width: int = 48, height: int = 32) -> bytes:
    """A small real PNG, as a phone's camera would hand over a picture: a gradient, 8-bit RGB."""
    rows = b"".join(b"\x00" + b"".join(bytes((255 * x // width, 80, 255 * y // height)) for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class Phone:
    """One engineer's phone: `page` is a Browser opened with phone=True on the API server."""

    def __init__(self, page: Browser):
        self.page = page

    # --- the shell ---------------------------------------------------------------------

    def login(self, user: str, password: str) -> None:
        page = self.page
        page.open("/app/")
        page.wait(lambda d: page.exists("#login"), message="the app's login screen")
        self.fill("#username", user)
        self.fill("#password", password)
        page.click("#login-submit")
        page.wait(lambda d: page.js("return document.body.dataset.ready === 'true'"), message=f"{user} in the app")

    def fill(self, selector: str, value) -> None:
        """Type into a field as the app sees typing (its drafts listen to input/change)."""
        found = self.page.js(
            "const e = document.querySelector(arguments[0]); if (!e) return false;"
            "if (e.type === 'checkbox' || e.type === 'radio') e.checked = !!arguments[1]; else e.value = arguments[1];"
            "e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));"
            "return true", selector, value)
        assert found, f"no field {selector}"

    def queued(self) -> int:
        return int(self.page.js("return +(document.body.dataset.queued || 0)"))

    def settled(self, timeout: float = 20) -> None:
        """Everything on the phone sent (none waiting, none refused)."""
        page = self.page
        try:
            page.wait(lambda d: page.js("return document.body.dataset.queued === '0' && "
                                        "document.body.dataset.failed === '0'"), timeout=timeout,
                      message="the phone's queue to empty")
        except TimeoutError as error:
            raise TimeoutError(f"{error} — the app says: {self.said()}") from None

    def today(self) -> None:
        page = self.page
        page.js("location.hash = '#/'")
        page.wait(lambda d: page.js("return document.body.dataset.screen === 'today' && "
                                    "document.querySelector('main').dataset.loaded === 'true'"), message="Today")

    def offered(self, order_id: int, timeout: float = 30) -> None:
        """Wait on Today until the offer of `order_id` shows (Today polls every 10 s)."""
        page = self.page
        page.wait(lambda d: page.exists(f"[data-testid=offers] [data-order='{order_id}']"), timeout=timeout,
                  message=f"the offer of order {order_id} on Today")

    def job(self, order_id: int) -> None:
        page = self.page
        page.js(f"location.hash = '#/jobs/{order_id}'")
        page.wait(lambda d: page.exists(f"[data-testid=job][data-order='{order_id}']"), message=f"job {order_id}")

    def state(self) -> str | None:
        return self.page.js("return document.querySelector('main').dataset.state || null")

    def shows(self, state: str, timeout: float = 20) -> None:
        try:
            self.page.wait(lambda d: self.state() == state, timeout=timeout, message=f"the job shown {state}")
        except TimeoutError as error:
            raise TimeoutError(f"{error} — shown: {self.state()}; the app says: {self.said()}") from None

    def said(self) -> list[str]:
        """What the app tells the engineer right now: alerts and toasts."""
        return self.page.js("return [...document.querySelectorAll('[role=alert]:not([hidden]), .toast')]"
                            ".map(e => e.textContent.trim()).filter(Boolean)")

    def section(self, testid: str) -> None:
        self.page.wait(lambda d: self.page.exists(f"[data-testid={testid}]"), message=f"the {testid} section")

    # --- the steps of a job --------------------------------------------------------------

    def accept(self, order_id: int) -> None:
        button = f"[data-order='{order_id}'] [data-testid=accept]"
        self.page.wait(lambda d: self.page.exists(button), message=f"the offer of order {order_id}")
        self.page.click(button)

    def set_off(self, minutes: int = 15) -> None:
        self.section("en-route-form")
        self.fill("[data-testid=en-route-form] input", minutes)
        self.page.click("[data-testid=en-route-form] button[type=submit]")

    def arrive(self) -> None:
        self.page.wait(lambda d: self.page.exists("[data-testid=arrive]"), message="the arrive button")
        self.page.click("[data-testid=arrive]")

    def diagnose(self, text: str, cause: str) -> None:
        self.section("diagnosis-form")
        self.fill("[data-testid=diagnosis-form] textarea", text)
        self.fill("[data-testid=diagnosis-form] select", cause)
        self.page.click("[data-testid=diagnosis-form] button[type=submit]")

    def quote(self, labour_h: float, travel_km: float, part_id: str | None = None, quantity: int = 1) -> None:
        """Outside warranty: the quote for the customer (a part from the van, labour, travel)."""
        self.section("quote-form")
        if part_id:
            self.fill("[data-testid=quote-form] select", part_id)
            self.fill("[data-testid=quote-form] [name=quantity]", quantity)
        self.fill("[data-testid=quote-form] [name=labour_h]", labour_h)
        self.fill("[data-testid=quote-form] [name=travel_km]", travel_km)
        self.page.click("[data-testid=quote-form] button[type=submit]")

    def answer_quote(self, name: str, approve: bool = True) -> None:
        """The customer at the pile answers the pending quote, by name."""
        self.section("quote-answer")
        self.fill("[data-testid=quote-answer] input", name)
        self.page.click("[data-testid=quote-approve]" if approve else "[data-testid=quote-reject]")

    def use_part(self, part_id: str, quantity: int = 1, returned: bool = True) -> None:
        line = f"[data-testid=van] [data-part='{part_id}']"
        self.page.wait(lambda d: self.page.js(f"const b = document.querySelector(\"{line} button\"); return b && !b.disabled"),
                       message=f"{part_id} usable from the van")
        self.fill(f"{line} input[type=number]", quantity)
        self.fill(f"{line} input[type=checkbox]", returned)
        self.page.click(f"{line} button")

    def tick_all(self) -> None:
        self.section("checklist")
        page = self.page
        while page.exists("[data-testid=checklist] [data-done=open] [data-testid=tick-done]"):
            item = page.js("return document.querySelector('[data-testid=checklist] [data-done=open]').dataset.item")
            self.fill(f"[data-testid=checklist] [data-item='{item}'] input", "ok")
            page.click(f"[data-testid=checklist] [data-item='{item}'] [data-testid=tick-done]")
            page.wait(lambda d: page.js(f"const e = document.querySelector(\"[data-testid=checklist] [data-item='{item}']\");"
                                        "return e && e.dataset.done !== 'open'"), message=f"{item} ticked")

    def test(self, passed: bool, notes: str) -> None:
        self.section("test-form")
        self.fill(f"[data-testid=test-form] input[value={'yes' if passed else 'no'}]", True)
        self.fill("[data-testid=test-form] textarea", notes)
        self.page.click("[data-testid=test-form] button[type=submit]")

    def photo(self, path: Path, stage: str = "before", caption: str | None = None) -> None:
        self.section("photo-input")
        self.fill("[data-testid=photos] select", stage)
        if caption:
            self.fill("[data-testid=photos] input:not([type=file])", caption)
        from selenium.common.exceptions import StaleElementReferenceException

        shown = self.page.js("return document.querySelectorAll('[data-testid=photo]').length")

        # A file input takes its file from the keyboard in WebDriver: the path, as a phone's
        # picker would. A redraw in between (an answer arriving) makes the element stale: again.
        for attempt in range(3):
            try:
                self.page.d.find_element("css selector", "[data-testid=photo-input]").send_keys(str(path))
                break
            except StaleElementReferenceException:
                if attempt == 2:
                    raise
        # Taken once the app has it (queued, with its preview): the file may go after that.
        self.page.wait(lambda d: self.page.js("return document.querySelectorAll('[data-testid=photo]').length") > shown,
                       message="the photo on the job")

    def sign(self, name: str) -> None:
        """Draw a signature on the pad with a finger (touch pointer actions), type the name, save."""
        from selenium.webdriver.common.actions import interaction
        from selenium.webdriver.common.actions.action_builder import ActionBuilder
        from selenium.webdriver.common.actions.pointer_input import PointerInput

        page = self.page
        self.section("signature-pad")
        pad = page.d.find_element("css selector", "[data-testid=signature-pad]")
        # The section at the top of the screen, as the customer sees it when handed the phone.
        page.js("document.querySelector('[data-testid=signature]').scrollIntoView({block: 'start'})")
        box = page.js("const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height]", pad)
        left, top, width, height = box
        finger = PointerInput(interaction.POINTER_TOUCH, "finger")
        actions = ActionBuilder(page.d, mouse=finger)
        # A loop and a stroke through it, like a hurried name.
        path = [(0.1, 0.7), (0.2, 0.3), (0.3, 0.75), (0.4, 0.35), (0.5, 0.7), (0.6, 0.4), (0.75, 0.65), (0.9, 0.3)]
        x0, y0 = path[0]
        actions.pointer_action.move_to_location(int(left + x0 * width), int(top + y0 * height)).pointer_down()
        for x, y in path[1:]:
            actions.pointer_action.move_to_location(int(left + x * width), int(top + y * height))
        actions.pointer_action.pointer_up()
        actions.perform()
        page.wait(lambda d: int(page.js("return +(arguments[0].dataset.strokes || 0)", pad)) > 0,
                  message="the pad to take the stroke")
        self.fill("[data-testid=signer-name]", name)

    def save_signature(self) -> None:
        self.page.click("[data-testid=save-signature]")

    def complete(self, **report) -> None:
        self.section("complete-form")
        for key, value in report.items():
            self.fill(f"[data-testid=complete-form] [name={key}]", value)
        self.page.click("[data-testid=complete-submit]")

    def route_screen(self, day: str) -> None:
        """The Route screen on `day` (YYYY-MM-DD)."""
        page = self.page
        page.js("location.hash = '#/route'")
        page.wait(lambda d: page.js("return document.body.dataset.screen === 'route' && "
                                    "document.querySelector('main').dataset.loaded === 'true'"), message="the route")
        page.js("delete document.querySelector('main').dataset.loaded")
        self.fill("#route-day", day)
        page.wait(lambda d: page.js("return document.querySelector('main').dataset.loaded === 'true'"),
                  message=f"the route of {day}")

    def queue_screen(self) -> None:
        page = self.page
        page.js("location.hash = '#/queue'")
        page.wait(lambda d: page.js("return document.body.dataset.screen === 'queue' && "
                                    "document.querySelector('main').dataset.loaded === 'true'"), message="the queue")


class AppTour:
    """The app's screens for the README, on the console tour's live fleet: the engineer who
    was offered `order_id` logs in (an account linked to `engineer_id` is made), sees the
    offer on Today, takes the job to the pile and diagnoses it, photographs it, has the
    customer sign, and saves the signature with the network cut (the queue)."""

    def __init__(self, db, phone: Phone, password: str, order_id: int, engineer_id: str):
        self.db, self.phone, self.password = db, phone, password
        self.order_id, self.engineer_id = order_id, engineer_id
        self.taken: list[Path] = []

    def _shot(self, name: str, top: bool = True) -> None:
        self.taken.append(self.phone.page.shot(name, top))

    def take(self) -> list[Path]:
        from api import accounts

        db, phone, page, order_id = self.db, self.phone, self.phone.page, self.order_id
        accounts.create(db, "erik", role=accounts.Role.ENGINEER, full_name="Erik Engineer", password=self.password,
                        actor="screenshots", engineer_id=self.engineer_id)
        lat, lon = db.execute("SELECT coalesce(p.lat, s.lat), coalesce(p.lon, s.lon) FROM work_orders o "
                              "JOIN piles p ON p.id = o.pile_id JOIN sites s ON s.id = p.site_id WHERE o.id = %s",
                              (order_id,)).fetchone()
        page.locate(lat - 0.006, lon - 0.008)  # under a kilometre away
        phone.login("erik", self.password)
        phone.today()
        phone.offered(order_id)
        page.wait(lambda d: page.exists(f"[data-order='{order_id}'] [data-testid=distance]"), message="the distance")
        self._shot("app-today")

        phone.accept(order_id)
        phone.settled()
        phone.job(order_id)
        phone.set_off(10)
        phone.settled()
        page.locate(lat, lon)
        phone.arrive()
        phone.settled()
        phone.shows("on_site")
        phone.diagnose("DC+ cable insulation chafed at the gland: ground fault", "material")
        phone.settled()
        with tempfile.TemporaryDirectory(prefix="pilecare-photo-") as folder:
            photo = Path(folder) / "before.png"
            photo.write_bytes(png(160, 120))
            phone.photo(photo, "before", "chafed cable")
            phone.settled()
        page.js("window.scrollTo(0, 0)")
        self._shot("app-job")

        phone.sign("J. Meyer")
        self._shot("app-signature", top=False)
        page.network(online=False)
        page.wait(lambda d: page.text("#net-text") == "offline", message="the app offline")
        phone.save_signature()
        # The next step as the diagnosis left it: a quote outside warranty, else the test.
        if db.execute("SELECT warranty FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0] == "out_of_warranty":
            part = db.execute("SELECT s.part_id FROM stock s JOIN stock_locations l ON l.id = s.location_id "
                              "WHERE l.engineer_id = %s AND s.quantity > 0 ORDER BY s.part_id LIMIT 1",
                              (self.engineer_id,)).fetchone()
            phone.quote(1.5, 12, part[0] if part else None)
        else:
            phone.test(True, "insulation 500 MΩ, 30 min charge at full power")
        page.wait(lambda d: phone.queued() == 2, message="two actions queued")
        phone.queue_screen()
        self._shot("app-queue")
        page.network(online=True)
        phone.settled()
        return self.taken
