"""Parts used on a job: issued from the engineer's van or a warehouse through the stock
ledger, once per request (R-PARTS); stock goes down or the call fails. A defective part
removed goes back into quarantine, and under warranty becomes a supplier claim.
"""
from __future__ import annotations

import psycopg

from maintenance.fieldwork.holding import held_order, require_state
from maintenance.fieldwork.warranty import Warranty, work_allowed
from maintenance.inventory import issue, location, return_defective
from maintenance.orders import WorkOrderState as S
from maintenance.orders import note
from pilecare.errors import Conflict, InvalidInput, NotFound


def use_part(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, part_id: str, quantity: int,
             location_id: str, defective_returned: bool, actor: str, request_id: str | None = None) -> bool:
    """Take parts from the engineer's van or a warehouse: stock goes down or the call fails.

    A phone that lost the answer sends the same request again with the same `request_id`:
    that repeat is recorded once and takes stock once (unique per order). Returns False
    for such a repeat, True when the parts were taken now."""
    state, _, _, warranty, kind = held_order(conn, order_id, engineer_id)
    if request_id is not None and _repeated(conn, order_id, request_id, part_id, quantity, location_id):
        return False
    require_state(order_id, state, S.ON_SITE)
    work_allowed(conn, order_id, kind, warranty)
    try:
        source = location(conn, location_id)
    except NotFound:
        raise InvalidInput(f"stock location {location_id!r} does not exist") from None
    if source.kind.value == "van" and engineer_id and source.engineer_id != engineer_id:
        raise InvalidInput(f"{location_id!r} is another engineer's van")
    # The receiver is the engineer holding the order (an admin acting for them included).
    receiver = engineer_id or conn.execute("SELECT engineer_id FROM work_orders WHERE id = %s",
                                           (order_id,)).fetchone()[0]
    if receiver is None:
        raise Conflict(f"work order {order_id} has no engineer to receive the parts")
    with conn.transaction():
        # The row first: it claims the request id, so a concurrent repeat waits on the unique
        # index and then finds it, instead of taking stock a second time.
        recorded = conn.execute(
            "INSERT INTO parts_used (work_order_id, part_id, quantity, location_id, defective_returned, recorded_by, "
            "request_id) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (work_order_id, request_id) DO NOTHING RETURNING id",
            (order_id, part_id, quantity, location_id, defective_returned, actor, request_id)).fetchone()
        if recorded is None:
            _repeated(conn, order_id, request_id, part_id, quantity, location_id)
            return False
        entry = issue(conn, part_id, quantity, location_id, engineer_id=receiver, actor=actor,
                      work_order_id=order_id)
        conn.execute("UPDATE parts_used SET entry = %s WHERE id = %s", (entry, recorded[0]))
        if defective_returned:
            return_defective(conn, part_id, quantity, location_id, work_order_id=order_id, engineer_id=receiver,
                             under_warranty=warranty == Warranty.IN.value, actor=actor)
        note(conn, order_id, f"used {quantity} × {part_id} from {location_id}"
                             + ("; the defective part goes back for analysis" if defective_returned else ""), actor=actor)
    return True


def _repeated(conn, order_id: int, request_id: str, part_id: str, quantity: int, location_id: str) -> bool:
    """Whether this parts request was recorded already; the same id with other parts is a client bug."""
    row = conn.execute("SELECT part_id, quantity, location_id FROM parts_used WHERE work_order_id = %s "
                       "AND request_id = %s", (order_id, request_id)).fetchone()
    if row is None:
        return False
    if tuple(row) != (part_id, quantity, location_id):
        raise Conflict(f"request {request_id!r} already recorded {row[1]} × {row[0]} from {row[2]} on work order "
                       f"{order_id}; a new request needs a new id")
    return True
