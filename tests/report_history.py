"""Hand-made histories for the reports' tests: work orders with the times that matter, parts
issued against them, written straight to the database (as the bench and the KPI tests do)."""
from __future__ import annotations

import uuid


def order(db, pile: str, category: str | None, created: str, *, kind: str = "corrective", state: str = "closed",
          responded: str | None = None, resolved: str | None = None, resolve_due: str | None = None,
          closed: str | None = None, resolution: str | None = None, reopened: int = 0, repeat_of: int | None = None,
          engineer: str | None = None) -> int:
    """A work order as it stands after its history; `engineer` finished it (a done assignment)."""
    order_id = db.execute(
        "INSERT INTO work_orders (kind, pile_id, fault_category, state, title, created_at, created_by, updated_at, "
        " responded_at, resolved_at, resolve_due_at, closed_at, resolution, reopened_count, repeat_of, engineer_id) "
        "VALUES (%s, %s, %s, %s, 'seeded', %s, 'seed', %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (kind, pile, category, state, created, created, responded, resolved, resolve_due, closed, resolution, reopened,
         repeat_of, engineer)).fetchone()[0]
    if engineer:
        db.execute("INSERT INTO assignments (work_order_id, engineer_id, state, assigned_at, assigned_by) "
                   "VALUES (%s, %s, 'done', %s, 'dispatch')", (order_id, engineer, created))
    return order_id


def parts(db, *rows: tuple[str, str, float]) -> None:
    """Parts (id, name, unit cost) with 100 of each in warehouse W1 since 2026-01-01."""
    db.execute("INSERT INTO stock_locations (id, kind, name) VALUES ('W1', 'warehouse', 'Main') ON CONFLICT DO NOTHING")
    for part_id, name, cost in rows:
        db.execute("INSERT INTO parts (id, name, unit_cost) VALUES (%s, %s, %s)", (part_id, name, cost))
        db.execute("INSERT INTO stock_movements (entry, kind, part_id, location_id, quantity, unit_cost, recorded_by, "
                   " recorded_at) VALUES (%s, 'opening', %s, 'W1', 100, %s, 'seed', '2026-01-01Z')",
                   (uuid.uuid4(), part_id, cost))


def issue(db, part_id: str, quantity: int, order_id: int, at: str, engineer: str = "E1") -> None:
    """`quantity` of `part_id` issued from W1 to `order_id`'s engineer at `at`, at the part's cost."""
    db.execute("INSERT INTO stock_movements (entry, kind, part_id, location_id, quantity, unit_cost, work_order_id, "
               " engineer_id, recorded_by, recorded_at) "
               "SELECT %s, 'issue', id, 'W1', %s, unit_cost, %s, %s, 'seed', %s FROM parts WHERE id = %s",
               (uuid.uuid4(), -quantity, order_id, engineer, at, part_id))


def engineers(db) -> None:
    db.execute("INSERT INTO engineers (id, name, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{north}', 52.5, 13.4), ('E2', 'Emil', '{coast}', 53.5, 10.0)")
