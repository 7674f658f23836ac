"""The parts catalogue and its suppliers (R-PARTS, issue 14): a part's number (its id), name,
specification, unit, standard cost, the pile models it fits, its alternates, and the suppliers
that list it with their part number, price and lead time.

Alternates are one-way: "B may replace A" says nothing of A replacing B (a newer revision
replaces an older one, not the reverse). Compatible pile models are a list on the part
(migration 0007), so their existence is checked here, not by a foreign key. A part or
supplier is never deleted (the ledger and the purchase orders point at them); it is made
inactive, and every change records who and when.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from pilecare.errors import Conflict, InvalidInput, NotFound

PART_FIELDS = ("name", "spec", "unit", "unit_cost", "compatible_models", "active")
SUPPLIER_FIELDS = ("name", "email", "phone", "active")


@dataclass(frozen=True)
class Listing:
    """A supplier's offer of a part: its own part number, price per unit and lead time in days."""

    supplier_id: str
    price: Decimal
    lead_time_days: int
    supplier_part_number: str | None = None


def create_part(conn: psycopg.Connection, part_id: str, *, name: str, actor: str, spec: str | None = None,
                unit: str = "pcs", unit_cost: Decimal = Decimal(0), compatible_models: Iterable[str] = (),
                alternates: Iterable[str] = (), active: bool = True, suppliers: Iterable[Listing] = ()) -> None:
    """Add a part to the catalogue, with its alternates and supplier listings, in one transaction.
    Raises Conflict when the part number exists, InvalidInput naming an unknown pile model,
    alternate or supplier, or a supplier listed twice."""
    models, alternates, suppliers = list(compatible_models), list(alternates), list(suppliers)
    _require_models(conn, models)
    listed = [listing.supplier_id for listing in suppliers]
    for i, supplier_id in enumerate(listed):
        if supplier_id in listed[:i]:   # one offer per supplier and part: the second would replace the first
            raise InvalidInput(f"suppliers[{i}].supplier_id: supplier {supplier_id!r} is listed twice")
    with conn.transaction():
        inserted = conn.execute(
            "INSERT INTO parts (id, name, spec, unit, unit_cost, compatible_models, active, updated_by, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now()) ON CONFLICT (id) DO NOTHING RETURNING id",
            (part_id, name, spec, unit, unit_cost, models, active, actor)).fetchone()
        if inserted is None:
            raise Conflict(f"id: part {part_id!r} is in the catalogue already")
        _set_alternates(conn, part_id, alternates)
        for listing in suppliers:
            list_part(conn, part_id, listing, actor=actor)


def update_part(conn: psycopg.Connection, part_id: str, changes: Mapping[str, object], *, actor: str,
                alternates: Iterable[str] | None = None) -> None:
    """Change a part's fields (any of PART_FIELDS) and, when given, replace its alternates.
    Raises NotFound for an unknown part, InvalidInput for an unknown field, pile model or alternate."""
    unknown = set(changes) - set(PART_FIELDS)
    if unknown:
        raise InvalidInput(f"{sorted(unknown)[0]}: not a field of a part")
    if "compatible_models" in changes:
        changes = dict(changes, compatible_models=list(changes["compatible_models"]))
        _require_models(conn, changes["compatible_models"])
    assignments = "".join(f"{column} = %({column})s, " for column in changes)
    with conn.transaction():
        row = conn.execute(f"UPDATE parts SET {assignments}updated_by = %(actor)s, updated_at = now() "
                           "WHERE id = %(id)s RETURNING id", dict(changes, actor=actor, id=part_id)).fetchone()
        if row is None:
            raise NotFound(f"part {part_id!r} is not in the catalogue")
        if alternates is not None:
            conn.execute("DELETE FROM part_alternates WHERE part_id = %s", (part_id,))
            _set_alternates(conn, part_id, list(alternates))


