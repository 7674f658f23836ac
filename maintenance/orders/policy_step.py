"""The policy step: alarms become corrective work orders, and orders move on by themselves
where the telemetry says so.

- open: an active alarm whose rule asks for an order, once it has lasted the rule's
  persistence, opens (or joins) the pile's order for the fault category, with priority
  and SLA clocks from severity, customer tier and safety;
- safety: a safety fault takes the pile out of service and tells the supervisor (R-REPAIR);
- route: a new order goes to remote triage (configured categories) or to dispatch;
- triage: bounded remote resets; a pile that recovers is "resolved remotely" (R-TRIAGE);
- no automatic command (reset, out of service) reaches a pile before it has been online the
  policy's `command_settle_s` since its last (re)connect or boot; a due one waits;
- settle: an order whose alarms all cleared moves to verification ("resolved");
- verify: a resolved order is verified once the pile has stayed healthy for the policy's
  period, and orders nobody had to visit are then closed; a fault that returns, or one
  still active a verification period after the repair, sends the order back to dispatch.
  Safety orders are verified by a supervisor (the desk), never by telemetry alone.

Every move is a conditional UPDATE (lifecycle.transition) and every claim of an alarm
or a triage attempt is one too, so any number of maintenance processes can run this.
Commands leave only after the claim has committed: a crash in between costs one retry
after the triage wait, never a duplicate decision.
"""
from __future__ import annotations

import logging

import psycopg

from gateway.commands import expire_commands
from maintenance.alarms.lifecycle import STATUS_KINDS
from maintenance.policy import Policy
from pilecare.domain import Severity
from maintenance.orders.lifecycle import OPEN, WorkOrderState, note, open_corrective, transition
from maintenance.orders.safety import send_due_back_in_service, send_due_out_of_service, take_out_of_service
from maintenance.outbox import notify
from maintenance.orders.command_outcomes import note_command_outcomes
from pilecare.domain import CONNECTOR_DOWN, PILE_DOWN, CommandType
from pilecare.errors import Conflict
from pilecare.liveness import online_sql, settled_sql

log = logging.getLogger(__name__)

ACTOR = "rules"
S = WorkOrderState


def _move(conn, order_id: int, to: WorkOrderState, actor: str, text: str, resolution: str | None = None) -> bool:
    try:
        transition(conn, order_id, to, actor=actor, note=text, resolution=resolution)
        return True
    except Conflict:
        return False  # another process moved it first, or a person did: theirs stands


def _describe(rule_id: str, detail: dict) -> str:
    """What the rule saw, for people: "Raised by rule x: status Faulted, error code GroundFailure"."""
    seen = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in detail.items()
                     if value is not None and key != "connector_id")
    return f"Raised by rule {rule_id}" + (f": {seen}" if seen else "")


# A connector (0 = the pile) that reports Faulted without a code (an alarm of kind 'faulted')
# and the error code it reports before or after are one fault: the second alarm joins the
# open order of the first instead of opening one for another category. The connector 0 and
# any connector count as the same place (the pile says Faulted, a connector says why).
_SAME_FAULT = f"""
SELECT f.id, o.fault_category, o.safety FROM alarms f JOIN work_orders o ON o.id = f.work_order_id
WHERE f.pile_id = %(pile)s AND f.id <> %(alarm)s AND f.state = 'active'
  AND f.kind IN {STATUS_KINDS} AND %(kind)s IN {STATUS_KINDS} AND (f.kind = 'faulted') <> (%(kind)s = 'faulted')
  AND (f.connector_id = %(conn)s OR f.connector_id = 0 OR %(conn)s = 0)
  AND o.kind = 'corrective' AND o.state NOT IN ('closed', 'cancelled')
ORDER BY f.id LIMIT 1"""


# An open corrective order of the pile for a category related to the alarm's (policy
# related_categories): the oldest, so a chain of related alarms gathers on the first order.
_RELATED = """
SELECT id, fault_category, safety FROM work_orders
WHERE pile_id = %s AND kind = 'corrective' AND state NOT IN ('closed', 'cancelled') AND fault_category = ANY(%s)
ORDER BY id LIMIT 1"""


