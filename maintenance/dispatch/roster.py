"""Field engineers: who they are, what they can do, where and when they work, what they
carry and how busy they are. Dispatch reads the roster; the API edits it.

Functions take plain (tuple-row) connections, like the rest of maintenance.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg

from pilecare.errors import Conflict, InvalidInput, NotFound

# Orders an engineer is working on or has been offered: these count against max_jobs.
LIVE_STATES = ("assigned", "accepted", "en_route", "on_site")

COLUMNS = ("id", "user_id", "name", "phone", "skills", "regions", "home_lat", "home_lon", "lat", "lon",
           "position_at", "max_jobs", "active", "created_at")
EDITABLE = ("name", "phone", "skills", "regions", "home_lat", "home_lon", "max_jobs", "active")


@dataclass(frozen=True)
class Rostered:
    """One engineer as dispatch sees them at a moment."""

    id: str
    name: str
    home: tuple[float, float]
    position: tuple[float, float] | None
    position_at: datetime | None
    skills: frozenset[str]
    regions: frozenset[str]
    max_jobs: int
    live_jobs: int
    on_shift: bool
    van_parts: frozenset[str]


# With how busy they are and whether they work right now, for lists and the console.
_SELECT = (f"SELECT {', '.join('e.' + c for c in COLUMNS)}, "
           "(SELECT count(*) FROM work_orders w WHERE w.engineer_id = e.id AND w.state IN "
           f"({', '.join(repr(s) for s in LIVE_STATES)})), "
           "EXISTS (SELECT 1 FROM engineer_shifts sh WHERE sh.engineer_id = e.id "
           "AND sh.starts_at <= now() AND sh.ends_at > now()) FROM engineers e ")


def _dict(row) -> dict:
    return dict(zip(COLUMNS + ("live_jobs", "on_shift"), row))


def get(conn: psycopg.Connection, engineer_id: str) -> dict:
    row = conn.execute(_SELECT + "WHERE e.id = %s", (engineer_id,)).fetchone()
    if row is None:
        raise NotFound(f"engineer {engineer_id} does not exist")
    return _dict(row)


def list_all(conn: psycopg.Connection, *, active: bool | None = None, region: str | None = None,
             skill: str | None = None) -> list[dict]:
    rows = conn.execute(
        _SELECT + "WHERE (%(active)s::boolean IS NULL OR active = %(active)s) "
        "AND (%(region)s::text IS NULL OR %(region)s = ANY(regions)) "
        "AND (%(skill)s::text IS NULL OR %(skill)s = ANY(skills)) ORDER BY id",
        {"active": active, "region": region, "skill": skill}).fetchall()
    return [_dict(r) for r in rows]


def create(conn: psycopg.Connection, engineer_id: str, *, name: str, home_lat: float, home_lon: float,
           skills: list[str] | tuple[str, ...] = (), regions: list[str] | tuple[str, ...] = (),
           phone: str | None = None, max_jobs: int = 3, user_id: str | None = None, active: bool = True) -> dict:
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO engineers (id, user_id, name, phone, skills, regions, home_lat, home_lon, max_jobs, "
                "active) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                (engineer_id, user_id, name, phone, list(skills), list(regions), home_lat, home_lon, max_jobs,
                 active)).fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"user {user_id} is already linked to another engineer") from None
    except psycopg.errors.ForeignKeyViolation:
        raise InvalidInput(f"user {user_id} does not exist") from None
    except psycopg.errors.CheckViolation as error:
        raise InvalidInput(f"engineer {engineer_id}: {error.diag.message_primary}") from None
    if row is None:
        raise Conflict(f"engineer {engineer_id} already exists")
    return get(conn, engineer_id)


def update(conn: psycopg.Connection, engineer_id: str, **changes) -> dict:
    """Change the given fields (see EDITABLE); None values are left alone."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"engineers have no editable field {', '.join(sorted(unknown))}")
    changes = {k: (list(v) if isinstance(v, (tuple, set, frozenset)) else v)
               for k, v in changes.items() if v is not None}
    if changes:
        try:
            with conn.transaction():
                hit = conn.execute(
                    "UPDATE engineers SET " + ", ".join(f"{k} = %({k})s" for k in changes) + " WHERE id = %(id)s",
                    changes | {"id": engineer_id}).rowcount
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"user {changes.get('user_id')} is already linked to another engineer") from None
        except (psycopg.errors.CheckViolation, psycopg.errors.ForeignKeyViolation) as error:
            raise InvalidInput(f"engineer {engineer_id}: {error.diag.message_primary}") from None
        if not hit:
            raise NotFound(f"engineer {engineer_id} does not exist")
    return get(conn, engineer_id)