def list_part(conn: psycopg.Connection, part_id: str, listing: Listing, *, actor: str) -> None:
    """Record (or change) a supplier's listing of a part. Raises InvalidInput for an unknown
    supplier, NotFound for an unknown part."""
    _require_part(conn, part_id)
    try:
        conn.execute(
            "INSERT INTO supplier_parts (supplier_id, part_id, supplier_part_number, price, lead_time_days, "
            "updated_by) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (supplier_id, part_id) DO UPDATE SET "
            "supplier_part_number = EXCLUDED.supplier_part_number, price = EXCLUDED.price, "
            "lead_time_days = EXCLUDED.lead_time_days, updated_by = EXCLUDED.updated_by, updated_at = now()",
            (listing.supplier_id, part_id, listing.supplier_part_number, listing.price, listing.lead_time_days,
             actor))
    except errors.ForeignKeyViolation:
        raise InvalidInput(f"supplier_id: supplier {listing.supplier_id!r} does not exist") from None


def unlist_part(conn: psycopg.Connection, part_id: str, supplier_id: str) -> None:
    """Remove a supplier's listing of a part (its purchase orders keep their prices).
    Raises NotFound when the supplier does not list it."""
    if conn.execute("DELETE FROM supplier_parts WHERE part_id = %s AND supplier_id = %s RETURNING 1",
                    (part_id, supplier_id)).fetchone() is None:
        raise NotFound(f"supplier {supplier_id!r} does not list part {part_id!r}")


def _require_part(conn: psycopg.Connection, part_id: str) -> None:
    if conn.execute("SELECT 1 FROM parts WHERE id = %s", (part_id,)).fetchone() is None:
        raise NotFound(f"part {part_id!r} is not in the catalogue")


def _require_models(conn: psycopg.Connection, models: list[str]) -> None:
    missing = conn.execute("SELECT m FROM unnest(%s::text[]) m WHERE NOT EXISTS "
                           "(SELECT 1 FROM pile_models p WHERE p.id = m) ORDER BY m", (models,)).fetchall()
    if missing:
        raise InvalidInput(f"compatible_models: pile model {missing[0][0]!r} does not exist")


def _set_alternates(conn: psycopg.Connection, part_id: str, alternates: list[str]) -> None:
    if part_id in alternates:
        raise InvalidInput(f"alternates: part {part_id!r} cannot be its own alternate")
    missing = conn.execute("SELECT a FROM unnest(%s::text[]) a WHERE NOT EXISTS "
                           "(SELECT 1 FROM parts p WHERE p.id = a) ORDER BY a", (alternates,)).fetchall()
    if missing:
        raise InvalidInput(f"alternates: part {missing[0][0]!r} is not in the catalogue")
    conn.execute("INSERT INTO part_alternates (part_id, alternate_id) SELECT %s, a FROM unnest(%s::text[]) a "
                 "ON CONFLICT DO NOTHING", (part_id, alternates))


_PART = ("SELECT p.id, p.name, p.spec, p.unit, p.unit_cost, p.compatible_models, p.active, p.created_at, "
         "p.updated_by, p.updated_at, "
         "coalesce((SELECT array_agg(a.alternate_id ORDER BY a.alternate_id) FROM part_alternates a "
         "          WHERE a.part_id = p.id), '{}') AS alternates, "
         # Usable stock only: what waits in receiving or sits in quarantine cannot be issued.
         "coalesce((SELECT sum(s.quantity) FROM stock s JOIN stock_locations l ON l.id = s.location_id "
         "          WHERE s.part_id = p.id AND l.kind IN ('warehouse', 'van')), 0)::int AS on_hand "
         "FROM parts p")


def parts(conn: psycopg.Connection, *, q: str | None = None, model_id: str | None = None,
          supplier_id: str | None = None, active: bool | None = None, limit: int = 100,
          offset: int = 0) -> tuple[list[dict], int]:
    """Catalogue rows by part number, filtered by text (number, name or spec), pile model,
    supplier and active; returns (rows, count of all matching)."""
    where, params = [], {}
    if q:
        where.append("(p.id ILIKE %(q)s OR p.name ILIKE %(q)s OR p.spec ILIKE %(q)s)")
        params["q"] = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if model_id is not None:
        where.append("%(model)s = ANY(p.compatible_models)")
        params["model"] = model_id
    if supplier_id is not None:
        where.append("EXISTS (SELECT 1 FROM supplier_parts sp WHERE sp.part_id = p.id AND sp.supplier_id = %(sup)s)")
        params["sup"] = supplier_id
    if active is not None:
        where.append("p.active = %(active)s")
        params["active"] = active
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_PART}{clause} ORDER BY p.id LIMIT %(limit)s OFFSET %(offset)s",
                       params | {"limit": limit, "offset": offset}).fetchall()
    count = cur.execute(f"SELECT count(*) AS n FROM parts p{clause}", params).fetchone()["n"]
    return rows, count