def _what(kind: str, rule_id: str, detail: dict) -> str:
    """The fault in an order's title: the error code, or Faulted and the code no rule knew."""
    code = detail.get("error_code")
    if kind == "faulted":
        return "Faulted without an error code" if code in (None, "NoError") else f"Faulted ({code})"
    return code or rule_id


def open_from_alarms(conn: psycopg.Connection, policy: Policy, downlink=None, *, limit: int = 200) -> list[int]:
    """Open or join orders for the alarms that ask for one; return the orders created."""
    created, out_of_service = [], []
    with conn.transaction():
        alarms = conn.execute(
            "SELECT a.id, a.pile_id, a.connector_id, a.kind, a.rule_id, a.fault_category, a.severity, a.safety, a.detail, "
            "       cu.tier "
            "FROM alarms a JOIN piles p ON p.id = a.pile_id JOIN sites s ON s.id = p.site_id "
            "JOIN customers cu ON cu.id = s.customer_id "
            "WHERE a.work_order_id IS NULL AND a.order_after_s IS NOT NULL AND NOT a.suppressed "
            "AND (a.state = 'active' OR a.order_after_s = 0) "
            "AND a.first_seen <= now() - make_interval(secs => a.order_after_s) "
            "ORDER BY a.id LIMIT %s FOR UPDATE OF a SKIP LOCKED", (limit,)).fetchall()
        for alarm_id, pile_id, connector_id, kind, rule_id, category, severity, safety, detail, tier in alarms:
            severity = Severity(severity)
            response_h, resolve_h = policy.sla_for(severity, tier, safety)
            what = _what(kind, rule_id, detail)
            where = f"connector {connector_id}" if connector_id else "pile"
            same_fault = conn.execute(_SAME_FAULT, {"alarm": alarm_id, "pile": pile_id, "conn": connector_id,
                                                    "kind": kind}).fetchone()
            related = None
            if same_fault is None and policy.related(category) and not conn.execute(
                    "SELECT 1 FROM work_orders WHERE pile_id = %s AND fault_category = %s AND kind = 'corrective' "
                    "AND state NOT IN ('closed', 'cancelled')", (pile_id, category)).fetchone():
                related = conn.execute(_RELATED, (pile_id, policy.related(category))).fetchone()
            joins = same_fault or related
            order_id, new = open_corrective(
                conn, pile_id, joins[1] if joins else category, title=f"{what} on {where}", actor=ACTOR,
                alarm_id=alarm_id, priority=policy.priority_for(severity, tier, safety), severity=severity.value,
                safety=safety, description=_describe(rule_id, detail), response_h=response_h, resolve_h=resolve_h,
                repeat_days=policy.repeat_days)
            if same_fault and not new:
                note(conn, order_id, f"{what} on {where} is the same fault as alarm {same_fault[0]}: "
                                     f"alarm {alarm_id} ({rule_id}) joins this order", actor=ACTOR)
            elif related and not new:
                note(conn, order_id, f"{what} on {where} ({category}) is related to this {related[1]} order "
                                     f"(policy related_categories): alarm {alarm_id} ({rule_id}) joins it", actor=ACTOR)
            if new:
                created.append(order_id)
            # A safety fault that joins an order opened without one still takes the pile out
            # of service and tells the supervisor.
            if new or (joins and not joins[2]):
                if safety:
                    notify(conn, "safety", "supervisor", f"Safety fault {what} on pile {pile_id}: order {order_id}",
                           work_order_id=order_id, pile_id=pile_id)
                    if policy.safety_out_of_service:
                        out_of_service.append((order_id, pile_id))
    for order_id, pile_id in out_of_service:
        take_out_of_service(conn, downlink, order_id, pile_id, actor=ACTOR, settle_s=policy.command_settle_s)
    return created


