"""Write one batch of decoded messages in one transaction.

Telemetry goes through a binary COPY into a temporary stage, then one merge statement
inserts it idempotently (ON CONFLICT DO NOTHING on the message key), and from the rows
that were new updates latest state, sequence accounting and status transitions. The
caller acknowledges the batch to the broker only after this transaction commits.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import psycopg
from psycopg import sql

from ingest.decode import AckMessage, DeadLetter, Decoded, EventMessage, Inbound, StatusMessage, TelemetryMessage
from pilecare.storage import TELEMETRY_COLUMNS

_STAGE_COLUMNS = TELEMETRY_COLUMNS + ("skewed",)
_STAGE_TYPES = [
    "timestamptz", "text", "int2", "int8", "timestamptz", "timestamptz",
    "text", "text", "text", "text",
    "float4", "float4", "float4", "float4", "float4",
    "float8", "float4", "float4", "float4", "float4", "float4",
    "bool",
]

# pile_state columns that follow the newest telemetry only (late uploads must not win).
_NEWEST = ("last_telemetry_at", "last_seq", "temp_internal_c", "fan_rpm", "ambient_c", "clock_skew_s", "clock_skewed")
_CONNECTOR_LATEST = (
    "time", "seq", "status", "error_code", "vendor_error_code", "info", "voltage_v", "current_a",
    "power_kw", "power_offered_kw", "energy_kwh", "temp_c", "soc_pct", "status_since",
)


def _merge_sql() -> sql.Composed:
    cols = sql.SQL(", ").join(map(sql.Identifier, TELEMETRY_COLUMNS))
    newer = "excluded.last_telemetry_at >= coalesce(s.last_telemetry_at, '-infinity')"
    newest = sql.SQL(", ").join(
        sql.SQL("{0} = CASE WHEN " + newer + " THEN excluded.{0} ELSE s.{0} END").format(sql.Identifier(c))
        for c in _NEWEST
    )
    latest = sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in _CONNECTOR_LATEST)
    return sql.SQL("""