def add_shift(conn: psycopg.Connection, engineer_id: str, starts_at: datetime, ends_at: datetime) -> int:
    if ends_at <= starts_at:
        raise InvalidInput("a shift must end after it starts")
    get(conn, engineer_id)
    overlap = conn.execute(
        "SELECT starts_at, ends_at FROM engineer_shifts WHERE engineer_id = %s AND starts_at < %s AND ends_at > %s",
        (engineer_id, ends_at, starts_at)).fetchone()
    if overlap:
        raise Conflict(f"engineer {engineer_id} already has a shift {overlap[0]:%Y-%m-%d %H:%M}–{overlap[1]:%H:%M}Z "
                       "overlapping this one")
    return conn.execute("INSERT INTO engineer_shifts (engineer_id, starts_at, ends_at) VALUES (%s, %s, %s) "
                        "RETURNING id", (engineer_id, starts_at, ends_at)).fetchone()[0]


def shifts(conn: psycopg.Connection, engineer_id: str, *, since: datetime | None = None) -> list[dict]:
    get(conn, engineer_id)
    rows = conn.execute("SELECT id, starts_at, ends_at FROM engineer_shifts WHERE engineer_id = %s "
                        "AND (%s::timestamptz IS NULL OR ends_at > %s) ORDER BY starts_at",
                        (engineer_id, since, since)).fetchall()
    return [dict(zip(("id", "starts_at", "ends_at"), r)) for r in rows]


def is_on_shift(conn: psycopg.Connection, engineer_id: str, at: datetime | None = None) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM engineer_shifts WHERE engineer_id = %s "
                        "AND starts_at <= %s AND ends_at > %s)",
                        (engineer_id, at or _now(), at or _now())).fetchone()[0]


def set_position(conn: psycopg.Connection, engineer_id: str, lat: float, lon: float,
                 at: datetime | None = None) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput("lat must be within ±90 and lon within ±180")
    hit = conn.execute("UPDATE engineers SET lat = %s, lon = %s, position_at = %s WHERE id = %s",
                       (lat, lon, at or _now(), engineer_id)).rowcount
    if not hit:
        raise NotFound(f"engineer {engineer_id} does not exist")


def live_jobs(conn: psycopg.Connection, engineer_id: str) -> int:
    return conn.execute("SELECT count(*) FROM work_orders WHERE engineer_id = %s AND state = ANY(%s)",
                        (engineer_id, list(LIVE_STATES))).fetchone()[0]


def van_stock(conn: psycopg.Connection, engineer_id: str) -> list[dict]:
    """What the engineer's van carries (empty if they have no van)."""
    get(conn, engineer_id)
    rows = conn.execute(
        "SELECT l.id, st.part_id, p.name, st.quantity FROM stock_locations l JOIN stock st ON st.location_id = l.id "
        "JOIN parts p ON p.id = st.part_id WHERE l.engineer_id = %s AND st.quantity > 0 ORDER BY st.part_id",
        (engineer_id,)).fetchall()
    return [dict(zip(("location_id", "part_id", "name", "quantity"), r)) for r in rows]


def roster(conn: psycopg.Connection, at: datetime | None = None, *, ids: list[str] | None = None) -> list[Rostered]:
    """Active engineers (or the given ones, active or not) with their load, shift and van at `at`."""
    at = at or _now()
    rows = conn.execute(
        "SELECT e.id, e.name, e.home_lat, e.home_lon, e.lat, e.lon, e.position_at, e.skills, e.regions, e.max_jobs, "
        "  (SELECT count(*) FROM work_orders w WHERE w.engineer_id = e.id AND w.state = ANY(%(live)s)), "
        "  EXISTS (SELECT 1 FROM engineer_shifts sh WHERE sh.engineer_id = e.id "
        "          AND sh.starts_at <= %(at)s AND sh.ends_at > %(at)s), "
        "  coalesce((SELECT array_agg(st.part_id) FROM stock_locations l JOIN stock st ON st.location_id = l.id "
        "            WHERE l.engineer_id = e.id AND st.quantity > 0), '{}') "
        # An engineer whose login was deactivated cannot answer an offer: not on the roster.
        "FROM engineers e LEFT JOIN users u ON u.id = e.user_id "
        "WHERE (%(ids)s::text[] IS NULL AND e.active AND coalesce(u.active, true)) OR e.id = ANY(%(ids)s) "
        "ORDER BY e.id",
        {"live": list(LIVE_STATES), "at": at, "ids": ids}).fetchall()
    return [Rostered(id=r[0], name=r[1], home=(r[2], r[3]), position=(r[4], r[5]) if r[4] is not None else None,
                     position_at=r[6], skills=frozenset(r[7]), regions=frozenset(r[8]), max_jobs=r[9],
                     live_jobs=r[10], on_shift=r[11], van_parts=frozenset(r[12])) for r in rows]


def _now() -> datetime:
    return datetime.now(timezone.utc)