def route_new(conn: psycopg.Connection, policy: Policy) -> int:
    """New corrective orders go to remote triage or straight to dispatch."""
    moved = 0
    for order_id, category, safety in conn.execute(
            "SELECT id, fault_category, safety FROM work_orders WHERE state = 'new' AND kind = 'corrective' "
            "ORDER BY id LIMIT 500").fetchall():
        if not safety and policy.triage.attempts and category in policy.triage.categories:
            conn.execute("UPDATE work_orders SET triage_next_at = now() WHERE id = %s AND state = 'new'", (order_id,))
            moved += _move(conn, order_id, S.TRIAGE, ACTOR, "remote first line: reset before dispatch")
        else:
            why = "safety fault: an engineer must go" if safety else "needs an engineer on site"
            moved += _move(conn, order_id, S.READY_FOR_DISPATCH, ACTOR, why)
    # Planned work waits until it is nearly due, so engineers are offered this week's
    # visits, not next quarter's.
    for order_id, due in conn.execute(
            "SELECT id, due_at FROM work_orders WHERE state = 'new' AND kind <> 'corrective' "
            "AND (due_at IS NULL OR due_at <= now() + make_interval(secs => %s)) ORDER BY due_at NULLS FIRST, id "
            "LIMIT 500", (policy.planned_lead_h * 3600,)).fetchall():
        when = f"due {due:%Y-%m-%d %H:%M} UTC" if due else "no due date"
        moved += _move(conn, order_id, S.READY_FOR_DISPATCH, ACTOR, f"planned work, {when}: to dispatch")
    return moved


_ALL_CLEARED = ("EXISTS (SELECT 1 FROM alarms a WHERE a.work_order_id = o.id) AND "
                "NOT EXISTS (SELECT 1 FROM alarms a WHERE a.work_order_id = o.id AND a.state = 'active')")


# Due resets claimed only for piles that have settled (pilecare.liveness): online and up
# `command_settle_s` since the last (re)connect and boot.
_DUE_RESETS = f"""
    UPDATE work_orders o SET triage_attempts = o.triage_attempts + 1, triage_waiting_since = NULL,
           triage_next_at = now() + make_interval(secs => %(wait_s)s)
    FROM pile_state s JOIN piles p ON p.id = s.pile_id JOIN pile_models m ON m.id = p.model_id
    WHERE s.pile_id = o.pile_id AND o.state = 'triage' AND o.triage_next_at <= now()
      AND o.triage_attempts < %(attempts)s AND {settled_sql("s", "m", "%(settle_s)s")}
    RETURNING o.id, o.pile_id, o.triage_attempts"""


