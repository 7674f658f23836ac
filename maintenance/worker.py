"""`pilecare maintenance`: the rules on the live stream, the policy step, dispatch of ready
orders to engineers, delivery of notifications, the SLA watchdog, trend rules and the
preventive planner, and the scheduled management reports. Safe to run several at once: every decision is
claimed in PostgreSQL (see alarms/status_changes.py, alarms/conditions.py, orders/policy_step.py).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler

from gateway.commands import Downlink
from maintenance import policy as policies
from maintenance import inventory
from maintenance.alarms import conditions, rulestore, trends
from maintenance.alarms import lifecycle as alarms
from maintenance.alarms.status_changes import process_connectivity, process_status_changes
from maintenance.dispatch import offers as dispatch
from maintenance.orders import policy_step as orders
from maintenance.orders import sla
from maintenance.outbox import delivery as deliver
from maintenance.planning import inspections, planner
from maintenance.reports import generate_due
from maintenance.servicedesk import clocks as desk_clocks
from maintenance.servicedesk import follow_ups, surveys
from pilecare.db import database_url
from pilecare.settings import Settings

log = logging.getLogger(__name__)


class Maintenance:
    """One maintenance process. `tick()` is the run-once entry tests use."""

    def __init__(self, settings: Settings, policy: policies.Policy | None = None, *, name: str | None = None,
                 conditions_every_s: float = 2.0, dispatch_config: dispatch.DispatchConfig | None = None,
                 dispatch_every_s: float = 1.0, desk_every_s: float = 2.0):
        self.settings = settings
        # Condition rules read the whole fleet's latest state; their durations are minutes,
        # so every couple of seconds is plenty. Transitions are handled on every pass.
        self.conditions_every_s = conditions_every_s
        self._conditions_at = 0.0
        self.dispatch_every_s = dispatch_every_s
        self._dispatched_at = 0.0
        # The desk reads the orders' moves from the outbox (follow-ups, progress to customers):
        # a customer hears within seconds, without a pass on every wake-up.
        self.desk_every_s = desk_every_s
        self._desk_at = 0.0
        self.policy = policy or policies.load(settings.policy_file)
        self.dispatch = dispatch_config or dispatch.load(settings.dispatch_file)
        self.name = name or f"pilecare-maintenance-{socket.gethostname()}-{os.getpid()}"
        self.downlink = Downlink(settings, self.name)
        self.conn: psycopg.Connection | None = None
        self.rules = None
        self.rules_version = -1

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = psycopg.connect(database_url(self.settings), autocommit=True, application_name=self.name)
        return self.conn

    def reload_rules(self, conn: psycopg.Connection) -> None:
        # Reloading only swaps what the next pass evaluates: the stream itself waits in
        # PostgreSQL (unprocessed transitions, latest state), so nothing is lost meanwhile.
        if rulestore.version(conn) != self.rules_version:
            self.rules, self.rules_version = rulestore.load(conn)
            log.info("rule set version %d: %d rules", self.rules_version, len(self.rules.active))

    def tick(self) -> int:
        """One pass over everything that reacts to the stream; returns the changes made."""
        conn = self._connection()
        self.reload_rules(conn)
        changes = 0
        while (n := process_status_changes(conn, self.rules, self.policy)):
            changes += n
        while (n := process_connectivity(conn, self.rules, self.policy)):
            changes += n
        if time.monotonic() - self._conditions_at >= self.conditions_every_s:
            self._conditions_at = time.monotonic()
            changes += max(0, conditions.evaluate(conn, self.rules, self.policy))
        changes += len(alarms.settle_clears(conn)) + len(alarms.lift_suppression(conn))
        changes += orders.step(conn, self.policy, self.downlink)
        # Offers time out and ready orders go to engineers. Not on every wake-up: a backlog no
        # engineer can take yet would otherwise be re-solved many times a second under load.
        if time.monotonic() - self._dispatched_at >= self.dispatch_every_s:
            self._dispatched_at = time.monotonic()
            changes += dispatch.step(conn, self.dispatch)
        if time.monotonic() - self._desk_at >= self.desk_every_s:
            self._desk_at = time.monotonic()
            changes += follow_ups.schedule(conn, self.policy)
            changes += surveys.send_due(conn, self.settings.public_base())
        return changes

    def watch_sla(self) -> int:
        """Work orders' clocks and customers' requests' clocks (R-RESPONSE)."""
        with psycopg.connect(database_url(self.settings), autocommit=True) as conn:
            return sla.watch(conn, self.policy) + desk_clocks.watch(conn, self.policy)

    def run_trends(self) -> int:
        with psycopg.connect(database_url(self.settings), autocommit=True) as conn:
            rules, _ = rulestore.load(conn)
            return trends.run(conn, rules, self.policy)

    def run_planner(self) -> None:
        with psycopg.connect(database_url(self.settings), autocommit=True) as conn:
            log.info("preventive planner: %s", planner.plan(conn))
            log.info("inspection rounds: %s", inspections.plan_rounds(conn))

    def run_reorder(self) -> None:
        """Reorder points and order quantities from consumption (R-PARTS); idempotent, so two
        workers running it at once store the same levels."""
        with psycopg.connect(database_url(self.settings), autocommit=True) as conn:
            log.info("reorder levels: %s recomputed", inventory.recompute_all(conn, self.policy.reorder))

    def run_reports(self) -> list[int]:
        """The scheduled management reports due now (R-KPI: last month's by the 5th), each
        produced and mailed once whatever the number of workers (maintenance/reports/schedule.py)."""
        with psycopg.connect(database_url(self.settings), autocommit=True) as conn:
            return generate_due(conn, policy=self.policy, base_url=self.settings.public_base())

    def close(self) -> None:
        self.downlink.close()
        if self.conn is not None:
            self.conn.close()


