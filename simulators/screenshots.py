"""`pilecare docs screenshots`: the README's pictures of the operator console and of the
engineer's app (on a 390 × 844 phone) and of the service desk, taken in headless Chromium on
a live fleet.

The tour is the one the console's browser test takes (tests/test_console.py checks each
page along the way, with its pictures in a temporary folder): a seeded fleet reporting
through a real broker, ingest and maintenance worker; a pile's page with six hours of
history; a fault injected to raise an alarm and a work order; the order assigned by a
dispatcher; twelve weeks of service history for the KPI page. Then the engineer the order
was given to takes it on a phone (simulators/phone.py AppTour): Today, the job on site, the
signature pad and the queue with the network cut. Last, an agent at the service desk
(simulators/desk_tour.py DeskTour) logs a call, finds it in the inbox and answers it, and
the service supervisor (simulators/complaint_tour.py ComplaintTour) investigates a complaint,
plans its measures and opens the customer's card; and the parts keeper (simulators/stores_tour.py
StoresTour) receives and inspects a delivery, stocks a van and counts the warehouse.

The command takes it on a throwaway database (`pilecare_screenshots`, recreated on each run,
on PILECARE_DATABASE_URL's server, else an embedded PostgreSQL under .pilecare/screenshots)
and a topic prefix of its own on PILECARE_MQTT_URL's broker, else a Mosquitto it starts.
The pictures replace those in docs/screenshots/ only once every page has been taken.
"""
from __future__ import annotations

import re
import secrets
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

from api import accounts
from gateway.broker_auth import start_admin_broker
from pilecare.migrate import migrate
from pilecare.settings import get_settings
from simulators.browser import Browser, chromium_problem
from simulators.crew import seed_crew
from simulators.complaint_tour import ComplaintTour
from simulators.desk_tour import DeskTour
from simulators.stores_tour import StoresTour
from simulators.faults import FaultKind
from simulators.fleetgen import load_fleet, seed_fleet
from simulators.history import backfill_telemetry, seed_kpi_history
from simulators.inprocess import fast_policy, use_rules, wait_for
from simulators.phone import OFFLINE_NOISE, AppTour, Phone
from simulators.runner import Simulation

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
# The pictures in the order the tour takes them (the README shows six of them).
NAMES = ("overview", "pile", "pile-7d", "work-orders", "work-order", "alarms", "engineers", "kpis")
PILES = 24
RULES = """
rules:
  - {id: error.GroundFailure, kind: error_code, error_code: GroundFailure, category: electrical, severity: major}
"""
ACTOR = "screenshots"


def policy():
    """Faults go straight to dispatch (no remote reset first); clearing and verification take seconds."""
    return fast_policy(clear_after_s=1, verify_s=2, triage={"categories": [], "attempts": 0, "wait_s": 1})


def order_state(db, order_id: int) -> tuple[str, str | None]:
    return db.execute("SELECT state, engineer_id FROM work_orders WHERE id = %s", (order_id,)).fetchone()


