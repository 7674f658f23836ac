"""The demo crew's supervisor (issue 12, item 3): a safety repair is verified by a person,
never by telemetry alone (R-REPAIR), so without one the demo's safety orders would wait
in `resolved` for ever.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

from simulators.platform_api import ApiAway, PlatformApi, Refused

log = logging.getLogger(__name__)


class SafetySupervisor:
    """The crew's supervisor: verifies and closes resolved safety orders (R-REPAIR: a person
    does, never telemetry alone: a repair, or a fault that cleared at the pile) once they
    have been resolved `review_s`, through
    `POST /work-orders/{id}/transitions`. The API refuses while an alarm of the order is still
    active (a bad repair: the platform's verification reopens it); that refusal is logged and
    the order looked at again ten rounds later."""

    def __init__(self, api: PlatformApi, stopping: threading.Event, *, review_s: float = 180.0,
                 every_s: float = 30.0):
        self.api, self.stopping, self.review_s, self.every_s = api, stopping, review_s, every_s
        # Orders refused (a fault still active) and when to look again: a bad repair waits for
        # the platform's verification to reopen it, and one refusal a round would fill the log.
        self.later: dict[int, float] = {}
        self.thread = threading.Thread(target=self.run, name="crew-supervisor", daemon=True)

    def run(self) -> None:
        while not self.stopping.wait(self.every_s):
            try:
                self.review()
            except ApiAway as error:
                log.info("supervisor: API away (%s)", error)
            except Exception:  # noqa: BLE001
                log.exception("supervisor: unexpected error; carrying on")

    def review(self) -> int:
        """Verify and close the safety repairs due for review; returns how many were closed."""
        orders = self.api.call("GET", "/work-orders", params={"state": "resolved", "limit": 1000})
        if isinstance(orders, Refused):
            return 0
        closed = 0
        due = datetime.now(timezone.utc) - timedelta(seconds=self.review_s)
        for order in orders["data"]:
            if not order["safety"] or datetime.fromisoformat(order["resolved_at"]) > due:
                continue  # telemetry verifies the others
            if self.later.get(order["id"], 0) > time.monotonic():
                continue
            path = f"/work-orders/{order['id']}/transitions"
            if isinstance(self.api.call("POST", path, json={"to": "verified", "note": "demo supervisor: repair "
                                                            "checked, the pile no longer reports the fault"}), Refused):
                self.later[order["id"]] = time.monotonic() + 10 * self.every_s
                continue
            if not isinstance(self.api.call("POST", path, json={"to": "closed"}), Refused):
                closed += 1
                log.info("supervisor verified and closed safety order %s (%s)", order["id"], order["pile_id"])
        return closed
