"""Turn ingest's status transitions into alarms and corrective work orders.

Work is split by pile: a process takes a transaction-scoped advisory lock on a pile and
then claims all of its unprocessed transitions, in order. Two maintenance processes so
split the backlog without ever handling one pile's raise and clear out of order, and a
failure rolls the claim back for the next run.
"""
from __future__ import annotations

import logging

import psycopg

from maintenance.alarms import clear_alarm, raise_alarm
from maintenance.rules import RuleSet, Severity
from maintenance.workorders import open_corrective

log = logging.getLogger(__name__)

ACTOR = "rules"
PRIORITY = {Severity.CRITICAL: 1, Severity.MAJOR: 2, Severity.MINOR: 3, Severity.WARNING: 4}


def process_status_changes(conn: psycopg.Connection, rules: RuleSet, *, limit: int = 500) -> int:
    """Handle the transitions of up to `limit` piles; return how many transitions."""
    handled = 0
    with conn.transaction():
        piles = [r[0] for r in conn.execute(
            "SELECT DISTINCT pile_id FROM connector_status_changes WHERE processed_at IS NULL LIMIT %s", (limit,))]
        for pile_id in sorted(piles):
            if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext('status-changes:' || %s))",
                                (pile_id,)).fetchone()[0]:
                continue  # another process has this pile
            changes = conn.execute(
                "UPDATE connector_status_changes SET processed_at = now() "
                "WHERE pile_id = %s AND processed_at IS NULL "
                "RETURNING id, connector_id, time, old_error_code, new_error_code, new_status",
                (pile_id,),
            ).fetchall()
            for _id, connector_id, at, old_error, new_error, status in sorted(changes):
                _apply(conn, rules, pile_id, connector_id, at, old_error, new_error, status)
            handled += len(changes)
    return handled


def _apply(conn, rules: RuleSet, pile_id, connector_id, at, old_error, new_error, status) -> None:
    if old_error and old_error != new_error and (old_rule := rules.for_error_code(old_error)):
        clear_alarm(conn, pile_id, connector_id, old_rule.id, at=at)
    rule = rules.for_error_code(new_error)
    if rule is None:
        return
    alarm_id, new = raise_alarm(conn, pile_id, connector_id, rule.id, fault_category=rule.category,
                                severity=rule.severity.value, safety=rule.safety, at=at,
                                detail={"error_code": new_error, "status": status})
    if new and rule.work_order:
        open_corrective(conn, pile_id, rule.category, priority=PRIORITY[rule.severity], actor=ACTOR,
                        alarm_id=alarm_id, title=f"{new_error} on connector {connector_id}")
