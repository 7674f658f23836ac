"""The SLA watchdog (R-RESPONSE): warns before a clock runs out and escalates when it has.

Each notice is claimed by inserting its notification row (unique per order and kind),
so two watchdogs never warn or escalate twice.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

import psycopg

from maintenance.outbox.notices import notify
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
    if due is None:
        return SlaStatus.NONE
    if done is not None:
        return SlaStatus.MET if done <= due else SlaStatus.BREACHED
    if now > due:
        return SlaStatus.BREACHED
    if now >= created_at + (due - created_at) * warn_at:
        return SlaStatus.WARNING
    return SlaStatus.OK


# (clock column, done column, kind label, who is told)
_CLOCKS = (("response_due_at", "responded_at", "response", "dispatcher"),
           ("resolve_due_at", "resolved_at", "resolve", "supervisor"))


def watch(conn: psycopg.Connection, policy: Policy) -> int:
    """Send due warnings and escalations; return how many."""
    sent = 0
    for due_col, done_col, label, role in _CLOCKS:
        with conn.transaction():
            for order_id, pile_id, due in conn.execute(
                    f"SELECT id, pile_id, {due_col} FROM work_orders WHERE closed_at IS NULL AND {done_col} IS NULL "
                    f"AND {due_col} IS NOT NULL AND state NOT IN ('closed', 'cancelled') "
                    f"AND now() >= created_at + ({due_col} - created_at) * %s AND now() <= {due_col}",
                    (policy.sla.warn_at,)).fetchall():
                if notify(conn, f"sla_{label}_warning", role, f"Order {order_id} ({pile_id}): {label} due {due:%Y-%m-%d %H:%M}Z",
                          work_order_id=order_id, pile_id=pile_id):
                    conn.execute("UPDATE work_orders SET sla_warned_at = coalesce(sla_warned_at, now()) WHERE id = %s",
                                 (order_id,))
                    note(conn, order_id, f"SLA warning: {label} due {due:%Y-%m-%d %H:%M}Z", actor=ACTOR)
                    sent += 1
            for order_id, pile_id, due in conn.execute(
                    f"SELECT id, pile_id, {due_col} FROM work_orders WHERE closed_at IS NULL AND {done_col} IS NULL "
                    f"AND state NOT IN ('closed', 'cancelled') AND now() > {due_col}").fetchall():
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
