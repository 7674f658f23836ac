"""Acceptance for issue 12, item 1: the engineer's app (/app/) in a real phone-sized
Chromium (390 × 844, mobile, touch) against the real API server, broker, ingest,
maintenance worker and simulator. A fault raised by a simulated pile is offered to the
logged-in engineer, who takes it through the app to completion — accept, en route, arrive
by the browser's (emulated) geolocation, diagnosis, a part from the van, the test, a photo,
a drawn signature — and a preventive visit the same way with its checklist; both end
verified and closed. The same job with the network cut half-way is queued on the phone and
applied once when the network returns. A refused location says so. The browser's console
stays free of errors."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from api import accounts
from simulators import browser as b
from simulators.faults import FaultKind
from simulators.fleetgen import load_fleet
from simulators.phone import OFFLINE_NOISE, Phone, png
from simulators.runner import Simulation
from tests.conftest import PASSWORD
from tests.devices import wait_for
from tests.maint import fast_policy, running_worker, use_rules
from tests.console_fixtures import server  # noqa: F401 (fixture: the API server)
from tests.factories import set_stock

ROOT = Path(__file__).resolve().parent.parent
RULES = """
rules:
  - {id: error.GroundFailure, kind: error_code, error_code: GroundFailure, category: electrical, severity: major}
