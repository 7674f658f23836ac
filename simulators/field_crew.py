"""The demo's field crew (issue 12, item 3): simulated engineers who work their orders
through the same HTTP field API as an engineer's phone (api/routes/field.py), each logged
in as their own engineer account.

Each engineer, in a thread of their own, polls `GET /field/work-orders` and:
- answers offers: accepts most, declines `decline_share` of them with a reason (one seeded
  stream of draws for the whole crew, so the k-th answer is the same on every run), and any
  more than `max_drive_h` of driving away;
- drives to the pile: `POST …/en-route` with an ETA of road distance (great circle × 1.3)
  ÷ 45 km/h, run `speed` times faster than the wall clock like the simulated fleet, and
  reports positions on the way (`PUT /engineers/me/position`) no more than MAX_STEP_KM
  apart, so the arrival check (maintenance/fieldwork/arrival.py) sees a van, not a jump;
  arrives at the ETA, at the pile (`POST …/arrive`);
- repairs: diagnosis with a cause class; outside warranty a quote, which the site's contact
  approves on the phone (`POST …/quote-decision`; the demo's customers say yes);
  a part from the van that fits the fault category when it carries one (with an
  Idempotency-Key, so a retry never takes stock twice); the on-site test; completion with a
  full report and the contact's sign-off name;
- planned work (preventive, inspection, installation): ticks every checklist item, tests
  and completes with the sign-off.

One job at a time, in the order the platform lists them (priority, then age). A 4xx is the
platform's rule, not a crash: logged at INFO, and the engineer goes on with what the next
poll shows. While the API is away the engineers wait and retry.

Planned and corrective work alike end in verification from telemetry; a safety repair is
verified by a person (R-REPAIR), the crew's supervisor (`SafetySupervisor`), once the pile
no longer reports the fault. The accounts: simulators/crew_accounts.py.
"""
from __future__ import annotations

import logging
import math
import random
import signal
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from maintenance.dispatch import travel
from maintenance.fieldwork import CauseClass
from maintenance.orders import PLANNED_KINDS
from maintenance.orders import WorkOrderState as S
from simulators.crew_accounts import ACCOUNTS_FILE, SUPERVISOR_USER, CrewAccount, read_accounts
from simulators.crew_supervisor import SafetySupervisor
from simulators.platform_api import ApiAway, PlatformApi, Refused

log = logging.getLogger(__name__)

# The van's road and speed are the dispatcher's own estimate (great circle × 1.3 at 45 km/h).
ROAD = travel.DEFAULT
# The arrival check flags a fix more than 1 km from the last reported one at over 150 km/h;
# at the demo's speed a van covers kilometres of wall-clock time per second, so it reports
# every MAX_STEP_KM, and never more often than MIN_REPORT_S (the van slows down instead).
MAX_STEP_KM = 0.8
MIN_REPORT_S = 0.5

# The orders an engineer is working (MyOrder.state); planned kinds (PLANNED_KINDS) carry a checklist.
LIVE = (S.ACCEPTED.value, S.EN_ROUTE.value, S.ON_SITE.value)
PLANNED = PLANNED_KINDS  # their values

# What the crew finds, per fault category: (diagnosis, cause, action), and cause classes
# with their weights (R-WARRANTY: the first four are the maker's within warranty).
FINDINGS = {
    "cooling": ("cabinet fan seized, bearing worn", "fan bearing worn out", "replaced the cabinet fan"),
    "thermal": ("overheating from a stopped cabinet fan", "cooling failed", "replaced the fan, cleaned the filters"),
    "electrical": ("earth leakage on the DC output", "insulation of the output cable chafed at the gland",
                   "replaced the cable set and tested the RCD"),
    "connector": ("connector lock actuator jammed", "lock actuator worn", "replaced the lock actuator"),
    "power_module": ("one power module delivering half its rating", "power module degraded",
                     "replaced the power module"),
    "metering": ("energy meter not counting", "meter failed", "replaced the MID meter"),
    "connectivity": ("modem hung, no network", "LTE modem firmware crash", "replaced the modem"),
    "communication": ("controller not answering", "controller board fault", "replaced the controller board"),
    "session": ("sessions fail at authorisation", "controller software fault", "reflashed and restarted the controller"),
    "emergency_stop": ("emergency stop pressed and latched", "e-stop pressed by a passer-by",
                       "released and tested the emergency stop"),
}
CAUSES = [(CauseClass.WEAR.value, 4), (CauseClass.MATERIAL.value, 2), (CauseClass.MANUFACTURE.value, 1),
          (CauseClass.EXTERNAL.value, 2), (CauseClass.INSTALLATION.value, 1)]