def triage(conn: psycopg.Connection, policy: Policy, downlink) -> int:
    """Advance remote triage: resolve recovered piles, send due resets, give up when spent.

    A reset is sent only once the pile has been online `command_settle_s` since its last
    (re)connect or boot: a reset straight into a boot feeds a reboot loop. A due reset
    waits (said once on the timeline), it is not dropped; a pile that has not settled
    within the whole triage budget (attempts × wait_s) after it fell due goes to dispatch,
    since a reset cannot reach it safely."""
    changes = 0
    for order_id, attempts in conn.execute(
            f"SELECT o.id, o.triage_attempts FROM work_orders o WHERE o.state = 'triage' AND {_ALL_CLEARED}").fetchall():
        if attempts:
            changes += _move(conn, order_id, S.RESOLVED, ACTOR,
                             f"resolved remotely: the pile recovered after {attempts} reset(s)", resolution="remote")
        else:  # it recovered by itself while its reset waited for the pile to settle
            changes += _move(conn, order_id, S.RESOLVED, ACTOR, "the fault cleared at the pile before a reset was "
                             "sent; verifying before closing", resolution="cleared_at_pile")
    due = conn.execute(_DUE_RESETS, {"wait_s": policy.triage.wait_s, "attempts": policy.triage.attempts,
                                     "settle_s": policy.command_settle_s}).fetchall()
    for order_id, pile_id, attempt in due:
        try:
            command_id = downlink.send(conn, pile_id, CommandType.RESET, {"type": policy.triage.reset_type},
                                       requested_by=ACTOR, work_order_id=order_id)
            text = f"remote reset {attempt} of {policy.triage.attempts} sent (command {command_id})"
        except Exception as error:  # broker trouble: the attempt counts, the next one retries
            log.exception("remote reset of %s failed", pile_id)
            text = f"remote reset {attempt} of {policy.triage.attempts} could not be sent: {error}"
        note(conn, order_id, text, actor=ACTOR)
        changes += 1
    for order_id, attempt in conn.execute(
            "UPDATE work_orders SET triage_waiting_since = triage_next_at WHERE state = 'triage' "
            "AND triage_next_at <= now() AND triage_attempts < %s AND triage_waiting_since IS NULL "
            "RETURNING id, triage_attempts + 1", (policy.triage.attempts,)).fetchall():
        note(conn, order_id, f"remote reset {attempt} of {policy.triage.attempts} waits: the pile is offline or "
                             f"(re)connected or booted less than {policy.command_settle_s} s ago", actor=ACTOR)
        changes += 1
    budget_s = policy.triage.wait_s * policy.triage.attempts
    for order_id, since in conn.execute(
            "SELECT id, triage_waiting_since FROM work_orders WHERE state = 'triage' "
            "AND triage_waiting_since <= now() - make_interval(secs => %s)", (budget_s,)).fetchall():
        changes += _move(conn, order_id, S.READY_FOR_DISPATCH, ACTOR,
                         f"the pile has not stayed up {policy.command_settle_s} s since {since:%Y-%m-%d %H:%M:%S} UTC "
                         f"(offline or restarting): a remote reset cannot reach it safely; dispatch")
    for order_id, attempts in conn.execute(
            "SELECT id, triage_attempts FROM work_orders WHERE state = 'triage' AND triage_next_at <= now() "
            "AND triage_attempts >= %s", (policy.triage.attempts,)).fetchall():
        changes += _move(conn, order_id, S.READY_FOR_DISPATCH, ACTOR,
                         f"remote reset did not cure the fault after {attempts} attempt(s): dispatch")
    return changes


def settle(conn: psycopg.Connection) -> int:
    """Orders not yet in anyone's hands whose alarms all cleared go to verification."""
    changes = 0
    for order_id, safety in conn.execute(
            f"SELECT o.id, o.safety FROM work_orders o WHERE o.kind = 'corrective' "
            f"AND o.state IN ('new', 'ready_for_dispatch') AND {_ALL_CLEARED}").fetchall():
        next_step = "awaiting a supervisor's verification" if safety else "verifying before closing"
        changes += _move(conn, order_id, S.RESOLVED, ACTOR, f"the fault cleared at the pile; {next_step}",
                         resolution="cleared_at_pile")
    return changes


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


# Healthy: reporting (online, heard within 3 intervals), no connector down and the pile
# itself (connector 0, its newest telemetry) not down, whatever the error codes say, and no
# active alarm of the order's fault category or linked to the order (an installation that
# replaces a faulty pile carries the old order's alarms).
_HEALTHY = f"""
    {online_sql("s", "m")}
    AND NOT EXISTS (SELECT 1 FROM connector_state c WHERE c.pile_id = o.pile_id AND c.status IN {_in(CONNECTOR_DOWN)})
    AND coalesce((SELECT t.status FROM telemetry t WHERE t.pile_id = o.pile_id AND t.connector_id = 0
                  ORDER BY t.time DESC LIMIT 1), '') NOT IN {_in(PILE_DOWN)}
    AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.pile_id = o.pile_id AND a.state = 'active'
                    AND a.fault_category = o.fault_category)
    AND NOT EXISTS (SELECT 1 FROM work_order_alarms l JOIN alarms a ON a.id = l.alarm_id
                    WHERE l.work_order_id = o.id AND a.state = 'active')"""


