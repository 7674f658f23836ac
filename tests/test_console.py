"""Acceptance for issue 5: the operator console in a real browser (Debian's headless
Chromium via Selenium) against the real API server, broker, ingest, maintenance worker
and simulator. Log in, see the seeded fleet, open a pile and see its charts drawn with
data, inject a fault and watch the alarm and order arrive without a reload, assign the
order as a dispatcher, see twelve weeks of service history as KPIs, and see that an
engineer's console holds only their own jobs. The browser's console log must stay free of
errors (a failed request is one).

The tour is the one `pilecare docs screenshots` takes for the README (simulators/screenshots.py);
here its pictures go to a temporary folder and docs/screenshots/ stays as committed.
"""
from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

import pytest

from api import accounts
from simulators import browser as b
from simulators.inprocess import running_worker
from simulators.screenshots import NAMES, SHOTS, Tour, order_state, policy
from tests.conftest import PASSWORD
from tests.console_fixtures import chrome, server  # noqa: F401 (fixtures: the API server and a browser)

# The KPI tiles that must show a value once the service history is in.
KPI_TILES = ("response_h", "mttr_h", "mtbf_h", "first_time_fix_rate", "repeat_repair_rate", "pm_compliance",
             "availability")


@pytest.fixture
def maintenance(settings):
    with running_worker(settings, policy()) as running:
        yield running


