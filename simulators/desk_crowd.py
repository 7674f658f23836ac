"""A busy service desk for the demo (issue 13, item 9): customers who call, write e-mails
to the real SMTP listener, open portal requests and complain; and demo agents who work
the inbox, answer, classify, follow complaints through and call customers back.

Everyone acts only through pilecare's front doors, as people would: e-mail over SMTP to
the listener, the HTTP API with their own login (simulators/platform_api.py). Nothing here
touches the database. The pace follows the simulation's speed: at ×60 a new request every
few seconds, so the desk is busy within minutes.
"""
from __future__ import annotations

import logging
import random
import smtplib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import make_msgid

from simulators.crew_accounts import CrewAccount
from simulators.platform_api import ApiAway, PlatformApi, Refused

log = logging.getLogger(__name__)

QUESTIONS = ["What are the opening hours of your hotline?", "How do I read the energy meter on bay 2?",
             "Can we get the invoice for last month's service visit?", "Is firmware 1.5 available for our piles?",
             "Which cable types does the DC pile support?"]
FAULTS = [("Pile not charging", "The pile at bay {bay} is not charging since this morning, the screen shows an error.",
           "connector"),
          ("Cable stuck", "The cable will not unlock after charging at bay {bay}.", "connector"),
          ("Pile offline", "Our app shows the pile offline since yesterday.", "communication")]
COMPLAINTS = ["I want to complain: the engineer arrived two days late and did not call.",
              "This is unacceptable, the same fault came back after the repair last week.",
              "We are disappointed with the response time of your hotline."]
SUGGESTIONS = ["A suggestion: it would be great to see the price per kWh on the screen."]
INSTALLS = ["Please commission the new pile at our depot; we would like to install it next week."]


@dataclass(frozen=True)
class Contact:
    customer_id: str
    name: str
    phone: str
    email: str
    piles: tuple[str, ...]


