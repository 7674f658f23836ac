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

from ingest.decode import (AckMessage, DataProblem, DeadLetter, Decoded, EventMessage, Inbound, Quirk, StatusMessage,
                           TelemetryMessage)
from ingest.ocpp import OCPP_SEQ_MAX, OcppMessage
from pilecare.domain import PileEventType
from pilecare.storage import TELEMETRY_COLUMNS

_STAGE_COLUMNS = TELEMETRY_COLUMNS + ("skewed",)
_CONNECTOR = TELEMETRY_COLUMNS.index("connector_id")
_STAGE_TYPES = [
    "timestamptz", "text", "int2", "int8", "timestamptz", "timestamptz",
    "text", "text", "text", "text",
    "float4", "float4", "float4", "float4", "float4",
    "float8", "float4", "float4", "float4", "float4", "float4",
    "bool",
]

# pile_state columns that follow the newest telemetry only (late uploads must not win),
# and where each comes from in the batch's newest message `n`.
# An OCPP reading (seq <= OCPP_SEQ_MAX) is one connector's, not a snapshot of the pile: the
# cabinet's values it does not carry stay as they were.
_OCPP = f"n.seq <= {OCPP_SEQ_MAX}"
_NEWEST = {
    "last_telemetry_at": "n.time", "last_seq": "CASE WHEN n.seq >= 0 THEN n.seq ELSE s.last_seq END",
    "temp_internal_c": f"CASE WHEN {_OCPP} THEN coalesce(n.temp_c, s.temp_internal_c) ELSE n.temp_c END",
    "fan_rpm": f"CASE WHEN {_OCPP} THEN s.fan_rpm ELSE n.fan_rpm END",
    "ambient_c": f"CASE WHEN {_OCPP} THEN s.ambient_c ELSE n.ambient_c END",
    "clock_skew_s": "extract(epoch FROM n.device_ts - n.received_at)",
    "clock_skewed": "n.time <> n.device_ts",
}
_CONNECTOR_LATEST = (
    "time", "seq", "status", "error_code", "vendor_error_code", "info", "voltage_v", "current_a",
    "power_kw", "power_offered_kw", "energy_kwh", "temp_c", "soc_pct", "status_since",
)
_CONNECTOR_MEASURED = ("voltage_v", "current_a", "power_kw", "power_offered_kw", "energy_kwh", "temp_c", "soc_pct")


# The most a counter can move between two messages `since` apart: two reports a second (no
# pile reports faster than once a second), and never less than 100 (a reboot that resumes
# from a counter saved in blocks). A larger jump is a corrupted or reinitialised counter
# (1, 2, 900, 3 one second apart: 900 is a glitch, not 897 lost messages), counted as a new
# run instead of lost messages.
_JUMP = "greatest(100, 2 * abs(extract(epoch FROM {at} - {since})))"


