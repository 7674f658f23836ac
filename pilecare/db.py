"""Database access: connections, pools and the one storage-backend question."""
from __future__ import annotations

import logging

import psycopg
from psycopg.rows import dict_row
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


def connect(settings: Settings, **kwargs) -> psycopg.Connection:
    return psycopg.connect(database_url(settings), **kwargs)


def pool(settings: Settings, *, min_size: int = 1, max_size: int = 8, name: str = "pilecare") -> ConnectionPool:
    return ConnectionPool(
        database_url(settings),
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        name=name,
        open=True,
    )


def has_timescale(conn: psycopg.Connection) -> bool:
    """True when the timescaledb extension is installed in this database."""
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None
