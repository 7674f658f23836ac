"""Telemetry storage on two backends with one set of tables and queries.

TimescaleDB (production, docker-compose): `telemetry` is a hypertable with compression
and retention policies, and `telemetry_hourly` is a continuous aggregate (created by
migration 0025 with this module's rollup query, whose energy aggregate it defines).

Plain PostgreSQL (dev and CI machines, where the extension cannot be installed):
`telemetry` is range-partitioned by day with partitions created ahead and a DEFAULT
partition that catches late uploads, retention drops whole partitions, and
`telemetry_hourly` is a table that `refresh_rollups` keeps up to date.

Readers use `telemetry` and `telemetry_hourly` the same way on both; only this module
knows which backend is underneath. Keep the TimescaleDB path small and explicit.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

import psycopg
from psycopg import sql

from pilecare.db import has_timescale
from pilecare.settings import Settings

log = logging.getLogger(__name__)

TELEMETRY_COLUMNS = (
    "time", "pile_id", "connector_id", "seq", "device_ts", "received_at",
    "status", "error_code", "vendor_error_code", "info",
    "voltage_v", "current_a", "current_offered_a", "power_kw", "power_offered_kw",
    "energy_kwh", "temp_c", "soc_pct", "fan_rpm", "insulation_mohm", "ambient_c",
)

_TELEMETRY_TABLE = """
CREATE TABLE telemetry (
    time              timestamptz NOT NULL,   -- trusted time: device time, or receive time if the clock is implausible
    pile_id           text NOT NULL,
    connector_id      smallint NOT NULL,      -- 0 = the pile itself (one row per message)
    seq               bigint NOT NULL,
    device_ts         timestamptz NOT NULL,
    received_at       timestamptz NOT NULL,
    status            text,
    error_code        text,
    vendor_error_code text,
    info              text,
    voltage_v         real,
    current_a         real,
    current_offered_a real,
    power_kw          real,
    power_offered_kw  real,
    energy_kwh        double precision,
    temp_c            real,
    soc_pct           real,
    fan_rpm           real,
    insulation_mohm   real,
    ambient_c         real
){partition}
"""
# Leading pile_id/time serves per-pile range reads; the whole key makes redelivery idempotent.
_TELEMETRY_KEY = "CREATE UNIQUE INDEX telemetry_key ON telemetry (pile_id, time, connector_id, seq)"

ROLLUP_SELECT = """
SELECT {bucket} AS bucket, pile_id, connector_id,
       count(*)        AS samples,
       avg(power_kw)   AS power_avg_kw,
       max(power_kw)   AS power_max_kw,
       avg(temp_c)     AS temp_avg_c,
       max(temp_c)     AS temp_max_c,
       avg(voltage_v)  AS voltage_avg_v,
       avg(current_a)  AS current_avg_a,
       min(energy_kwh) AS energy_min_kwh,
       max(energy_kwh) AS energy_max_kwh,
       energy_register(time, energy_kwh) AS energy_summary
