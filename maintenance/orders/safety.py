"""Safety (R-REPAIR): a pile with a safety fault goes out of service, and a safety order is
verified by a supervisor, never by telemetry alone.
"""
from __future__ import annotations

import logging

import psycopg

from maintenance.orders.lifecycle import note
from pilecare.domain import CommandType

log = logging.getLogger(__name__)


def take_out_of_service(conn: psycopg.Connection, downlink, order_id: int, pile_id: str, *, actor: str) -> bool:
    """Take the order's pile out of service (OCPP ChangeAvailability Inoperative on
    connector 0), once per order: the `out_of_service_at` claim decides between callers.

    Call it after the order committed. `downlink` is a `gateway.commands.Downlink` or None
    (a process without a command link: the timeline tells a person to do it by hand).
    A broker failure is recorded on the timeline, never raised: the decision stands.
    Returns whether this call made the claim.
    """
    claimed = conn.execute("UPDATE work_orders SET out_of_service_at = now() WHERE id = %s "
                           "AND out_of_service_at IS NULL", (order_id,)).rowcount == 1
    if not claimed:
        return False
    if downlink is None:
        note(conn, order_id, "safety: no command link in this process: take the pile out of service by hand",
             actor=actor)
        return True
    try:
        command_id = downlink.send(conn, pile_id, CommandType.CHANGE_AVAILABILITY,
                                   {"connector_id": 0, "type": "Inoperative"}, requested_by=actor)
        note(conn, order_id, f"safety: pile taken out of service (ChangeAvailability Inoperative, command {command_id})",
             actor=actor)
    except Exception as error:  # the broker is an external boundary: record, let a person act
        log.exception("could not take %s out of service", pile_id)
        note(conn, order_id, f"safety: taking the pile out of service failed ({error}); do it by hand", actor=actor)
    return True