class DeskCrowd:
    """Customers and agents of the demo desk. `run(stop)` until the event is set; each
    actor's refusals (a 409 for a request someone else moved) are logged and the crowd goes
    on; an API or listener that is away is waited for."""

    def __init__(self, api_url: str, accounts: list[CrewAccount], *, smtp: tuple[str, int], desk_address: str,
                 speed: float = 60.0, seed: int = 1):
        self.agents = [PlatformApi(api_url, a.user, a.password) for a in accounts if a.role == "agent"]
        self.supervisors = [PlatformApi(api_url, a.user, a.password) for a in accounts if a.role == "supervisor"]
        self.portal = {a.customer_id: PlatformApi(api_url, a.user, a.password) for a in accounts
                       if a.role == "customer" and a.customer_id}
        if not self.agents or not self.supervisors:
            raise ValueError("the desk crowd needs agent and supervisor accounts (crew-accounts)")
        self.contacts: list[Contact] = []
        self.smtp, self.desk_address = smtp, desk_address
        self.speed = max(1.0, speed)
        self.rng = random.Random(seed)

    def load_contacts(self) -> int:
        """The customers' first contacts and piles, as an agent sees them (GET /customers, /piles)."""
        agent = self.agents[0]
        customers = agent.call("GET", "/customers", params={"limit": 200})
        if isinstance(customers, Refused):
            return 0
        contacts = []
        for c in customers["data"]:
            if not (c["contact_phone"] and c["contact_email"]):
                continue
            piles = agent.call("GET", "/piles", params={"customer_id": c["id"], "limit": 50})
            pile_ids = tuple(p["id"] for p in piles["data"]) if not isinstance(piles, Refused) else ()
            contacts.append(Contact(c["id"], c["contact_name"] or c["name"], c["contact_phone"], c["contact_email"],
                                    pile_ids))
        self.contacts = contacts
        return len(contacts)

    # --- customers -------------------------------------------------------------------

    def _mail(self, contact: Contact, subject: str, body: str, *, reply_to_number: int | None = None) -> None:
        message = EmailMessage()
        message["From"] = f"{contact.name} <{contact.email}>"
        message["To"] = self.desk_address
        message["Subject"] = (f"Re: [SR-{reply_to_number}] " if reply_to_number else "") + subject
        message["Message-ID"] = make_msgid(domain=contact.email.rpartition("@")[2])
        message.set_content(body)
        with smtplib.SMTP(*self.smtp, timeout=30) as server:
            server.send_message(message)

    def customer_turn(self) -> None:
        """One customer gets in touch: e-mail (half), or a call an agent logs."""
        contact = self.rng.choice(self.contacts)
        kind = self.rng.choices(["question", "fault", "complaint", "suggestion", "install"], [35, 40, 12, 5, 8])[0]
        pile = self.rng.choice(contact.piles) if contact.piles else None
        if kind == "fault" and pile:
            subject, text, _ = self.rng.choice(FAULTS)
            subject, text = f"{subject} ({pile})", text.format(bay=self.rng.randint(1, 6)) + f" Pile {pile}."
        elif kind == "complaint":
            subject, text = "Complaint", self.rng.choice(COMPLAINTS)
        elif kind == "suggestion":
            subject, text = "Suggestion", self.rng.choice(SUGGESTIONS)
        elif kind == "install" and pile:
            subject, text = f"Installation of {pile}", self.rng.choice(INSTALLS)
        else:
            subject, text = "Question", self.rng.choice(QUESTIONS)
        portal = self.portal.get(contact.customer_id)
        if portal is not None and self.rng.random() < 0.4:
            body = {"subject": subject, "description": text}
            if pile and kind in ("fault", "install"):
                body["pile_id"] = pile
            self._say(portal.call("POST", "/requests", json=body), f"portal request by {contact.customer_id}")
            return
        if self.rng.random() < 0.5:
            try:
                self._mail(contact, subject, text)
            except (OSError, smtplib.SMTPException) as error:
                log.info("mail from %s not taken now (%s): the sending server would retry", contact.email, error)
            return
        agent = self.rng.choice(self.agents)
        body = {"caller": contact.phone, "subject": subject, "description": text}
        if pile and kind in ("fault", "install"):
            body["pile"] = pile
        self._say(agent.call("POST", "/requests/calls", json=body), "call logged")

    # --- agents ----------------------------------------------------------------------

    def agent_turn(self) -> None:
        """An agent works: now and then a complaint's next step or a due follow-up call, else
        the request due next (take, classify, answer)."""
        choice = self.rng.random()
        if choice < 0.2:
            self.complaint_turn()
        elif choice < 0.35:
            self.follow_up_turn()
        else:
            self.request_turn()

    def request_turn(self) -> None:
        agent = self.rng.choice(self.agents)
        inbox = agent.call("GET", "/requests", params={"open": "true", "limit": 20})
        if isinstance(inbox, Refused) or not inbox["data"]:
            return
        request = inbox["data"][0] if self.rng.random() < 0.7 else self.rng.choice(inbox["data"])
        rid = request["id"]
        if request["request_class"] is None:
            self._classify(agent, request)
            return
        if request["state"] == "waiting_customer":
            return
        if request["request_class"] in ("consultation", "suggestion"):
            agent.call("POST", f"/requests/{rid}/messages",
                       json={"body": "Thank you — here is the answer to your question.", "kind": "answer"})
            self._say(agent.call("POST", f"/requests/{rid}/resolve", json={"note": "answered"}), f"SR-{rid} resolved")
        elif request["responded_at"] is None:
            due = (datetime.now(timezone.utc) + timedelta(hours=self.rng.uniform(2, 20))).isoformat()
            self._say(agent.call("POST", f"/requests/{rid}/promise",
                                 json={"promised_at": due, "note": "We are on it and will update you."}),
                      f"SR-{rid} answer promised")

    def complaint_turn(self) -> None:
        """The next step of an open complaint (R-COMPLAINT): the agent passes it on, the
        supervisor investigates and plans, the agent follows up; a supervisor closes it."""
        agent, supervisor = self.rng.choice(self.agents), self.supervisors[0]
        listed = agent.call("GET", "/complaints", params={"open": "true", "limit": 20})
        if isinstance(listed, Refused) or not listed["data"]:
            return
        complaint = self.rng.choice(listed["data"])
        cid, state = complaint["id"], complaint["state"]
        if state == "recorded":
            answer = agent.call("POST", f"/complaints/{cid}/pass-to-supervisor")
        elif state == "with_supervisor" or (state == "investigating" and not complaint.get("cause_class")):
            answer = supervisor.call("POST", f"/complaints/{cid}/investigation", json={
                "cause_class": self.rng.choice(["late arrival", "repeat fault", "no call-back"]),
                "responsible_party": "process", "category": self.rng.choice(["response_time", "repair_quality"])})
        elif state == "investigating":
            deadline = (datetime.now(timezone.utc) + timedelta(days=7)).date().isoformat()
            answer = supervisor.call("POST", f"/complaints/{cid}/plan", json={"measures": [
                {"measure": "Call the customer and agree a visit", "owner": agent.user, "deadline": deadline}]})
        elif state == "planned":
            agent.call("POST", f"/complaints/{cid}/progress", json={"text": "We have agreed the measures; we keep "
                                                                             "you posted."})
            answer = agent.call("POST", f"/complaints/{cid}/follow-up")
        else:
            return
        self._say(answer, f"complaint {cid} ({state}) moved on")

    def follow_up_turn(self) -> None:
        """An agent calls a customer back (R-FOLLOWUP): most are solved and satisfied."""
        agent = self.rng.choice(self.agents)
        queue = agent.call("GET", "/follow-ups", params={"limit": 10})
        if isinstance(queue, Refused) or not queue["data"]:
            return
        follow_up = queue["data"][0]
        solved = self.rng.random() < 0.9
        score = self.rng.choice([5, 5, 4, 4, 3]) if solved else self.rng.choice([1, 2, 3])
        self._say(agent.call("POST", f"/follow-ups/{follow_up['id']}",
                             json={"solved": solved, "satisfaction": score, "comments": "called back"}),
                  f"follow-up {follow_up['id']} recorded ({'solved' if solved else 'NOT solved'}, {score})")

    def _classify(self, agent: PlatformApi, request: dict) -> None:
        rid, suggested = request["id"], request["suggested_class"] or "consultation"
        if suggested in ("fault_report", "installation_request") and not request["pile_id"]:
            suggested = "consultation"   # no pile named: the agent answers it as a question
        body = {"request_class": suggested}
        if suggested == "fault_report":
            body["fault_category"] = self.rng.choice(["connector", "communication"])
        agent.call("POST", f"/requests/{rid}/take", json={})
        self._say(agent.call("POST", f"/requests/{rid}/classify", json=body), f"SR-{rid} classified {body}")

    @staticmethod
    def _say(answer, what: str) -> None:
        if isinstance(answer, Refused):
            log.info("%s refused: %s %s", what, answer.status, answer.detail)
        else:
            log.info("%s", what)

    # --- the loop --------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        while not self.contacts and not stop.is_set():
            try:
                if self.load_contacts():
                    break
            except ApiAway as away:
                log.info("the API is away (%s); waiting", away)
            stop.wait(5)
        # At ×60 a customer gets in touch every ~10 s and an agent acts every ~3 s (real time).
        customer_every, agent_every = 600 / self.speed, 180 / self.speed
        next_customer = next_agent = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_customer:
                    self.customer_turn()
                    next_customer = now + self.rng.expovariate(1 / customer_every)
                if now >= next_agent:
                    self.agent_turn()
                    next_agent = now + self.rng.expovariate(1 / agent_every)
            except ApiAway as away:
                log.info("the API is away (%s); trying again shortly", away)
                stop.wait(2)
            stop.wait(max(0.05, min(next_customer, next_agent) - time.monotonic()))
        for client in (*self.agents, *self.supervisors, *self.portal.values()):
            client.close()


def main(settings, args) -> None:
    """`pilecare desk-crowd`: the demo's customers and agents against the API of `--api`
    (default: the running `pilecare run` of this data directory) and its SMTP listener."""
    import signal
    from pathlib import Path

    from pilecare.db import running_instance
    from simulators.crew_accounts import ACCOUNTS_FILE, read_accounts

    instance = running_instance(settings) or {}
    api_url = args.api or instance.get("api_url")
    smtp = args.smtp or instance.get("smtp") or f"{settings.smtp_host}:{settings.smtp_port}"
    if not api_url:
        raise SystemExit("pilecare desk-crowd: no --api given and no `pilecare run` found")
    path = Path(args.accounts) if args.accounts else Path(settings.data_dir) / ACCOUNTS_FILE
    host, _, port = smtp.rpartition(":")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    crowd = DeskCrowd(api_url, read_accounts(path), smtp=(host, int(port)), desk_address=settings.desk_address,
                      speed=args.speed, seed=args.seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"desk crowd: customers mail {smtp} and call, {len(crowd.agents)} agents work {api_url} "
          f"(speed ×{args.speed})", flush=True)
    crowd.run(stop)
    print("desk crowd stopped", flush=True)
