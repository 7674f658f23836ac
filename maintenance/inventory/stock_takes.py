"""Stock-takes (R-PARTS, issue 14 item 4): a count sheet per location, counts with who and
when, submitted, then approved by the parts keeper into one `adjustment` movement per
variance, or cancelled. One open stock-take per location (migration 0039's partial unique
index).

The variance of a line is counted − book_at_count: the book quantity read in the same
transaction as the count, not the `expected` printed on the sheet nor the on-hand at
approval. Stock keeps moving while a location is counted (a van issues a part, a transfer
arrives); a movement before the count is in both the shelf and the book, one after it in
neither the count nor book_at_count but in on-hand, so the adjustment leaves on-hand =
counted + every movement since the count: none lost, none counted twice.
"""
from __future__ import annotations

from enum import Enum

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from maintenance.inventory.ledger import Line, MovementKind, location, record
from pilecare.errors import Conflict, InvalidInput, NotFound


class StockTakeState(str, Enum):
    """A stock-take's lifecycle (migration 0039): counting → submitted → approved; cancelled
    from either open state."""

    COUNTING = "counting"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    CANCELLED = "cancelled"


OPEN = (StockTakeState.COUNTING.value, StockTakeState.SUBMITTED.value)


def start(conn: psycopg.Connection, location_id: str, *, actor: str) -> int:
    """Open a count sheet for `location_id` (any location, areas included): one line per part
    it holds or has a reorder level for, `expected` = its on-hand now. Returns the id.
    Raises NotFound for an unknown location, Conflict when one is open there already."""
    location(conn, location_id)
    try:
        with conn.transaction():
            take_id = conn.execute("INSERT INTO stock_takes (location_id, started_by) VALUES (%s, %s) RETURNING id",
                                   (location_id, actor)).fetchone()[0]
            conn.execute(
                "INSERT INTO stock_take_lines (stock_take_id, part_id, expected) "
                "SELECT %(t)s, part_id, sum(quantity) FROM ("
                "  SELECT part_id, quantity FROM stock WHERE location_id = %(l)s AND quantity > 0 "
                "  UNION ALL SELECT part_id, 0 FROM reorder_levels WHERE location_id = %(l)s) x GROUP BY part_id",
                {"t": take_id, "l": location_id})
    except errors.UniqueViolation:
        open_id = conn.execute("SELECT id FROM stock_takes WHERE location_id = %s AND state = ANY(%s)",
                               (location_id, list(OPEN))).fetchone()
        raise Conflict(f"location_id: {location_id} has an open stock-take already "
                       f"({open_id[0] if open_id else 'just started'})") from None
    return take_id


def _locked(conn: psycopg.Connection, take_id: int) -> tuple[str, str]:
    """(location_id, state) of the stock-take, its row locked until the transaction ends."""
    row = conn.execute("SELECT location_id, state FROM stock_takes WHERE id = %s FOR UPDATE", (take_id,)).fetchone()
    if row is None:
        raise NotFound(f"stock-take {take_id} does not exist")
    return row


def count(conn: psycopg.Connection, take_id: int, counts: list[tuple[str, int]], *, actor: str) -> None:
    """Record counts [(part_id, units on the shelf)] while the stock-take is counting; a part
    not on the sheet gets a line (expected 0: the sheet listed everything held). A part
    counted again replaces its count. Raises InvalidInput (a negative count, an unknown part,
    a part twice), NotFound, Conflict (not counting any more)."""
    if not counts:
        raise InvalidInput("counts: give at least one")
    parts = [p for p, _ in counts]
    if len(set(parts)) != len(parts):
        raise InvalidInput(f"counts: part {next(p for p in parts if parts.count(p) > 1)!r} is counted twice")
    for part_id, counted in counts:
        if counted < 0:
            raise InvalidInput(f"counted: {part_id} cannot be counted below 0")
    with conn.transaction():
        location_id, state = _locked(conn, take_id)
        if state != StockTakeState.COUNTING.value:
            raise Conflict(f"stock-take {take_id} is {state}: counts are taken only while counting")
        unknown = conn.execute("SELECT p FROM unnest(%s::text[]) p WHERE p NOT IN (SELECT id FROM parts)",
                               (parts,)).fetchone()
        if unknown:
            raise InvalidInput(f"part_id: {unknown[0]!r} is not in the catalogue")
        with conn.cursor() as cur:
            # The book is read in the count's own transaction: the variance compares the shelf
            # and the ledger at the same moment (module docstring).
            cur.executemany(
                "INSERT INTO stock_take_lines (stock_take_id, part_id, expected, counted, counted_by, counted_at, "
                "book_at_count) VALUES (%(t)s, %(p)s, 0, %(c)s, %(by)s, now(), "
                "  coalesce((SELECT quantity FROM stock WHERE location_id = %(l)s AND part_id = %(p)s), 0)) "
                "ON CONFLICT (stock_take_id, part_id) DO UPDATE SET counted = EXCLUDED.counted, "
                "counted_by = EXCLUDED.counted_by, counted_at = EXCLUDED.counted_at, "
                "book_at_count = EXCLUDED.book_at_count",
                [{"t": take_id, "p": p, "c": c, "by": actor, "l": location_id} for p, c in counts])


