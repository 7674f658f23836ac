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
        # Where the trip starts, for arrival's whole-trip check: the engineer's last reported
        # position, if fresh (none: the check has nothing to go on).
        conn.execute("UPDATE work_orders o SET eta = %s, departed_lat = e.lat, departed_lon = e.lon, departed_at = "
                     "e.position_at FROM (SELECT NULL) x LEFT JOIN engineers e ON e.id = %s AND e.lat IS NOT NULL "
                     "AND e.position_at > now() - %s WHERE o.id = %s",
                     (eta, engineer_id, timedelta(seconds=_FRESH_S), order_id))
        enqueue(conn, Event.ARRIVAL_ETA, {"work_order_id": order_id, "pile_id": pile_id, "eta": eta.isoformat()},
                work_order_id=order_id, customer_id=customer_id)


# The least share of the announced trip an honest arrival takes (traffic may be kind, not
# that kind). The fastest plausible speed is the policy's arrival_max_speed_kmh.
MAX_SPEED_KMH = 150.0  # the shipped policy's; arrival_flags' default
MIN_TRIP_SHARE = 0.25
_MIN_MOVE_M = 1000  # under 1 km between two fixes is GPS noise, whatever the seconds
_MIN_TRIP_S = 20 * 60  # below a 20-minute announced trip, an early arrival says nothing
_FRESH_S = 2 * 3600    # a reported position older than this says nothing about the trip


def arrival_flags(*, fix: tuple[float, float], at: datetime, last: tuple[float, float] | None,
                  last_at: datetime | None, en_route_at: datetime | None, eta: datetime | None,
                  departed: tuple[float, float] | None = None, departed_at: datetime | None = None,
                  max_speed_kmh: float = MAX_SPEED_KMH) -> list[str]:
    """What makes an arrival fix doubtful (issue 12, item 2), in words for the timeline; [] if
    nothing does. Checked against the engineer's last reported position (a fix that moved
    faster than `max_speed_kmh` since it), the whole trip from where the engineer set off
    (`departed`, at `departed_at`: faster than `max_speed_kmh` as the crow flies since
    setting off, so a track of many small jumps is caught too) and the trip announced when
    setting off (an arrival after less than MIN_TRIP_SHARE of the time announced for a
    trip of 20 minutes or more). Positions: (lat, lon) in WGS 84 degrees.
    A phone's position can be spoofed or stale; the order is flagged, the arrival not refused,
    since the engineer may really be there (docs/field-api.md says what a phone must send)."""
    flags = []
    if last is not None and last_at is not None and 0 <= (at - last_at).total_seconds() <= _FRESH_S:
        moved_m = great_circle_m(last, fix)
        seconds = max((at - last_at).total_seconds(), 1.0)
        kmh = moved_m / seconds * 3.6
        if moved_m > _MIN_MOVE_M and kmh > max_speed_kmh:
            flags.append(f"position jumped {moved_m / 1000:.1f} km in {seconds:.0f} s ({kmh:.0f} km/h) "
                         f"from the last reported fix")
    if departed is not None and departed_at is not None and en_route_at is not None:
        # Timed from setting off: the engineer was at `departed` then (their last fix before it).
        trip_m = great_circle_m(departed, fix)
        seconds = max((at - en_route_at).total_seconds(), 1.0)
        kmh = trip_m / seconds * 3.6
        if trip_m > _MIN_MOVE_M and kmh > max_speed_kmh and not flags:
            flags.append(f"covered {trip_m / 1000:.1f} km in {seconds / 60:.0f} min since setting off "
                         f"({kmh:.0f} km/h)")
    if en_route_at is not None and eta is not None:
        announced = (eta - en_route_at).total_seconds()
        took = (at - en_route_at).total_seconds()
        if announced >= _MIN_TRIP_S and took < MIN_TRIP_SHARE * announced:
            flags.append(f"arrived {took / 60:.0f} min after setting off on a trip announced as "
                         f"{announced / 60:.0f} min")
    return flags


def arrive(conn: psycopg.Connection, policy: Policy, order_id: int, engineer_id: str | None, *, lat: float,
           lon: float, actor: str) -> float:
    """En route → on site, only within the policy's radius of the pile; returns the distance.
    A doubtful fix (`arrival_flags`) is accepted but flagged on the order and its timeline."""
    state, pile_id, _, _, _ = held_order(conn, order_id, engineer_id)
    require_state(order_id, state, S.EN_ROUTE)
    where = conn.execute("SELECT coalesce(p.lat, s.lat), coalesce(p.lon, s.lon) FROM piles p "
                         "JOIN sites s ON s.id = p.site_id WHERE p.id = %s", (pile_id,)).fetchone()
    away = great_circle_m((lat, lon), (where[0], where[1]))
    if away > policy.arrival_radius_m:
        raise Conflict(f"you are {away / 1000:.1f} km from pile {pile_id}; arrival counts within "
                       f"{policy.arrival_radius_m:.0f} m of it")
    now = datetime.now(timezone.utc)
    last = conn.execute("SELECT lat, lon, position_at FROM engineers WHERE id = %s", (engineer_id,)).fetchone() \
        if engineer_id else None
    trip = conn.execute(
        "SELECT o.eta, (SELECT max(e.at) FROM work_order_events e WHERE e.work_order_id = o.id "
        "               AND e.to_state = 'en_route'), o.departed_lat, o.departed_lon, o.departed_at "
        "FROM work_orders o WHERE o.id = %s", (order_id,)).fetchone()
    flags = arrival_flags(fix=(lat, lon), at=now,
                          last=(last[0], last[1]) if last and last[0] is not None else None,
                          last_at=last[2] if last else None, en_route_at=trip[1], eta=trip[0],
                          departed=(trip[2], trip[3]) if trip[2] is not None else None, departed_at=trip[4],
                          max_speed_kmh=policy.arrival_max_speed_kmh)
    with conn.transaction():
        note = f"arrived {away:.0f} m from the pile" + (f"; flagged: {'; '.join(flags)}" if flags else "")
        transition(conn, order_id, S.ON_SITE, actor=actor, note=note)
        if flags:
            conn.execute("UPDATE work_orders SET arrival_flags = %s WHERE id = %s", (flags, order_id))
        if engineer_id:
            conn.execute("UPDATE engineers SET lat = %s, lon = %s, position_at = now() WHERE id = %s",
                         (lat, lon, engineer_id))
    return away