def part(conn: psycopg.Connection, part_id: str) -> dict:
    """One part with its alternates, usable on-hand and supplier listings (cheapest first).
    Raises NotFound."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(f"{_PART} WHERE p.id = %s", (part_id,)).fetchone()
    if row is None:
        raise NotFound(f"part {part_id!r} is not in the catalogue")
    row["suppliers"] = cur.execute(
        "SELECT sp.supplier_id, s.name AS supplier_name, sp.supplier_part_number, sp.price, sp.lead_time_days, "
        "sp.updated_by, sp.updated_at FROM supplier_parts sp JOIN suppliers s ON s.id = sp.supplier_id "
        "WHERE sp.part_id = %s ORDER BY sp.price, sp.lead_time_days, sp.supplier_id", (part_id,)).fetchall()
    return row


def create_supplier(conn: psycopg.Connection, supplier_id: str, *, name: str, actor: str, email: str | None = None,
                    phone: str | None = None, active: bool = True) -> None:
    """Add a supplier. Raises Conflict when the id is taken."""
    if conn.execute("INSERT INTO suppliers (id, name, email, phone, active, updated_by, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (id) DO NOTHING RETURNING id",
                    (supplier_id, name, email, phone, active, actor)).fetchone() is None:
        raise Conflict(f"id: supplier {supplier_id!r} exists already")


def update_supplier(conn: psycopg.Connection, supplier_id: str, changes: Mapping[str, object], *,
                    actor: str) -> None:
    """Change a supplier's fields (any of SUPPLIER_FIELDS). Raises NotFound, InvalidInput."""
    unknown = set(changes) - set(SUPPLIER_FIELDS)
    if unknown:
        raise InvalidInput(f"{sorted(unknown)[0]}: not a field of a supplier")
    assignments = "".join(f"{column} = %({column})s, " for column in changes)
    if conn.execute(f"UPDATE suppliers SET {assignments}updated_by = %(actor)s, updated_at = now() "
                    "WHERE id = %(id)s RETURNING id", dict(changes, actor=actor, id=supplier_id)).fetchone() is None:
        raise NotFound(f"supplier {supplier_id!r} does not exist")


_SUPPLIER = ("SELECT s.id, s.name, s.email, s.phone, s.active, s.created_at, s.updated_by, s.updated_at, "
             "(SELECT count(*) FROM supplier_parts sp WHERE sp.supplier_id = s.id)::int AS parts_listed "
             "FROM suppliers s")


def suppliers(conn: psycopg.Connection, *, q: str | None = None, active: bool | None = None, limit: int = 100,
              offset: int = 0) -> tuple[list[dict], int]:
    """Suppliers by id, filtered by text (id or name) and active; returns (rows, count)."""
    where, params = [], {}
    if q:
        where.append("(s.id ILIKE %(q)s OR s.name ILIKE %(q)s)")
        params["q"] = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if active is not None:
        where.append("s.active = %(active)s")
        params["active"] = active
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_SUPPLIER}{clause} ORDER BY s.id LIMIT %(limit)s OFFSET %(offset)s",
                       params | {"limit": limit, "offset": offset}).fetchall()
    return rows, cur.execute(f"SELECT count(*) AS n FROM suppliers s{clause}", params).fetchone()["n"]


def supplier(conn: psycopg.Connection, supplier_id: str) -> dict:
    """One supplier with the parts it lists. Raises NotFound."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(f"{_SUPPLIER} WHERE s.id = %s", (supplier_id,)).fetchone()
    if row is None:
        raise NotFound(f"supplier {supplier_id!r} does not exist")
    row["parts"] = cur.execute(
        "SELECT sp.part_id, p.name AS part_name, sp.supplier_part_number, sp.price, sp.lead_time_days, "
        "sp.updated_by, sp.updated_at FROM supplier_parts sp JOIN parts p ON p.id = sp.part_id "
        "WHERE sp.supplier_id = %s ORDER BY sp.part_id", (supplier_id,)).fetchall()
    return row
