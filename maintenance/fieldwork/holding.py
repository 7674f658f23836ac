"""The order as the engineer holding it sees it, and the checks every field step shares.

Only the engineer holding the order may act on it; for anyone else the order does not
exist (NotFound), so the API never tells who holds what.
"""
from __future__ import annotations

import psycopg

from maintenance.orders import WorkOrderState
from pilecare.errors import Conflict, NotFound


def held_order(conn: psycopg.Connection, order_id: int, engineer_id: str | None) -> tuple:
    """(state, pile_id, customer_id, warranty, kind) of an order the engineer holds."""
    row = conn.execute(
        "SELECT o.state, o.pile_id, s.customer_id, o.warranty, o.kind FROM work_orders o "
        "JOIN piles p ON p.id = o.pile_id "
        "JOIN sites s ON s.id = p.site_id WHERE o.id = %s AND (%s::text IS NULL OR o.engineer_id = %s)",
        (order_id, engineer_id, engineer_id)).fetchone()
    if row is None:
        raise NotFound(f"work order {order_id} does not exist")
    return row


def require_state(order_id: int, state: str, *allowed: WorkOrderState) -> None:
    if state not in {a.value for a in allowed}:
        raise Conflict(f"work order {order_id} is {state}; this step needs it "
                       + " or ".join(a.value for a in allowed))


def write_report(conn, order_id: int, actor: str, **fields) -> None:
    columns = list(fields)
    conn.execute(
        f"INSERT INTO service_reports (work_order_id, updated_by, {', '.join(columns)}) "
        f"VALUES (%s, %s, {', '.join(['%s'] * len(columns))}) ON CONFLICT (work_order_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns) + ", updated_at = now(), updated_by = excluded.updated_by",
        (order_id, actor, *fields.values()))


def verification_note(conn, order_id: int) -> str:
    # Safety repairs are verified by a supervisor, never by telemetry alone.
    safety = conn.execute("SELECT safety FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0]
    return "awaiting a supervisor's verification" if safety else "verifying from telemetry"