"""
SITE = (52.52, 13.40)          # where tests/factories.py puts every pile
NEARBY = (52.5145, 13.392)     # the engineer's phone before setting off: 817 m away
CHECKLIST = ["Exterior cleaning", "Tighten electrical connections", "Insulation resistance"]
REPORT = {"fault_cause": "insulation of the DC+ cable chafed at the gland", "action_taken": "replaced the cable set",
          "customer_opinion": "quick and tidy", "customer_rating": 5}


@pytest.fixture
def crew(db, fleet):
    """Eva, on shift and qualified for everything at both sites, with two DC cable sets in her van."""
    now = datetime.now(timezone.utc)
    db.execute("UPDATE sites SET address = CASE id WHEN 'SITE-1' THEN 'Nordhafen 3, 13353 Berlin' "
               "ELSE 'Kai 7, 20457 Hamburg' END")
    db.execute("INSERT INTO engineers (id, name, phone, skills, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '+49 1', '{AC,DC,HV}', '{north,coast}', 52.60, 13.50)")
    db.execute("INSERT INTO engineer_shifts (engineer_id, starts_at, ends_at) VALUES ('E1', %s, %s)",
               (now - timedelta(hours=1), now + timedelta(hours=8)))
    db.execute("INSERT INTO parts (id, name, unit_cost) VALUES ('CABLE-DC', 'DC cable set', 180)")
    db.execute("INSERT INTO stock_locations (id, kind, name, engineer_id) VALUES ('VAN-E1', 'van', 'Eva''s van', 'E1')")
    set_stock(db, "VAN-E1", "CABLE-DC", 2)
    accounts.create(db, "eva", role=accounts.Role.ENGINEER, full_name="Eva Engineer", password=PASSWORD, actor="test",
                    engineer_id="E1")
    return "E1"


@pytest.fixture
def maintenance(settings):
    # Faults go straight to dispatch (no remote reset first); verification takes 2 s.
    with running_worker(settings, fast_policy(clear_after_s=1, verify_s=2,
                                              triage={"categories": [], "attempts": 0, "wait_s": 1})) as policy:
        yield policy


@pytest.fixture
def fleet_running(settings, db, crew, ingest, maintenance):
    """The first two piles simulated through the real broker, reporting every second."""
    use_rules(db, RULES)
    db.execute("UPDATE pile_models SET reporting_interval_s = 1")
    sim = Simulation(settings, load_fleet(db, 2), interval=0.5, seed=3).start()
    try:
        wait_for(lambda: db.execute("SELECT count(*) FROM pile_state WHERE online").fetchone()[0] == 2, timeout=20,
                 message="both piles online")
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def phone(server, tmp_path_factory):  # noqa: F811 (the fixture imported above)
    problem = b.chromium_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    with b.Browser(server.url, tmp_path_factory.mktemp("app-screenshots"), phone=True) as page:
        yield Phone(page)


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "cable-before.png"
    path.write_bytes(png())
    return path


def state_of(db, order_id: int) -> str:
    return db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0]


def corrective_order(db, pile: str, timeout: float = 25) -> int:
    return wait_for(lambda: (db.execute("SELECT id FROM work_orders WHERE pile_id = %s AND kind = 'corrective' "
                                        "AND engineer_id = 'E1' AND state = 'assigned'", (pile,)).fetchone() or [None])[0],
                    timeout=timeout, interval=0.2, message="the fault's order offered to Eva")


def preventive_order(db, pile: str) -> int:
    return db.execute(
        "INSERT INTO work_orders (kind, pile_id, title, priority, created_by, due_at, checklist) "
        "VALUES ('preventive', %s, 'Quarterly preventive maintenance', 4, 'planner', now() + interval '2 hours', %s) "
        "RETURNING id", (pile, Jsonb([{"item": i, "done": False} for i in CHECKLIST]))).fetchone()[0]


def transitions(db, order_id: int) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT to_state FROM work_order_events WHERE work_order_id = %s AND from_state IS DISTINCT FROM to_state "
        "ORDER BY id", (order_id,))]


def notes(db, order_id: int, pattern: str) -> int:
    return db.execute("SELECT count(*) FROM work_order_events WHERE work_order_id = %s AND note ~ %s",
                      (order_id, pattern)).fetchone()[0]


def work_the_corrective_job(phone: Phone, order_id: int, photo: Path, shots: bool = False) -> None:
    """From the open job on site to the completion pressed: diagnosis, part, test, photo, signature."""
    page = phone.page
    phone.diagnose("DC+ cable insulation chafed at the gland: ground fault", "material")
    phone.settled()
    page.wait(lambda d: "in warranty" in (page.text("[data-testid=warranty-outcome]") or ""),
              message="the warranty outcome from the diagnosis")
    phone.use_part("CABLE-DC")
    phone.settled()
    phone.test(True, "insulation 500 MΩ, 30 min charge at full power")
    phone.settled()
    phone.photo(photo, "before", "chafed cable")
    phone.settled()
    page.wait(lambda d: page.exists("[data-testid=photo][data-queued=false] img"), message="the photo from the server")
    if shots:
        page.shot("app-job")
    phone.sign("J. Meyer")
    if shots:
        page.shot("app-signature", top=False)
    phone.save_signature()


def test_an_engineer_works_a_corrective_and_a_preventive_job_on_the_phone_to_closed(
        db, fleet, fleet_running, phone, photo):
    started = time.monotonic()
    sim, page = fleet_running, phone.page
    pile, planned_pile = fleet[1], fleet[0]
    page.locate(*NEARBY)
    phone.login("eva", PASSWORD)
    phone.today()

    sim.inject(pile, FaultKind.GROUND_FAULT, connector_id=1)
    order_id = corrective_order(db, pile)
    visit_id = preventive_order(db, planned_pile)
    phone.offered(order_id)
    phone.offered(visit_id)
    # Each offer: the site, its address, the customer to call, the clock, the distance from the phone.
    card = f"[data-testid=offers] [data-order='{order_id}']"
    assert "Depot North" in page.text(card) and "Nordhafen 3" in page.text(card)
    assert page.js(f"return document.querySelector(\"{card} [data-testid=call]\").getAttribute('href')") == "tel:+49301234567"
    assert re.search(r"\d+ (s|m|h|d)\b.* (left|overdue)$", page.text(f"{card} [data-testid=countdown]"))
    page.wait(lambda d: page.text(f"{card} [data-testid=distance]") == "817 m away", message="the distance")
    assert "Answer the offer" in page.text(f"{card} [data-testid=offer-clock]")
    page.shot("app-today")

    # The corrective job: accept on Today, then the job's own screen step by step.
    phone.accept(order_id)
    phone.settled()
    phone.job(order_id)
    phone.shows("accepted")
    phone.set_off(15)
    phone.settled()
    phone.shows("en_route")
    page.locate(*SITE)
    phone.arrive()
    phone.settled()
    phone.shows("on_site")
    work_the_corrective_job(phone, order_id, photo, shots=True)
    phone.settled()
    page.wait(lambda d: page.exists("[data-testid=signed] img"), message="the saved signature")
    sim.clear(pile)  # the repair holds: the pile reports healthy from now on
    phone.complete(**REPORT)
    phone.settled()
    phone.shows("resolved")

    # The preventive visit: on the day's route, then its checklist, the test, the signature.
    phone.today()
    phone.accept(visit_id)
    phone.settled()
    day = db.execute("SELECT (due_at AT TIME ZONE 'UTC')::date FROM work_orders WHERE id = %s", (visit_id,)).fetchone()[0]
    phone.route_screen(day.isoformat())
    stop = "[data-testid=route] [data-site='SITE-2']"
    assert "Harbour" in page.text(stop) and f"#{visit_id}" in page.text(stop)
    assert re.fullmatch(r"1 stop\(s\) · [\d.,]+ km from home and back.*", page.text("[data-testid=route-km]"))
    phone.job(visit_id)
    phone.set_off(10)
    phone.settled()
    phone.arrive()
    phone.settled()
    phone.shows("on_site")
    phone.tick_all()
    phone.settled()
    phone.test(True, "30 min charge at full power")
    phone.settled()
    phone.sign("K. Schulz")
    phone.save_signature()
    phone.settled()
    phone.complete(customer_opinion="fine")
    phone.settled()
    phone.shows("resolved")

    for order in (order_id, visit_id):
        wait_for(lambda: state_of(db, order) == "closed", timeout=20, interval=0.3,
                 message=f"order {order} verified from telemetry and closed")
    assert transitions(db, order_id)[-7:] == ["assigned", "accepted", "en_route", "on_site", "resolved", "verified",
                                             "closed"]
    assert transitions(db, visit_id)[-7:] == ["assigned", "accepted", "en_route", "on_site", "resolved", "verified",
                                             "closed"]
    report = db.execute("SELECT diagnosis, cause_class, test_passed, fault_cause, customer_rating, "
                        "customer_signoff_name FROM service_reports WHERE work_order_id = %s", (order_id,)).fetchone()
    assert report[1:] == ("material", True, REPORT["fault_cause"], 5, "J. Meyer")
    assert db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E1'").fetchone() == (1,)
    checklist = db.execute("SELECT checklist FROM work_orders WHERE id = %s", (visit_id,)).fetchone()[0]
    assert [(e["item"], e["done"], e["by"], e["reading"]) for e in checklist] == [(i, True, "eva", "ok") for i in CHECKLIST]
    # Arrivals where the phone said it was, within the radius: nothing doubtful.
    assert db.execute("SELECT arrival_flags FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0] in ([], None)
    assert page.errors() == []
    assert time.monotonic() - started < 90

RESEND = """
const [key, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  // As a phone that lost the answer: the sent action back in the queue with its own key.
  const q = await import('/app/static/js/queue.js');
  const sent = q.status.sent.find((e) => e.key === key);
  const db = await new Promise((ok) => { const r = indexedDB.open('pilecare-app', 1); r.onsuccess = () => ok(r.result); });
  await new Promise((ok) => {
    const t = db.transaction('outbox', 'readwrite');
    t.objectStore('outbox').add({ ...sent, label: sent.label + ' (again)', state: 'queued', tries: 0,
      created_at: new Date().toISOString() });
    t.oncomplete = ok;
  });
  await q.flush();
  done(q.status.sent[0]);
})();
"""


def test_a_job_worked_without_network_is_sent_when_it_returns_and_applied_once(
        db, fleet, fleet_running, phone, photo):
    started = time.monotonic()
    sim, page = fleet_running, phone.page
    pile = fleet[1]
    page.locate(*NEARBY)
    phone.login("eva", PASSWORD)
    phone.today()
    sim.inject(pile, FaultKind.GROUND_FAULT, connector_id=1)
    order_id = corrective_order(db, pile)
    phone.accept(order_id)
    phone.settled()
    phone.job(order_id)
    phone.set_off(15)
    phone.settled()
    phone.shows("en_route")

    # The network goes at the pile. The app opens all the same: the service worker has the
    # shell, the phone the job as last read.
    page.wait(lambda d: page.js("return !!navigator.serviceWorker.controller"), message="the service worker in charge")
    cached = page.js("return caches.open('pilecare-app-v1').then((c) => c.keys()).then((k) => k.map((r) => r.url))")
    assert {page.url + "/app/", page.url + "/app/static/js/queue.js", page.url + "/console/js/dom.js"} <= set(cached)
    page.network(online=False)
    page.d.refresh()
    page.wait(lambda d: page.js("return document.body.dataset.ready === 'true'"), message="the app opened offline")
    phone.shows("en_route")
    assert page.text("#net-text") == "offline"

    # Every step from here waits on the phone, shown as done.
    page.locate(*SITE)
    phone.arrive()
    phone.shows("on_site")
    phone.diagnose("DC+ cable insulation chafed at the gland: ground fault", "material")
    phone.use_part("CABLE-DC")
    page.wait(lambda d: page.text("[data-testid=van] [data-part='CABLE-DC'] [data-testid=stock-qty]") == "1 in van",
              message="the van's stock less the queued part")
    phone.test(True, "insulation 500 MΩ")
    phone.photo(photo, "before", "chafed cable")
    page.wait(lambda d: page.exists("[data-testid=photo][data-queued=true] img[src^='data:image/png']"),
              message="the queued photo's preview")
    phone.sign("J. Meyer")
    phone.save_signature()
    phone.complete(**REPORT)
    phone.shows("resolved")
    page.wait(lambda d: phone.queued() == 7, message="seven actions queued")
    assert state_of(db, order_id) == "en_route"
    assert db.execute("SELECT count(*) FROM parts_used").fetchone() == (0,)
    phone.queue_screen()
    assert page.js("return [...document.querySelectorAll('[data-testid=queued-action]')].map(e => e.dataset.action)") == [
        "arrive", "diagnosis", "parts", "test", "photo", "signature", "complete"]
    page.shot("app-queue")

    # The repair holds before the report reaches the server; then the network returns.
    sim.clear(pile)
    wait_for(lambda: db.execute("SELECT count(*) FROM alarms WHERE pile_id = %s AND state = 'active'",
                                (pile,)).fetchone()[0] == 0, timeout=15, message="the pile's alarm cleared")
    page.network(online=True)
    phone.settled(timeout=30)
    wait_for(lambda: state_of(db, order_id) == "closed", timeout=20, interval=0.3,
             message="the order verified from telemetry and closed")

    # The phone sends the part again with its key, as after an answer lost on the way: the
    # server answers as before and applies nothing.
    sent = page.js("return import('/app/static/js/queue.js').then((q) => q.status.sent.map((e) => [e.action, e.key]))")
    part_key = dict(sent)["parts"]
    again = page.d.execute_async_script(RESEND, part_key)
    assert again["key"] == part_key and again["replayed"] is True

    # Each step once: one arrival, one diagnosis, one part (stock 2 → 1), one test, one
    # photo, one signature, one completion.
    assert transitions(db, order_id).count("on_site") == 1 and transitions(db, order_id).count("resolved") == 1
    assert notes(db, order_id, "^diagnosis: ") == 1 and notes(db, order_id, "^on-site test passed") == 1
    assert db.execute("SELECT count(*), sum(quantity) FROM parts_used WHERE work_order_id = %s",
                      (order_id,)).fetchone() == (1, 1)
    assert db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E1'").fetchone() == (1,)
    assert db.execute("SELECT count(*), min(stage) FROM work_order_photos WHERE order_id = %s",
                      (order_id,)).fetchone() == (1, "before")
    assert db.execute("SELECT signer_name FROM work_order_signatures WHERE order_id = %s",
                      (order_id,)).fetchone() == ("J. Meyer",)
    assert db.execute("SELECT customer_signoff_name FROM service_reports WHERE work_order_id = %s",
                      (order_id,)).fetchone() == ("J. Meyer",)
    assert [e for e in page.errors() if OFFLINE_NOISE not in e] == []
    assert time.monotonic() - started < 90


def en_route_order(db, pile: str) -> int:
    """A ground fault's order that Eva has accepted and set off to (no worker, no simulator)."""
    from maintenance import fieldwork
    from maintenance.orders.lifecycle import WorkOrderState as S
    from maintenance.orders.lifecycle import open_corrective, transition

    order_id, _ = open_corrective(db, pile, "electrical", title="Ground fault", priority=2, actor="rules",
                                  severity="major")
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
        transition(db, order_id, to, actor="dispatch")
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (order_id,))
    db.execute("INSERT INTO assignments (work_order_id, engineer_id, state, assigned_by) "
               "VALUES (%s, 'E1', 'accepted', 'dispatch')", (order_id,))
    transition(db, order_id, S.ACCEPTED, actor="eva")
    fieldwork.start_travel(db, order_id, "E1", eta=datetime.now(timezone.utc) + timedelta(minutes=20), actor="eva")
    return order_id


