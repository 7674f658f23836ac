"""Alarms: at most one active per (pile, connector, rule), claimed in PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime

import psycopg


def raise_alarm(conn: psycopg.Connection, pile_id: str, connector_id: int, rule_id: str, *, fault_category: str,
                severity: str, at: datetime, safety: bool = False, detail: dict | None = None) -> tuple[int, bool]:
    """Raise or repeat an alarm; return (alarm id, new).

    A repeat bumps the occurrence count and last_seen of the active alarm; the partial
    unique index makes concurrent raisers agree on one row.
    """
    row = conn.execute(
        "INSERT INTO alarms AS a (pile_id, connector_id, rule_id, fault_category, severity, safety, first_seen, "
        "last_seen, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (pile_id, connector_id, rule_id) WHERE state = 'active' DO UPDATE SET "
        "occurrences = a.occurrences + 1, last_seen = greatest(a.last_seen, excluded.last_seen) "
        "RETURNING id, (xmax = 0) AS inserted",
        (pile_id, connector_id, rule_id, fault_category, severity, safety, at, at, json.dumps(detail or {})),
    ).fetchone()
    return row[0], row[1]


def clear_alarm(conn: psycopg.Connection, pile_id: str, connector_id: int, rule_id: str, *, at: datetime) -> int | None:
    """Clear the active alarm, if any; return its id. Only one caller clears it."""
    row = conn.execute(
        "UPDATE alarms SET state = 'cleared', cleared_at = %s "
        "WHERE pile_id = %s AND connector_id = %s AND rule_id = %s AND state = 'active' RETURNING id",
        (at, pile_id, connector_id, rule_id),
    ).fetchone()
    return row[0] if row else None
