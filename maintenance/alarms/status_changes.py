"""Turn ingest's status transitions into status alarms: error-code alarms, and the
Faulted alarm for a connector that says Faulted without a code a rule knows.

Connector 0 is the pile itself (OCPP 1.6): its transitions drive the same rules as a
connector's, so a pile that reports itself Faulted/InternalError while every connector
says Available raises the InternalError alarm, and Faulted/NoError the Faulted alarm
(issue 11).

Work is split by pile: a process takes a transaction-scoped advisory lock on a pile and
then claims all of its unprocessed transitions, in order. Two maintenance processes so
split the backlog without ever handling one pile's raise and clear out of order, and a
failure rolls the claim back for the next run. Work orders are opened from the alarms
by the policy step (maintenance/orders/policy_step.py), not here.
"""
from __future__ import annotations

import logging
from itertools import groupby

import psycopg

from maintenance.alarms.lifecycle import STATUS_KINDS, hold_while_down, raise_alarm, request_clear
from maintenance.policy import Policy
from maintenance.alarms.rules import ErrorCodeRule, OfflineRule, RuleSet, Scope
from pilecare.domain import ConnectorStatus, is_down

log = logging.getLogger(__name__)


def process_status_changes(conn: psycopg.Connection, rules: RuleSet, policy: Policy, *, limit: int = 500) -> int:
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
                "RETURNING id, connector_id, time, new_error_code, new_vendor_error_code, new_status",
                (pile_id,),
            ).fetchall()
            for _id, connector_id, at, error, vendor, status in _in_order(changes):
                _apply(conn, rules, policy, pile_id, connector_id, at, error, vendor, status)
            handled += len(changes)
    return handled


def _in_order(changes: list[tuple]) -> list[tuple]:
    """In the order ingest recorded them (id), but within one message (one time) the pile's
    own status (connector 0) after its connectors': an e-stop a connector reports is the
    pile's alarm, and it, not a second alarm, stands for the pile's Faulted without a code."""
    ordered = []
    for _time, group in groupby(sorted(changes), key=lambda c: c[2]):
        ordered += sorted(group, key=lambda c: (c[1] == 0, c[0]))
    return ordered


def _apply(conn, rules: RuleSet, policy: Policy, pile_id, connector_id, at, error, vendor, status) -> None:
    rule = rules.for_error_code(error, vendor) if error != "NoError" else None
    # The status, not the error code, says whether the connector works: one still down
    # (Faulted with NoError, a firmware habit) keeps its alarms, and their clear waits for a
    # working report (a fault is not resolved while the pile says it is down).
    down = _pile_down(conn, pile_id, status) if connector_id == 0 else is_down(connector_id, status)
    if down and rule is None:
        hold_while_down(conn, pile_id, connector_id, at=at, note=f"connector still {status} ({error})")
    # Whatever status alarm this connector had, other than the current one, is gone; for
    # connector 0 that holds the pile-wide alarms (e-stop) the connectors raise, so those
    # stay while a connector still reports them.
    for (rule_id,) in () if down else conn.execute(
            f"SELECT rule_id FROM alarms WHERE pile_id = %s AND connector_id = %s AND kind IN {STATUS_KINDS} "
            "AND state = 'active' AND clear_requested_at IS NULL AND rule_id IS DISTINCT FROM %s",
            (pile_id, connector_id, rule.id if rule else None)).fetchall():
        if connector_id == 0 and _reported(conn, pile_id, rules.by_id(rule_id), by_pile=False):
            continue
        request_clear(conn, pile_id, connector_id, rule_id, at=at, note=f"connector now {status}/{error}")
    # A connector-0 alarm lasts while the pile, or any connector, still reports its code, and
    # while the pile itself (connector 0) says it is down.
    if connector_id != 0:
        for (rule_id,) in conn.execute(
                f"SELECT rule_id FROM alarms WHERE pile_id = %s AND connector_id = 0 AND kind IN {STATUS_KINDS} "
                "AND state = 'active' AND clear_requested_at IS NULL", (pile_id,)).fetchall():
            if not _reported(conn, pile_id, rules.by_id(rule_id), by_pile=True) and not _pile_down(conn, pile_id):
                request_clear(conn, pile_id, 0, rule_id, at=at, note="neither the pile nor a connector reports it any more")
    detail = {"error_code": error, "vendor_error_code": vendor, "status": status, "connector_id": connector_id}
    if rule is None:
        faulted = rules.for_faulted() if status == ConnectorStatus.FAULTED.value else None
        # Faulted without a code a rule knows still cannot charge: its own alarm, unless a
        # status alarm of this connector already stands for the fault (held above: an error
        # code's, or this one back within its hold-off).
        if faulted is not None and not _live(conn, pile_id, connector_id, at):
            raise_alarm(conn, pile_id, connector_id, faulted, at=at,
                        clear_after_s=faulted.clear_after_s if faulted.clear_after_s is not None
                        else policy.clear_after_s,
                        detail=detail, repeat=True)
        return
    pile_wide = rule.scope is Scope.PILE or connector_id == 0
    raise_alarm(conn, pile_id, 0 if pile_wide else connector_id, rule, at=at,
                clear_after_s=rule.clear_after_s if rule.clear_after_s is not None else policy.clear_after_s,
                detail=detail, repeat=rule.scope is not Scope.PILE)