def test_a_refused_location_says_how_to_allow_it_and_records_no_arrival(db, fleet, crew, server, phone):  # noqa: F811
    order_id = en_route_order(db, fleet[1])
    page = phone.page
    page.refuse_location()
    phone.login("eva", PASSWORD)
    phone.today()
    page.wait(lambda d: page.js("return document.querySelector('[data-testid=where]').dataset.state") == "refused",
              message="Today to say it has no position")
    phone.job(order_id)
    phone.arrive()
    page.wait(lambda d: page.js("return !document.querySelector('[data-testid=geo-message]').hidden"),
              message="the message about the refused location")
    message = page.text("[data-testid=geo-message]")
    assert message.startswith("Location is blocked for pilecare in this browser. Allow location for this site"), message
    assert page.text("[data-testid=arrive]") == "Try again"
    assert phone.queued() == 0 and state_of(db, order_id) == "en_route"
    assert page.errors() == []


def test_an_action_the_server_refuses_shows_its_reason_and_is_not_sent_again(db, fleet, crew, server,  # noqa: F811
                                                                           phone):
    order_id = en_route_order(db, fleet[1])
    page = phone.page
    page.locate(52.56, 13.40)  # 4.4 km short of the pile
    phone.login("eva", PASSWORD)
    phone.job(order_id)
    phone.arrive()
    page.wait(lambda d: page.exists("[data-testid=job-refused]"), message="the refusal on the job")
    assert re.search(r"Arrived at #\d+ — .*4\.4 km from pile", page.text("[data-testid=job-refused]"))
    assert page.text("#queue-badge") == "1 refused" and state_of(db, order_id) == "en_route"

    # Kept with the server's reason; another pass of the queue leaves it alone.
    phone.queue_screen()
    refused = "[data-testid=queued-action][data-state=failed]"
    assert "km from pile" in page.text(f"{refused} [data-testid=refusal]")
    tries = page.js("return import('/app/static/js/queue.js').then((q) => q.flush().then(() => q.entries()))"
                    ".then((all) => all.map((e) => [e.state, e.tries]))")
    assert tries == [["failed", 1]]

    # Dropped, and tried again at the pile: on site.
    page.click(f"{refused} .btn-ghost")
    page.wait(lambda d: not page.exists(refused), message="the refused action dropped")
    page.locate(*SITE)
    phone.job(order_id)
    phone.arrive()
    phone.settled()
    phone.shows("on_site")
    # The refusal's 409 is the one failed request the browser logged.
    assert [e for e in page.errors() if "status of 409" not in e] == []


