"""Acceptance for issue 5: the operator console in a real browser (Debian's headless
Chromium via Selenium) against the real API server, broker, ingest, maintenance worker
and simulator. Log in, see the seeded fleet, open a pile and see its charts drawn with
data, inject a fault and watch the alarm and order arrive without a reload, assign the
order as a dispatcher, see twelve weeks of service history as KPIs, and see that an
engineer's console holds only their own jobs. The browser's console log must stay free of
errors (a failed request is one); screenshots go to docs/screenshots/.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from api import accounts
from simulators.crew import seed_crew
from simulators.faults import FaultKind
from simulators.fleetgen import load_fleet, seed_fleet
from simulators.runner import Simulation
from tests import browser as b
from tests.conftest import PASSWORD
from tests.devices import wait_for
from tests.maint import fast_policy, running_worker, use_rules

RULES = """
rules:
  - {id: error.GroundFailure, kind: error_code, error_code: GroundFailure, category: electrical, severity: major}
"""
PILES = 24
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
# The KPI tiles that must show a value once the service history is in.
KPI_TILES = ("response_h", "mttr_h", "mtbf_h", "first_time_fix_rate", "repeat_repair_rate", "pm_compliance",
             "availability")


@pytest.fixture
def maintenance(settings):
    # Faults go straight to dispatch: no remote reset first.
    with running_worker(settings, fast_policy(clear_after_s=1, verify_s=2,
                                              triage={"categories": [], "attempts": 0, "wait_s": 1})) as policy:
        yield policy


@pytest.fixture
def server(settings):
    from api.app import create_app

    app = create_app(settings)
    running = b.Server(app).start()
    yield running
    running.stop()


class Browser:
    """The driver, plus the console log gathered as we go (reading it drains it)."""

    def __init__(self, driver, server):
        self.d, self.server, self.log = driver, server, []

    def open(self, path: str):
        self.d.get(self.server.url + path)

    def wait(self, check, timeout: float = 15, message: str = "the page"):
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(lambda d: check(d))
        except Exception as error:
            self.drain()
            raise AssertionError(f"timed out waiting for {message}; browser log: {self.log}") from error

    def js(self, script: str, *args):
        return self.d.execute_script(script, *args)

    def text(self, selector: str) -> str:
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null", selector)

    def exists(self, selector: str) -> bool:
        return bool(self.js("return !!document.querySelector(arguments[0])", selector))

    def click(self, selector: str):
        self.js("document.querySelector(arguments[0]).click()", selector)

    def route(self, hash_: str, ready: str):
        self.js("location.hash = arguments[0]", hash_)
        self.wait(lambda d: self.exists(ready), message=f"{hash_} to render {ready}")

    def login(self, user: str):
        from selenium.webdriver.common.by import By

        self.open("/")
        self.wait(lambda d: d.current_url.endswith("/login") and self.exists("#login"), message="the login page")
        self.d.find_element(By.ID, "username").send_keys(user)
        self.d.find_element(By.ID, "password").send_keys(PASSWORD)
        self.d.find_element(By.ID, "login-submit").click()
        self.wait(lambda d: self.js("return document.body.dataset.ready === 'true'"), message=f"{user} logged in")

    def shot(self, name: str):
        SHOTS.mkdir(parents=True, exist_ok=True)
        # As a person would: toasts dismissed, nothing focused, at the top of the page.
        self.js("document.querySelectorAll('#toasts .toast-close').forEach(b => b.click());"
                "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        time.sleep(0.2)  # let a just-drawn chart settle
        self.d.save_screenshot(str(SHOTS / f"{name}.png"))

    def drain(self):
        self.log.extend(self.d.get_log("browser"))

    def errors(self) -> list[str]:
        """Every SEVERE entry of the browser's console log: failed requests included."""
        self.drain()
        return [entry["message"] for entry in self.log if entry["level"] == "SEVERE"]


@pytest.fixture
def chrome(server):
    problem = b.chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    driver = b.chrome()
    yield Browser(driver, server)
    b.quit_chrome(driver)


