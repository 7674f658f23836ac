"""Safety (R-REPAIR): a pile with a safety fault goes out of service, and a safety order is
verified by a supervisor, never by telemetry alone. Once the supervisor has verified the
repair, the pile goes back in service (ChangeAvailability Operative; send_due_back_in_service):
ChangeAvailability persists on an OCPP charger across reboots, so without it a repaired pile
stays Unavailable for ever.

The decision to take a pile out of service is recorded at once (who and when); the command
(OCPP ChangeAvailability Inoperative on connector 0) leaves only once the pile has settled
(pilecare.liveness.settled_sql, the policy's `command_settle_s`): a command straight into a
boot can feed a reboot loop. Until then the order's timeline says it waits, and every
maintenance pass sends the ones whose pile has settled (send_due_out_of_service).
"""
from __future__ import annotations

import logging

import psycopg

from maintenance.orders.lifecycle import note
from pilecare.domain import CommandType
from pilecare.liveness import settled_sql

log = logging.getLogger(__name__)

ACTOR = "rules"

# The claim of the send: once per order, and only while the pile has settled.
_CLAIM = f"""
    UPDATE work_orders o SET out_of_service_at = now()
    FROM pile_state s JOIN piles p ON p.id = s.pile_id JOIN pile_models m ON m.id = p.model_id
    WHERE o.id = %(order)s AND s.pile_id = o.pile_id AND o.out_of_service_at IS NULL
      AND o.out_of_service_requested_at IS NOT NULL AND {settled_sql("s", "m", "%(settle_s)s")}
    RETURNING o.out_of_service_requested_by"""


def take_out_of_service(conn: psycopg.Connection, downlink, order_id: int, pile_id: str, *, actor: str,
                        settle_s: int) -> bool:
    """Decide to take the order's pile out of service, once per order (the
    `out_of_service_requested_at` claim decides between callers), and send the command now
    if the pile has been online `settle_s` seconds since its last (re)connect or boot; else
    the timeline says it waits and send_due_out_of_service sends it later.

    Call it after the order committed. `downlink` is a `gateway.commands.Downlink` or None
    (a process without a command link: the timeline tells a person to do it by hand, at once).
    A broker failure is recorded on the timeline, never raised: the decision stands.
    Returns whether this call made the decision."""
    claimed = conn.execute("UPDATE work_orders SET out_of_service_requested_at = now(), out_of_service_requested_by = %s "
                           "WHERE id = %s AND out_of_service_requested_at IS NULL AND out_of_service_at IS NULL",
                           (actor, order_id)).rowcount == 1
    if not claimed:
        return False
    if downlink is None:
        conn.execute("UPDATE work_orders SET out_of_service_at = now() WHERE id = %s AND out_of_service_at IS NULL",
                     (order_id,))
        note(conn, order_id, "safety: no command link in this process: take the pile out of service by hand",
             actor=actor)
        return True
    if not _send(conn, downlink, order_id, pile_id, actor=actor, settle_s=settle_s):
        note(conn, order_id, f"safety: out of service decided; the command waits until the pile has been online "
                             f"{settle_s} s since its last (re)connect or boot (it is offline or has just restarted)",
             actor=actor)
    return True


def send_due_out_of_service(conn: psycopg.Connection, downlink, *, settle_s: int) -> int:
    """Send the out-of-service commands that waited for their pile to settle; return how many
    were claimed. The claim is a conditional UPDATE, so two maintenance processes send each once."""
    if downlink is None:
        return 0
    sent = 0
    for order_id, pile_id in conn.execute(
            "SELECT id, pile_id FROM work_orders WHERE out_of_service_requested_at IS NOT NULL "
            "AND out_of_service_at IS NULL AND state NOT IN ('closed', 'cancelled') ORDER BY id").fetchall():
        sent += _send(conn, downlink, order_id, pile_id, actor=ACTOR, settle_s=settle_s)
    return sent


