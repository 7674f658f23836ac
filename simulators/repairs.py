"""The simulated fleet learns of repairs from the platform (issue 12, item 3).

An engineer who completes a repair (`POST /field/work-orders/{id}/complete`, whether the
demo crew or a person on the phone app) moves the order on site → resolved; the platform
announces that as a `work_order.updated` event. The fleet follows the API's event stream
(`GET /events`, api/routes/events.py) as a read-only viewer account and hands each
completed repair to the simulated pile, which clears its fault — or keeps it when the
demo draws a bad repair, so verification fails and the order reopens as it would in the
field.

Why the event stream: it is the platform's public feed of every order change, resumable
after the last event seen (`?after=`), so a restart of the API loses no repair, and a
viewer account reads it without touching anything. The outbox's MQTT topics are the
wrong door: `…/engineers/{id}/work-orders` is each engineer's private channel (a
production broker's ACL keeps it theirs) and staff notices carry no completions.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from simulators.platform_api import ApiAway, PlatformApi

log = logging.getLogger(__name__)

# Orders whose completion puts the pile right: a repair, or a replacement pile installed.
REPAIR_KINDS = ("corrective", "installation")


def is_completed_repair(event: str, envelope: dict) -> bool:
    """A `work_order.updated` event for an engineer's completion of a repair: on site →
    resolved (not a fault that cleared by itself, which goes new/ready → resolved)."""
    data = envelope.get("data") or {}
    return (event == "work_order.updated" and data.get("state") == "resolved" and data.get("from") == "on_site"
            and data.get("kind") in REPAIR_KINDS)


class RepairListener:
    """Follows the event stream in a thread and calls `on_repair(pile_id, order_id)` for
    each completed repair; reconnects (resuming after the last event) while the API is away."""

    def __init__(self, api: PlatformApi, on_repair: Callable[[str, int], None], *, retry_s: float = 3.0):
        self.api, self.on_repair, self.retry_s = api, on_repair, retry_s
        self.stopping = threading.Event()
        self.last_id: int | None = None
        self.thread = threading.Thread(target=self._run, name="repair-listener", daemon=True)

    def start(self) -> "RepairListener":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.api.close()  # ends a read in progress
        self.thread.join(10)

    def _run(self) -> None:
        away = False
        while not self.stopping.is_set():
            try:
                for event_id, event, envelope in self.api.events(self.last_id):
                    if away:
                        log.info("event stream back at %s", self.api.base_url)
                        away = False
                    self.last_id = event_id
                    if is_completed_repair(event, envelope):
                        data = envelope["data"]
                        try:
                            self.on_repair(data["pile_id"], data["work_order_id"])
                        except KeyError:
                            log.info("repair on pile %s ignored: not simulated here", data["pile_id"])
                    if self.stopping.is_set():
                        return
            except ApiAway as error:
                if self.stopping.is_set():
                    return
                if not away:
                    log.warning("event stream unavailable (%s); retrying every %.0f s", error, self.retry_s)
                    away = True
            except Exception:  # noqa: BLE001 — a listener that dies silently would stop every repair
                if self.stopping.is_set():
                    return
                log.exception("event stream failed; reconnecting")
            self.stopping.wait(self.retry_s)
