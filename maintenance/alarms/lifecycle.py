"""Alarms: at most one active per (pile, connector, rule), claimed in PostgreSQL.

A fault that goes away does not clear its alarm at once: the clear is requested and
counts only after the rule's hold-off. A fault that returns within it keeps the same
alarm (one more occurrence, one more flap), so a flapping fault stays one alarm and
one work order instead of a stream of them.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime

import psycopg

from maintenance.alarms import windows
from maintenance.outbox import Event, enqueue
from pilecare.errors import Conflict, NotFound

log = logging.getLogger(__name__)

ACTOR = "rules"
_ANNOUNCED = {"raised": Event.ALARM_RAISED, "cleared": Event.ALARM_CLEARED}

# Alarms raised by a connector's reported status and error code (status_changes.py): they
# last while the connector (0 = the pile) says it is down, and clear at a working report.
STATUS_KINDS = "('error_code', 'faulted')"

# Planned work on the pile or its site at time %(at)s (maintenance/alarms/windows.py).
IN_WINDOW = windows.covering("%(pile)s", "%(at)s")


def _event(conn: psycopg.Connection, alarm_id: int, action: str, actor: str = ACTOR, note: str | None = None,
           at: datetime | None = None) -> None:
    conn.execute("INSERT INTO alarm_events (alarm_id, at, actor, action, note) VALUES (%s, coalesce(%s, now()), %s, %s, %s)",
                 (alarm_id, at, actor, action, note))
    if action in _ANNOUNCED:
        # For the console's live lists and integrations; committed with the change.
        pile_id, connector_id, rule_id, severity, category, suppressed = conn.execute(
            "SELECT pile_id, connector_id, rule_id, severity, fault_category, suppressed FROM alarms WHERE id = %s",
            (alarm_id,)).fetchone()
        enqueue(conn, _ANNOUNCED[action], {"alarm_id": alarm_id, "pile_id": pile_id, "connector_id": connector_id,
                                           "rule_id": rule_id, "severity": severity, "fault_category": category,
                                           "suppressed": suppressed})
        # What the worker decides, in its log too (issue 12, item 7): an operator reading
        # `pilecare maintenance` sees the alarms come and go without opening the console.
        log.info("alarm %s %s: %s (%s) on pile %s connector %s%s", alarm_id, action, rule_id, severity, pile_id,
                 connector_id, " (suppressed: maintenance window)" if suppressed else "")


def raise_alarm(conn: psycopg.Connection, pile_id: str, connector_id: int, rule, *, at: datetime,
                clear_after_s: int, detail: dict | None = None, repeat: bool = False) -> tuple[int, bool]:
    """Raise the rule's alarm, or keep the active one; return (alarm id, new).

    `repeat` marks a fresh occurrence of a discrete fault (an error code reported again);
    a condition that simply still holds only moves last_seen. Either way a pending clear
    is cancelled: the fault is back.
    """
    args = {"pile": pile_id, "conn": connector_id, "rule": rule.id, "at": at, "repeat": repeat}
    for _ in range(3):
        # A clear whose hold-off had passed by the time the fault came back counts: the
        # return is a new alarm (settle_clears may simply not have run in between).
        for (expired,) in conn.execute(
                "UPDATE alarms SET state = 'cleared', cleared_at = clear_requested_at "
                "WHERE pile_id = %(pile)s AND connector_id = %(conn)s AND rule_id = %(rule)s AND state = 'active' "
                "AND clear_requested_at + make_interval(secs => clear_after_s) < %(at)s RETURNING id", args).fetchall():
            _event(conn, expired, "cleared")
        row = conn.execute(
            "UPDATE alarms a SET last_seen = greatest(a.last_seen, %(at)s), clear_requested_at = NULL, "
            "occurrences = a.occurrences + (%(repeat)s OR old.clearing)::int, flaps = a.flaps + old.clearing::int "
            "FROM (SELECT id, clear_requested_at IS NOT NULL AS clearing FROM alarms "
            "      WHERE pile_id = %(pile)s AND connector_id = %(conn)s AND rule_id = %(rule)s AND state = 'active' "
            "      FOR UPDATE) old "
            "WHERE a.id = old.id RETURNING a.id, old.clearing",
            args,
        ).fetchone()
        if row:
            if row[1]:
                _event(conn, row[0], "returned", note="fault back within the hold-off: same alarm", at=at)
            return row[0], False
        row = conn.execute(
            "INSERT INTO alarms (pile_id, connector_id, rule_id, kind, fault_category, severity, safety, first_seen, "
            "last_seen, detail, clear_after_s, order_after_s, suppressed) "
            "VALUES (%(pile)s, %(conn)s, %(rule)s, %(kind)s, %(category)s, %(severity)s, %(safety)s, %(at)s, %(at)s, "
            f"%(detail)s, %(clear_after)s, %(order_after)s, {IN_WINDOW}) "
            "ON CONFLICT (pile_id, connector_id, rule_id) WHERE state = 'active' DO NOTHING RETURNING id, suppressed",
            args | {"kind": rule.kind, "category": rule.category, "severity": rule.severity.value,
                    "safety": rule.safety, "detail": json.dumps(detail or {}), "clear_after": clear_after_s,
                    "order_after": rule.work_order_after_s if rule.work_order else None},
        ).fetchone()
        if row:
            _event(conn, row[0], "raised", note="inside a maintenance window: suppressed" if row[1] else None, at=at)
            return row[0], True
        # Another process inserted it between our update and insert: take its row.
    raise Conflict(f"could not settle the active {rule.id} alarm of {pile_id}/{connector_id}; try again")


def request_clear(conn: psycopg.Connection, pile_id: str, connector_id: int, rule_id: str, *, at: datetime,
                  note: str | None = None) -> int | None:
    """The fault went away: start the hold-off. Returns the alarm id, if one was active."""
    row = conn.execute(
        "UPDATE alarms SET clear_requested_at = %s WHERE pile_id = %s AND connector_id = %s AND rule_id = %s "
        "AND state = 'active' AND clear_requested_at IS NULL RETURNING id",
        (at, pile_id, connector_id, rule_id),
    ).fetchone()
    if row:
        _event(conn, row[0], "clear_requested", note=note, at=at)
    return row[0] if row else None


def hold_while_down(conn: psycopg.Connection, pile_id: str, connector_id: int, *, at: datetime,
                    note: str) -> list[int]:
    """The connector (0 = the pile) reports a status in which it cannot work, without an
    error code a rule knows (Faulted/NoError, a firmware habit): its active status alarms
    (error code or Faulted) are still seen at `at`, and a clear requested at an earlier
    working report whose hold-off has not passed is cancelled (the fault is back: same
    alarm, one more flap). Returns the ids of the alarms whose clear was cancelled.

    A clear whose hold-off had already passed counts, as in raise_alarm."""
    args = {"pile": pile_id, "conn": connector_id, "at": at}
    returned = [r[0] for r in conn.execute(
        "UPDATE alarms a SET last_seen = greatest(a.last_seen, %(at)s), clear_requested_at = NULL, "
        "occurrences = a.occurrences + old.clearing::int, flaps = a.flaps + old.clearing::int "
        "FROM (SELECT id, clear_requested_at IS NOT NULL AS clearing FROM alarms "
        f"      WHERE pile_id = %(pile)s AND connector_id = %(conn)s AND kind IN {STATUS_KINDS} AND state = 'active' "
        "      AND (clear_requested_at IS NULL OR clear_requested_at + make_interval(secs => clear_after_s) >= %(at)s) "
        "      FOR UPDATE) old "
        "WHERE a.id = old.id RETURNING a.id, old.clearing", args).fetchall() if r[1]]
    for alarm_id in returned:
        _event(conn, alarm_id, "returned", note=note, at=at)
    return returned


def settle_clears(conn: psycopg.Connection) -> list[int]:
    """Clear the alarms whose hold-off has passed; return their ids. One caller wins each."""
    with conn.transaction():
        ids = [r[0] for r in conn.execute(
            "UPDATE alarms SET state = 'cleared', cleared_at = clear_requested_at "
            "WHERE state = 'active' AND clear_requested_at IS NOT NULL "
            "AND clear_requested_at <= now() - make_interval(secs => clear_after_s) RETURNING id")]
        for alarm_id in ids:
            _event(conn, alarm_id, "cleared")
    return ids


def lift_suppression(conn: psycopg.Connection) -> list[int]:
    """Alarms still active after their maintenance window ended count again (and may open orders)."""
    with conn.transaction():
        ids = [r[0] for r in conn.execute(
            "UPDATE alarms a SET suppressed = false WHERE a.state = 'active' AND a.suppressed "
            f"AND NOT {windows.covering('a.pile_id', 'now()')} RETURNING a.id")]
        for alarm_id in ids:
            _event(conn, alarm_id, "unsuppressed", note="maintenance window over, fault still present")
    return ids


def acknowledge(conn: psycopg.Connection, alarm_id: int, *, actor: str, note: str | None = None) -> None:
    with conn.transaction():
        row = conn.execute("SELECT acknowledged_by FROM alarms WHERE id = %s FOR UPDATE", (alarm_id,)).fetchone()
        if row is None:
            raise NotFound(f"alarm {alarm_id} does not exist")
        if row[0] is not None:
            raise Conflict(f"alarm {alarm_id} was already acknowledged by {row[0]}")
        conn.execute("UPDATE alarms SET acknowledged_at = now(), acknowledged_by = %s WHERE id = %s", (actor, alarm_id))
        _event(conn, alarm_id, "acknowledged", actor, note)


def comment(conn: psycopg.Connection, alarm_id: int, *, actor: str, text: str) -> None:
    with conn.transaction():
        if conn.execute("SELECT 1 FROM alarms WHERE id = %s", (alarm_id,)).fetchone() is None:
            raise NotFound(f"alarm {alarm_id} does not exist")
        _event(conn, alarm_id, "comment", actor, text)
