"""The service desk's console pages (issue 13) in headless Chromium, driven as an agent
would: log a call from a known contact's number, find it in the inbox among other
customers' requests by due time, answer it, add an internal note, wait for the customer;
classify a call as a fault report and follow its link to the pile's work order. Shared by
the desk's browser test (tests/test_console_desk.py) and `pilecare docs screenshots`, which
pictures the inbox and a request page (DESK_NAMES).

Each step fills the console's own forms and presses its buttons, and leaves the browser on
its page so that a caller can check what it shows before going on."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from simulators.browser import Browser

# The desk's pictures in the README, in the order `take` takes them.
DESK_NAMES = ("desk-inbox", "desk-request")
AGENT = "anna"
ACTOR = "desk-tour"
# Other customers' requests around the call, so the inbox has an order to show: (subject,
# channel, hours since it arrived). Backdated arrivals put clocks at every tone.
AROUND = (("Charging stops after 10 minutes", "email", 0.5),
          ("Invoice shows sessions twice", "web", 7),
          ("Card reader does not react", "email", 26),
          ("Request for two more piles at the depot", "phone", 2),
          ("Question about the maintenance plan", "web", 1))


class DeskTour:
    """An agent (AGENT, made here) at the desk on `page` (a Browser on the API server), on a
    database with a fleet: the caller is a contact of the first pile's customer, and the
    other customers each have a request waiting."""

    def __init__(self, db, page: Browser, password: str):
        self.db, self.page, self.password = db, page, password
        self.caller: str | None = None
        self.customer: str | None = None
        self.pile: str | None = None
        self.request_id: int | None = None
        self.taken: list[Path] = []

    def start(self) -> "DeskTour":
        from api import accounts
        from maintenance import policy as policies
        from maintenance.servicedesk import Channel, open_request
        from maintenance.servicedesk.clocks import watch
        from maintenance.servicedesk.contacts import normalise_phone

        db = self.db
        accounts.create(db, AGENT, role=accounts.Role.AGENT, full_name="Anna Agent", password=self.password,
                        actor=ACTOR)
        self.pile, self.customer = db.execute("SELECT p.id, s.customer_id FROM piles p JOIN sites s ON s.id = p.site_id "
                                              "ORDER BY p.id LIMIT 1").fetchone()
        # The caller as the agent hears the number: national, with spaces; the contact has it as E.164.
        self.caller = "030 1234567"
        db.execute("INSERT INTO customer_contacts (customer_id, name, role, phone, email) "
                   "VALUES (%s, 'Jana Meyer', 'site manager', %s, 'jana.meyer@example.com')",
                   (self.customer, normalise_phone(self.caller)))
        policy = policies.load()
        others = [r[0] for r in db.execute("SELECT id FROM customers WHERE id <> %s ORDER BY id LIMIT %s",
                                           (self.customer, len(AROUND)))]
        now = datetime.now(timezone.utc)
        for customer, (subject, channel, hours) in zip(others, AROUND):
            open_request(db, policy, customer_id=customer, channel=Channel(channel), subject=subject, actor=ACTOR,
                         at=now - timedelta(hours=hours))
        watch(db, policy)  # warned and breached as the maintenance worker's watchdog would
        return self

    # --- steps -----------------------------------------------------------------------------

    def login(self) -> None:
        page = self.page
        if page.exists("#logout"):
            page.click("#logout")
            page.wait(lambda d: d.current_url.endswith("/login"), message="logged out")
        page.login(AGENT, self.password)

    def log_call(self, subject: str, description: str, pile: str | None = None, *,
                 request_class: str | None = None, fault_category: str | None = None) -> int:
        """The call logged through the form; returns the request's id, its page open."""
        from selenium.webdriver.support.ui import Select

        page = self.page
        page.route("#/desk/call", "[data-testid=call-form]")
        field = lambda name: page.d.find_element("css selector", f"[data-testid=call-form] [name={name}]")  # noqa: E731
        field("caller").send_keys(self.caller)
        if pile:
            field("pile").send_keys(pile)
        field("subject").send_keys(subject)
        field("description").send_keys(description)
        if request_class:
            Select(field("request_class")).select_by_value(request_class)
        if fault_category:
            page.wait(lambda d: page.exists(f"#call-category option[value='{fault_category}']"),
                      message="the fault categories")
            Select(field("fault_category")).select_by_value(fault_category)
        page.click("[data-testid=call-form] button[type=submit]")
        page.wait(lambda d: page.exists(".page[data-request] [data-testid=thread]"), message="the request's page")
        return int(page.js("return document.querySelector('.page[data-request]').dataset.request"))

    def inbox(self) -> Path:
        """The inbox, the call among the others by due time."""
        self.page.route("#/desk", f"[data-testid=inbox] [data-request='{self.request_id}']")
        return self._shot("desk-inbox")

    def open_request(self, request_id: int) -> None:
        """From the inbox, the request's page."""
        page = self.page
        page.click(f"[data-testid=inbox] [data-request='{request_id}'] [data-testid=open-request]")
        page.wait(lambda d: page.exists(f".page[data-request='{request_id}'] [data-testid=request-actions] form"),
                  message="the request's page")

    def reply(self, body: str, kind: str = "answer") -> None:
        from selenium.webdriver.support.ui import Select

        page = self.page
        before = page.js("return document.querySelectorAll('[data-testid=thread] .msg').length")
        page.d.find_element("id", "reply-body").send_keys(body)
        Select(page.d.find_element("id", "reply-kind")).select_by_value(kind)
        page.click("[data-testid=reply-form] button[type=submit]")
        page.wait(lambda d: page.js("return document.querySelectorAll('[data-testid=thread] .msg').length") > before,
                  message=f"the {kind} in the thread")

    def move(self, move: str, note: str = "") -> str:
        """Press a move's button (wait, resolve, close, reopen); returns the state it led to."""
        page = self.page
        state = page.js("return document.querySelector('.page[data-request]').dataset.state")
        if note:
            page.d.find_element("id", "move-note").send_keys(note)
        page.click(f"[data-testid=moves-form] [data-move='{move}']")
        page.wait(lambda d: page.js("return document.querySelector('.page[data-request]').dataset.state") != state,
                  message=f"the request moved ({move})")
        return page.js("return document.querySelector('.page[data-request]').dataset.state")

    def classify(self, request_class: str, fault_category: str | None = None) -> None:
        from selenium.webdriver.support.ui import Select

        page = self.page
        Select(page.d.find_element("id", "classify-class")).select_by_value(request_class)
        if fault_category:
            page.wait(lambda d: page.exists(f"#classify-category option[value='{fault_category}']"),
                      message="the fault categories")
            Select(page.d.find_element("id", "classify-category")).select_by_value(fault_category)
        page.click("[data-testid=classify-form] button[type=submit]")
        page.wait(lambda d: not page.exists("[data-testid=classify-form]"), message="the request classified")

    def request_page(self) -> Path:
        return self._shot("desk-request")

    def take(self) -> list[Path]:
        """The call answered and waiting for the customer: the inbox and its page pictured."""
        self.login()
        self.request_id = self.log_call(
            "Cable stuck in the holster after charging", "The connector on bay 2 will not release after the "
            "session ended. Customer waiting at the pile.", self.pile)
        self.inbox()
        self.open_request(self.request_id)
        self.reply("Please hold the unlock button on the display for five seconds; if the cable stays locked, "
                   "tell us and we send an engineer.")
        self.reply("Caller on site until 16:00. Same pile had a lock fault in March.", kind="note")
        self.move("wait", "asked the customer to try the unlock button")
        self.request_page()
        return self.taken

    def _shot(self, name: str) -> Path:
        path = self.page.shot(name)
        self.taken.append(path)
        return path
