"""Supplier claims and quarantined parts (R-PARTS, R-WARRANTY; issue 14).

A claim is opened by a failed inspection (receipts.py) or by a defective part returned from
the field under warranty (returns.py; its supplier may be unknown until the parts keeper
names one). Its parts lie in a quarantine area:

    open ──ship──▶ shipped ──▶ credited | rejected
      └──────────────────────▶ credited | rejected   (settled without sending the parts back)

Shipping is a `supplier_return` movement out of the quarantine area holding the parts. What
no claim takes back is scrapped (`scrap`, with its reason). Every step is a conditional
UPDATE recording who and when.
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

import psycopg
from psycopg.rows import dict_row

from maintenance.inventory.ledger import Line, LocationKind, MovementKind, location, record
from pilecare.errors import Conflict, InvalidInput, NotFound


class ClaimState(str, Enum):
    """Where a supplier claim stands (migration 0039)."""

    OPEN = "open"          # parts in quarantine, waiting to go back (or for the supplier's word)
    SHIPPED = "shipped"    # parts sent back to the supplier
    CREDITED = "credited"  # the supplier accepted: credit or replacement
    REJECTED = "rejected"  # the supplier refused


class ClaimOutcome(str, Enum):
    """How a supplier settles a claim."""

    CREDITED = "credited"
    REJECTED = "rejected"


def _refused(conn: psycopg.Connection, claim_id: int, doing: str) -> Conflict:
    row = conn.execute("SELECT state, supplier_id FROM supplier_claims WHERE id = %s", (claim_id,)).fetchone()
    if row is None:
        raise NotFound(f"supplier claim {claim_id} does not exist")
    if doing == "ship" and row[0] == "open" and row[1] is None:
        return Conflict(f"supplier claim {claim_id} has no supplier yet: name one first")
    if doing == "name a supplier" and row[0] == "open":
        return Conflict(f"supplier claim {claim_id} is against supplier {row[1]!r} already")
    return Conflict(f"supplier claim {claim_id} is {row[0]}: cannot {doing}")


def name_supplier(conn: psycopg.Connection, claim_id: int, supplier_id: str, *, actor: str) -> None:
    """Name the supplier of an open claim that has none (a field return whose supplier was not
    known). Raises NotFound, Conflict (it has one, or is no longer open), InvalidInput."""
    if conn.execute("SELECT 1 FROM suppliers WHERE id = %s", (supplier_id,)).fetchone() is None:
        raise InvalidInput(f"supplier_id: supplier {supplier_id!r} does not exist")
    if conn.execute("UPDATE supplier_claims SET supplier_id = %s, supplier_named_by = %s, supplier_named_at = now() "
                    "WHERE id = %s AND state = 'open' AND supplier_id IS NULL RETURNING id",
                    (supplier_id, actor, claim_id)).fetchone() is None:
        raise _refused(conn, claim_id, "name a supplier")


def ship(conn: psycopg.Connection, claim_id: int, *, actor: str, location_id: str | None = None,
         note: str | None = None) -> None:
    """Send a claim's parts back to its supplier: a `supplier_return` movement out of the
    quarantine area `location_id` (default: the one the claim's parts went into), and the
    claim shipped. Raises NotFound, Conflict (no supplier, not open, or the area holds too
    few: then nothing changes), InvalidInput (not a quarantine area)."""
    with conn.transaction():
        row = conn.execute(
            "UPDATE supplier_claims SET state = 'shipped', shipped_by = %s, shipped_at = now() "
            "WHERE id = %s AND state = 'open' AND supplier_id IS NOT NULL RETURNING supplier_id, part_id, quantity",
            (actor, claim_id)).fetchone()
        if row is None:
            raise _refused(conn, claim_id, "ship")
        supplier_id, part_id, quantity = row
        arrived = conn.execute("SELECT location_id, unit_cost FROM stock_movements WHERE supplier_claim_id = %s "
                               "AND quantity > 0 ORDER BY id LIMIT 1", (claim_id,)).fetchone()
        if location_id is None:
            if arrived is None:
                raise InvalidInput(f"location_id: required (no movement brought claim {claim_id}'s parts in)")
            location_id = arrived[0]
        require_quarantine(conn, location_id)
        record(conn, MovementKind.SUPPLIER_RETURN,
               [Line(part_id, location_id, -quantity, arrived[1] if arrived else None)], actor=actor,
               supplier_id=supplier_id, supplier_claim_id=claim_id, reason=note)


def settle(conn: psycopg.Connection, claim_id: int, outcome: ClaimOutcome, *, resolution: str, actor: str) -> None:
    """Record the supplier's answer to an open or shipped claim: credited or rejected, with
    the resolution (credit note, replacement, reason refused). Raises NotFound, Conflict
    (already settled), InvalidInput (no resolution)."""
    if not resolution.strip():
        raise InvalidInput("resolution: required")
    if conn.execute("UPDATE supplier_claims SET state = %s, resolution = %s, closed_by = %s, closed_at = now() "
                    "WHERE id = %s AND state IN ('open', 'shipped') RETURNING id",
                    (outcome.value, resolution, actor, claim_id)).fetchone() is None:
        raise _refused(conn, claim_id, f"be {outcome.value}")


def scrap(conn: psycopg.Connection, part_id: str, quantity: int, location_id: str, *, reason: str,
          actor: str) -> None:
    """Scrap quarantined parts outside a claim (a claim rejected, a part out of warranty): a
    `scrap` movement out of the quarantine area `location_id`, with its reason. Raises
    InvalidInput (not a quarantine area, no reason, quantity < 1), Conflict (holds too few)."""
    if quantity <= 0:
        raise InvalidInput("quantity: at least 1")
    if not reason.strip():
        raise InvalidInput("reason: required")
    require_quarantine(conn, location_id)
    record(conn, MovementKind.SCRAP, [Line(part_id, location_id, -quantity)], actor=actor, reason=reason)


def require_quarantine(conn: psycopg.Connection, location_id: str) -> None:
    """Raise InvalidInput unless `location_id` is a quarantine area."""
    try:
        loc = location(conn, location_id)
    except NotFound:
        raise InvalidInput(f"location_id: stock location {location_id!r} does not exist") from None
    if loc.kind is not LocationKind.QUARANTINE:
        raise InvalidInput(f"location_id: {location_id!r} is a {loc.kind.value}, not a quarantine area")


_CLAIM = ("SELECT c.id, c.supplier_id, s.name AS supplier_name, c.part_id, p.name AS part_name, c.quantity, "
          "c.work_order_id, c.goods_receipt_line_id, gl.goods_receipt_id, c.state, c.reason, c.resolution, "
          "c.opened_by, c.opened_at, c.supplier_named_by, c.supplier_named_at, c.shipped_by, c.shipped_at, "
          "c.closed_by, c.closed_at "
          "FROM supplier_claims c JOIN parts p ON p.id = c.part_id LEFT JOIN suppliers s ON s.id = c.supplier_id "
          "LEFT JOIN goods_receipt_lines gl ON gl.id = c.goods_receipt_line_id")


def claims(conn: psycopg.Connection, *, state: Iterable[ClaimState] = (), supplier_id: str | None = None,
           part_id: str | None = None, without_supplier: bool | None = None, limit: int = 100,
           offset: int = 0) -> tuple[list[dict], int]:
    """Supplier claims, newest first, filtered by state, supplier, part and whether the
    supplier is still to be named; returns (rows, count)."""
    where, params = [], {}
    states = [s.value for s in state]
    if states:
        where.append("c.state = ANY(%(states)s)")
        params["states"] = states
    for column, value in (("supplier_id", supplier_id), ("part_id", part_id)):
        if value is not None:
            where.append(f"c.{column} = %({column})s")
            params[column] = value
    if without_supplier is not None:
        where.append("(c.supplier_id IS NULL) = %(none)s")
        params["none"] = without_supplier
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_CLAIM}{clause} ORDER BY c.opened_at DESC, c.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                       params | {"limit": limit, "offset": offset}).fetchall()
    return rows, cur.execute(f"SELECT count(*) AS n FROM supplier_claims c{clause}", params).fetchone()["n"]


def claim(conn: psycopg.Connection, claim_id: int) -> dict:
    """One supplier claim with its stock movements. Raises NotFound."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(f"{_CLAIM} WHERE c.id = %s", (claim_id,)).fetchone()
    if row is None:
        raise NotFound(f"supplier claim {claim_id} does not exist")
    row["movements"] = cur.execute(
        "SELECT id, kind, location_id, quantity, recorded_by, recorded_at FROM stock_movements "
        "WHERE supplier_claim_id = %s ORDER BY id", (claim_id,)).fetchall()
    return row