def test_outside_warranty_the_phone_quotes_and_the_customer_approves_it_on_site_or_with_the_desk(db, fleet, crew, server,  # noqa: F811
                                                                            phone, client_for):
    db.execute("UPDATE piles SET warranty_end = '2024-01-01' WHERE id = %s", (fleet[1],))
    order_id = en_route_order(db, fleet[1])
    page = phone.page
    page.locate(*SITE)
    phone.login("eva", PASSWORD)
    phone.job(order_id)
    phone.arrive()
    phone.settled()
    phone.diagnose("cable cut by a vehicle", "external")
    phone.settled()
    page.wait(lambda d: "out of warranty" in (page.text("[data-testid=warranty-outcome]") or ""),
              message="the warranty outcome")
    assert page.js("return document.querySelector(\"[data-testid='use-CABLE-DC']\").disabled")
    phone.quote(1.5, 30, "CABLE-DC")
    phone.settled()
    page.wait(lambda d: page.exists("[data-testid=quote][data-state=pending]"), message="the pending quote")
    assert "334.50 EUR" in page.text("[data-testid=quote]")  # 180 + 1.5 h × 85 + 30 km × 0.9
    assert "service desk records it" in page.text("[data-testid=quote-approval]")

    # The customer at the pile says yes on the engineer's phone; work goes on.
    phone.answer_quote("J. Meyer")
    phone.settled()
    page.wait(lambda d: page.exists("[data-testid=quote][data-state=approved]"), message="the approved quote")
    assert db.execute("SELECT state, approver_name, decided_by FROM quotes WHERE work_order_id = %s",
                      (order_id,)).fetchone() == ("approved", "J. Meyer", "eva")
    phone.use_part("CABLE-DC")
    # Not settled(): right after the tap the part may not be queued yet, so the queue looks empty.
    wait_for(lambda: db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E1'").fetchone() == (1,),
             timeout=20, message="the part taken from the van")
    phone.settled()

    # A second job whose customer decides later, with the service desk: the phone picks it up.
    second = en_route_order(db, fleet[2])
    phone.today()
    phone.job(second)
    phone.arrive()
    phone.settled()
    phone.diagnose("cable cut by a vehicle", "external")
    phone.settled()
    phone.quote(1, 0)
    phone.settled()
    page.wait(lambda d: page.exists("[data-testid=quote][data-state=pending]"), message="the second pending quote")
    quote_id = db.execute("SELECT id FROM quotes WHERE work_order_id = %s", (second,)).fetchone()[0]
    agent = client_for("agent", "anna")
    assert agent.post(f"/quotes/{quote_id}/decision", json={"approve": True, "approver_name": "K. Lund"}).status_code == 200
    phone.today()
    phone.job(second)
    page.wait(lambda d: page.exists("[data-testid=quote][data-state=approved]"), message="the desk's approval")
    assert page.errors() == []


