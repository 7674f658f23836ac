"""Database access: connections, pools and the one storage-backend question."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import psycopg
from psycopg.rows import dict_row
from psycopg.types.datetime import TimestamptzBinaryLoader, TimestamptzLoader
from psycopg_pool import ConnectionPool

from pilecare.settings import Settings

log = logging.getLogger(__name__)


def database_url(settings: Settings) -> str:
    if not settings.database_url:
        raise RuntimeError(
            "PILECARE_DATABASE_URL is not set. `pilecare run` starts an embedded PostgreSQL; "
            "other commands need a database URL."
        )
    return settings.database_url


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