DECLINE_REASONS = ["van in the workshop this afternoon", "still busy at another customer",
                   "not trained on this model yet", "too far for the rest of my shift"]
OPINIONS = ["quick and tidy", "friendly engineer, pile works again", "took a while, but fixed", "all good"]
READINGS = {"insulation": "520 MΩ", "battery": "12.6 V", "module": "29.8 kW"}


@dataclass(frozen=True)
class CrewConfig:
    speed: float = 30.0           # the simulation's clock: simulated seconds per wall-clock second
    seed: int = 1
    decline_share: float = 0.1    # offers declined, with a reason
    poll_s: float = 5.0           # how often an idle engineer looks at their phone
    diagnosis_min: float = 15.0   # simulated minutes on site before the diagnosis
    repair_min: float = 40.0      # simulated minutes of repair, or of planned work
    retry_s: float = 5.0          # while the API is away
    report_s: float = MIN_REPORT_S  # the fewest seconds between two position reports on the way
    review_s: float = 180.0       # wall-clock seconds a safety repair waits for the supervisor's look
    review_every_s: float = 30.0  # how often the supervisor looks
    max_drive_h: float = 3.0      # offers further away (simulated hours of driving) are declined


class _Draws:
    """The crew's seeded draws, shared by its engineers: one stream for the answers to
    offers, so the k-th answer is the same on every run whichever engineer gives it, and
    one for everything else (causes, opinions, where the van parks)."""

    def __init__(self, seed: int):
        self.answers = random.Random(f"{seed}-answers")
        self.rng = random.Random(f"{seed}-crew")
        self.lock = threading.Lock()

    def declines(self, share: float) -> bool:
        with self.lock:
            return self.answers.random() < share

    def random(self) -> float:
        with self.lock:
            return self.rng.random()

    def choice(self, seq):
        with self.lock:
            return self.rng.choice(seq)

    def weighted(self, pairs):
        with self.lock:
            return self.rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