def verify(conn: psycopg.Connection, policy: Policy) -> int:
    """Resolved → verified after a healthy period (→ closed if nobody had to go); a fault
    that returned sends the order back to dispatch."""
    changes = 0
    for (order_id,) in conn.execute(
            "SELECT o.id FROM work_orders o WHERE o.state = 'resolved' AND EXISTS ("
            " SELECT 1 FROM alarms a WHERE a.work_order_id = o.id AND a.state = 'active' "
            " AND a.last_seen >= o.resolved_at)").fetchall():
        if _move(conn, order_id, S.READY_FOR_DISPATCH, "verification",
                 "the fault returned during verification: dispatch"):
            # Not a first-time fix (R-KPI): counted against the repair that did not hold. The
            # transition released the engineer and archived the visit's report (a fresh visit).
            conn.execute("UPDATE work_orders SET reopened_count = reopened_count + 1 WHERE id = %s", (order_id,))
            changes += 1
    changes += _reopen_still_faulty(conn, policy)
    for order_id, resolution in conn.execute(
            "SELECT o.id, CASE WHEN o.resolution = 'repaired' AND EXISTS (SELECT 1 FROM service_reports r "
            "  WHERE r.work_order_id = o.id AND r.completed_at IS NOT NULL) THEN 'reported' ELSE o.resolution END "
            "FROM work_orders o JOIN pile_state s ON s.pile_id = o.pile_id "
            "JOIN piles p ON p.id = o.pile_id JOIN pile_models m ON m.id = p.model_id "
            # Safety faults are verified by a person, never by telemetry alone (R-REPAIR).
            "WHERE o.state = 'resolved' AND NOT o.safety AND o.resolved_at <= now() - make_interval(secs => %s) "
            f"AND {_HEALTHY}", (policy.verify_s,)).fetchall():
        if not _move(conn, order_id, S.VERIFIED, "verification",
                     f"healthy for {policy.verify_s} s after resolution"):
            continue
        changes += 1
        labels = {"remote": "resolved remotely, no visit needed", "cleared_at_pile": "cleared at the pile, no visit needed",
                  "reported": "repaired with a complete service report, verified from telemetry"}
        if resolution in labels:
            changes += _move(conn, order_id, S.CLOSED, "verification", f"closed: {labels[resolution]}")
    return changes


def _reopen_still_faulty(conn: psycopg.Connection, policy: Policy) -> int:
    """A repair that did not fix the pile: its alarm never cleared (still Faulted, still
    offline), so it neither returns nor lets the pile look healthy. A verification period
    after the repair that is a failed verification like a returning fault."""
    changes = 0
    for order_id, minutes, alarms in conn.execute(
            "SELECT o.id, round(extract(epoch FROM now() - o.resolved_at) / 60)::int, "
            "       string_agg(format('alarm %%s (%%s)', a.id, a.rule_id), ', ' ORDER BY a.id) "
            "FROM work_orders o JOIN work_order_alarms l ON l.work_order_id = o.id JOIN alarms a ON a.id = l.alarm_id "
            "WHERE o.state = 'resolved' AND o.resolved_at <= now() - make_interval(secs => %s) "
            "AND a.state = 'active' GROUP BY o.id, o.resolved_at ORDER BY o.id", (policy.verify_s,)).fetchall():
        # The move is the claim: of two maintenance processes one reopens and counts it, the
        # other gets a Conflict and leaves it.
        with conn.transaction():
            if _move(conn, order_id, S.READY_FOR_DISPATCH, "verification",
                     f"fault still present {minutes} min after the repair: {alarms} still active; dispatch"):
                conn.execute("UPDATE work_orders SET reopened_count = reopened_count + 1 WHERE id = %s", (order_id,))
                changes += 1
    return changes


def step(conn: psycopg.Connection, policy: Policy, downlink) -> int:
    """One pass of the policy; returns how many things changed."""
    return (len(open_from_alarms(conn, policy, downlink)) + route_new(conn, policy) + triage(conn, policy, downlink)
            + send_due_out_of_service(conn, downlink, settle_s=policy.command_settle_s)
            + send_due_back_in_service(conn, downlink, settle_s=policy.command_settle_s)
            + expire_commands(conn, policy.command_ack_timeout_s) + note_command_outcomes(conn)
            + settle(conn) + verify(conn, policy))


__all__ = ["OPEN", "step", "open_from_alarms", "route_new", "triage", "settle", "verify"]