def submit(conn: psycopg.Connection, take_id: int, *, actor: str) -> None:
    """Hand the counted sheet to the parts keeper. Raises Conflict naming the parts not
    counted yet, or when it is not counting; NotFound."""
    with conn.transaction():
        _, state = _locked(conn, take_id)
        if state != StockTakeState.COUNTING.value:
            raise Conflict(f"stock-take {take_id} is {state}: only a sheet being counted is submitted")
        missing = [r[0] for r in conn.execute("SELECT part_id FROM stock_take_lines WHERE stock_take_id = %s "
                                              "AND counted IS NULL ORDER BY part_id", (take_id,))]
        if missing:
            raise Conflict(f"counts: not counted yet: {', '.join(missing)}")
        conn.execute("UPDATE stock_takes SET state = 'submitted', submitted_by = %s, submitted_at = now() "
                     "WHERE id = %s", (actor, take_id))


def approve(conn: psycopg.Connection, take_id: int, *, actor: str) -> int:
    """The parts keeper approves a submitted stock-take: one `adjustment` movement per line
    whose count differs from its book, counted − book_at_count, reason naming the stock-take.
    All or nothing. Returns the number of adjustments. Raises Conflict when it is not
    submitted, or when an adjustment would take the location below zero (stock left since
    the count: recount); NotFound."""
    with conn.transaction():
        location_id, state = _locked(conn, take_id)
        if state != StockTakeState.SUBMITTED.value:
            raise Conflict(f"stock-take {take_id} is {state}: only a submitted one is approved")
        variances = conn.execute("SELECT part_id, counted, book_at_count FROM stock_take_lines "
                                 "WHERE stock_take_id = %s AND counted <> book_at_count ORDER BY part_id",
                                 (take_id,)).fetchall()
        for part_id, counted, book in variances:
            record(conn, MovementKind.ADJUSTMENT, [Line(part_id, location_id, counted - book)], actor=actor,
                   stock_take_id=take_id,
                   reason=f"stock-take {take_id}: counted {counted}, book {book} at the count")
        conn.execute("UPDATE stock_takes SET state = 'approved', decided_by = %s, decided_at = now() WHERE id = %s",
                     (actor, take_id))
    return len(variances)


def cancel(conn: psycopg.Connection, take_id: int, *, actor: str) -> None:
    """Cancel an open stock-take (no movement). Raises Conflict once approved or cancelled."""
    with conn.transaction():
        _, state = _locked(conn, take_id)
        if state not in OPEN:
            raise Conflict(f"stock-take {take_id} is {state} already")
        conn.execute("UPDATE stock_takes SET state = 'cancelled', decided_by = %s, decided_at = now() WHERE id = %s",
                     (actor, take_id))


_TAKES = ("SELECT t.id, t.location_id, t.state, t.started_by, t.started_at, t.submitted_by, t.submitted_at, "
          "t.decided_by, t.decided_at, "
          "(SELECT count(*) FROM stock_take_lines l WHERE l.stock_take_id = t.id) AS line_count, "
          "(SELECT count(*) FROM stock_take_lines l WHERE l.stock_take_id = t.id AND l.counted IS NULL) AS uncounted "
          "FROM stock_takes t")


def stock_takes(conn: psycopg.Connection, *, location_id: str | None = None, state: StockTakeState | None = None,
                limit: int = 100, offset: int = 0) -> tuple[list[dict], int]:
    """Stock-takes, newest first: (rows, count); a row as `detail` without its lines."""
    terms, params = [], {"limit": limit, "offset": offset}
    if location_id is not None:
        terms.append("t.location_id = %(l)s")
        params["l"] = location_id
    if state is not None:
        terms.append("t.state = %(s)s")
        params["s"] = state.value
    clause = (" WHERE " + " AND ".join(terms)) if terms else ""
    cur = conn.cursor(row_factory=dict_row)
    rows = cur.execute(f"{_TAKES}{clause} ORDER BY t.started_at DESC, t.id DESC LIMIT %(limit)s OFFSET %(offset)s",
                       params).fetchall()
    return rows, cur.execute(f"SELECT count(*) AS n FROM stock_takes t{clause}", params).fetchone()["n"]


def detail(conn: psycopg.Connection, take_id: int) -> dict:
    """One stock-take: id, location_id, state, who/when of each step, and `lines` by part:
    part_id, part_name, expected (on hand at the start), counted, counted_by, counted_at,
    book_at_count, variance (counted − book_at_count; null until counted). NotFound."""
    cur = conn.cursor(row_factory=dict_row)
    row = cur.execute(f"{_TAKES} WHERE t.id = %s", (take_id,)).fetchone()
    if row is None:
        raise NotFound(f"stock-take {take_id} does not exist")
    row["lines"] = cur.execute(
        "SELECT l.part_id, p.name AS part_name, l.expected, l.counted, l.counted_by, l.counted_at, l.book_at_count, "
        "l.counted - l.book_at_count AS variance FROM stock_take_lines l JOIN parts p ON p.id = l.part_id "
        "WHERE l.stock_take_id = %s ORDER BY l.part_id", (take_id,)).fetchall()
    return row
