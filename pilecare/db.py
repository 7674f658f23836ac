"""Database access: connections, pools and the one storage-backend question."""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg.types.datetime import TimestamptzBinaryLoader, TimestamptzLoader
from psycopg_pool import ConnectionPool

from pilecare.errors import PilecareError
from pilecare.settings import Settings

log = logging.getLogger(__name__)


# The oldest transaction of this database still running (else the snapshot's xmax), as an
# xid8 SQL expression: rows written by older transactions are all committed or gone, so a
# reader of a table in (txid, id) order that stops below it never skips a row that commits
# late behind a higher id (bigserial ids are handed out in call order, not commit order).
# Snapshots are cluster-wide; transactions known to run in another database are left out so
# that they do not hold the reader back (an unknown one is kept: it may be ours). Evaluate it
# in the statement that reads the rows, so both see the same snapshot. Readers: the
# console's event stream (api/routes/events.py), the desk's follow-up pass.
TXID_HORIZON = (
    "coalesce((SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x"
    "          WHERE mod(x::text::bigint, 4294967296) NOT IN ("
    "            SELECT backend_xid::text::bigint FROM pg_stat_activity"
    "            WHERE backend_xid IS NOT NULL AND datname <> current_database())),"
    "         pg_snapshot_xmax(pg_current_snapshot()))"
)


# Written by `pilecare run` into the data directory while it runs (issue 12, item 7): where
# its database and broker are, so other commands find them without configuration.
INSTANCE_FILE = "instance.json"


class NoDatabase(PilecareError):
    """No database to talk to: no PILECARE_DATABASE_URL and no running `pilecare run`."""


def running_instance(settings: Settings) -> dict | None:
    """{database_url, mqtt_url, api_url, pid} of the `pilecare run` using this data directory,
    or None when none is running (a file left by a killed run is ignored)."""
    path = Path(settings.data_dir) / INSTANCE_FILE
    try:
        instance = json.loads(path.read_text())
        os.kill(int(instance["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return instance


def database_url(settings: Settings) -> str:
    """PILECARE_DATABASE_URL, else the database of the `pilecare run` started here.

    Raises NoDatabase (one line: what to do) when there is neither."""
    if settings.database_url:
        return settings.database_url
    instance = running_instance(settings)
    if instance is not None:
        return instance["database_url"]
    raise NoDatabase("no database: set PILECARE_DATABASE_URL, or start the platform with ./run.sh "
                     f"(its database is then found through {Path(settings.data_dir) / INSTANCE_FILE})")


# A device's clock may say anything RFC 3339 allows (docs/device-protocol.md, section 9):
# "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", or an offset that puts the instant just
# outside Python's calendar (years 1-9999), which PostgreSQL stores all the same. Such a
# time is kept as sent (device_ts) and must never make a read fail: sessions speak UTC (in
# the server's zone, 9999-12-31T23:59:59Z is year 10000 in Shanghai and 0001-01-01 year 0
# in Los Angeles), and what is still beyond the calendar reads as its nearest end.
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
_LATEST = datetime.max.replace(tzinfo=timezone.utc)


def _beyond(data) -> datetime:
    text = bytes(data)
    return _EARLIEST if text.startswith(b"-") or text.endswith(b"BC") else _LATEST


class _CalendarTimestamptzLoader(TimestamptzLoader):
    def load(self, data):
        try:
            return super().load(data)
        except psycopg.DataError:
            return _beyond(data)


class _CalendarTimestamptzBinaryLoader(TimestamptzBinaryLoader):
    def load(self, data):
        try:
            return super().load(data)
        except psycopg.DataError:
            # Microseconds since 2000-01-01 UTC, big-endian: negative is before it.
            return _EARLIEST if bytes(data)[0] & 0x80 else _LATEST


def configure(conn: psycopg.Connection) -> None:
    """Every pilecare session: UTC, and timestamps beyond Python's calendar read as its ends."""
    conn.adapters.register_loader("timestamptz", _CalendarTimestamptzLoader)
    conn.adapters.register_loader("timestamptz", _CalendarTimestamptzBinaryLoader)
    conn.execute("SET TIME ZONE 'UTC'")
    if not conn.autocommit:
        conn.commit()  # a SET rolled back with the caller's first transaction would not hold


def connect(settings: Settings, **kwargs) -> psycopg.Connection:
    conn = psycopg.connect(database_url(settings), **kwargs)
    configure(conn)
    return conn


def pool(settings: Settings, *, min_size: int = 1, max_size: int = 8, name: str = "pilecare") -> ConnectionPool:
    return ConnectionPool(
        database_url(settings),
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        configure=configure,
        name=name,
        open=True,
    )


def has_timescale(conn: psycopg.Connection) -> bool:
    """True when the timescaledb extension is installed in this database."""
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None