def _live(conn, pile_id: str, connector_id: int, at) -> bool:
    """Whether a status alarm of this connector (0 = the pile) is live at `at`: active, its
    clear not requested or still within its hold-off."""
    return conn.execute(
        f"SELECT EXISTS (SELECT 1 FROM alarms WHERE pile_id = %s AND connector_id = %s AND kind IN {STATUS_KINDS} "
        "AND state = 'active' AND (clear_requested_at IS NULL "
        "                          OR clear_requested_at + make_interval(secs => clear_after_s) >= %s))",
        (pile_id, connector_id, at)).fetchone()[0]


def _reported(conn, pile_id: str, rule: ErrorCodeRule | None, *, by_pile: bool) -> bool:
    """Whether a connector (and, with `by_pile`, the pile itself) still reports the rule's code."""
    if not isinstance(rule, ErrorCodeRule):
        return False  # a Faulted alarm is the pile's own report (connector 0), held by its status
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM connector_state WHERE pile_id = %(pile)s AND error_code = %(code)s "
        "               AND (%(vendor)s::text IS NULL OR vendor_error_code = %(vendor)s)) "
        "OR (%(by_pile)s AND EXISTS (SELECT 1 FROM pile_state WHERE pile_id = %(pile)s AND error_code = %(code)s "
        "               AND (%(vendor)s::text IS NULL OR vendor_error_code = %(vendor)s)))",
        {"pile": pile_id, "code": rule.error_code.value, "vendor": rule.vendor_error_code,
         "by_pile": by_pile}).fetchone()[0]


def _pile_down(conn, pile_id: str, status: str | None = None) -> bool:
    """Whether the pile itself (connector 0) is down: `status` if given (a connector-0
    transition), else the status of its newest telemetry.

    Unavailable after the platform took the pile out of service (its newest ChangeAvailability
    on connector 0, sent and not rejected, says Inoperative) is the platform's own doing, not
    a fault: it stays so after the repair as before it, and would hold the alarm for good."""
    if status is None:
        row = conn.execute("SELECT status FROM telemetry WHERE pile_id = %s AND connector_id = 0 "
                           "ORDER BY time DESC LIMIT 1", (pile_id,)).fetchone()
        status = row[0] if row else None
    if not status or not is_down(0, status):
        return False
    return status != ConnectorStatus.UNAVAILABLE.value or not _taken_out_of_service(conn, pile_id)


def _taken_out_of_service(conn, pile_id: str) -> bool:
    """Whether the platform's newest ChangeAvailability for the whole pile, sent and not
    rejected, was Inoperative. Sent: published over MQTT, or its OCPP CALL on the way
    (`delivering`: a charger may report Unavailable before its CALLRESULT arrives), or sent
    and never answered (`timed_out` after it left: the pile may well have obeyed without
    acking; one never delivered does not count)."""
    row = conn.execute(
        "SELECT params->>'type' FROM commands WHERE pile_id = %s AND type = 'ChangeAvailability' "
        "AND params->>'connector_id' = '0' AND (state IN ('sent', 'delivering', 'acknowledged') "
        "     OR state = 'timed_out' AND coalesce(sent_at, delivering_at) IS NOT NULL) "
        "AND ack_status IS DISTINCT FROM 'Rejected' ORDER BY requested_at DESC LIMIT 1", (pile_id,)).fetchone()
    return bool(row and row[0] == "Inoperative")


def process_connectivity(conn: psycopg.Connection, rules: RuleSet, policy: Policy, *, limit: int = 2000) -> int:
    """Last wills and online messages, as they come: an offline raises the offline rules'
    alarm at once (silence is the condition evaluator's job); an online requests the clear.
    A status the broker replayed as retained on subscribe is a snapshot of unknown age and
    changes nothing (a live pile's old last will must not raise an alarm).

    Rows are claimed with SKIP LOCKED, so two processes never handle one event twice. They
    may split one pile's offline and online between them; the condition evaluator then
    settles the alarm against the pile's state within a couple of seconds.
    """
    offline_rules = rules.of_kind(OfflineRule)
    with conn.transaction():
        events = conn.execute(
            "UPDATE connectivity_events SET processed_at = now() WHERE id IN ("
            " SELECT id FROM connectivity_events WHERE processed_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "RETURNING id, pile_id, received_at, online, reason, retained", (limit,)).fetchall()
        for _id, pile_id, at, online, reason, retained in sorted(events):
            if retained:
                continue
            for rule in offline_rules:
                if online:
                    request_clear(conn, pile_id, 0, rule.id, at=at, note="back online")
                else:
                    raise_alarm(conn, pile_id, 0, rule, at=at,
                                clear_after_s=rule.clear_after_s if rule.clear_after_s is not None
                                else policy.clear_after_s,
                                detail={"reason": reason or "offline"})
    return len(events)
