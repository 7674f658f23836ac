"""The stock ledger (R-PARTS, issue 14): every change of stock is a typed movement with
who and when, one row per location it touches; on-hand per location is the sum of its
movements and never goes below zero.

PostgreSQL holds the rule (migration 0039): a trigger keeps `stock` as the running sum of
`stock_movements`, whose CHECK (quantity >= 0) refuses a movement that would overdraw a
location. The balance row is locked by that update, so concurrent movements of the same
part and location queue and each re-checks: of eight requests for the last unit, one
succeeds and seven get `Conflict` (409).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

import psycopg
from psycopg import errors

from pilecare.errors import Conflict, InvalidInput, NotFound


class MovementKind(str, Enum):
    """Why stock moved; the ledger's vocabulary (ERPNext's stock entry purposes, R-PARTS)."""

    OPENING = "opening"                      # stock held before the ledger
    RECEIPT = "receipt"                      # goods in from a supplier, into the receiving area
    INSPECTION_PASSED = "inspection_passed"  # receiving area → the warehouse's usable stock
    INSPECTION_FAILED = "inspection_failed"  # receiving area → quarantine, never issuable
    TRANSFER = "transfer"                    # warehouse ↔ van
    ISSUE = "issue"                          # out to a work order or plan, with the receiving engineer
    DEFECTIVE_RETURN = "defective_return"    # a removed part back from the field, into quarantine
    SUPPLIER_RETURN = "supplier_return"      # out of quarantine (or stock) back to the supplier
    SCRAP = "scrap"                          # out of quarantine, destroyed
    ADJUSTMENT = "adjustment"                # a stock-take's approved variance, with its reason


class LocationKind(str, Enum):
    """Where stock lies. Only warehouses and vans hold usable (issuable) stock."""

    WAREHOUSE = "warehouse"
    VAN = "van"
    RECEIVING = "receiving"      # a warehouse's goods waiting for inspection
    QUARANTINE = "quarantine"    # a warehouse's failed and defective parts


USABLE = (LocationKind.WAREHOUSE, LocationKind.VAN)


@dataclass(frozen=True)
class Line:
    """One row of a movement: `quantity` parts of `part_id` into (+) or out of (−) `location_id`."""

    part_id: str
    location_id: str
    quantity: int
    unit_cost: Decimal | None = None     # None: the part's standard cost


@dataclass(frozen=True)
class Location:
    id: str
    kind: LocationKind
    name: str
    engineer_id: str | None
    parent_id: str | None


def location(conn: psycopg.Connection, location_id: str) -> Location:
    """The stock location `location_id`; NotFound when there is none."""
    row = conn.execute("SELECT id, kind, name, engineer_id, parent_id FROM stock_locations WHERE id = %s",
                       (location_id,)).fetchone()
    if row is None:
        raise NotFound(f"stock location {location_id!r} does not exist")
    return Location(row[0], LocationKind(row[1]), row[2], row[3], row[4])


def area(conn: psycopg.Connection, location_id: str, kind: LocationKind) -> str:
    """The id of a location's receiving or quarantine area (every warehouse has both, every
    van a quarantine area: migration 0039 makes them with the location). Raises NotFound
    when the location has no such area."""
    row = conn.execute("SELECT id FROM stock_locations WHERE parent_id = %s AND kind = %s",
                       (location_id, kind.value)).fetchone()
    if row is None:
        raise NotFound(f"{location_id!r} has no {kind.value} area")
    return row[0]


def record(conn: psycopg.Connection, kind: MovementKind, lines: list[Line], *, actor: str,
           work_order_id: int | None = None, plan_id: str | None = None, engineer_id: str | None = None,
           supplier_id: str | None = None, goods_receipt_line_id: int | None = None,
           stock_take_id: int | None = None, supplier_claim_id: int | None = None,
           reason: str | None = None) -> uuid.UUID:
    """Record one stock entry: `lines` as movements of `kind` sharing one entry id, in one
    transaction (all or none). Returns the entry id.

    Raises Conflict (409) when a line would take a location below zero, naming the
    location, the part, what it holds and what was asked; InvalidInput (422) for an
    unknown part or location or a movement the ledger's rules refuse (an issue without a
    job or receiver, an adjustment without a reason)."""
    entry = uuid.uuid4()
    rows = [(entry, kind.value, ln.part_id, ln.location_id, ln.quantity, ln.unit_cost, work_order_id, plan_id,
             engineer_id, supplier_id, goods_receipt_line_id, stock_take_id, supplier_claim_id, reason, actor)
            for ln in lines if ln.quantity]
    if not rows:
        raise InvalidInput("a stock movement needs a quantity other than 0")
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO stock_movements (entry, kind, part_id, location_id, quantity, unit_cost, work_order_id, "
                "plan_id, engineer_id, supplier_id, goods_receipt_line_id, stock_take_id, supplier_claim_id, reason, "
                "recorded_by) "
                "SELECT %s, %s, p.id, %s, %s, coalesce(%s, p.unit_cost), %s, %s, %s, %s, %s, %s, %s, %s, %s "
                "FROM parts p WHERE p.id = %s",
                [r[:2] + r[3:] + (r[2],) for r in rows], returning=False)
            written = conn.execute("SELECT count(*) FROM stock_movements WHERE entry = %s", (entry,)).fetchone()[0]
            if written != len(rows):
                raise InvalidInput(f"part {next(ln.part_id for ln in lines if _missing(conn, ln.part_id))!r} "
                                   "is not in the catalogue")
    except errors.CheckViolation as e:
        if e.diag.table_name == "stock":
            raise Conflict(_overdrawn(conn, lines)) from None
        raise InvalidInput(f"the ledger refuses this {kind.value}: {e.diag.message_primary}") from None
    except errors.ForeignKeyViolation as e:
        raise InvalidInput(f"no such record: {e.diag.message_detail}") from None
    return entry


def _missing(conn: psycopg.Connection, part_id: str) -> bool:
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM parts WHERE id = %s)", (part_id,)).fetchone()[0]


def _overdrawn(conn: psycopg.Connection, lines: list[Line]) -> str:
    """The 409's words: which location cannot give what was asked (read after the rollback)."""
    for ln in lines:
        if ln.quantity < 0:
            have = on_hand(conn, ln.location_id, ln.part_id)
            if have < -ln.quantity:
                return f"{ln.location_id} holds {have} of {ln.part_id}; {-ln.quantity} needed"
    return "a location would go below zero"