def run(settings: Settings, stop: threading.Event, interval_s: float = 0.5, *, schedule: bool = True,
        policy: policies.Policy | None = None, dispatch_config: dispatch.DispatchConfig | None = None,
        delivery: bool = True) -> None:
    m = Maintenance(settings, policy, dispatch_config=dispatch_config)
    # Notifications go out from their own thread: a slow webhook must not hold up the rules.
    deliverer = threading.Thread(target=deliver.run, args=(settings, stop), name="deliver", daemon=True)
    if delivery:
        deliverer.start()
    scheduler = None
    if schedule:
        # Jobs that fail are logged by APScheduler and simply run at their next time:
        # nothing crash-loops, and each job is safe to overlap with another process's.
        scheduler = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60})
        scheduler.add_job(m.watch_sla, "interval", seconds=30, id="sla")
        scheduler.add_job(m.run_trends, "interval", hours=1, id="trends")
        scheduler.add_job(m.run_planner, "interval", hours=1, id="planner", next_run_time=_soon())
        scheduler.add_job(m.run_reorder, "interval", hours=6, id="reorder", next_run_time=_soon())
        scheduler.add_job(m.run_reports, "interval", hours=1, id="reports", next_run_time=_soon())
        scheduler.start()
    listener = None
    try:
        while not stop.is_set():
            try:
                if m.tick():
                    continue  # a backlog: keep going
                if listener is None or listener.closed:
                    listener = psycopg.connect(database_url(settings), autocommit=True)
                    listener.execute("LISTEN pilecare_ingest")
                # Sleep until ingest commits something new, or the interval passes.
                for _ in listener.notifies(timeout=interval_s, stop_after=1):
                    pass
            except psycopg.Error:
                # Every claim of the pass rolled back: the same work is retried next tick.
                log.exception("maintenance pass failed; retrying")
                if listener is not None:
                    listener.close()
                    listener = None
                stop.wait(interval_s)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if listener is not None:
            listener.close()
        m.close()
        if deliverer.is_alive():
            deliverer.join(15)


def _soon():
    from datetime import datetime, timedelta, timezone

    return datetime.now(timezone.utc) + timedelta(seconds=10)


def main(settings: Settings) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("maintenance running")
    run(settings, stop)
