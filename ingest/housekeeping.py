"""Storage chores on a schedule: partitions ahead, retention, hourly rollups.

Every ingest worker schedules them; a PostgreSQL advisory lock lets one run at a time.
A failing chore logs and is tried again at its next run; it never stops ingest.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler

from pilecare import storage
from pilecare.db import database_url
from pilecare.settings import Settings

log = logging.getLogger(__name__)

_LOCK_KEY = 0x68_6F_75_73  # "hous"


class Housekeeping:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.scheduler = BackgroundScheduler(timezone="UTC")

    def start(self) -> None:
        now = datetime.now(timezone.utc)
        self.scheduler.add_job(self.run_once, "interval", minutes=1, next_run_time=now + timedelta(seconds=5),
                               max_instances=1, coalesce=True, id="housekeeping")
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)

    def run_once(self, now: datetime | None = None) -> bool:
        """Run the chores if no other worker is; return whether they ran."""
        now = now or datetime.now(timezone.utc)
        try:
            with psycopg.connect(database_url(self.settings), autocommit=True) as conn:
                if not conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()[0]:
                    return False
                try:
                    storage.ensure_partitions(conn, self.settings, now.date())
                    storage.drop_expired(conn, self.settings, now)
                    storage.refresh_dirty_rollups(conn)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
            return True
        except Exception:
            log.exception("housekeeping failed; next attempt in a minute")
            return False
