"""Travel and arrival (R-REPAIR): en route with an ETA the customer is told, and arrival
checked against the pile's position.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from maintenance.fieldwork.holding import held_order, require_state
from maintenance.orders import WorkOrderState as S
from maintenance.orders import transition
from maintenance.outbox import Event, enqueue
from maintenance.policy import Policy
from pilecare.errors import Conflict, InvalidInput
from pilecare.geo import great_circle_m


def start_travel(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, eta: datetime,
                 actor: str) -> None:
    """Accepted → en route, with an ETA the customer is told (arrival-time notice)."""
    state, pile_id, customer_id, _, _ = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, S.ACCEPTED)
    # The customer is told this time: one already past is a mistake (a phone's wrong clock
    # or a typo), a few minutes' slack aside.
    if eta < datetime.now(timezone.utc) - timedelta(minutes=5):
        raise InvalidInput(f"eta: {eta.isoformat()} has passed; give the expected arrival time")
    with conn.transaction():
        # The phone sends its local time with an offset; the timeline speaks UTC.
        transition(conn, order_id, S.EN_ROUTE, actor=actor, note=f"ETA {eta.astimezone(timezone.utc):%Y-%m-%d %H:%M}Z")
        conn.execute("UPDATE work_orders SET eta = %s WHERE id = %s", (eta, order_id))
        enqueue(conn, Event.ARRIVAL_ETA, {"work_order_id": order_id, "pile_id": pile_id, "eta": eta.isoformat()},
                work_order_id=order_id, customer_id=customer_id)


def arrive(conn: psycopg.Connection, policy: Policy, order_id: int, engineer_id: str | None, *, lat: float,
           lon: float, actor: str) -> float:
    """En route → on site, only within the policy's radius of the pile; returns the distance."""
    state, pile_id, _, _, _ = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, S.EN_ROUTE)
    where = conn.execute("SELECT coalesce(p.lat, s.lat), coalesce(p.lon, s.lon) FROM piles p "
                         "JOIN sites s ON s.id = p.site_id WHERE p.id = %s", (pile_id,)).fetchone()
    away = great_circle_m((lat, lon), (where[0], where[1]))
    if away > policy.arrival_radius_m:
        raise Conflict(f"you are {away / 1000:.1f} km from pile {pile_id}; arrival counts within "
                       f"{policy.arrival_radius_m:.0f} m of it")
    with conn.transaction():
        transition(conn, order_id, S.ON_SITE, actor=actor, note=f"arrived {away:.0f} m from the pile")
        if engineer_id:
            conn.execute("UPDATE engineers SET lat = %s, lon = %s, position_at = now() WHERE id = %s",
                         (lat, lon, engineer_id))
    return away