def _merge_sql(live: bool = True, keys: bool = False) -> sql.Composed:
    """The merge of one staged batch. `live=False` for messages the broker replayed from its
    retained store on subscribe: stored like any other, but they never make a pile look
    seen now (their age is unknown). It returns how many messages were new, or with `keys`
    the seq of every new row (OCPP readings, whose seq is their content key).

    A message is its connector-0 row for an MQTT pile (a snapshot of the whole pile) and
    each row for an OCPP charger (one connector's status or meter value, seq <= OCPP_SEQ_MAX).
    A row without a status (an OCPP meter value) never touches a status: it neither makes
    nor hides a change."""
    cols = sql.SQL(", ").join(map(sql.Identifier, TELEMETRY_COLUMNS))
    newer = "n.time >= coalesce(s.last_telemetry_at, '-infinity')"
    newest = sql.SQL(", ").join(
        sql.SQL("{0} = CASE WHEN " + newer + " THEN {1} ELSE s.{0} END").format(sql.Identifier(c), sql.SQL(v))
        for c, v in _NEWEST.items()
    )
    # An OCPP status row carries no measurements: the connector's stay (_OCPP_MEASUREMENTS).
    latest = sql.SQL(", ").join(
        sql.SQL("{0} = CASE WHEN excluded.seq <= {1} THEN c.{0} ELSE excluded.{0} END"
                if c in _CONNECTOR_MEASURED else "{0} = excluded.{0}").format(sql.Identifier(c), sql.Literal(OCPP_SEQ_MAX))
        for c in _CONNECTOR_LATEST)
    return sql.SQL("""
WITH ins AS (
    INSERT INTO telemetry ({cols}) SELECT {cols} FROM stage_telemetry
    ON CONFLICT DO NOTHING
    RETURNING {cols}
),
-- One row per new message (an MQTT pile's connector-0 row, each OCPP row), with the pile's
-- counter before the batch.
c0 AS (
    SELECT i.pile_id, i.connector_id, i.time, i.seq, i.device_ts, i.received_at, i.status, i.error_code, i.vendor_error_code,
           i.info, i.temp_c, i.fan_rpm, i.ambient_c,
           i.time > coalesce(s.last_telemetry_at, '-infinity') AS newer,
           i.seq > {ocpp} AND coalesce(s.seq_restarts > 0 AND i.time < s.seq_run_started_at, false) AS earlier_run,
           s.last_seq, s.last_telemetry_at AS last_at,
           -- counted in the sequence accounting: a number was read (salvage.NO_SEQ is none),
           -- and a late upload lies near the current run (a wild one is a glitch, not gaps)
           i.seq >= 0 AND (i.time > coalesce(s.last_telemetry_at, '-infinity') OR s.seq_max IS NULL
               OR i.seq::numeric BETWEEN s.seq_first::numeric - {jump_late} AND s.seq_max::numeric + {jump_late})
               AS counted
    FROM ins i LEFT JOIN pile_state s USING (pile_id) WHERE i.connector_id = 0 OR i.seq <= {ocpp}
),
-- Runs of the sequence counter (it restarts at every boot of some firmware): in time order,
-- a number not above the one before it starts a new run (a counter that increases by one
-- per report never repeats one: a repeat with a new time is the count starting again), and
-- so does a jump ahead by more than the pile could have sent since (2 → 2^63−1 is a
-- corrupted counter, not 9.2·10^18 lost messages). A late upload joins the current run,
-- unless it is older than the run itself; then it fills a gap of a run that ended.
c0_prev AS (
    SELECT c0.*, CASE WHEN newer THEN coalesce(lag(seq) OVER w, last_seq) END AS prev_seq,
           CASE WHEN newer THEN coalesce(lag(time) OVER w, last_at) END AS prev_at
    FROM c0 WHERE counted WINDOW w AS (PARTITION BY pile_id, newer ORDER BY time, seq)
),
c0_breaks AS (
    SELECT c0_prev.*, seq <= prev_seq OR seq::numeric - prev_seq > {jump} AS breaks FROM c0_prev
),
c0_runs AS (
    SELECT c0_breaks.*, CASE WHEN newer THEN coalesce(sum(breaks::int) OVER w, 0) ELSE 0 END AS run
    FROM c0_breaks WINDOW w AS (PARTITION BY pile_id, newer ORDER BY time, seq)
),
restarts AS (
    INSERT INTO seq_restarts (pile_id, time, seq_before, seq_after)
    SELECT pile_id, time, prev_seq, seq FROM c0_breaks WHERE breaks ORDER BY pile_id, time
),
runs AS (
    SELECT pile_id, run, min(seq) AS first, max(seq) AS last, count(*) AS n, min(time) AS started,
           greatest(max(seq) - min(seq) + 1 - count(*), 0) AS gaps
    FROM c0_runs WHERE NOT earlier_run GROUP BY pile_id, run
),
run_acc AS (
    SELECT pile_id, max(run) AS restarts,
           min(first) FILTER (WHERE run = 0) AS first0, max(last) FILTER (WHERE run = 0) AS last0,
           coalesce(sum(n) FILTER (WHERE run = 0), 0) AS n0,
           (array_agg(first ORDER BY run DESC))[1] AS first_end, (array_agg(last ORDER BY run DESC))[1] AS last_end,
           (array_agg(n ORDER BY run DESC))[1] AS n_end, (array_agg(started ORDER BY run DESC))[1] AS started_end,
           -- runs that began and ended inside this batch
           CASE WHEN max(run) > 1 THEN sum(gaps) FILTER (WHERE run > 0) - (array_agg(gaps ORDER BY run DESC))[1]
                ELSE 0 END AS middle_gaps
    FROM runs GROUP BY pile_id
),
msgs AS (
    SELECT pile_id, {heard} AS last_seen, count(*) FILTER (WHERE earlier_run) AS found_late
    FROM c0 GROUP BY pile_id
),
msgs_time AS (
    SELECT time FROM c0
),
newest AS (
    SELECT DISTINCT ON (pile_id) pile_id, time, seq, device_ts, received_at,
           CASE WHEN connector_id = 0 THEN temp_c END AS temp_c, fan_rpm, ambient_c
    -- at one time, an OCPP charger's own row (its cabinet temperature) before its connectors'
    FROM c0 ORDER BY pile_id, time DESC, connector_id = 0 DESC, seq DESC
),
-- Status rows newer than the latest state: every connector's, and the pile's own
-- (connector 0). Telemetry is a snapshot of the whole pile, so once a pile has used the
-- top-level fields, a message without them reports it Available/NoError (an e-stop
-- released); a pile that never used them gets no connector-0 rows. An error code without
-- a pile status is taken with Available: the code raises its alarm either way, like a
-- connector's warning.
-- An OCPP charger replays what it queued offline in a burst: of its statuses in one batch,
-- those other than the newest one's are a state that has since changed and make no
-- transition (a fault over before the charger came back raises no alarm). Faulted with one
-- code, then Faulted with another, stays two transitions: the status did not change.
ocpp_newest AS (
    SELECT DISTINCT ON (pile_id, connector_id) pile_id, connector_id, status FROM ins
    WHERE seq <= {ocpp} AND status IS NOT NULL ORDER BY pile_id, connector_id, time DESC, seq DESC
),
conn_rows AS (
    SELECT i.pile_id, i.connector_id, i.time, i.seq, i.status, i.error_code, i.vendor_error_code, i.info,
           i.voltage_v, i.current_a, i.power_kw, i.power_offered_kw, i.energy_kwh, i.temp_c, i.soc_pct,
           c.status AS state_status, c.error_code AS state_error, c.status_since AS state_since
    FROM ins i JOIN piles p ON p.id = i.pile_id JOIN pile_models pm ON pm.id = p.model_id
               LEFT JOIN connector_state c USING (pile_id, connector_id)
               LEFT JOIN ocpp_newest o USING (pile_id, connector_id)
    -- A connector the model does not have is no port: its rows stay in telemetry, but it
    -- makes no status change, no alarm and no uptime (a data-quality note says so).
    WHERE i.connector_id BETWEEN 1 AND pm.connectors AND i.status IS NOT NULL AND (c.time IS NULL OR i.time > c.time)
      AND (i.seq > {ocpp} OR i.status = o.status)
    UNION ALL
    SELECT pile_id, 0::int2, time, seq, coalesce(status, 'Available'), coalesce(error_code, 'NoError'),
           CASE WHEN reports THEN vendor_error_code END, CASE WHEN reports THEN info END,
           NULL, NULL, NULL, NULL, NULL, NULL, NULL, state_status, state_error, state_since
    FROM (
        SELECT c0.*, c0.status IS NOT NULL OR c0.error_code IS NOT NULL AS reports,
               bool_or(c0.status IS NOT NULL OR c0.error_code IS NOT NULL)
                   OVER (PARTITION BY c0.pile_id ORDER BY c0.time, c0.seq) AS reported,
               s.status AS state_status, s.error_code AS state_error, s.status_since AS state_since
        FROM c0 JOIN pile_state s USING (pile_id)
                LEFT JOIN ocpp_newest o ON o.pile_id = c0.pile_id AND o.connector_id = 0
        WHERE c0.connector_id = 0 AND c0.time > coalesce(s.status_time, '-infinity')
          -- an OCPP row reports the charger's status only when it has one (StatusNotification
          -- for connector 0), not as a snapshot's missing fields, and as above
          AND (c0.seq > {ocpp} OR c0.status = o.status)
    ) p
    WHERE reported OR state_status IS NOT NULL
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
    FROM changed ORDER BY time, seq, connector_id
),
last_change AS (
    SELECT pile_id, connector_id, max(time) AS at FROM changed GROUP BY pile_id, connector_id
),
pile_status AS (
    SELECT o.pile_id, o.time, o.status, o.error_code, o.vendor_error_code, o.info,
           coalesce(lc.at, o.state_since, o.time) AS since
    FROM ordered o LEFT JOIN last_change lc USING (pile_id, connector_id)
    WHERE o.connector_id = 0 AND o.rn_desc = 1
),
-- Every pile has a state row from birth (a trigger on piles), so this is an update.
piles_up AS (
    UPDATE pile_state s SET
        -- telemetry received after the last offline message means the pile is back
        online = s.online OR coalesce(m.last_seen > coalesce(s.connectivity_changed_at, '-infinity'), false),
        last_seen = greatest(s.last_seen, m.last_seen),
        seq_first = CASE WHEN r.restarts > 0 THEN r.first_end ELSE least(s.seq_first, r.first0) END,
        seq_max = CASE WHEN r.restarts > 0 THEN r.last_end ELSE greatest(s.seq_max, r.last0) END,
        seq_count = CASE WHEN r.restarts > 0 THEN r.n_end ELSE s.seq_count + coalesce(r.n0, 0) END,
        seq_restarts = s.seq_restarts + coalesce(r.restarts, 0),
        seq_run_started_at = CASE WHEN r.restarts > 0 THEN r.started_end ELSE s.seq_run_started_at END,
        seq_gaps_closed = greatest(s.seq_gaps_closed - m.found_late, 0) + CASE WHEN r.restarts > 0 THEN
            coalesce(greatest(greatest(s.seq_max, r.last0) - least(s.seq_first, r.first0) + 1 - (s.seq_count + r.n0), 0), 0)
            + r.middle_gaps ELSE 0 END,
        status = CASE WHEN p.pile_id IS NULL THEN s.status ELSE p.status END,
        error_code = CASE WHEN p.pile_id IS NULL THEN s.error_code ELSE p.error_code END,
        vendor_error_code = CASE WHEN p.pile_id IS NULL THEN s.vendor_error_code ELSE p.vendor_error_code END,
        info = CASE WHEN p.pile_id IS NULL THEN s.info ELSE p.info END,
        status_since = CASE WHEN p.pile_id IS NULL THEN s.status_since ELSE p.since END,
        status_time = coalesce(p.time, s.status_time),
        {newest}
    FROM msgs m JOIN newest n USING (pile_id) LEFT JOIN run_acc r USING (pile_id) LEFT JOIN pile_status p USING (pile_id)
    WHERE s.pile_id = m.pile_id
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
    WHERE o.rn_desc = 1 AND o.connector_id > 0 ORDER BY o.pile_id, o.connector_id
    ON CONFLICT (pile_id, connector_id) DO UPDATE SET {latest}
    WHERE excluded.time > c.time
)
{result}
""").format(
        ocpp=sql.Literal(OCPP_SEQ_MAX),
        result=sql.SQL("SELECT DISTINCT seq FROM ins" if keys else "SELECT count(*) FROM c0"),
        cols=cols,
        heard=sql.SQL("max(received_at)" if live else "NULL::timestamptz"),
        jump=sql.SQL(_JUMP.format(at="time", since="prev_at")),
        jump_late=sql.SQL(_JUMP.format(at="i.time", since="s.last_telemetry_at")),
        newest=newest,
        latest=latest,
        latest_cols=sql.SQL(", ").join(map(sql.Identifier, ("connector_id",) + _CONNECTOR_LATEST)),
    )