def on_hand(conn: psycopg.Connection, location_id: str, part_id: str) -> int:
    """Units of `part_id` at `location_id` now (0 when it never held any)."""
    row = conn.execute("SELECT quantity FROM stock WHERE location_id = %s AND part_id = %s",
                       (location_id, part_id)).fetchone()
    return row[0] if row else 0


def require_usable(loc: Location) -> None:
    """Raise InvalidInput unless `loc` holds issuable stock (a warehouse or a van)."""
    if loc.kind not in USABLE:
        raise InvalidInput(f"{loc.id!r} is a {loc.kind.value} area: its parts are not issuable")


def transfer(conn: psycopg.Connection, part_id: str, quantity: int, from_id: str, to_id: str, *, actor: str,
             reason: str | None = None) -> uuid.UUID:
    """Move stock between usable locations (a van loaded or emptied), or defective parts
    between quarantine areas (a van's removed parts brought in): two rows, one entry.
    Raises InvalidInput for a non-positive quantity, the same location twice, usable and
    quarantined stock mixed, or a receiving area (that moves only through inspection);
    Conflict when `from_id` holds too few."""
    if quantity <= 0:
        raise InvalidInput("quantity: a transfer moves at least one unit")
    if from_id == to_id:
        raise InvalidInput("to_location_id: a transfer needs two different locations")
    source, target = location(conn, from_id), location(conn, to_id)
    quarantined = {source.kind, target.kind} == {LocationKind.QUARANTINE}
    if not quarantined:
        for loc in (source, target):
            require_usable(loc)
    return record(conn, MovementKind.TRANSFER, [Line(part_id, from_id, -quantity), Line(part_id, to_id, quantity)],
                  actor=actor, reason=reason)


def issue(conn: psycopg.Connection, part_id: str, quantity: int, location_id: str, *, engineer_id: str, actor: str,
          work_order_id: int | None = None, plan_id: str | None = None) -> uuid.UUID:
    """Issue parts out of usable stock to a work order or a preventive plan, with the engineer
    who receives them (R-PARTS: outbound only against a job or plan, receiver recorded).

    A van issues only to its own engineer. Raises InvalidInput (no job, area, another's
    van), Conflict (409) when the location holds too few."""
    if quantity <= 0:
        raise InvalidInput("quantity: an issue takes at least one unit")
    if work_order_id is None and plan_id is None:
        raise InvalidInput("work_order_id: parts are issued only against a work order or a plan")
    loc = location(conn, location_id)
    require_usable(loc)
    if loc.kind is LocationKind.VAN and loc.engineer_id != engineer_id:
        raise InvalidInput(f"{location_id!r} is another engineer's van")
    return record(conn, MovementKind.ISSUE, [Line(part_id, location_id, -quantity)], actor=actor,
                  work_order_id=work_order_id, plan_id=plan_id, engineer_id=engineer_id)
