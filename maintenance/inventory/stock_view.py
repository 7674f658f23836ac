"""Stock as the parts keeper sees it (R-PARTS, issue 14 item 2): the locations, on-hand per
location and part (usable, receiving, quarantine; the low-stock flag), and the movement log.
Reads only, besides opening a warehouse or a van.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from maintenance.inventory.ledger import USABLE, LocationKind, MovementKind
from pilecare.errors import Conflict, InvalidInput, NotFound


def create_location(conn: psycopg.Connection, location_id: str, kind: LocationKind, name: str, *, actor: str,
                    engineer_id: str | None = None, home_warehouse_id: str | None = None) -> dict:
    """Open a warehouse, or a van for `engineer_id` based at `home_warehouse_id`; its receiving
    and quarantine areas appear with it (migration 0039's trigger). Returns the location as
    `locations` gives it.

    Raises InvalidInput for an area kind, a van without its engineer or home warehouse, a
    warehouse with either, an unknown engineer or a home that is not a warehouse; Conflict
    when the id is taken or the engineer has a van already."""
    if kind not in USABLE:
        raise InvalidInput(f"kind: {kind.value} areas are made with their warehouse or van, not alone")
    if kind is LocationKind.VAN and (engineer_id is None or home_warehouse_id is None):
        raise InvalidInput(f"{'engineer_id' if engineer_id is None else 'home_warehouse_id'}: a van needs its "
                           "engineer and its home warehouse")
    if kind is LocationKind.WAREHOUSE and (engineer_id or home_warehouse_id):
        raise InvalidInput(f"{'engineer_id' if engineer_id else 'home_warehouse_id'}: only a van has one")
    if home_warehouse_id is not None:
        home = conn.execute("SELECT kind FROM stock_locations WHERE id = %s", (home_warehouse_id,)).fetchone()
        if home is None or home[0] != LocationKind.WAREHOUSE.value:
            raise InvalidInput(f"home_warehouse_id: {home_warehouse_id!r} is not a warehouse")
    try:
        with conn.transaction():
            conn.execute("INSERT INTO stock_locations (id, kind, name, engineer_id, parent_id, created_by) "
                         "VALUES (%s, %s, %s, %s, %s, %s)",
                         (location_id, kind.value, name, engineer_id, home_warehouse_id, actor))
    except errors.UniqueViolation as e:
        if "engineer_id" in (e.diag.message_detail or ""):
            raise Conflict(f"engineer_id: {engineer_id!r} has a van already") from None
        raise Conflict(f"id: stock location {location_id!r} exists already") from None
    except errors.ForeignKeyViolation:
        raise InvalidInput(f"engineer_id: engineer {engineer_id!r} does not exist") from None
    return locations(conn, location_id=location_id)[0][0]


_LOCATIONS = ("SELECT l.id, l.kind, l.name, l.engineer_id, l.parent_id, l.created_by, l.created_at, "
              "array(SELECT a.id FROM stock_locations a WHERE a.parent_id = l.id "
              "      AND a.kind IN ('receiving', 'quarantine') ORDER BY a.kind) AS areas "
              "FROM stock_locations l")


def locations(conn: psycopg.Connection, *, location_id: str | None = None, kind: LocationKind | None = None,
              parent_id: str | None = None, limit: int = 1000, offset: int = 0) -> tuple[list[dict], int]:
    """Stock locations by id, and their count: (rows, count). A row: id, kind, name,
    engineer_id (a van's), parent_id (a van's home warehouse, an area's owner), created_by,
    created_at, areas (ids of its receiving and quarantine areas)."""
    where, params = _where({"l.id": location_id, "l.kind": kind and kind.value, "l.parent_id": parent_id})
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_LOCATIONS}{where} ORDER BY l.id LIMIT %(limit)s OFFSET %(offset)s",
                       params | {"limit": limit, "offset": offset}).fetchall()
    return rows, cur.execute(f"SELECT count(*) AS n FROM stock_locations l{where}", params).fetchone()["n"]


def _where(filters: dict[str, object]) -> tuple[str, dict]:
    """AND of column = value for the filters given (None: not filtered)."""
    terms, params = [], {}
    for i, (column, value) in enumerate(filters.items()):
        if value is not None:
            terms.append(f"{column} = %(f{i})s")
            params[f"f{i}"] = value
    return (" WHERE " + " AND ".join(terms)) if terms else "", params


# Every usable location with each part it (or one of its areas) holds or has a reorder level
# for. The low-stock flag is on hand ≤ the effective reorder point (the parts keeper's override
# wins), for a reorder point above 0: a part planned at 0 is one this location does not keep.
_ON_HAND = """
WITH pairs AS (
    SELECT CASE WHEN l.kind IN ('receiving', 'quarantine') THEN l.parent_id ELSE l.id END AS location_id, s.part_id
    FROM stock s JOIN stock_locations l ON l.id = s.location_id WHERE s.quantity > 0
    UNION
    SELECT location_id, part_id FROM reorder_levels
), rows AS (
    SELECT u.id AS location_id, u.kind, u.name AS location_name, u.engineer_id, u.parent_id,
           p.id AS part_id, p.name AS part_name, p.unit,
           coalesce(su.quantity, 0) AS on_hand, coalesce(sr.quantity, 0) AS receiving,
           coalesce(sq.quantity, 0) AS quarantine,
           coalesce(r.override_reorder_point, r.reorder_point) AS reorder_point,
           coalesce(r.override_order_quantity, r.order_quantity) AS order_quantity
    FROM pairs
    JOIN stock_locations u ON u.id = pairs.location_id AND u.kind IN ('warehouse', 'van')
    JOIN parts p ON p.id = pairs.part_id
    LEFT JOIN stock su ON su.location_id = u.id AND su.part_id = p.id
    LEFT JOIN stock_locations ra ON ra.parent_id = u.id AND ra.kind = 'receiving'
    LEFT JOIN stock sr ON sr.location_id = ra.id AND sr.part_id = p.id
    LEFT JOIN stock_locations qa ON qa.parent_id = u.id AND qa.kind = 'quarantine'
    LEFT JOIN stock sq ON sq.location_id = qa.id AND sq.part_id = p.id
    LEFT JOIN reorder_levels r ON r.location_id = u.id AND r.part_id = p.id
)
SELECT *, coalesce(reorder_point > 0 AND on_hand <= reorder_point, false) AS low FROM rows
"""


def on_hand_rows(conn: psycopg.Connection, *, location_id: str | None = None, part_id: str | None = None,
                 kind: LocationKind | None = None, engineer_id: str | None = None, low: bool | None = None,
                 limit: int = 1000, offset: int = 0) -> tuple[list[dict], int]:
    """On-hand per usable location and part, by location then part: (rows, count). A row:
    location_id, kind, location_name, engineer_id, parent_id, part_id, part_name, unit,
    on_hand (usable units), receiving (units waiting for inspection), quarantine (failed or
    defective units), reorder_point and order_quantity (effective; null before planning),
    low (on_hand ≤ reorder_point > 0: R-PARTS low-stock warning)."""
    if kind is not None and kind not in USABLE:
        raise InvalidInput("kind: on-hand is listed per warehouse or van (areas are its columns)")
    where, params = _where({"location_id": location_id, "part_id": part_id, "kind": kind and kind.value,
                            "engineer_id": engineer_id, "low": low})
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"SELECT * FROM ({_ON_HAND}) x{where} ORDER BY location_id, part_id "
                       "LIMIT %(limit)s OFFSET %(offset)s", params | {"limit": limit, "offset": offset}).fetchall()
    return rows, cur.execute(f"SELECT count(*) AS n FROM ({_ON_HAND}) x{where}", params).fetchone()["n"]


_MOVEMENTS = ("SELECT m.id, m.entry, m.kind, m.part_id, m.location_id, m.quantity, m.unit_cost, m.work_order_id, "
              "m.plan_id, m.engineer_id, m.supplier_id, m.goods_receipt_line_id, m.stock_take_id, "
              "m.supplier_claim_id, m.reason, m.recorded_by, m.recorded_at FROM stock_movements m")


@dataclass(frozen=True)
class MovementFilter:
    """Which movements the log shows; None: any. `start` inclusive, `end` exclusive."""

    part_id: str | None = None
    location_id: str | None = None
    kind: list[MovementKind] | None = None
    work_order_id: int | None = None
    plan_id: str | None = None
    engineer_id: str | None = None
    entry: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def movements(conn: psycopg.Connection, f: MovementFilter, *, limit: int = 100,
              offset: int = 0) -> tuple[list[dict], int]:
    """The movement log, newest first: (rows, count). Every row as stored (quantity signed:
    + into the location, − out of it; unit_cost at the time)."""
    where, params = _where({"m.part_id": f.part_id, "m.location_id": f.location_id,
                            "m.work_order_id": f.work_order_id, "m.plan_id": f.plan_id,
                            "m.engineer_id": f.engineer_id, "m.entry": f.entry})
    terms = [where.removeprefix(" WHERE ")] if where else []
    if f.kind:
        terms.append("m.kind = ANY(%(kinds)s)")
        params["kinds"] = [k.value for k in f.kind]
    if f.start is not None:
        terms.append("m.recorded_at >= %(start)s")
        params["start"] = f.start
    if f.end is not None:
        terms.append("m.recorded_at < %(end)s")
        params["end"] = f.end
    clause = (" WHERE " + " AND ".join(terms)) if terms else ""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_MOVEMENTS}{clause} ORDER BY m.recorded_at DESC, m.id DESC LIMIT %(limit)s "
                       "OFFSET %(offset)s", params | {"limit": limit, "offset": offset}).fetchall()
    return rows, cur.execute(f"SELECT count(*) AS n FROM stock_movements m{clause}", params).fetchone()["n"]


def entry_movements(conn: psycopg.Connection, entry: object) -> list[dict]:
    """The movements of one stock entry (a transfer's two rows, an issue's one), by id."""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_MOVEMENTS} WHERE m.entry = %s ORDER BY m.id", (str(entry),)).fetchall()
    if not rows:
        raise NotFound(f"stock entry {entry} does not exist")
    return rows