def fingerprints(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def test_operators_watch_the_fleet_and_dispatch_a_live_fault_in_the_browser(
        settings, db, ingest, maintenance, server, chrome):
    from maintenance.orders.lifecycle import WorkOrderState as S
    from maintenance.orders.lifecycle import open_corrective, transition

    committed = fingerprints(SHOTS)
    page = chrome
    with Tour(settings, db, page, PASSWORD) as tour:
        assert tour.telemetry_rows > 0
        pile = tour.pile

        # Logged out, / is the login page; logged in, the overview counts the seeded fleet.
        tour.overview()
        assert page.js("return document.querySelectorAll('[data-testid=sites] [data-site]').length") == \
            db.execute("SELECT count(*) FROM sites").fetchone()[0]

        # Find the pile with the search box and open it: its charts are drawn with data.
        tour.pile_page()
        drawn = page.js("const c = Chart.getChart(document.querySelector('[data-testid=chart-power] canvas'));"
                        "return c.data.datasets.map(s => s.data.length)")
        assert sum(drawn) >= 100, drawn  # 6 h of history in 5-minute buckets, per connector
        assert pile in page.text("h1") and page.exists("[data-testid=connectors] [data-connector]")
        # A longer range spans exactly that range, its ticks carrying the date.
        tour.pile_week()

        # Back on the overview, a fault arrives live: the alarm and its order appear, no reload.
        page.js("window.__sameDocument = true")
        order_id = tour.live_fault()
        assert page.js("return window.__sameDocument === true"), "the page reloaded"

        # The board shows it; its card counts the running SLA clock down: response first, as
        # nobody has accepted it yet.
        tour.board()
        clock = page.js(f"const c = document.querySelector(\"[data-order='{order_id}'] [data-testid=countdown]\");"
                        "return [c.dataset.clock, c.dataset.tone, c.textContent]")
        assert clock[0] == "response" and clock[1] in ("ok", "warning", "breached"), clock
        assert re.search(r"\d+ (s|m|h|d)\b.* (left|ago)$", clock[2]), clock

        # The dispatcher assigns it by hand; the order page counts its SLA clocks down.
        target = tour.assignment()
        assert page.js("return document.querySelector('[data-testid=sla-response]').dataset.tone") in (
            "ok", "warning", "breached", "met")
        assert order_state(db, order_id) == ("assigned", target)
        assert db.execute("SELECT assigned_by FROM assignments WHERE work_order_id = %s AND state = 'offered'",
                          (order_id,)).fetchone() == ("dora",)
        assert page.exists("[data-testid=report]") and page.exists("[data-testid=comment-form]")
        assert page.exists("[data-testid=moves-form]")

        # Each Acknowledge button names the alarm it acts on.
        tour.alarms()
        label = page.js(f"const b = document.querySelector(\"[data-testid=alarm-list] tr[data-pile='{pile}'] button\");"
                        "return b && b.getAttribute('aria-label')")
        assert label and pile in label and "#" in label, label

        tour.engineers()
        # The roster points at the phone app the engineers work in (issue 12, item 1).
        assert page.js("return document.querySelector('[data-testid=engineer-app-link]').getAttribute('href')") == "/app/"
        # Twelve weeks of service history, all of it closed: the KPI page has something to show.
        tour.kpis()
        assert tour.kpi_history["corrective"] >= 40 and tour.kpi_history["preventive"] >= 40, tour.kpi_history
        tiles = page.js("return Object.fromEntries([...document.querySelectorAll('[data-testid=kpi-tiles] .tile')]"
                        ".map(t => [t.dataset.testid, t.querySelector('.tile-value').textContent]))")
        for key in KPI_TILES:
            assert re.fullmatch(r"[\d.,]+ (h|min|%)", tiles[f"kpi-{key}"]), tiles
        points = page.js("return [...document.querySelectorAll('[data-testid=kpi-charts] canvas')].map(c =>"
                         "  Chart.getChart(c).data.datasets.map(s => [s.label, s.data.filter(v => v !== null).length]))")
        for chart in points:
            for label, count in chart:
                assert count >= 10, points  # of the 12 weeks charted, hardly any without a value
        # Each port's NEVI uptime beside today's availability, in its own section that loads after.
        page.wait(lambda d: page.exists("[data-testid=nevi-met]"), message="the NEVI port uptime")
        met = page.js("return document.querySelector('[data-testid=nevi-met] .tile-value').textContent")
        assert re.fullmatch(r"[\d,]+ of [\d,]+", met), met
        assert page.js("return document.querySelectorAll('[data-testid=nevi-uptime] tbody tr').length") >= 1

        # Another engineer's order, to show the engineer's console leaves it out.
        other_pile = db.execute("SELECT id FROM piles WHERE id <> %s ORDER BY id LIMIT 1", (pile,)).fetchone()[0]
        # In one transaction: the running maintenance worker must not route the new order
        # between our moves (it would, and the next move would find it changed).
        with db.transaction():
            other_id, _ = open_corrective(db, other_pile, "mechanical", title="Holster cracked", priority=3,
                                          actor="test")
            for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
                transition(db, other_id, to, actor="test")
            db.execute("UPDATE work_orders SET engineer_id = (SELECT id FROM engineers WHERE id <> %s ORDER BY id "
                       "LIMIT 1) WHERE id = %s", (target, other_id))
        accounts.create(db, "erik", role=accounts.Role.ENGINEER, full_name="Erik Engineer", password=PASSWORD,
                        actor="test", engineer_id=target)

        page.click("#logout")
        page.login("erik", PASSWORD)
        page.wait(lambda d: page.exists(f"[data-testid=orders] [data-order='{order_id}']"), message="my job")
        shown = page.js("return [...document.querySelectorAll('[data-testid=orders] [data-order]')]"
                        ".map(e => +e.dataset.order)")
        assert shown == [order_id]
        assert page.exists("[data-testid=engineer-app-link][href='/app/']")  # their jobs are worked in the app
        assert page.js("return [...document.querySelectorAll('#nav a')].map(a => a.textContent)") == ["☰My jobs"]
        page.route("#/alarms", "[data-testid=orders]")  # not an engineer's page: back to their jobs
        page.route(f"#/work-orders/{order_id}", "[data-testid=timeline]")
        assert not page.exists("[data-testid=assign-form]")

    assert chrome.errors() == []
    # Every page pictured, at the browser's size, in the test's own folder; the README's
    # pictures untouched (`pilecare docs screenshots` refreshes them).
    assert [p.name for p in tour.taken] == [f"{name}.png" for name in NAMES]
    assert sorted(p.name for p in page.shots.iterdir()) == sorted(f"{name}.png" for name in NAMES)
    assert all(png_size(p) == b.SIZE for p in tour.taken), [png_size(p) for p in tour.taken]
    assert fingerprints(SHOTS) == committed


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


def test_a_preventive_order_shows_its_due_date_on_its_page_and_in_the_list(db, fleet, api, chrome):
    # Issue 12, item 6: planned work is due on a date, not on an SLA clock; a merged order links on.
    db.execute("INSERT INTO work_orders (kind, pile_id, title, created_by, due_at, state) "
               "VALUES ('preventive', %s, 'Quarterly PM', 'planner', '2026-12-15T09:00:00Z', 'ready_for_dispatch')",
               (fleet[0],))
    order_id = db.execute("SELECT id FROM work_orders WHERE title = 'Quarterly PM'").fetchone()[0]
    chrome.login("admin", PASSWORD)
    chrome.route(f"#/work-orders/{order_id}", "[data-testid=order-due]")
    assert "2026" in chrome.text("[data-testid=order-due]") and "15" in chrome.text("[data-testid=order-due]")
    chrome.route("#/work-orders?view=list&open=", "table")
    chrome.wait(lambda d: chrome.exists("table"), message="the list")
    assert "Due" in chrome.js("return [...document.querySelectorAll('th')].map(t => t.textContent).join(' ')")
    assert chrome.errors() == []


def test_the_fault_form_offers_the_categories_the_api_accepts(db, fleet, api, chrome):
    chrome.login("admin", PASSWORD)
    chrome.route(f"#/piles/{fleet[0]}", "[data-testid=fault-form]")
    offered = lambda: chrome.js("return [...document.querySelectorAll('#fault-category option')].map(o => o.value)")
    chrome.wait(lambda d: len(offered()) > 1, message="the categories from the API")
    assert offered() == api.get("/work-orders/fault-categories").json()
    assert chrome.errors() == []


def test_the_kpi_tiles_say_their_period_and_the_data_behind_them(db, fleet, api, chrome):
    chrome.login("admin", PASSWORD)
    chrome.route("#/kpis", "[data-testid=kpi-tiles]")
    subs = chrome.js("return Object.fromEntries([...document.querySelectorAll('[data-testid=kpi-tiles] .tile')]"
                     ".map(t => [t.dataset.testid, t.querySelector('.tile-sub').textContent]))")
    assert all(text.startswith("30 days · ") for text in subs.values()), subs
    assert "port-hours of data" in subs["kpi-availability"] and "unanswered" not in subs["kpi-response_h"]
    assert chrome.errors() == []


def test_a_dispatcher_merges_two_orders_of_a_pile_from_the_order_page(db, fleet, api, chrome):
    from maintenance.orders.lifecycle import open_corrective

    first, _ = open_corrective(db, fleet[0], "cooling", title="Fan stopped", priority=2, actor="rules")
    second, _ = open_corrective(db, fleet[0], "thermal", title="Cabinet hot", priority=3, actor="rules")
    chrome.login("admin", PASSWORD)
    chrome.route(f"#/work-orders/{second}", "[data-testid=merge-form]")
    chrome.js(f"document.querySelector('#merge-into').value = '{first}'")
    chrome.click("[data-testid=merge-form] button[type=submit]")
    chrome.wait(lambda d: chrome.js("return location.hash") == f"#/work-orders/{first}", message="the kept order")
    assert db.execute("SELECT state, merged_into FROM work_orders WHERE id = %s", (second,)).fetchone() == (
        "cancelled", first)
    assert chrome.errors() == []


def test_a_list_downloads_as_csv_and_xlsx_with_the_filters_on_screen(db, fleet, api, chrome, monkeypatch):
    # Issue 14, item 8 (js/export.js, api/exports.py): the links carry the page's filters as
    # they change, the file is the list's, and a refusal is said beside the links.
    from api import exports

    db.execute("INSERT INTO work_orders (kind, pile_id, title, created_by, state) VALUES "
               "('corrective', %s, '=Fan stopped', 'rules', 'new'), ('corrective', %s, 'Old', 'rules', 'closed')",
               (fleet[0], fleet[1]))
    chrome.login("admin", PASSWORD)
    chrome.route("#/work-orders?view=list&open=true", "[data-testid=export] a[data-format=csv]")
    href = lambda f: chrome.js(f"const a = document.querySelector('[data-testid=export] a[data-format={f}]');"
                               "a.dispatchEvent(new Event('focus')); return a.getAttribute('href')")
    assert href("csv") == "/work-orders?open=true&format=csv"
    text = chrome.js("return fetch(arguments[0]).then(r => r.text())", href("csv"))
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("id,kind,pile_id,") and len(lines) == 2 and ",'=Fan stopped," in lines[1]
    chrome.js("const s = document.querySelector('select[name=kind]'); s.value = 'preventive';"
              "s.dispatchEvent(new Event('change', { bubbles: true }))")
    assert href("xlsx") == "/work-orders?kind=preventive&open=true&format=xlsx"
    assert chrome.errors() == []
    monkeypatch.setattr(exports, "MAX_ROWS", 0)  # the server runs in this process
    chrome.route("#/work-orders?view=list&open=true", "[data-testid=export] a[data-format=xlsx]")
    chrome.click("[data-testid=export] a[data-format=xlsx]")
    chrome.wait(lambda d: chrome.text("[data-testid=export] .export-message"), message="the refusal")
    assert chrome.text("[data-testid=export] .export-message") == ("format: 1 row matches; an export holds at most 0. "
                                                                   "Narrow the filters (docs/exports.md)")
    assert all("format=xlsx" in e and "422" in e for e in chrome.errors())  # the refused file, nothing else



def test_pages_kept_for_the_back_button_hold_no_live_stream_and_load_afresh_when_shown_again(db, fleet, api, chrome):
    # Chromium keeps six connections to a host and keeps pages left behind in its back/forward
    # cache: had they kept their live stream open, the seventh visit would have waited forever.
    def live():
        chrome.wait(lambda d: chrome.js("return document.querySelector('#live').dataset.state") == "live",
                    message="the live feed")

    for visit in range(8):
        chrome.d.delete_all_cookies()
        chrome.open("/login")
        chrome.login("admin", PASSWORD)  # times out on the seventh visit without the fix
        live()
    # Back to the console: shown from the cache, it loads afresh (its data and login as of now).
    chrome.js("window.kept = true")
    chrome.open("/login")
    chrome.d.back()
    chrome.wait(lambda d: chrome.js("return window.kept === undefined && document.body.dataset.ready === 'true'"),
                message="the console, loaded afresh")
    # Reloaded by its pageshow handler, not a plain back navigation's load.
    assert chrome.js("return performance.getEntriesByType('navigation')[0].type") == "reload"
    live()
    assert chrome.errors() == []