WITH ins AS (
    INSERT INTO telemetry ({cols}) SELECT {cols} FROM stage_telemetry
    ON CONFLICT DO NOTHING
    RETURNING {cols}
),
msgs AS (
    SELECT pile_id, min(seq) AS seq_first, max(seq) AS seq_max, count(*) AS n, max(received_at) AS last_seen
    FROM ins WHERE connector_id = 0 GROUP BY pile_id
),
msgs_time AS (
    SELECT time FROM ins WHERE connector_id = 0
),
newest AS (
    SELECT DISTINCT ON (pile_id) pile_id, time, seq, device_ts, received_at, temp_c, fan_rpm, ambient_c
    FROM ins WHERE connector_id = 0 ORDER BY pile_id, time DESC, seq DESC
),
piles_up AS (
    INSERT INTO pile_state AS s (pile_id, online, last_seen, seq_first, seq_max, seq_count,
                                 last_telemetry_at, last_seq, temp_internal_c, fan_rpm, ambient_c,
                                 clock_skew_s, clock_skewed)
    SELECT m.pile_id, true, m.last_seen, m.seq_first, m.seq_max, m.n,
           n.time, n.seq, n.temp_c, n.fan_rpm, n.ambient_c,
           extract(epoch FROM n.device_ts - n.received_at), n.time <> n.device_ts
    FROM msgs m JOIN newest n USING (pile_id) ORDER BY m.pile_id
    ON CONFLICT (pile_id) DO UPDATE SET
        -- telemetry received after the last offline message means the pile is back
        online = s.online OR excluded.last_seen > coalesce(s.connectivity_changed_at, '-infinity'),
        last_seen = greatest(s.last_seen, excluded.last_seen),
        seq_first = least(s.seq_first, excluded.seq_first),
        seq_max = greatest(s.seq_max, excluded.seq_max),
        seq_count = s.seq_count + excluded.seq_count,
        {newest}
),
conn_rows AS (
    SELECT i.*, c.status AS state_status, c.error_code AS state_error, c.status_since AS state_since
    FROM ins i LEFT JOIN connector_state c USING (pile_id, connector_id)
    WHERE i.connector_id > 0 AND (c.time IS NULL OR i.time > c.time)
),
ordered AS (
    SELECT *,
           coalesce(lag(status) OVER w, state_status) AS prev_status,
           coalesce(lag(error_code) OVER w, state_error) AS prev_error,
           row_number() OVER (PARTITION BY pile_id, connector_id ORDER BY time DESC, seq DESC) AS rn_desc
    FROM conn_rows
    WINDOW w AS (PARTITION BY pile_id, connector_id ORDER BY time, seq)
),
changed AS (
    SELECT * FROM ordered
    WHERE prev_status IS DISTINCT FROM status OR prev_error IS DISTINCT FROM error_code
),
flips AS (
    INSERT INTO connector_status_changes (pile_id, connector_id, time, old_status, new_status, old_error_code, new_error_code,
                                          new_vendor_error_code)
    SELECT pile_id, connector_id, time, prev_status, status, prev_error, error_code, vendor_error_code
    FROM changed ORDER BY time, seq
),
last_change AS (
    SELECT pile_id, connector_id, max(time) AS at FROM changed GROUP BY pile_id, connector_id
),
dirty AS (
    INSERT INTO telemetry_dirty_hours AS d (hour)
    SELECT DISTINCT date_trunc('hour', time) FROM msgs_time ORDER BY 1
    ON CONFLICT (hour) DO UPDATE SET marks = d.marks + 1
),
conns_up AS (
    INSERT INTO connector_state AS c (pile_id, {latest_cols})
    SELECT o.pile_id, o.connector_id, o.time, o.seq, o.status, o.error_code, o.vendor_error_code, o.info,
           o.voltage_v, o.current_a, o.power_kw, o.power_offered_kw, o.energy_kwh, o.temp_c, o.soc_pct,
           coalesce(lc.at, o.state_since, o.time)
    FROM ordered o LEFT JOIN last_change lc USING (pile_id, connector_id)
    WHERE o.rn_desc = 1 ORDER BY o.pile_id, o.connector_id
    ON CONFLICT (pile_id, connector_id) DO UPDATE SET {latest}
    WHERE excluded.time > c.time
)
SELECT count(*) FROM ins WHERE connector_id = 0
""").format(
        cols=cols,
        newest=newest,
        latest=latest,
        latest_cols=sql.SQL(", ").join(map(sql.Identifier, ("connector_id",) + _CONNECTOR_LATEST)),
    )


_MERGE = _merge_sql()


@dataclass
class BatchResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


class KnownPiles:
    """Which pile ids exist. Misses are checked against the database once per batch,
    so a pile added through the API is accepted at its first message."""

    def __init__(self) -> None:
        self._known: set[str] = set()

    def load(self, conn: psycopg.Connection) -> None:
        self._known = {row[0] for row in conn.execute("SELECT id FROM piles")}

    def unknown(self, conn: psycopg.Connection, pile_ids: set[str]) -> set[str]:
        missing = pile_ids - self._known
        if not missing:
            return set()
        found = {row[0] for row in conn.execute("SELECT id FROM piles WHERE id = ANY(%s)", (list(missing),))}
        self._known |= found
        return missing - found


class Store:
    def __init__(self, conn: psycopg.Connection, worker: str):
        self.conn = conn
        self.worker = worker
        self.known = KnownPiles()
        conn.autocommit = True
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS stage_telemetry (LIKE telemetry) ON COMMIT DELETE ROWS"
        )
        conn.execute("ALTER TABLE stage_telemetry ADD COLUMN IF NOT EXISTS skewed boolean NOT NULL DEFAULT false")
        self.known.load(conn)

    def write(self, items: list[tuple[Inbound, Decoded | DeadLetter]]) -> BatchResult:
        """Store a batch atomically. Raises on database errors (the caller retries or
        falls back to one message at a time); nothing is acknowledged before commit."""
        result = BatchResult(received=len(items))
        with self.conn.transaction():
            good, dead = self._split_unknown_piles(items)
            telemetry = [d for _, d in good if isinstance(d, TelemetryMessage)]
            if telemetry:
                self._lock_piles({m.pile_id for m in telemetry})
                new = self._write_telemetry(telemetry)
                result.stored += new
                result.duplicates += len(telemetry) - new
            for inbound, decoded in good:
                if isinstance(decoded, StatusMessage):
                    if self._write_status(decoded):
                        result.stored += 1
                    else:
                        result.duplicates += 1
                elif isinstance(decoded, EventMessage):
                    if self._write_event(decoded):
                        result.stored += 1
                    else:
                        result.duplicates += 1
                elif isinstance(decoded, AckMessage):
                    outcome = self._write_ack(decoded)
                    if outcome is None:
                        result.stored += 1
                    else:
                        dead.append(DeadLetter(inbound, outcome, decoded.pile_id, "commands/ack"))
            self._write_dead_letters(dead)
            result.dead_lettered = len(dead)
            result.dead_letters = dead
            self._count(result)
            if result.stored:
                # Wakes maintenance at commit (PostgreSQL sends one per transaction), so
                # a fault becomes an alarm without waiting for a polling interval.
                self.conn.execute("NOTIFY pilecare_ingest")
        return result

    def _split_unknown_piles(self, items):
        dead: list[DeadLetter] = [d for _, d in items if isinstance(d, DeadLetter)]
        decoded = [(i, d) for i, d in items if not isinstance(d, DeadLetter)]
        unknown = self.known.unknown(self.conn, {d.pile_id for _, d in decoded})
        if not unknown:
            return decoded, dead
        good = []
        for inbound, d in decoded:
            if d.pile_id in unknown:
                kind = inbound.topic.rsplit("/piles/", 1)[-1].split("/", 1)[-1]
                dead.append(DeadLetter(inbound, f"unknown pile id {d.pile_id!r} (not in the fleet registry)", d.pile_id, kind))
            else:
                good.append((inbound, d))
        return good, dead

    def _lock_piles(self, pile_ids: set[str]) -> None:
        # Same order in every worker: concurrent batches queue up instead of deadlocking.
        self.conn.execute(
            "SELECT 1 FROM pile_state WHERE pile_id = ANY(%s) ORDER BY pile_id FOR UPDATE",
            (sorted(pile_ids),),
        )

    def _write_telemetry(self, messages: list[TelemetryMessage]) -> int:
        cur = self.conn.cursor()
        with cur.copy(
            sql.SQL("COPY stage_telemetry ({}) FROM STDIN (FORMAT BINARY)").format(
                sql.SQL(", ").join(map(sql.Identifier, _STAGE_COLUMNS))
            )
        ) as copy:
            copy.set_types(_STAGE_TYPES)
            for m in messages:
                for row in m.rows:
                    copy.write_row(row)
        if any(m.skewed for m in messages):
            self._drop_redelivered_skewed()
        return cur.execute(_MERGE).fetchone()[0]

    def _drop_redelivered_skewed(self) -> None:
        # Skewed messages are stored at receive time, which differs on redelivery, so
        # their device key is claimed in telemetry_skewed; losers are removed from stage.
        self.conn.execute("""
            WITH claimed AS (
                INSERT INTO telemetry_skewed (pile_id, seq, device_ts, time)
                SELECT DISTINCT ON (pile_id, seq, device_ts) pile_id, seq, device_ts, time
                FROM stage_telemetry WHERE skewed AND connector_id = 0
                ON CONFLICT DO NOTHING
                RETURNING pile_id, seq, device_ts, time
            )
            DELETE FROM stage_telemetry s
            WHERE s.skewed AND NOT EXISTS (
                SELECT 1 FROM claimed c
                WHERE c.pile_id = s.pile_id AND c.seq = s.seq AND c.device_ts = s.device_ts AND c.time = s.time)
        """)

    def _write_status(self, m: StatusMessage) -> bool:
        inserted = self.conn.execute(
            """INSERT INTO connectivity_events (pile_id, received_at, device_ts, online, reason)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (m.pile_id, m.received_at, m.device_ts, m.online, m.reason),
        ).rowcount
        if not inserted:
            return False
        self.conn.execute(
            """INSERT INTO pile_state AS s (pile_id, online, connectivity_changed_at, connectivity_reason, last_seen, firmware_reported)
               VALUES (%(pile)s, %(online)s, %(at)s, %(reason)s, %(at)s, %(firmware)s)
               ON CONFLICT (pile_id) DO UPDATE SET
                   online = CASE WHEN excluded.connectivity_changed_at >= coalesce(s.connectivity_changed_at, '-infinity')
                                 THEN excluded.online ELSE s.online END,
                   connectivity_reason = CASE WHEN excluded.connectivity_changed_at >= coalesce(s.connectivity_changed_at, '-infinity')
                                 THEN excluded.connectivity_reason ELSE s.connectivity_reason END,
                   connectivity_changed_at = greatest(s.connectivity_changed_at, excluded.connectivity_changed_at),
                   last_seen = greatest(s.last_seen, excluded.last_seen),
                   firmware_reported = coalesce(excluded.firmware_reported, s.firmware_reported)""",
            {"pile": m.pile_id, "online": m.online, "at": m.received_at, "reason": m.reason, "firmware": m.firmware},
        )
        return True

    def _write_event(self, m: EventMessage) -> bool:
        e = m.event
        cur = self.conn.execute(
            """INSERT INTO pile_events (pile_id, event_id, type, connector_id, device_ts, received_at, data)
               VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (pile_id, event_id) DO NOTHING""",
            (m.pile_id, e.id, e.type.value, e.connector_id, e.ts, m.received_at, json.dumps(e.data)),
        )
        if cur.rowcount:
            self.conn.execute(
                "UPDATE pile_state SET last_seen = greatest(last_seen, %s) WHERE pile_id = %s",
                (m.received_at, m.pile_id),
            )
        return cur.rowcount == 1

    def _write_ack(self, m: AckMessage) -> str | None:
        """Record a command ack; return a dead-letter reason when it matches no command."""
        cur = self.conn.execute(
            """UPDATE commands SET state = 'acknowledged', acked_at = %s, ack_status = %s, ack_info = %s
               WHERE id = %s AND pile_id = %s AND state IN ('pending', 'sent', 'timed_out')""",
            (m.received_at, m.ack.status.value, m.ack.info, m.ack.id, m.pile_id),
        )
        if cur.rowcount:
            return None
        row = self.conn.execute("SELECT state FROM commands WHERE id = %s AND pile_id = %s", (m.ack.id, m.pile_id)).fetchone()
        if row is not None:
            return None  # a redelivered ack of an acknowledged command: already recorded
        return f"ack for unknown command id {m.ack.id} of pile {m.pile_id!r}"

    def _write_dead_letters(self, dead: list[DeadLetter]) -> None:
        if not dead:
            return
        with self.conn.cursor().copy(
            "COPY dead_letters (received_at, topic, pile_id, kind, reason, payload, payload_size, worker) FROM STDIN"
        ) as copy:
            for d in dead:
                copy.write_row((
                    datetime.fromtimestamp(d.inbound.received_at, timezone.utc), d.inbound.topic, d.pile_id,
                    d.kind, d.reason, d.inbound.payload, len(d.inbound.payload), self.worker,
                ))

    def _count(self, r: BatchResult) -> None:
        minute = datetime.fromtimestamp(time.time() // 60 * 60, timezone.utc)
        self.conn.execute(
            """INSERT INTO ingest_counters AS c (worker, minute, received, stored, duplicates, dead_lettered)
               VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (worker, minute) DO UPDATE SET
                   received = c.received + excluded.received, stored = c.stored + excluded.stored,
                   duplicates = c.duplicates + excluded.duplicates,
                   dead_lettered = c.dead_lettered + excluded.dead_lettered""",
            (self.worker, minute, r.received, r.stored, r.duplicates, r.dead_lettered),
        )
