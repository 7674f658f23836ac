"""`pilecare maintenance`: runs the rules on the live stream (more jobs join as issue 3
grows: SLA watchdog, preventive planner). Safe to run several at once."""
from __future__ import annotations

import logging
import signal
import threading

import psycopg

from maintenance import rules as rulesets
from maintenance.engine import process_status_changes
from pilecare.db import database_url
from pilecare.settings import Settings

log = logging.getLogger(__name__)


def run(settings: Settings, stop: threading.Event, interval_s: float = 1.0) -> None:
    rules = rulesets.default()
    conn = None
    while not stop.is_set():
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(database_url(settings), autocommit=True,
                                       application_name="pilecare-maintenance")
            # Keep going while there is a backlog; otherwise wait for the next tick.
            if process_status_changes(conn, rules):
                continue
        except psycopg.Error:
            # The claim rolled back: the same transitions are retried on the next tick.
            log.exception("processing status changes failed; retrying")
            if conn is not None and conn.closed:
                conn = None
        stop.wait(interval_s)
    if conn is not None:
        conn.close()


def main(settings: Settings) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("maintenance running: %d rules", len(rulesets.default().rules))
    run(settings, stop)