FROM telemetry
"""
# energy_register is migration 0025's aggregate: the hour's register readings summarised for the
# walk that defines energy delivered once (energy_walk, which ignores glitches), read through
# energy_hourly()/energy_steps(), never summed from this column directly.
ROLLUP_COLUMNS = (
    "samples", "power_avg_kw", "power_max_kw", "temp_avg_c", "temp_max_c",
    "voltage_avg_v", "current_avg_a", "energy_min_kwh", "energy_max_kwh",
    "energy_summary",
)


# The one statement that touches the extension. Tests put a statement here that fails the
# way an installed but unusable TimescaleDB fails (the true external boundary).
CREATE_EXTENSION = "CREATE EXTENSION IF NOT EXISTS timescaledb"

# "extension is not available" (PostgreSQL 15+) and "could not open extension control file"
# (older): the package is not installed on the server, the normal plain-PostgreSQL case.
_NOT_INSTALLED = {"0A000", "58P01"}
_PRELOAD = ("add shared_preload_libraries = 'timescaledb' to postgresql.conf (SHOW config_file says where) "
            "and restart PostgreSQL")


class TimescaleUnavailable(RuntimeError):
    """PILECARE_TIMESCALE=on, but TimescaleDB cannot be used on this server.

    The message is one line: what failed and what to do about it.
    """


def want_timescale(conn: psycopg.Connection, settings: Settings) -> bool:
    """Whether telemetry goes on TimescaleDB, by PILECARE_TIMESCALE.

    `off`: never. `auto`: when it works, which is known only by creating the extension (it can
    be installed yet refuse, e.g. "extension must be preloaded" right after the package is
    installed); otherwise plain PostgreSQL, with one warning when it is installed but refused.
    `on`: raises TimescaleUnavailable (one line saying how to fix it) when it does not work.
    """
    if settings.timescale == "off":
        return False
    if has_timescale(conn):
        return True
    error = _try_extension(conn)
    if error is None:
        return True
    reason = error.diag.message_primary or str(error).strip()
    installed = error.sqlstate not in _NOT_INSTALLED
    preload = "preload" in f"{reason} {error.diag.message_hint or ''}"
    if settings.timescale == "on":
        if not installed:
            fix = "install the timescaledb package for this PostgreSQL version"
        else:
            fix = _PRELOAD if preload else "fix that"
        raise TimescaleUnavailable(f"PILECARE_TIMESCALE=on, but TimescaleDB cannot be used: {reason}; {fix}, "
                                   "or set PILECARE_TIMESCALE=auto to use plain PostgreSQL")
    if not installed:
        log.info("TimescaleDB is not installed on this server: telemetry uses plain PostgreSQL partitions")
    else:
        # Said once, at the migration that creates telemetry: that choice is kept for this database.
        log.warning("TimescaleDB is installed but cannot be used (%s): telemetry uses plain PostgreSQL "
                    "partitions in this database%s", reason, f"; to use it in a new database, {_PRELOAD}" if preload
                    else "")
    return False


def _try_extension(conn: psycopg.Connection) -> psycopg.Error | None:
    """Create the extension in a throwaway session and roll it back; the error if that fails.

    A session of its own, because TimescaleDB's loader refuses with FATAL, which ends the
    session it runs in, and the migration's session must go on without it. Failing to
    connect at all is not an answer about TimescaleDB: that raises.
    """
    with psycopg.connect(conn.info.dsn, password=conn.info.password) as probe:
        try:
            probe.execute(CREATE_EXTENSION)
        except psycopg.Error as error:
            return error
        finally:
            if not probe.closed:
                probe.rollback()  # only a probe: the migration creates it for real
    return None


def create_telemetry(conn: psycopg.Connection, settings: Settings) -> str:
    """Create telemetry and its hourly rollup; return the backend used."""
    if want_timescale(conn, settings):
        _create_timescale(conn, settings)
        return "timescaledb"
    conn.execute(_TELEMETRY_TABLE.format(partition=" PARTITION BY RANGE (time)"))
    conn.execute(_TELEMETRY_KEY)
    conn.execute("CREATE TABLE telemetry_default PARTITION OF telemetry DEFAULT")
    conn.execute(
        """CREATE TABLE telemetry_hourly (
               bucket timestamptz NOT NULL, pile_id text NOT NULL, connector_id smallint NOT NULL,
               samples bigint NOT NULL, power_avg_kw double precision, power_max_kw real,
               temp_avg_c double precision, temp_max_c real, voltage_avg_v double precision,
               current_avg_a double precision, energy_min_kwh double precision,
               energy_max_kwh double precision,
               PRIMARY KEY (pile_id, connector_id, bucket))"""
    )
    ensure_partitions(conn, settings)
    return "postgresql"


def _create_timescale(conn: psycopg.Connection, settings: Settings) -> None:
    conn.execute(CREATE_EXTENSION)
    conn.execute(_TELEMETRY_TABLE.format(partition=""))
    conn.execute(_TELEMETRY_KEY)
    conn.execute("SELECT create_hypertable('telemetry', 'time', chunk_time_interval => INTERVAL '1 day')")
    conn.execute(
        "ALTER TABLE telemetry SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'pile_id, connector_id', "
        "timescaledb.compress_orderby = 'time DESC, seq DESC')"
    )
    conn.execute("SELECT add_compression_policy('telemetry', INTERVAL '7 days')")
    conn.execute(
        sql.SQL("SELECT add_retention_policy('telemetry', {})").format(
            sql.Literal(timedelta(days=settings.retention_days))
        )
    )
    # telemetry_hourly, the continuous aggregate of ROLLUP_SELECT, is created by migration
    # 0025: its energy column uses the aggregate that migration defines.


def _partition_name(day: date) -> str:
    return f"telemetry_p{day:%Y%m%d}"


def ensure_partitions(conn: psycopg.Connection, settings: Settings, today: date | None = None) -> list[str]:
    """Create daily partitions from a week back to `partition_ahead_days` ahead.

    Older uploads land in the DEFAULT partition; nothing is ever rejected for its time.
    """
    if has_timescale(conn):
        return []
    today = today or datetime.now(timezone.utc).date()
    existing = {
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'telemetry'::regclass"
        )
    }
    created = []
    for offset in range(-7, settings.partition_ahead_days + 1):
        day = today + timedelta(days=offset)
        name = _partition_name(day)
        if name in existing:
            continue
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        end = start + timedelta(days=1)
        with conn.transaction():
            # Rows for this day may already sit in the default partition (late uploads):
            # move them into the new partition before attaching it, or ATTACH would fail.
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE telemetry INCLUDING DEFAULTS)").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL(
                    "WITH moved AS (DELETE FROM telemetry_default WHERE time >= %s AND time < %s RETURNING *) "
                    "INSERT INTO {} SELECT * FROM moved"
                ).format(sql.Identifier(name)),
                (start, end),
            )
            conn.execute(
                sql.SQL("ALTER TABLE telemetry ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(name), sql.Literal(start), sql.Literal(end)
                )
            )
        created.append(name)
    if created:
        log.info("created telemetry partitions %s", ", ".join(created))
    return created


def drop_expired(conn: psycopg.Connection, settings: Settings, now: datetime | None = None) -> list[str]:
    """Retention on plain PostgreSQL: drop whole day partitions past retention."""
    if has_timescale(conn):
        return []  # the retention policy does it
    now = now or datetime.now(timezone.utc)
    cutoff = (now - timedelta(days=settings.retention_days)).date()
    dropped = []
    for (name,) in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'telemetry'::regclass AND c.relname LIKE 'telemetry_p%'"
    ).fetchall():
        day = datetime.strptime(name[len("telemetry_p"):], "%Y%m%d").date()
        if day < cutoff:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            dropped.append(name)
    cutoff_ts = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=timezone.utc)
    conn.execute("DELETE FROM telemetry_default WHERE time < %s", (cutoff_ts,))
    conn.execute("DELETE FROM telemetry_hourly WHERE bucket < %s", (cutoff_ts,))
    return dropped


def refresh_dirty_rollups(conn: psycopg.Connection) -> int:
    """Refresh the hours ingest marked as changed; return how many.

    No lock is held while aggregating (ingest must never wait on this): a mark is
    removed afterwards only if nobody marked the hour again meanwhile.
    """
    marked = conn.execute("SELECT hour, marks FROM telemetry_dirty_hours ORDER BY hour").fetchall()
    for hour, marks in marked:
        refresh_rollups(conn, hour, hour + timedelta(minutes=59))
        conn.execute("DELETE FROM telemetry_dirty_hours WHERE hour = %s AND marks = %s", (hour, marks))
    return len(marked)


def refresh_rollups(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    """Recompute hourly rollups for [start, end) on plain PostgreSQL (idempotent).

    On TimescaleDB the continuous-aggregate policy materialises them and real-time
    aggregation (materialized_only = false) covers the newest hour, so nothing to do.
    """
    if has_timescale(conn):
        return 0
    hour = timedelta(hours=1)
    start = start.replace(minute=0, second=0, microsecond=0)
    end = end.replace(minute=0, second=0, microsecond=0) + hour
    query = sql.SQL(
        "INSERT INTO telemetry_hourly (bucket, pile_id, connector_id, {cols}) "
        + ROLLUP_SELECT
        + " WHERE time >= %s AND time < %s GROUP BY 1, 2, 3 "
        "ON CONFLICT (pile_id, connector_id, bucket) DO UPDATE SET {updates}"
    ).format(
        bucket=sql.SQL("date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-01 00:00:00+00')"),
        cols=sql.SQL(", ").join(map(sql.Identifier, ROLLUP_COLUMNS)),
        updates=sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in ROLLUP_COLUMNS
        ),
    )
    return conn.execute(query, (start, end)).rowcount