class FieldEngineer:
    """One simulated engineer with their phone (see the module's docstring)."""

    def __init__(self, api: PlatformApi, engineer_id: str, config: CrewConfig, draws: _Draws,
                 stopping: threading.Event):
        self.api, self.engineer_id, self.config, self.draws = api, engineer_id, config, draws
        self.stopping = stopping
        self.position: tuple[float, float] | None = None
        self.trip_km = 0.0
        self.away = False
        self.visits: dict[int, dict] = {}   # order id → what this visit has done on site
        self.thread = threading.Thread(target=self.run, name=f"crew-{engineer_id}", daemon=True)

    # --- the loop ---------------------------------------------------------------------
    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.step()
            except ApiAway as error:
                if not self.away:
                    log.warning("%s: API away (%s); retrying every %.1f s", self.engineer_id, error,
                                self.config.retry_s)
                self.away = True
                self.stopping.wait(self.config.retry_s)
                continue
            except Exception:  # noqa: BLE001 — one bad answer must not end the engineer's day
                log.exception("%s: unexpected error; carrying on", self.engineer_id)
            self.stopping.wait(self.config.poll_s)

    def step(self) -> None:
        """Look at the phone once: answer offers, then work the first live job to its end."""
        if self.position is None:
            self.position = self._home()
        orders = self.api.call("GET", "/field/work-orders")
        if self.away:
            log.info("%s: API back", self.engineer_id)
            self.away = False
        if isinstance(orders, Refused):
            return
        for order in orders:
            if order["state"] == S.ASSIGNED.value and order["accept_by"]:
                if self._answer(order):
                    order["state"] = S.ACCEPTED.value
        live = [o for o in orders if o["state"] in LIVE]
        if live and not self.stopping.is_set():
            self.work(live[0])

    def _home(self) -> tuple[float, float] | None:
        # An engineer reads their home base from their own day route (GET /engineers/{id} is the desk's).
        route = self.api.call("GET", f"/engineers/{self.engineer_id}/route", params={"day": date.today().isoformat()})
        return None if isinstance(route, Refused) else (route["home_lat"], route["home_lon"])

    def _answer(self, order: dict) -> bool:
        order_id = order["id"]
        hours = ROAD.km(self.position, (order["lat"], order["lon"])) / ROAD.speed_kmh if self.position else 0.0
        if hours > self.config.max_drive_h:
            # Dispatch may offer a site of a neighbouring region hundreds of km away; nobody
            # drives half a shift to a job (and the declined order goes to someone nearer).
            reason = f"too far: {hours:.1f} h of driving"
            if not isinstance(self.api.call("POST", f"/field/work-orders/{order_id}/decline", json={"reason": reason}),
                              Refused):
                log.info("%s declined order %s (%s): %s", self.engineer_id, order_id, order["pile_id"], reason)
            return False
        if self.draws.declines(self.config.decline_share):
            reason = self.draws.choice(DECLINE_REASONS)
            if not isinstance(self.api.call("POST", f"/field/work-orders/{order_id}/decline", json={"reason": reason}),
                              Refused):
                log.info("%s declined order %s (%s): %s", self.engineer_id, order_id, order["pile_id"], reason)
            return False
        if isinstance(self.api.call("POST", f"/field/work-orders/{order_id}/accept"), Refused):
            return False
        log.info("%s accepted order %s (%s, %s)", self.engineer_id, order_id, order["pile_id"], order["title"])
        self.visits[order_id] = {"key": uuid.uuid4().hex}  # a fresh visit (a reopened order starts afresh)
        return True

    # --- one job ----------------------------------------------------------------------
    def work(self, order: dict) -> None:
        order_id = order["id"]
        visit = self.visits.setdefault(order_id, {"key": uuid.uuid4().hex})
        pile = (order["lat"], order["lon"])
        if order["state"] in (S.ACCEPTED.value, S.EN_ROUTE.value):
            if not self._drive(order, pile, announce=order["state"] == S.ACCEPTED.value):
                return
            fix = self._near(pile)
            if isinstance(self.api.call("POST", f"/field/work-orders/{order_id}/arrive",
                                        json={"lat": fix[0], "lon": fix[1]}), Refused):
                return
            self.position = fix
            log.info("%s on site for order %s (%s)", self.engineer_id, order_id, order["pile_id"])
        detail = self.api.call("GET", f"/work-orders/{order_id}")
        if isinstance(detail, Refused) or detail["state"] != S.ON_SITE.value:
            return
        if detail["kind"] in PLANNED:
            done = self._planned(order, detail, visit)
        else:
            done = self._repair(order, detail, visit)
        if done:
            self.visits.pop(order_id, None)

    def _drive(self, order: dict, to: tuple[float, float], *, announce: bool) -> bool:
        """Drive to `to`, reporting positions on the way; announce the ETA when setting off
        (an order already en route, after a restart, carries on from the last fix)."""
        start = self.position or to
        km = self.trip_km = ROAD.km(start, to)
        steps = max(1, math.ceil(km / MAX_STEP_KM))
        trip_s = max(km / ROAD.speed_kmh * 3600 / self.config.speed, steps * self.config.report_s)
        if announce:
            eta = datetime.now(timezone.utc) + timedelta(seconds=trip_s + 1)
            if isinstance(self.api.call("POST", f"/field/work-orders/{order['id']}/en-route",
                                        json={"eta": eta.isoformat()}), Refused):
                return False
            log.info("%s en route to order %s (%s): %.1f km, ETA %s", self.engineer_id, order["id"],
                     order["pile_id"], km, f"{eta:%H:%M:%S}Z")
        for k in range(1, steps + 1):
            if self.stopping.wait(trip_s / steps):
                return False
            lat = start[0] + (to[0] - start[0]) * k / steps
            lon = start[1] + (to[1] - start[1]) * k / steps
            if not isinstance(self.api.call("PUT", "/engineers/me/position", json={"lat": lat, "lon": lon}), Refused):
                self.position = (lat, lon)
        if announce:
            self.stopping.wait(1)  # the ETA's second of slack: never before the announced time
        return not self.stopping.is_set()

    def _near(self, pile: tuple[float, float]) -> tuple[float, float]:
        # Parked beside the pile: a few metres off, well inside the arrival radius.
        return (pile[0] + self.draws.random() * 0.0002 - 0.0001, pile[1] + self.draws.random() * 0.0003 - 0.00015)

    def _wait_sim(self, minutes: float) -> bool:
        return not self.stopping.wait(max(0.2, minutes * 60 / self.config.speed))

    def _repair(self, order: dict, detail: dict, visit: dict) -> bool:
        order_id, category = order["id"], detail.get("fault_category") or "other"
        path = f"/field/work-orders/{order_id}"
        diagnosis, cause, action = FINDINGS.get(category, (f"{category} fault found", f"{category} fault",
                                                           "repaired and restarted the pile"))
        if "warranty" not in visit:
            if not self._wait_sim(self.config.diagnosis_min):
                return False
            cause_class = self.draws.weighted(CAUSES)
            answer = self.api.call("POST", f"{path}/diagnosis", json={"diagnosis": diagnosis, "cause_class": cause_class})
            if isinstance(answer, Refused):
                return False
            visit["warranty"] = answer.get("warranty")
            visit["part"] = self._part_for(category)
        part = visit["part"]
        if visit["warranty"] == "out_of_warranty" and not visit.get("quoted"):
            quote = self.api.call("POST", f"{path}/quote", json={
                "parts": [{"part_id": part[0], "quantity": 1}] if part else [], "labour_h": 1.5,
                "travel_km": round(2 * self.trip_km, 1)})  # there and back
            if isinstance(quote, Refused):
                return False
            # The customer's person at the pile says yes on the engineer's phone (the demo's
            # customers always do: a rejection would put the order on hold).
            approver = order.get("contact_name") or "the site manager"
            if isinstance(self.api.call("POST", f"{path}/quote-decision",
                                        json={"approve": True, "approver_name": approver}), Refused):
                return False
            visit["quoted"] = True
            log.info("%s: quote %s for order %s approved by %s", self.engineer_id, quote["id"], order_id, approver)
        if not visit.get("repaired"):
            if not self._wait_sim(self.config.repair_min):
                return False
            if part and not visit.get("part_used"):
                used = self.api.call("POST", f"{path}/parts", headers={"Idempotency-Key": f"{visit['key']}-{part[0]}"},
                                     json={"part_id": part[0], "quantity": 1, "location_id": part[1],
                                           "defective_returned": True})
                visit["part_used"] = not isinstance(used, Refused)
            if isinstance(self.api.call("POST", f"{path}/test",
                                        json={"passed": True, "notes": "charged a test vehicle for 10 minutes"}),
                          Refused):
                return False
            visit["repaired"] = True
        report = {"fault_cause": cause, "action_taken": action, "customer_opinion": self.draws.choice(OPINIONS),
                  "customer_rating": 3 + int(self.draws.random() * 3),
                  "customer_signoff_name": order.get("contact_name") or "Site manager"}
        if not visit.get("part_used"):
            report["no_parts"] = True
        if isinstance(self.api.call("POST", f"{path}/complete", json=report), Refused):
            return False
        log.info("%s completed order %s (%s): %s", self.engineer_id, order_id, order["pile_id"], action)
        return True

    def _part_for(self, category: str) -> tuple[str, str] | None:
        """(part, van) of a part on the van that usually fixes the category, if any."""
        from simulators.crew import PARTS

        fits = {p for p, _, _, categories in PARTS if category in categories}
        stock = self.api.call("GET", f"/engineers/{self.engineer_id}/stock")
        if isinstance(stock, Refused):
            return None
        for line in stock:
            if line["part_id"] in fits and line["quantity"] > 0 and line["location_id"].startswith("VAN-"):
                return line["part_id"], line["location_id"]
        return None

    def _planned(self, order: dict, detail: dict, visit: dict) -> bool:
        order_id, path = order["id"], f"/field/work-orders/{order['id']}"
        if not visit.get("ticked"):
            if not self._wait_sim(self.config.repair_min):
                return False
            for entry in detail.get("checklist") or []:
                if entry.get("done") is True:
                    continue
                reading = next((v for k, v in READINGS.items() if k in entry["item"].lower()), None)
                if isinstance(self.api.call("POST", f"{path}/checklist",
                                            json={"item": entry["item"], "done": True, "reading": reading}), Refused):
                    return False
            if isinstance(self.api.call("POST", f"{path}/test",
                                        json={"passed": True, "notes": "test charge after maintenance"}), Refused):
                return False
            visit["ticked"] = True
        if isinstance(self.api.call("POST", f"{path}/complete",
                                    json={"customer_signoff_name": order.get("contact_name") or "Site manager",
                                          "customer_opinion": self.draws.choice(OPINIONS),
                                          "customer_rating": 4 + int(self.draws.random() * 2)}), Refused):
            return False
        log.info("%s completed %s order %s (%s)", self.engineer_id, detail["kind"], order_id, order["pile_id"])
        return True