def test_the_app_is_an_installable_shell_under_the_consoles_policy_that_opens_offline(anonymous):
    moved = anonymous.get("/app", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == "/app/"
    shell = anonymous.get("/app/")
    assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
    assert shell.headers["content-security-policy"] == anonymous.get("/login").headers["content-security-policy"]
    scripts = re.findall(r"<script\b[^>]*>", shell.text)
    assert scripts and all("src=" in s for s in scripts), scripts
    assert "style=" not in shell.text and not re.search(r"""(src|href)=["'](https?:)?//""", shell.text)
    assert '<link rel="manifest" href="/app/manifest.webmanifest">' in shell.text

    manifest = anonymous.get("/app/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert (body["start_url"], body["scope"], body["display"]) == ("/app/", "/app/", "standalone")
    for icon in body["icons"]:
        assert anonymous.get(icon["src"]).headers["content-type"].startswith("image/svg+xml")

    # The service worker caches every file of the shell: each one listed, each one served.
    worker = anonymous.get("/app/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    listed = set(re.findall(r"'(/[^']*)'", worker.text.split("const SHELL = [", 1)[1].split("];", 1)[0]))
    static = ROOT / "api" / "engineer" / "static"
    files = {f"/app/static/{p.relative_to(static)}" for p in static.rglob("*") if p.is_file()}
    assert files <= listed, files - listed
    for path in listed:
        assert anonymous.get(path).status_code == 200, path
    imported = {m for p in static.rglob("*.js") for m in re.findall(r"from '(/[^']+)'", p.read_text())}
    assert imported <= listed, imported - listed

    assert anonymous.get("/app/session").json() == {"user": None}
    for bad in ("/app/static/%2e%2e/%2e%2e/routes/engineer_app.py", "/app/static/%2e%2e/index.html", "/app/static/js/nothing.js",
                "/app/static/js"):
        assert anonymous.get(bad).status_code == 404, bad


def test_actions_queued_by_one_engineer_are_never_sent_under_another_engineers_login(db, fleet, crew, server,  # noqa: F811
                                                                                  phone):
    order_id = en_route_order(db, fleet[1])
    page = phone.page
    page.locate(*SITE)
    phone.login("eva", PASSWORD)
    phone.job(order_id)
    page.network(False)
    phone.arrive()
    page.wait(lambda d: phone.queued() == 1, message="the arrival queued on the phone")
    # Her session ends (the shift's token runs out) while the phone has no network; the
    # order goes to Emil, who logs in on the same phone.
    page.d.execute_cdp_cmd("Network.clearBrowserCookies", {})
    db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
               "('E2', 'Emil', '{AC,DC,HV}', '{north}', 52.5, 13.3)")
    accounts.create(db, "emil", role=accounts.Role.ENGINEER, full_name="Emil Engineer", password=PASSWORD,
                    actor="test", engineer_id="E2")
    db.execute("UPDATE work_orders SET engineer_id = 'E2' WHERE id = %s", (order_id,))
    page.network(True)
    phone.login("emil", PASSWORD)
    page.js("return import('/app/static/js/queue.js').then((q) => q.flush())")
    time.sleep(1)
    assert state_of(db, order_id) == "en_route"
    assert db.execute("SELECT count(*) FROM work_order_events WHERE work_order_id = %s AND actor = 'emil'",
                      (order_id,)).fetchone() == (0,)
    # Emil's screens show his order as it is, without Eva's arrival applied ahead.
    phone.job(order_id)
    phone.shows("en_route")
    assert phone.queued() == 0
    # Eva's arrival waits on the phone for her, not refused and not lost.
    entries = page.js("return import('/app/static/js/queue.js').then((q) => q.entries())"
                      ".then((all) => all.map((e) => [e.action, e.state, e.user]))")
    assert entries == [["arrive", "queued", "eva"]]


