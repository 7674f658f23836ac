"""Notices to people in a role (dispatcher, supervisor): SLA warnings and breaches, safety
faults, escalations, orders no engineer can take.

A notice is a `notifications` row, written in the caller's transaction; the row's unique
indexes make a notice of the same kind for the same order go out once, however many
workers try.
"""
from __future__ import annotations

import psycopg


def notify(conn: psycopg.Connection, kind: str, role: str, message: str, *, work_order_id: int | None = None,
           pile_id: str | None = None) -> bool:
    """Record a notice for `role`; False when this kind was already sent for the order."""
    return conn.execute(
        "INSERT INTO notifications (kind, recipient_role, work_order_id, pile_id, message) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING", (kind, role, work_order_id, pile_id, message)).rowcount == 1