class Tour:
    """The console's pages, each brought to the state pictured and shot. Call the steps in
    the order `take` does; each leaves the browser on its page, so a caller can check what
    the page shows before going on. Needs ingest and the maintenance worker (`policy()`)
    running against `settings`, and the API `page` is open on."""

    def __init__(self, settings, db, page: Browser, password: str):
        self.settings, self.db, self.page, self.password = settings, db, page, password
        self.sim: Simulation | None = None
        self.pile: str | None = None
        self.order_id: int | None = None
        self.engineer: str | None = None
        self.telemetry_rows = 0
        self.kpi_history: dict[str, int] = {}
        self.taken: list[Path] = []

    def __enter__(self) -> "Tour":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "Tour":
        """PILES piles reporting twice a second, a crew, one rule, a dispatcher (dora) and six
        hours of history for the pile the tour opens: the first with the most connectors."""
        db = self.db
        seed_fleet(db, piles=PILES, seed=5)
        seed_crew(db)
        use_rules(db, RULES, actor=ACTOR)
        db.execute("UPDATE pile_models SET reporting_interval_s = 1")
        self.pile = pile = db.execute("SELECT p.id FROM piles p JOIN pile_models m ON m.id = p.model_id "
                                      "ORDER BY m.connectors DESC, p.id LIMIT 1").fetchone()[0]
        accounts.create(db, "dora", role=accounts.Role.DISPATCHER, full_name="Dora Dispatcher",
                        password=self.password, actor=ACTOR)
        self.sim = Simulation(self.settings, load_fleet(db), interval=0.5, seed=3).start()
        wait_for(lambda: db.execute("SELECT count(*) FROM pile_state WHERE online").fetchone()[0] == PILES,
                 timeout=30, message="the whole fleet online")
        # Online comes before the first telemetry: wait for the readings the history leads up to.
        wait_for(lambda: db.execute("SELECT count(*) FROM connector_state WHERE pile_id = %s AND connector_id > 0 "
                                    "AND energy_kwh IS NOT NULL", (pile,)).fetchone()[0] >= 2
                 and db.execute("SELECT temp_internal_c FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()[0]
                 is not None, timeout=10, message="the pile's first telemetry")
        self.telemetry_rows = backfill_telemetry(db, pile)
        return self

    def stop(self) -> None:
        if self.sim:
            self.sim.stop()
            self.sim = None

    def _shot(self, name: str) -> Path:
        path = self.page.shot(name)
        self.taken.append(path)
        return path

    def overview(self) -> Path:
        """Logged in as the dispatcher: the overview counts the whole fleet, online."""
        page = self.page
        page.login("dora", self.password)
        page.wait(lambda d: page.text("[data-testid=piles] .tile-value") == str(PILES), message="the fleet count")
        page.wait(lambda d: page.text("[data-testid=online] .tile-value") == str(PILES), message="all piles online")
        return self._shot("overview")

    def pile_page(self) -> Path:
        """The pile found with the search box, its three charts drawn with data."""
        page, pile = self.page, self.pile
        page.d.find_element("id", "search-input").send_keys(pile)
        page.wait(lambda d: page.exists(f"#search-results a[href='#/piles/{pile}']"), message="the search result")
        page.click(f"#search-results a[href='#/piles/{pile}']")
        for chart in ("power", "temperature", "energy"):
            page.wait(lambda d: page.js(f"const f = document.querySelector('[data-testid=chart-{chart}]');"
                                        "return f && f.dataset.rendered === 'true' && +f.dataset.points > 0"),
                      message=f"the {chart} chart drawn with data")
        return self._shot("pile")

    def pile_week(self) -> Path:
        """The same pile over seven days."""
        page = self.page
        page.click("[data-range='7d']")
        page.wait(lambda d: page.js("const c = Chart.getChart(document.querySelector('[data-testid=chart-power] canvas'));"
                                    "return c && c.scales.x.max - c.scales.x.min > 6.9 * 86400000"),
                  message="the 7-day axis")
        return self._shot("pile-7d")

    def live_fault(self) -> int:
        """Back on the overview, a ground fault on the pile: its alarm and work order arrive
        live. No picture; returns the order's id."""
        page, pile = self.page, self.pile
        page.route("#/", "[data-testid=latest-alarms]")
        self.sim.inject(pile, FaultKind.GROUND_FAULT, connector_id=1)
        page.wait(lambda d: page.exists(f"[data-testid=latest-alarms] [data-pile='{pile}']"), timeout=25,
                  message="the alarm to appear live")
        page.wait(lambda d: page.exists(f"[data-testid=latest-orders] [data-pile='{pile}']"), timeout=25,
                  message="the work order to appear live")
        page.wait(lambda d: page.exists("#feed [data-event='alarm.raised']"), message="the live feed")
        self.order_id = int(page.js(f"return document.querySelector(\"[data-testid=latest-orders] "
                                    f"[data-pile='{pile}']\").dataset.order"))
        return self.order_id

    def board(self) -> Path:
        """The work-order board with the new order on it."""
        self.page.route("#/work-orders", f"[data-testid=board] [data-order='{self.order_id}']")
        return self._shot("work-orders")

    def assignment(self) -> str:
        """The order's page once the dispatcher has given it by hand to an engineer other than
        the one dispatch chose (if it had); returns that engineer."""
        from selenium.webdriver.support.ui import Select

        db, page, order_id = self.db, self.page, self.order_id
        wait_for(lambda: order_state(db, order_id)[0] in ("ready_for_dispatch", "assigned"), timeout=20,
                 message="the order waiting for an engineer")
        holder = order_state(db, order_id)[1]
        self.engineer = target = db.execute(
            "SELECT id FROM engineers WHERE active AND id IS DISTINCT FROM %s ORDER BY id LIMIT 1",
            (holder,)).fetchone()[0]
        page.click(f"[data-order='{order_id}']")
        page.wait(lambda d: page.exists("[data-testid=assign-form] select option[value]")
                  and page.exists("[data-testid=sla-response][data-tone]"), message="the order page")
        Select(page.d.find_element("id", "assign-engineer")).select_by_value(target)
        page.d.find_element("id", "assign-reason").send_keys("knows this site")
        page.click("[data-testid=assign-form] button[type=submit]")
        page.wait(lambda d: page.text("[data-testid=order-engineer]") == target, message="the order assigned")
        page.wait(lambda d: target in (page.text("[data-testid=assignments]") or ""), message="the offer listed")
        # The offer shows the score the API sends: the travel and the dispatcher's override.
        page.wait(lambda d: re.search(r"[\d.]+ km", page.text("[data-testid=assignments] [data-testid=offer-km]") or ""),
                  message="the offer's travel")
        self._shot("work-order")
        return target

    def alarms(self) -> Path:
        self.page.route("#/alarms", f"[data-testid=alarm-list] [data-pile='{self.pile}']")
        return self._shot("alarms")

    def engineers(self) -> Path:
        """Engineers on shift, the assigned one with the order among their jobs."""
        page = self.page
        page.route("#/engineers", f"[data-testid=roster] [data-engineer='{self.engineer}']")
        page.wait(lambda d: f"#{self.order_id}" in page.text(f"[data-engineer='{self.engineer}']"),
                  message="the job on the roster")
        return self._shot("engineers")

    def kpis(self) -> Path:
        """Twelve weeks of service history, all of it closed: the KPI page has something to show."""
        page = self.page
        self.kpi_history = seed_kpi_history(self.db)
        page.route("#/kpis", "[data-testid=kpi-charts] [data-rendered]")
        page.wait(lambda d: page.js("return document.querySelectorAll('[data-testid=kpi-charts] [data-rendered]')"
                                    ".length") == 4, message="the KPI charts")
        return self._shot("kpis")

    def take(self) -> list[Path]:
        """Every step in turn; the pictures taken."""
        for step in (self.overview, self.pile_page, self.pile_week, self.live_fault, self.board, self.assignment,
                     self.alarms, self.engineers, self.kpis):
            step()
        return self.taken


def main(args) -> None:
    from api.app import create_app
    from ingest.worker import IngestWorker
    from simulators.bench.ingest import bench_database
    from simulators.inprocess import RunningWorker, Server, running_worker

    problem = chromium_problem()
    if problem:
        raise SystemExit(f"pilecare docs screenshots: {problem}")
    out = Path(args.out).resolve() if args.out else SHOTS
    base = get_settings()
    data_dir = Path(base.data_dir).resolve() / "screenshots"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_url = bench_database(base, data_dir, "pilecare_screenshots")
    mqtt_url = base.mqtt_url or start_admin_broker(data_dir / "broker")[0]
    tag = uuid.uuid4().hex[:8]
    settings = base.model_copy(update={
        "database_url": db_url, "mqtt_url": mqtt_url, "topic_prefix": f"screenshots-{tag}/pilecare/v1",
        "ingest_group": "", "ingest_client_id": f"screenshots-ingest-{tag}",
        # Tokens for this run only: nothing written to the data directory.
        "secret_key": secrets.token_urlsafe(48),
    })
    print(f"taking the console's and the app's screenshots (database {db_url}, broker {mqtt_url}) …",
          file=sys.stderr, flush=True)
    password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="pilecare-screenshots-") as scratch, \
            psycopg.connect(db_url, autocommit=True) as db:
        migrate(db, settings)
        with RunningWorker(IngestWorker(settings, housekeeping=False)), running_worker(settings, policy()), \
                Server(create_app(settings)) as server, Browser(server.url, Path(scratch)) as page, \
                Tour(settings, db, page, password) as tour:
            taken = tour.take()
            with Browser(server.url, Path(scratch), phone=True) as handset:
                taken += AppTour(db, Phone(handset), password, tour.order_id, tour.engineer).take()
                errors = [e for e in handset.errors() if OFFLINE_NOISE not in e]
            taken += DeskTour(db, page, password).start().take()
            taken += ComplaintTour(db, page, password).start().take()
            taken += StoresTour(db, page, password).start().take()
            errors += page.errors()  # the console's, over both its tours
        # All or nothing: a tour that failed half-way leaves the old set as it was.
        out.mkdir(parents=True, exist_ok=True)
        written = [Path(shutil.copyfile(path, out / path.name)) for path in taken]
    for path in written:
        print(path)
    print(f"{len(written)} screenshots written to {out}", file=sys.stderr)
    if errors:
        raise SystemExit("the browser logged errors on the way (check the pictures):\n" + "\n".join(errors))