def test_logging_out_without_network_ends_the_session_once_the_network_returns(db, fleet, crew, server,  # noqa: F811
                                                                                phone):
    page = phone.page
    page.locate(*SITE)
    phone.login("eva", PASSWORD)
    page.network(False)
    page.click("#logout")
    page.wait(lambda d: page.exists("#login"), message="the login screen")
    page.network(True)
    time.sleep(1)
    # Whoever opens the app next finds it logged out, not in Eva's day.
    page.open("/app/")
    page.wait(lambda d: page.exists("#login") or page.js("return document.body.dataset.ready === 'true'"),
              message="the app started")
    assert page.exists("#login")
    assert [e for e in page.errors() if OFFLINE_NOISE not in e] == []


def test_every_field_of_a_job_on_site_has_a_label_and_fits_the_phones_width(db, fleet, crew, server,  # noqa: F811
                                                                          phone):
    order_id = en_route_order(db, fleet[1])
    page = phone.page
    page.locate(*SITE)
    phone.login("eva", PASSWORD)
    phone.job(order_id)
    phone.arrive()
    phone.settled()
    phone.shows("on_site")
    unlabelled = page.js(
        "return [...document.querySelectorAll('main input:not([type=hidden]):not([type=file]), main select, "
        "main textarea')].filter((e) => !(e.labels.length || e.getAttribute('aria-label'))).map((e) => e.id)")
    assert unlabelled == []
    assert page.js("return document.documentElement.scrollWidth") == 390


