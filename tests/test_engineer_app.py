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
import struct
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from api import accounts
from simulators import browser as b
from simulators.faults import FaultKind
from simulators.fleetgen import load_fleet
from simulators.phone import Phone
from simulators.runner import Simulation
from tests.conftest import PASSWORD
from tests.devices import wait_for
from tests.maint import fast_policy, running_worker, use_rules
from tests.test_console import server  # noqa: F401 (fixture: the API server)

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


def png(width: int = 48, height: int = 32) -> bytes:
    """A small real PNG: a red-to-blue gradient, 8-bit RGB."""
    rows = b"".join(b"\x00" + b"".join(bytes((255 * x // width, 80, 255 * y // height)) for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


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
    db.execute("INSERT INTO stock VALUES ('VAN-E1', 'CABLE-DC', 2)")
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
    phone.photo(photo, "before", "chafed cable")
    phone.settled()
    page.wait(lambda d: page.exists("[data-testid=photo][data-queued=false] img"), message="the photo from the server")
    if shots:
        page.shot("app-job")
    phone.sign("J. Meyer")
    if shots:
        page.shot("app-signature")
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

    # The preventive visit: its checklist, the test, the signature.
    phone.today()
    phone.accept(visit_id)
    phone.settled()
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