def order_state(db, order_id):
    return db.execute("SELECT state, engineer_id FROM work_orders WHERE id = %s", (order_id,)).fetchone()


def test_operators_watch_the_fleet_and_dispatch_a_live_fault_in_the_browser(
        settings, db, ingest, maintenance, server, chrome):
    from maintenance.orders.lifecycle import WorkOrderState as S
    from maintenance.orders.lifecycle import open_corrective, transition

    seed_fleet(db, piles=PILES, seed=5)
    seed_crew(db)
    use_rules(db, RULES)
    db.execute("UPDATE pile_models SET reporting_interval_s = 1")
    pile = db.execute("SELECT p.id FROM piles p JOIN pile_models m ON m.id = p.model_id "
                      "ORDER BY m.connectors DESC, p.id LIMIT 1").fetchone()[0]
    accounts.create(db, "dora", role=accounts.Role.DISPATCHER, full_name="Dora Dispatcher", password=PASSWORD,
                    actor="test")
    sim = Simulation(settings, load_fleet(db), interval=0.5, seed=3).start()
    try:
        wait_for(lambda: db.execute("SELECT count(*) FROM pile_state WHERE online").fetchone()[0] == PILES,
                 timeout=30, message="the whole fleet online")
        # Online comes before the first telemetry: wait for the readings the history leads up to.
        wait_for(lambda: db.execute("SELECT count(*) FROM connector_state WHERE pile_id = %s AND connector_id > 0 "
                                    "AND energy_kwh IS NOT NULL", (pile,)).fetchone()[0] >= 2
                 and db.execute("SELECT temp_internal_c FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()[0]
                 is not None, timeout=10, message="the pile's first telemetry")
        assert b.backfill_telemetry(db, pile) > 0
        page = chrome

        # Logged out, / is the login page; logged in, the overview counts the seeded fleet.
        page.login("dora")
        page.wait(lambda d: page.text("[data-testid=piles] .tile-value") == str(PILES), message="the fleet count")
        page.wait(lambda d: page.text("[data-testid=online] .tile-value") == str(PILES), message="all piles online")
        assert page.js("return document.querySelectorAll('[data-testid=sites] [data-site]').length") == \
            db.execute("SELECT count(*) FROM sites").fetchone()[0]
        page.shot("overview")

        # Find the pile with the search box and open it: its charts are drawn with data.
        page.d.find_element("id", "search-input").send_keys(pile)
        page.wait(lambda d: page.exists(f"#search-results a[href='#/piles/{pile}']"), message="the search result")
        page.click(f"#search-results a[href='#/piles/{pile}']")
        for chart in ("power", "temperature", "energy"):
            page.wait(lambda d: page.js(f"const f = document.querySelector('[data-testid=chart-{chart}]');"
                                        "return f && f.dataset.rendered === 'true' && +f.dataset.points > 0"),
                      message=f"the {chart} chart drawn with data")
        drawn = page.js("const c = Chart.getChart(document.querySelector('[data-testid=chart-power] canvas'));"
                        "return c.data.datasets.map(s => s.data.length)")
        assert sum(drawn) >= 100, drawn  # 6 h of history in 5-minute buckets, per connector
        assert pile in page.text("h1") and page.exists("[data-testid=connectors] [data-connector]")
        page.shot("pile")
        # A longer range spans exactly that range, its ticks carrying the date.
        page.click("[data-range='7d']")
        page.wait(lambda d: page.js("const c = Chart.getChart(document.querySelector('[data-testid=chart-power] canvas'));"
                                    "return c && c.scales.x.max - c.scales.x.min > 6.9 * 86400000"),
                  message="the 7-day axis")
        page.shot("pile-7d")

        # Back on the overview, a fault arrives live: the alarm and its order appear, no reload.
        page.route("#/", "[data-testid=latest-alarms]")
        page.js("window.__sameDocument = true")
        sim.inject(pile, FaultKind.GROUND_FAULT, connector_id=1)
        page.wait(lambda d: page.exists(f"[data-testid=latest-alarms] [data-pile='{pile}']"), timeout=25,
                  message="the alarm to appear live")
        page.wait(lambda d: page.exists(f"[data-testid=latest-orders] [data-pile='{pile}']"), timeout=25,
                  message="the work order to appear live")
        page.wait(lambda d: page.exists("#feed [data-event='alarm.raised']"), message="the live feed")
        assert page.js("return window.__sameDocument === true"), "the page reloaded"
        order_id = int(page.js(f"return document.querySelector(\"[data-testid=latest-orders] [data-pile='{pile}']\")"
                               ".dataset.order"))

        # The board shows it; the order page counts its SLA clocks down.
        page.route("#/work-orders", f"[data-testid=board] [data-order='{order_id}']")
        # Its card counts the running SLA clock down: response first, as nobody has accepted it yet.
        clock = page.js(f"const c = document.querySelector(\"[data-order='{order_id}'] [data-testid=countdown]\");"
                        "return [c.dataset.clock, c.dataset.tone, c.textContent]")
        assert clock[0] == "response" and clock[1] in ("ok", "warning", "breached"), clock
        assert re.search(r"\d+ (s|m|h|d)\b.* (left|ago)$", clock[2]), clock
        page.shot("work-orders")
        wait_for(lambda: order_state(db, order_id)[0] in ("ready_for_dispatch", "assigned"), timeout=20,
                 message="the order waiting for an engineer")
        holder = order_state(db, order_id)[1]
        target = db.execute("SELECT id FROM engineers WHERE active AND id IS DISTINCT FROM %s ORDER BY id LIMIT 1",
                            (holder,)).fetchone()[0]
        page.click(f"[data-order='{order_id}']")
        page.wait(lambda d: page.exists("[data-testid=assign-form] select option[value]")
                  and page.exists("[data-testid=sla-response][data-tone]"), message="the order page")
        assert page.js("return document.querySelector('[data-testid=sla-response]').dataset.tone") in (
            "ok", "warning", "breached", "met")

        # The dispatcher assigns it by hand.
        from selenium.webdriver.support.ui import Select

        Select(page.d.find_element("id", "assign-engineer")).select_by_value(target)
        page.d.find_element("id", "assign-reason").send_keys("knows this site")
        page.click("[data-testid=assign-form] button[type=submit]")
        page.wait(lambda d: page.text("[data-testid=order-engineer]") == target, message="the order assigned")
        assert order_state(db, order_id) == ("assigned", target)
        assert db.execute("SELECT assigned_by FROM assignments WHERE work_order_id = %s AND state = 'offered'",
                          (order_id,)).fetchone() == ("dora",)
        page.wait(lambda d: target in (page.text("[data-testid=assignments]") or ""), message="the offer listed")
        # The offer shows the score the API sends: the travel and the dispatcher's override.
        page.wait(lambda d: re.search(r"[\d.]+ km", page.text("[data-testid=assignments] [data-testid=offer-km]") or ""),
                  message="the offer's travel")
        assert page.exists("[data-testid=report]") and page.exists("[data-testid=comment-form]")
        assert page.exists("[data-testid=moves-form]")
        page.shot("work-order")

        # Each Acknowledge button names the alarm it acts on.
        page.route("#/alarms", f"[data-testid=alarm-list] [data-pile='{pile}']")
        label = page.js(f"const b = document.querySelector(\"[data-testid=alarm-list] tr[data-pile='{pile}'] button\");"
                        "return b && b.getAttribute('aria-label')")
        assert label and pile in label and "#" in label, label
        page.shot("alarms")

        page.route("#/engineers", f"[data-testid=roster] [data-engineer='{target}']")
        page.wait(lambda d: f"#{order_id}" in page.text(f"[data-engineer='{target}']"), message="the job on the roster")
        page.shot("engineers")
        # Twelve weeks of service history, all of it closed: the KPI page has something to show.
        history = b.seed_kpi_history(db)
        assert history["corrective"] >= 40 and history["preventive"] >= 40, history
        page.route("#/kpis", "[data-testid=kpi-charts] [data-rendered]")
        page.wait(lambda d: page.js("return document.querySelectorAll('[data-testid=kpi-charts] [data-rendered]')"
                                    ".length") == 4, message="the KPI charts")
        tiles = page.js("return Object.fromEntries([...document.querySelectorAll('[data-testid=kpi-tiles] .tile')]"
                        ".map(t => [t.dataset.testid, t.querySelector('.tile-value').textContent]))")
        for key in KPI_TILES:
            assert re.fullmatch(r"[\d.,]+ (h|min|%)", tiles[f"kpi-{key}"]), tiles
        points = page.js("return [...document.querySelectorAll('[data-testid=kpi-charts] canvas')].map(c =>"
                         "  Chart.getChart(c).data.datasets.map(s => [s.label, s.data.filter(v => v !== null).length]))")
        for chart in points:
            for label, count in chart:
                assert count >= 10, points  # of the 12 weeks charted, hardly any without a value
        page.shot("kpis")

        # Another engineer's order, to show the engineer's console leaves it out.
        other_pile = db.execute("SELECT id FROM piles WHERE id <> %s ORDER BY id LIMIT 1", (pile,)).fetchone()[0]
        other_id, _ = open_corrective(db, other_pile, "mechanical", title="Holster cracked", priority=3, actor="test")
        for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
            transition(db, other_id, to, actor="test")
        db.execute("UPDATE work_orders SET engineer_id = (SELECT id FROM engineers WHERE id <> %s ORDER BY id "
                   "LIMIT 1) WHERE id = %s", (target, other_id))
        accounts.create(db, "erik", role=accounts.Role.ENGINEER, full_name="Erik Engineer", password=PASSWORD,
                        actor="test", engineer_id=target)

        page.click("#logout")
        page.login("erik")
        page.wait(lambda d: page.exists(f"[data-testid=orders] [data-order='{order_id}']"), message="my job")
        shown = page.js("return [...document.querySelectorAll('[data-testid=orders] [data-order]')]"
                        ".map(e => +e.dataset.order)")
        assert shown == [order_id]
        assert page.js("return [...document.querySelectorAll('#nav a')].map(a => a.textContent)") == ["☰My jobs"]
        page.route("#/alarms", "[data-testid=orders]")  # not an engineer's page: back to their jobs
        page.route(f"#/work-orders/{order_id}", "[data-testid=timeline]")
        assert not page.exists("[data-testid=assign-form]")
    finally:
        sim.stop()

    assert chrome.errors() == []


def test_the_console_is_served_offline_under_a_strict_content_security_policy(anonymous, api):
    first = anonymous.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login"
    login = anonymous.get("/login")
    assert login.status_code == 200 and "script-src 'self'" in login.headers["content-security-policy"]
    # Logging in sets the cookie, and with it / is the console.
    assert anonymous.post("/auth/token", data={"username": "admin", "password": PASSWORD}).status_code == 200
    console = anonymous.get("/", follow_redirects=False)
    assert console.status_code == 200 and '<main id="main"' in console.text

    # No inline script and nothing from another origin in either page.
    for page in ("index.html", "login.html"):
        html = (Path(__file__).resolve().parent.parent / "api" / "console" / page).read_text()
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts and all("src=" in s for s in scripts), scripts
        assert not re.search(r"""(src|href)=["'](https?:)?//""", html)
        assert "style=" not in html

    chart = anonymous.get("/console/vendor/chart.umd.min.js")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("text/javascript")
    assert "Chart.js v4" in chart.text[:300]
    assert anonymous.get("/console/js/app.js").headers["content-type"].startswith("text/javascript")
    assert anonymous.get("/console/console.css").headers["content-type"].startswith("text/css")
    for bad in ("/console/../routes/console.py", "/console/%2e%2e/app.py", "/console/vendor/left-pad.js",
                "/console/js/nothing.js"):
        assert anonymous.get(bad).status_code == 404, bad