def _send(conn: psycopg.Connection, downlink, order_id: int, pile_id: str, *, actor: str, settle_s: int) -> bool:
    """Claim and send one out-of-service command if the pile has settled."""
    row = conn.execute(_CLAIM, {"order": order_id, "settle_s": settle_s}).fetchone()
    if row is None:
        return False
    decided_by = f", decided by {row[0]}" if row[0] and row[0] != actor else ""
    try:
        command_id = downlink.send(conn, pile_id, CommandType.CHANGE_AVAILABILITY,
                                   {"connector_id": 0, "type": "Inoperative"}, requested_by=row[0] or actor,
                                   work_order_id=order_id)
        note(conn, order_id, f"safety: pile taken out of service (ChangeAvailability Inoperative, command {command_id}"
                             f"{decided_by})", actor=actor)
    except Exception as error:  # the broker is an external boundary: record, let a person act
        log.exception("could not take %s out of service", pile_id)
        note(conn, order_id, f"safety: taking the pile out of service failed ({error}); do it by hand", actor=actor)
    return True


# The claim of the return: once per order, after a verification that came after the pile was
# taken out of service (an escalation closed with the pile out of service never verifies),
# while no other open order of the pile keeps it out, and once the pile has settled.
_BACK_CLAIM = f"""
    UPDATE work_orders o SET back_in_service_at = now()
    FROM pile_state s JOIN piles p ON p.id = s.pile_id JOIN pile_models m ON m.id = p.model_id
    WHERE o.id = %(order)s AND s.pile_id = o.pile_id AND o.out_of_service_at IS NOT NULL
      AND o.back_in_service_at IS NULL AND o.state IN ('verified', 'closed')
      AND EXISTS (SELECT 1 FROM work_order_events e WHERE e.work_order_id = o.id AND e.to_state = 'verified'
                  AND e.from_state IS DISTINCT FROM e.to_state AND e.at > o.out_of_service_at)
      AND NOT EXISTS (SELECT 1 FROM work_orders other WHERE other.pile_id = o.pile_id AND other.id <> o.id
                      AND other.out_of_service_requested_at IS NOT NULL
                      AND other.state NOT IN ('verified', 'closed', 'cancelled'))
      AND {settled_sql("s", "m", "%(settle_s)s")}
    RETURNING (SELECT e.actor FROM work_order_events e WHERE e.work_order_id = o.id AND e.to_state = 'verified'
               AND e.from_state IS DISTINCT FROM e.to_state ORDER BY e.id DESC LIMIT 1)"""


def send_due_back_in_service(conn: psycopg.Connection, downlink, *, settle_s: int) -> int:
    """Put back in service the piles whose safety repair a supervisor verified (R-REPAIR):
    ChangeAvailability Operative on connector 0, once per order (a conditional UPDATE claims
    it, so two maintenance processes send it once), when the pile has settled and no other
    open order keeps it out of service. The timeline says who verified and which command
    went. Returns how many were sent. `downlink` None: nothing (a process without a command link)."""
    if downlink is None:
        return 0
    sent = 0
    for order_id, pile_id in conn.execute(
            "SELECT id, pile_id FROM work_orders WHERE out_of_service_at IS NOT NULL AND back_in_service_at IS NULL "
            "AND state IN ('verified', 'closed') ORDER BY id").fetchall():
        row = conn.execute(_BACK_CLAIM, {"order": order_id, "settle_s": settle_s}).fetchone()
        if row is None:
            continue
        try:
            command_id = downlink.send(conn, pile_id, CommandType.CHANGE_AVAILABILITY,
                                       {"connector_id": 0, "type": "Operative"}, requested_by=row[0] or ACTOR,
                                       work_order_id=order_id)
            note(conn, order_id, f"safety: repair verified by {row[0]}; pile back in service (ChangeAvailability "
                                 f"Operative, command {command_id})", actor=ACTOR)
        except Exception as error:  # the broker is an external boundary: record, let a person act
            log.exception("could not put %s back in service", pile_id)
            note(conn, order_id, f"safety: putting the pile back in service failed ({error}); do it by hand",
                 actor=ACTOR)
        sent += 1
    return sent
