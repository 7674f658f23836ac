"""The SLA watchdog (R-RESPONSE): warns before a clock runs out and escalates when it has.

Each notice is claimed by inserting its notification row (unique per order and kind),
so two watchdogs never warn or escalate twice.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

import psycopg

from maintenance.outbox import notify
from maintenance.policy import Policy
from maintenance.orders.lifecycle import note

ACTOR = "sla"


class SlaStatus(str, Enum):
    """Where an order stands against one of its clocks."""

    NONE = "none"            # no clock (e.g. preventive orders use due dates)
    OK = "ok"
    WARNING = "warning"      # past the policy's warn_at share of the window
    BREACHED = "breached"
    MET = "met"


def status(created_at: datetime, due: datetime | None, done: datetime | None, now: datetime, warn_at: float) -> SlaStatus:
    """Where one clock stands at `now` (warn_at: the policy's sla.warn_at, a share 0..1 of the
    window from creation to due). `clock_sql` is the same rule for PostgreSQL; a test holds
    the two equal."""
    if due is None:
        return SlaStatus.NONE
    if done is not None:
        return SlaStatus.MET if done <= due else SlaStatus.BREACHED
    if now > due:
        return SlaStatus.BREACHED
    if now >= created_at + (due - created_at) * warn_at:
        return SlaStatus.WARNING
    return SlaStatus.OK


def clock_sql(due: str, done: str, *, order: str = "o", warn: str = "%(warn)s") -> str:
    """`status` as a SQL expression over the columns `{order}.{due}` and `{order}.{done}`,
    with the policy's warn_at bound as `warn` (a named parameter by default)."""
    return (f"CASE WHEN {order}.{due} IS NULL THEN 'none' "
            f"WHEN {order}.{done} IS NOT NULL THEN CASE WHEN {order}.{done} <= {order}.{due} THEN 'met' "
            f"ELSE 'breached' END "
            f"WHEN now() > {order}.{due} THEN 'breached' "
            f"WHEN now() >= {order}.created_at + ({order}.{due} - {order}.created_at) * {warn} THEN 'warning' "
            f"ELSE 'ok' END")


# (clock column, done column, kind label, who is told)
_CLOCKS = (("response_due_at", "responded_at", "response", "dispatcher"),
           ("resolve_due_at", "resolved_at", "resolve", "supervisor"))


def watch(conn: psycopg.Connection, policy: Policy) -> int:
    """Send due warnings and escalations; return how many."""
    sent = 0
    for due_col, done_col, label, role in _CLOCKS:
        with conn.transaction():
            for order_id, pile_id, due in conn.execute(
                    f"SELECT id, pile_id, {due_col} FROM work_orders o WHERE closed_at IS NULL "
                    f"AND state NOT IN ('closed', 'cancelled') AND {clock_sql(due_col, done_col, warn='%s')} = 'warning'",
                    (policy.sla.warn_at,)).fetchall():
                if notify(conn, f"sla_{label}_warning", role, f"Order {order_id} ({pile_id}): {label} due {due:%Y-%m-%d %H:%M}Z",
                          work_order_id=order_id, pile_id=pile_id):
                    conn.execute("UPDATE work_orders SET sla_warned_at = coalesce(sla_warned_at, now()) WHERE id = %s",
                                 (order_id,))
                    note(conn, order_id, f"SLA warning: {label} due {due:%Y-%m-%d %H:%M}Z", actor=ACTOR)
                    sent += 1
            for order_id, pile_id, due in conn.execute(
                    f"SELECT id, pile_id, {due_col} FROM work_orders o WHERE closed_at IS NULL AND {done_col} IS NULL "
                    f"AND state NOT IN ('closed', 'cancelled') AND {clock_sql(due_col, done_col, warn='0')} = 'breached'"
                    ).fetchall():
                if notify(conn, f"sla_{label}_breach", "supervisor",
                          f"Order {order_id} ({pile_id}) breached its {label} SLA (due {due:%Y-%m-%d %H:%M}Z): escalated",
                          work_order_id=order_id, pile_id=pile_id):
                    # Escalation: one level up and one priority step higher, without taking
                    # the order out of whoever holds it.
                    conn.execute("UPDATE work_orders SET sla_breached_at = coalesce(sla_breached_at, now()), "
                                 "escalation_level = escalation_level + 1, priority = greatest(1, priority - 1), "
                                 "updated_at = now() WHERE id = %s", (order_id,))
                    note(conn, order_id, f"SLA breached ({label} due {due:%Y-%m-%d %H:%M}Z): escalated to the supervisor",
                         actor=ACTOR)
                    sent += 1
    return sent
