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

    def __init__(self, api_url: str, agents: list[tuple[str, str]], contacts: list[Contact], *, smtp: tuple[str, int],
                 desk_address: str, speed: float = 60.0, seed: int = 1):
        self.agents = [PlatformApi(api_url, user, password) for user, password in agents]
        self.contacts = contacts
        self.smtp, self.desk_address = smtp, desk_address
        self.speed = max(1.0, speed)
        self.rng = random.Random(seed)
        self.categories: list[str] = []

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
        """An agent works the request due next: takes, classifies and answers it."""
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

    def _classify(self, agent: PlatformApi, request: dict) -> None:
        rid, suggested = request["id"], request["suggested_class"] or "consultation"
        body = {"request_class": suggested}
        if suggested in ("fault_report", "installation_request") and not request["pile_id"]:
            body = {"request_class": "consultation"}
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
        for agent in self.agents:
            agent.close()
