"""Escalation (R-REPAIR): a safety or severe quality finding goes to the supervisor, who
takes the pile out of service, orders it replaced, or sends the order back to dispatch; the
customer is told either way.
"""
from __future__ import annotations

from enum import Enum

import psycopg

from maintenance.fieldwork.holding import held_order, require_state
from maintenance.orders import WorkOrderState as S
from maintenance.orders import carry_alarms, create_installation, note, take_out_of_service, transition
from maintenance.outbox import Event, enqueue, notify


class SupervisorAction(str, Enum):
    """What a supervisor may decide on an escalated order (R-REPAIR)."""

    OUT_OF_SERVICE = "out_of_service"
    REPLACE = "replace"
    RETURN_TO_DISPATCH = "return_to_dispatch"


def escalate(conn: psycopg.Connection, order_id: int, engineer_id: str | None, *, reason: str, safety: bool,
             actor: str) -> None:
    """A safety or severe quality finding goes to the supervisor (R-REPAIR)."""
    state, pile_id, _, _, _ = held_order(conn, order_id, engineer_id)
    with conn.transaction():
        transition(conn, order_id, S.ESCALATED, actor=actor, note=("SAFETY: " if safety else "") + reason)
        if safety:
            conn.execute("UPDATE work_orders SET safety = true WHERE id = %s", (order_id,))
        notify(conn, "escalation", "supervisor", f"Order {order_id} on {pile_id} escalated by {actor}: {reason}",
               work_order_id=order_id, pile_id=pile_id)
        enqueue(conn, Event.ESCALATED, {"work_order_id": order_id, "pile_id": pile_id, "reason": reason,
                                        "safety": safety}, work_order_id=order_id)


def decide_escalation(conn: psycopg.Connection, downlink, order_id: int, *, action: SupervisorAction, note_text: str,
                      actor: str, settle_s: int = 0) -> int | None:
    """The supervisor's decision on an escalated order; the customer is told. Returns the
    replacement (installation) order for REPLACE. `settle_s` is the policy's
    `command_settle_s` (the API passes it): the out-of-service command waits until the pile
    has been online that long since its last (re)connect or boot.

    The decision is claimed by the move out of `escalated` (a conditional UPDATE), in one
    transaction with what it creates: of two supervisors deciding at once, one wins and
    the other gets a Conflict with nothing left behind. The out-of-service command leaves
    only after that commit, so a losing decision never sends one."""
    state, pile_id, customer_id, _, _ = held_order(conn, order_id, None)
    require_state(order_id, state, S.ESCALATED)
    replacement = None
    with conn.transaction():
        if action is SupervisorAction.REPLACE:
            transition(conn, order_id, S.CLOSED, actor=actor, expect=S.ESCALATED,
                       note=f"the supervisor ordered the pile replaced: {note_text}")
            conn.execute("UPDATE work_orders SET resolution = 'replaced' WHERE id = %s", (order_id,))
            replacement = create_installation(conn, pile_id, title=f"Replace pile {pile_id} (order {order_id})",
                                              actor=actor, description=note_text)
            note(conn, order_id, f"replacement: installation order {replacement}", actor=actor)
            # The fault may still be there: the replacement carries its alarms, so they are
            # neither left with a closed order nor closed unseen (docs/internals.md, "Work orders").
            carry_alarms(conn, order_id, replacement, actor=actor)
        elif action is SupervisorAction.OUT_OF_SERVICE:
            transition(conn, order_id, S.READY_FOR_DISPATCH, actor=actor, expect=S.ESCALATED,
                       note=f"taken out of service by the supervisor: {note_text}")
        else:
            transition(conn, order_id, S.READY_FOR_DISPATCH, actor=actor, expect=S.ESCALATED,
                       note=f"back to dispatch: {note_text}")
        enqueue(conn, Event.WORK_ORDER_UPDATED, {"work_order_id": order_id, "pile_id": pile_id,
                                                  "decision": action.value, "note": note_text,
                                                  "replacement_order_id": replacement},
                work_order_id=order_id, customer_id=customer_id)
    if action is SupervisorAction.OUT_OF_SERVICE:
        take_out_of_service(conn, downlink, order_id, pile_id, actor=actor, settle_s=settle_s)
    return replacement
