"""A complaint and the customer's card in headless Chromium (issue 13, item 7), driven as the
service supervisor would: a customer's complaint, recorded when its call was classified,
passed to the supervisor, investigated, answered with a plan of measures (each with an owner
and a deadline), a measure marked done, a progress update sent; then the customer's card
with its contacts, sites and service history. Shared by the desk's browser test
(tests/test_console_desk_more.py) and `pilecare docs screenshots`, which pictures the
complaint page and the card (COMPLAINT_NAMES).

Each step fills the console's own forms and presses its buttons, and leaves the browser on
its page so that a caller can check what it shows before going on."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from simulators.browser import Browser

COMPLAINT_NAMES = ("desk-complaint", "desk-customer")
SUPERVISOR = "sam"
ACTOR = "complaint-tour"


class ComplaintTour:
    """The service supervisor (SUPERVISOR, made here) on `page` (a Browser on the API
    server), on a database with a fleet: the first pile's customer has complained by phone."""

    def __init__(self, db, page: Browser, password: str):
        self.db, self.page, self.password = db, page, password
        self.customer: str | None = None
        self.pile: str | None = None
        self.request_id: int | None = None
        self.complaint_id: int | None = None
        self.taken: list[Path] = []

    def start(self, subject: str = "Nobody came although we were promised an engineer",
              description: str = "We waited all morning at the depot; this is unacceptable.") -> "ComplaintTour":
        from api import accounts
        from maintenance import policy as policies
        from maintenance.servicedesk import Channel, RequestClass, open_request
        from maintenance.servicedesk.intake import classify

        db = self.db
        accounts.create(db, SUPERVISOR, role=accounts.Role.SUPERVISOR, full_name="Sam Supervisor",
                        password=self.password, actor=ACTOR)
        self.pile, self.customer = db.execute(
            "SELECT p.id, s.customer_id FROM piles p JOIN sites s ON s.id = p.site_id ORDER BY p.id LIMIT 1").fetchone()
        policy = policies.load()
        self.request_id = open_request(db, policy, customer_id=self.customer, channel=Channel.PHONE, subject=subject,
                                       description=description, pile_id=self.pile, actor=ACTOR)
        # As an agent would classify the call: the complaint is recorded with its apology.
        classify(db, policy, None, self.request_id, RequestClass.COMPLAINT, actor=ACTOR)
        self.complaint_id = db.execute("SELECT id FROM complaints WHERE request_id = %s",
                                       (self.request_id,)).fetchone()[0]
        return self

    # --- steps -----------------------------------------------------------------------------

    def login(self) -> None:
        page = self.page
        if page.exists("#logout"):
            page.click("#logout")
            page.wait(lambda d: d.current_url.endswith("/login"), message="logged out")
        page.login(SUPERVISOR, self.password)

    def state(self) -> str:
        return self.page.js("return document.querySelector('.page[data-complaint]').dataset.state")

    def open_complaint(self) -> None:
        """From the complaints list, the complaint's page."""
        page = self.page
        page.route("#/desk/complaints", f"[data-testid=complaints] [data-complaint='{self.complaint_id}']")
        page.click(f"[data-complaint='{self.complaint_id}'] [data-testid=open-complaint]")
        page.wait(lambda d: page.exists(f".page[data-complaint='{self.complaint_id}'] [data-testid=complaint-actions] "
                                        "form"), message="the complaint's page")

    def _submit(self, testid: str, moved: bool = True, selector: str | None = None) -> str:
        """Press a form's button; wait for the state to move (or, without a move, for `selector`)."""
        page = self.page
        before = self.state()
        page.click(f"[data-testid={testid}] button[type=submit]")
        if moved:
            page.wait(lambda d: self.state() != before, message=f"the complaint moved ({testid})")
        else:
            page.wait(lambda d: page.exists(selector), message=f"{testid} shown")
        return self.state()

    def pass_to_supervisor(self) -> str:
        return self._submit("pass-form")

    def investigate(self, cause: str, category: str, party: str, engineer: str | None = None) -> str:
        from selenium.webdriver.support.ui import Select

        page = self.page
        page.d.find_element("id", "investigation-cause").send_keys(cause)
        Select(page.d.find_element("id", "investigation-category")).select_by_value(category)
        Select(page.d.find_element("id", "investigation-party")).select_by_value(party)
        if engineer:
            Select(page.d.find_element("id", "investigation-engineer")).select_by_value(engineer)
        return self._submit("investigation-form")

    def plan(self, measures: list[tuple[str, str, date]]) -> str:
        """The plan, one row per measure (the form's "Add a measure" for each after the first)."""
        page = self.page
        for i, (measure, owner, deadline) in enumerate(measures):
            if i:
                page.click("[data-testid=add-measure]")
            row = page.d.find_element("css selector", f"[data-testid=plan-form] [data-row='{i}']")
            row.find_element("name", f"measure-{i}").send_keys(measure)
            row.find_element("name", f"owner-{i}").send_keys(owner)
            # A date input takes the date as the browser's own value, whatever its locale shows.
            page.js("arguments[0].value = arguments[1]", row.find_element("name", f"deadline-{i}"), deadline.isoformat())
        return self._submit("plan-form")

    def measure_done(self, measure_id: int) -> None:
        page = self.page
        page.click(f"[data-measure='{measure_id}'] [data-testid=measure-done] button[type=submit]")
        page.wait(lambda d: page.exists(f"[data-measure='{measure_id}'][data-done=true]"),
                  message=f"measure {measure_id} done")

    def progress(self, text: str) -> None:
        page = self.page
        before = page.js("return document.querySelectorAll('[data-testid=timeline] li').length")
        page.d.find_element("id", "progress-text").send_keys(text)
        page.click("[data-testid=progress-form] button[type=submit]")
        page.wait(lambda d: page.js("return document.querySelectorAll('[data-testid=timeline] li').length") > before,
                  message="the progress update in the timeline")

    def close(self, reason: str) -> str:
        self.page.d.find_element("id", "close-reason").send_keys(reason)
        return self._submit("close-form")

    def measures(self) -> list[int]:
        return [int(m) for m in self.page.js(
            "return [...document.querySelectorAll('[data-testid=plan] tr[data-measure]')].map(r => r.dataset.measure)")]

    def complaint_page(self) -> Path:
        return self._shot("desk-complaint")

    def customer_card(self) -> Path:
        """The customer's card, from the complaint page's link."""
        page = self.page
        page.click("[data-testid=complaint-customer]")
        page.wait(lambda d: page.exists(f".page[data-customer='{self.customer}'] [data-testid=history] tr[data-kind]"),
                  message="the customer's card with its history")
        return self._shot("desk-customer")

    def take(self) -> list[Path]:
        """The complaint investigated and planned, one measure done, the customer told: its
        page and the customer's card pictured."""
        engineer = self.db.execute("SELECT id FROM engineers ORDER BY id LIMIT 1").fetchone()
        self.login()
        self.open_complaint()
        self.pass_to_supervisor()
        if engineer:
            self.investigate("missed appointment", "response_time", "engineer", engineer[0])
        else:
            self.investigate("missed appointment", "response_time", "process")
        soon = datetime.now(timezone.utc).date() + timedelta(days=2)  # deadlines are checked in UTC
        self.plan([("Apologise by phone and book a visit for tomorrow morning", SUPERVISOR, soon),
                   ("Review the dispatch of missed appointments with the team", SUPERVISOR, soon + timedelta(days=5))])
        self.measure_done(self.measures()[0])
        self.progress("An engineer comes tomorrow between 8 and 10; we call you when he is on the way.")
        self.complaint_page()
        self.customer_card()
        return self.taken

    def _shot(self, name: str) -> Path:
        path = self.page.shot(name)
        self.taken.append(path)
        return path
