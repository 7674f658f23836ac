"""Apply versioned migrations once, in order, safely from several processes at a time."""
from __future__ import annotations

import importlib
import logging
import re
from importlib import resources

import psycopg

from pilecare.settings import Settings

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(sql|py)$")
# Any constant shared by every pilecare process; two replicas starting together wait here.
_LOCK_KEY = 0x70_69_6C_65  # "pile"


def available() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("pilecare.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, match.group(3)))
    return sorted(found)


def migrate(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """Apply what is missing; return the names applied. Idempotent."""
    applied_now: list[str] = []
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, name, kind in available():
            if version in done:
                continue
            log.info("applying migration %s", name)
            with conn.transaction():
                if kind == "sql":
                    sql = resources.files("pilecare.migrations").joinpath(name).read_text()
                    conn.execute(sql)
                else:
                    module = importlib.import_module(f"pilecare.migrations.{name[:-3]}")
                    module.apply(conn, settings)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                )
            applied_now.append(name)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