def test_a_refused_action_sent_again_after_putting_things_right_is_applied(db, fleet, crew, server,  # noqa: F811
                                                                         phone):
    order_id = en_route_order(db, fleet[1])
    page = phone.page
    page.locate(*SITE)
    phone.login("eva", PASSWORD)
    phone.job(order_id)
    phone.arrive()
    phone.diagnose("DC+ cable insulation chafed at the gland: ground fault", "material")
    phone.settled()
    # The part is taken offline; meanwhile the van's stock is booked out elsewhere.
    page.network(False)
    phone.use_part("CABLE-DC")
    set_stock(db, "VAN-E1", "CABLE-DC", 0)
    page.network(True)
    refused = "[data-testid=queued-action][data-state=failed]"
    phone.queue_screen()
    page.wait(lambda d: page.exists(refused), message="the part refused for want of stock")
    # The van is restocked; "Send again" is the same action, now applied (once).
    set_stock(db, "VAN-E1", "CABLE-DC", 2)
    page.click(f"{refused} .btn:not(.btn-ghost)")
    phone.settled()
    assert db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E1'").fetchone() == (1,)
    assert notes(db, order_id, "^used 1 × CABLE-DC") == 1


def test_a_double_tap_on_an_action_records_it_once(db, fleet, crew, server, phone):  # noqa: F811
    order_id = en_route_order(db, fleet[1])
    page = phone.page
    page.locate(*SITE)
    phone.login("eva", PASSWORD)
    phone.job(order_id)
    phone.arrive()
    phone.settled()
    phone.section("diagnosis-form")
    phone.fill("[data-testid=diagnosis-form] textarea", "DC+ cable insulation chafed at the gland")
    phone.fill("[data-testid=diagnosis-form] select", "material")
    page.js("const b = document.querySelector('[data-testid=diagnosis-form] button[type=submit]'); b.click(); b.click()")
    page.wait(lambda d: "in warranty" in (page.text("[data-testid=warranty-outcome]") or ""),
              message="the warranty outcome from the diagnosis")
    phone.settled()
    page.js("return import('/app/static/js/queue.js').then((q) => q.flush())")
    recorded = [r[0] for r in db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s "
                                         "AND note ~ 'chafed at the gland'", (order_id,))]
    assert len(recorded) == 1, recorded