class Crew:
    """Every engineer account of `accounts`, each in a thread; `demo-supervisor` verifies
    safety repairs, when its account is given."""

    def __init__(self, base_url: str, accounts: list[CrewAccount], config: CrewConfig | None = None):
        self.config = config or CrewConfig()
        self.stopping = threading.Event()
        draws = _Draws(self.config.seed)
        self.engineers = [FieldEngineer(PlatformApi(base_url, a.user, a.password), a.engineer_id, self.config, draws,
                                        self.stopping)
                          for a in accounts if a.role == "engineer" and a.engineer_id]
        boss = next((a for a in accounts if a.user == SUPERVISOR_USER), None)
        self.supervisor = SafetySupervisor(PlatformApi(base_url, boss.user, boss.password), self.stopping,
                                           review_s=self.config.review_s,
                                           every_s=self.config.review_every_s) if boss else None

    def start(self) -> "Crew":
        for engineer in self.engineers:
            engineer.thread.start()
        if self.supervisor:
            self.supervisor.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for engineer in self.engineers:
            engineer.thread.join(15)
            engineer.api.close()
        if self.supervisor:
            self.supervisor.thread.join(15)
            self.supervisor.api.close()


def main(settings, args) -> None:
    """`pilecare crew`: the demo crew against the API of `--api` (default: the running
    `pilecare run` of this data directory), with the accounts of `--accounts`."""
    from pilecare.db import running_instance

    api_url = args.api or (running_instance(settings) or {}).get("api_url")
    if not api_url:
        raise SystemExit("pilecare crew: no --api given and no `pilecare run` found in "
                         f"{Path(settings.data_dir).resolve()}")
    path = Path(args.accounts) if args.accounts else Path(settings.data_dir) / ACCOUNTS_FILE
    accounts = read_accounts(path)
    if not any(a.role == "engineer" for a in accounts):
        raise SystemExit(f"pilecare crew: no engineer accounts in {path} (`pilecare run` writes them)")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request drowns what the crew does
    crew = Crew(api_url, accounts, CrewConfig(speed=args.speed, seed=args.seed, decline_share=args.decline_share,
                                              poll_s=args.poll))
    finished = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: finished.set())
    signal.signal(signal.SIGINT, lambda *_: finished.set())
    crew.start()
    print(f"demo crew of {len(crew.engineers)} engineers working at {api_url} (speed ×{args.speed}, "
          f"declining {args.decline_share:.0%} of offers)", flush=True)
    try:
        while not finished.wait(1):
            pass
    finally:
        crew.stop()
        print("demo crew stopped", flush=True)