_MERGE = _merge_sql()
_MERGE_RETAINED = _merge_sql(live=False)
_MERGE_OCPP = _merge_sql(keys=True)

# The newest meter value of each connector moves its latest measurements (not its status
# time: see migration 0049). Idempotent, so it reads the whole stage, duplicates included.
_OCPP_MEASUREMENTS = sql.SQL("""
UPDATE connector_state c SET {measured}, measured_at = m.time
FROM (SELECT DISTINCT ON (pile_id, connector_id) * FROM stage_telemetry
      WHERE seq <= {ocpp} AND status IS NULL AND connector_id > 0
      ORDER BY pile_id, connector_id, time DESC, seq DESC) m
WHERE c.pile_id = m.pile_id AND c.connector_id = m.connector_id
  AND m.time > coalesce(c.measured_at, '-infinity')
""").format(
    measured=sql.SQL(", ").join(sql.SQL("{0} = coalesce(m.{0}, c.{0})").format(sql.Identifier(c))
                                for c in _CONNECTOR_MEASURED),
    ocpp=sql.Literal(OCPP_SEQ_MAX))


@dataclass
class BatchResult:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


class KnownPiles:
    """Which pile ids exist, with each one's model and its connector count. Misses are
    checked against the database once per batch, so a pile added through the API is
    accepted at its first message. (A pile's model never changes through the API.)"""

    _SELECT = "SELECT p.id, m.id, m.connectors FROM piles p JOIN pile_models m ON m.id = p.model_id"

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, int]] = {}

    def load(self, conn: psycopg.Connection) -> None:
        self._known = {pile: (model, connectors) for pile, model, connectors in conn.execute(self._SELECT)}

    def unknown(self, conn: psycopg.Connection, pile_ids: set[str]) -> set[str]:
        missing = pile_ids - self._known.keys()
        if not missing:
            return set()
        found = {pile: (model, connectors) for pile, model, connectors in conn.execute(
            self._SELECT + " WHERE p.id = ANY(%s)", (list(missing),))}
        self._known |= found
        return missing - found.keys()

    def model(self, pile_id: str) -> tuple[str, int] | None:
        """(model id, connectors) of a pile `unknown` has seen."""
        return self._known.get(pile_id)


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
            live = [d for i, d in good if isinstance(d, TelemetryMessage) and not i.retained]
            replayed = [d for i, d in good if isinstance(d, TelemetryMessage) and i.retained]
            ocpp = [d for _, d in good if isinstance(d, OcppMessage)]
            if ocpp:
                self._place_connectors(ocpp)
            unknown_connectors = self._unknown_connectors(good)
            heard = self._heard(good, dead)
            locked = {m.pile_id for m in live + replayed + ocpp} | {pile for pile, _ in heard}
            if locked:
                self._lock_piles(locked)
            staged = False
            for group, merge in ((live, _MERGE), (replayed, _MERGE_RETAINED)):
                if group:
                    if staged:  # the stage empties at commit; a second group must not see the first
                        self.conn.execute("DELETE FROM stage_telemetry")
                    staged = True
                    new = self._write_telemetry(group, merge)[0][0]
                    result.stored += new
                    result.duplicates += len(group) - new
            new_keys: set[int] = set()
            readings = [m.telemetry for m in ocpp if m.telemetry is not None]
            if readings:
                if staged:
                    self.conn.execute("DELETE FROM stage_telemetry")
                new_keys = {row[0] for row in self._write_telemetry(readings, _MERGE_OCPP)}
                self.conn.execute(_OCPP_MEASUREMENTS)
            for inbound, decoded in good:
                if isinstance(decoded, StatusMessage):
                    if self._write_status(decoded, inbound.retained):
                        result.stored += 1
                    else:
                        result.duplicates += 1
                elif isinstance(decoded, EventMessage):
                    if self._write_event(decoded):
                        result.stored += 1
                    else:
                        result.duplicates += 1
                elif isinstance(decoded, OcppMessage):
                    if self._write_ocpp(decoded, new_keys):
                        result.stored += 1
                    else:
                        result.duplicates += 1
                elif isinstance(decoded, AckMessage):
                    outcome = self._write_ack(decoded)
                    if outcome is None:
                        result.stored += 1
                    else:
                        dead.append(DeadLetter(inbound, outcome, decoded.pile_id, "commands/ack"))
            self._write_heard(heard)
            self._write_dead_letters(dead)
            self._write_data_quality(good, dead, unknown_connectors)
            result.dead_lettered = len(dead)
            result.dead_letters = dead
            self._count(result)
            if result.stored:
                # Wakes maintenance at commit (PostgreSQL sends one per transaction), so
                # a fault becomes an alarm without waiting for a polling interval.
                self.conn.execute("NOTIFY pilecare_ingest")
        return result

    def _heard(self, good, dead: list[DeadLetter]) -> list[tuple[str, datetime]]:
        """(pile, receive time) of messages other than telemetry that prove a pile is
        talking now: events, acks, and messages dead-lettered for their content, which
        a live pile sent all the same. Not status messages (a last will is the broker
        speaking for a pile that is gone) and not what the broker replayed as retained."""
        heard = [(d.pile_id, d.received_at) for i, d in good
                 if isinstance(d, (EventMessage, AckMessage, OcppMessage)) and not i.retained]
        alive = {d.pile_id for d in dead if d.pile_id and d.kind not in (None, "status") and not d.inbound.retained}
        if alive:
            alive -= self.known.unknown(self.conn, alive)
            heard += [(d.pile_id, datetime.fromtimestamp(d.inbound.received_at, timezone.utc)) for d in dead
                      if d.pile_id in alive and d.kind != "status" and not d.inbound.retained]
        return heard

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

    def _write_telemetry(self, messages: list[TelemetryMessage], merge: sql.Composed) -> list[tuple]:
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
        return cur.execute(merge).fetchall()

    def _drop_redelivered_skewed(self) -> None:
        # Skewed messages are stored at receive time, which differs on redelivery, so
        # their device key is claimed in telemetry_skewed; losers are removed from stage.
        self.conn.execute(f"""
            WITH claimed AS (
                INSERT INTO telemetry_skewed (pile_id, seq, device_ts, time)
                SELECT DISTINCT ON (pile_id, seq, device_ts) pile_id, seq, device_ts, time
                FROM stage_telemetry WHERE skewed AND (connector_id = 0 OR seq <= {OCPP_SEQ_MAX})
                ON CONFLICT DO NOTHING
                RETURNING pile_id, seq, device_ts, time
            )
            DELETE FROM stage_telemetry s
            WHERE s.skewed AND NOT EXISTS (
                SELECT 1 FROM claimed c
                WHERE c.pile_id = s.pile_id AND c.seq = s.seq AND c.device_ts = s.device_ts AND c.time = s.time)
        """)

    def _write_status(self, m: StatusMessage, retained: bool = False) -> bool:
        inserted = self.conn.execute(
            """INSERT INTO connectivity_events (pile_id, received_at, device_ts, online, reason, retained)
               VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (m.pile_id, m.received_at, m.device_ts, m.online, m.reason, retained),
        ).rowcount
        if not inserted:
            return False
        if retained:
            # A snapshot of unknown age (a last will from before the pile reconnected, or
            # the `online` of a pile since dead): recorded above, but it moves neither
            # online nor last_seen. The pile's live messages and the silence rule decide.
            self.conn.execute(
                "UPDATE pile_state SET firmware_reported = coalesce(firmware_reported, %s) WHERE pile_id = %s",
                (m.firmware, m.pile_id))
            return True
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
        return cur.rowcount == 1

    def _place_connectors(self, messages: list[OcppMessage]) -> None:
        """Give readings and events the connector of their transaction when the message does
        not name it (1.6 StopTransaction, a 2.0.1 TransactionEvent after the first): from the
        session's start in this batch, the gateway's ocpp_transactions (1.6 transaction ids),
        or the session_started event ingest stored."""
        started = {(m.pile_id, str(e.data.get("transaction_id"))): e.connector_id
                   for m in messages for e in m.events
                   if e.type in (PileEventType.SESSION_STARTED, PileEventType.SESSION_START_FAILED)
                   and e.connector_id is not None}
        for m in messages:
            if m.transaction_id is None:
                continue
            key = (m.pile_id, m.transaction_id)
            if key not in started:  # one look-up per transaction and batch: 2.0.1 sends many per session
                started[key] = self.conn.execute(
                    """SELECT coalesce(
                           (SELECT connector_id FROM ocpp_transactions WHERE pile_id = %(pile)s AND id::text = %(tx)s),
                           (SELECT connector_id FROM pile_events WHERE pile_id = %(pile)s AND connector_id IS NOT NULL
                               AND type IN ('session_started', 'session_start_failed')
                               AND data->>'transaction_id' = %(tx)s ORDER BY id DESC LIMIT 1))""",
                    {"pile": m.pile_id, "tx": m.transaction_id}).fetchone()[0]
            m.place(started[key])

    def _unknown_connectors(self, good) -> list[tuple[Inbound, str, Quirk]]:
        """(inbound, pile, quirk) for each message reporting a connector its pile's model does
        not have (connector 3 of a 2-connector model): the merge stores its rows but makes it
        no port. Returned, not added to the message: a batch written again after an error
        must not count it twice."""
        notes = []
        for inbound, decoded in good:
            telemetry = decoded if isinstance(decoded, TelemetryMessage) else (
                decoded.telemetry if isinstance(decoded, OcppMessage) else None)
            known = self.known.model(decoded.pile_id) if telemetry is not None else None
            if known is None:
                continue
            model, connectors = known
            beyond = sorted({row[_CONNECTOR] for row in telemetry.rows if row[_CONNECTOR] > connectors})
            if beyond:
                notes.append((inbound, decoded.pile_id, Quirk(
                    DataProblem.UNKNOWN_CONNECTOR,
                    f"connector {', '.join(map(str, beyond))} reported, but model {model} has {connectors}: "
                    "stored in telemetry, not a port (no status change, no alarm, no uptime)")))
        return notes

    def _write_ocpp(self, m: OcppMessage, new_keys: set[int]) -> bool:
        """The events and reported identity of one OCPP envelope; whether anything of it
        (readings included, in `new_keys`) was new. An envelope with nothing to store (a
        Heartbeat) counts as stored: it was the charger's proof of life."""
        new = any(row[3] in new_keys for row in m.telemetry.rows) if m.telemetry else False
        for e in m.events:
            new = self._write_event(EventMessage(m.pile_id, e, m.received_at)) or new
        if m.identity is not None:
            self._write_identity(m)
        return new or (m.telemetry is None and not m.events)

    def _write_identity(self, m: OcppMessage) -> None:
        """What the charger says it is, beside the registry: the registry's model stays; a
        claim that differs from it is a data-quality note."""
        i = m.identity
        self.conn.execute(
            """UPDATE pile_state SET reported_vendor = %(vendor)s, reported_model = %(model)s,
                   reported_serial = %(serial)s, reported_identity_at = %(at)s,
                   firmware_reported = coalesce(%(firmware)s, firmware_reported)
               WHERE pile_id = %(pile)s AND coalesce(reported_identity_at, '-infinity') <= %(at)s""",
            {"vendor": i.vendor, "model": i.model, "serial": i.serial, "firmware": i.firmware, "at": m.received_at,
             "pile": m.pile_id})
        registry = self.conn.execute(
            "SELECT p.serial, m.manufacturer, m.name, m.id FROM piles p JOIN pile_models m ON m.id = p.model_id "
            "WHERE p.id = %s", (m.pile_id,)).fetchone()
        if registry is None:
            return
        serial, manufacturer, name, model_id = registry
        differ = []
        if i.vendor and i.vendor.strip().lower() != manufacturer.strip().lower():
            differ.append(f"vendor {i.vendor!r} (registry: {manufacturer!r})")
        if i.model and i.model.strip().lower() not in (name.strip().lower(), model_id.lower()):
            differ.append(f"model {i.model!r} (registry: {name!r})")
        if i.serial and i.serial.strip() != serial:
            differ.append(f"serial {i.serial!r} (registry: {serial!r})")
        if differ:
            m.quirks.append(Quirk(DataProblem.REPORTED_IDENTITY_MISMATCH,
                                  "BootNotification: the charger reports " + ", ".join(differ) + "; registry kept"))

    def _write_heard(self, heard: list[tuple[str, datetime]]) -> None:
        """The piles heard from: last_seen moves, and a pile marked offline by an earlier
        last will is back (as telemetry does in the merge)."""
        if not heard:
            return
        piles, times = zip(*heard)
        self.conn.execute(
            """UPDATE pile_state s SET last_seen = greatest(s.last_seen, h.at),
                   online = s.online OR h.at > coalesce(s.connectivity_changed_at, '-infinity')
               FROM (SELECT pile_id, max(at) AS at FROM unnest(%s::text[], %s::timestamptz[]) AS u (pile_id, at)
                     GROUP BY pile_id) h
               WHERE s.pile_id = h.pile_id""",
            (list(piles), list(times)))

    def _write_data_quality(self, good, dead: list[DeadLetter], more: list[tuple[Inbound, str, Quirk]]) -> None:
        """One row per (pile, problem), counted: a pile that sends the same quirk every
        5 s is reported once, with its first and latest raw message for the record."""
        seen: dict[tuple[str, str], list] = {}

        def note(pile_id: str, problem: DataProblem, detail: str, inbound: Inbound) -> None:
            at = datetime.fromtimestamp(inbound.received_at, timezone.utc)
            row = seen.get((pile_id, problem.value))
            if row is None:
                seen[(pile_id, problem.value)] = [at, at, 1, detail, inbound.topic, inbound.payload, inbound.payload]
            else:
                row[1], row[2], row[3], row[4], row[6] = at, row[2] + 1, detail, inbound.topic, inbound.payload

        for inbound, decoded in good:
            for quirk in decoded.quirks:
                note(decoded.pile_id, quirk.problem, quirk.detail, inbound)
        for inbound, pile_id, quirk in more:
            note(pile_id, quirk.problem, quirk.detail, inbound)
        invalid = {d.pile_id for d in dead if d.pile_id}
        if invalid:
            invalid -= self.known.unknown(self.conn, invalid)
            for d in dead:
                if d.pile_id in invalid:
                    note(d.pile_id, DataProblem.INVALID_MESSAGE, d.reason, d.inbound)
        if not seen:
            return
        keys, rows = list(seen), list(seen.values())
        self.conn.execute(
            """INSERT INTO data_quality AS q (pile_id, problem, first_seen, last_seen, count, detail, topic,
                                              first_payload, last_payload)
               SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::bigint[],
                                    %s::text[], %s::text[], %s::bytea[], %s::bytea[])
               ON CONFLICT (pile_id, problem) DO UPDATE SET
                   last_seen = greatest(q.last_seen, excluded.last_seen), count = q.count + excluded.count,
                   detail = excluded.detail, topic = excluded.topic, last_payload = excluded.last_payload""",
            ([k[0] for k in keys], [k[1] for k in keys], *(list(column) for column in zip(*rows))))

    def _write_ack(self, m: AckMessage) -> str | None:
        """Record a command ack; return a dead-letter reason when it matches no command."""
        cur = self.conn.execute(
            # A late ack of a timed-out command counts, and its order hears of it too.
            """UPDATE commands SET state = 'acknowledged', acked_at = %s, ack_status = %s, ack_info = %s,
                      reported_at = CASE WHEN state = 'timed_out' THEN NULL ELSE reported_at END
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
