"""An order does not end while its fault is still there (issue 11, item 8): the desk's
cancel is refused with a 409 while a linked alarm is active, like a verify or a close, and
a supervisor who orders the pile replaced hands the still-active alarms to the replacement
order, so an active alarm is never left with a finished order (it opens one only once)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from maintenance import fieldwork as field
from maintenance.alarms.lifecycle import raise_alarm
from maintenance.alarms.rules import default
from maintenance.fieldwork import SupervisorAction
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from maintenance.orders.policy_step import verify
from tests.maint import fast_policy

POWER = default().by_id("error.PowerSwitchFailure")


def order_with_alarm(db, pile, *moves):
    """A corrective order opened by an active PowerSwitchFailure alarm, moved through `moves`."""
    alarm_id, _ = raise_alarm(db, pile, 1, POWER, at=datetime.now(timezone.utc), clear_after_s=0)
    order_id, _ = open_corrective(db, pile, POWER.category, title="PowerSwitchFailure on connector 1", priority=2,
                                  actor="rules", alarm_id=alarm_id)
    for to in moves:
        transition(db, order_id, to, actor="dispatch")
    return order_id, alarm_id


def cancel(client, order_id):
    return client.post(f"/work-orders/{order_id}/transitions", json={"to": "cancelled", "note": "customer called"})


def clear(db, alarm_id):
    db.execute("UPDATE alarms SET state = 'cleared', cleared_at = now() WHERE id = %s", (alarm_id,))


def orderless_active_alarms(db):
    return db.execute("SELECT a.id FROM alarms a LEFT JOIN work_orders o ON o.id = a.work_order_id "
                      "WHERE a.state = 'active' AND (o.id IS NULL OR o.state IN ('closed', 'cancelled'))").fetchall()


@pytest.fixture
def dispatcher(client_for):
    return client_for("dispatcher", "dora")


@pytest.mark.parametrize("moves", [(), (S.TRIAGE,), (S.READY_FOR_DISPATCH,), (S.ESCALATED,)],
                         ids=["new", "triage", "ready_for_dispatch", "escalated"])
def test_an_order_is_not_cancelled_at_the_desk_while_its_alarm_is_active(dispatcher, db, fleet, moves):
    order_id, alarm_id = order_with_alarm(db, fleet[0], *moves)
    before = db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0]

    refused = cancel(dispatcher, order_id)

    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"work order {order_id} cannot be cancelled while its alarm(s) {alarm_id} are still active: the pile still "
        "reports the fault; put it on hold instead, or cancel it once the alarm has cleared")
    assert db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0] == before
    assert orderless_active_alarms(db) == []

    clear(db, alarm_id)  # the fault is gone: now the desk may cancel, with who and when
    done = cancel(dispatcher, order_id)
    assert done.status_code == 200 and done.json()["state"] == "cancelled"
    assert (done.json()["timeline"][-1]["actor"], done.json()["timeline"][-1]["note"]) == ("dora", "customer called")


def escalated(db, pile):
    order_id, alarm_id = order_with_alarm(db, pile, S.READY_FOR_DISPATCH, S.ESCALATED)
    return order_id, alarm_id


def test_a_pile_ordered_replaced_hands_its_active_alarm_to_the_replacement_order(db, fleet):
    order_id, alarm_id = escalated(db, fleet[0])

    replacement = field.decide_escalation(db, None, order_id, action=SupervisorAction.REPLACE,
                                          note_text="water damage beyond repair", actor="sam")

    assert db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone() == ("closed",)
    assert db.execute("SELECT work_order_id FROM alarms WHERE id = %s", (alarm_id,)).fetchone() == (replacement,)
    assert db.execute("SELECT work_order_id FROM work_order_alarms WHERE alarm_id = %s ORDER BY 1",
                      (alarm_id,)).fetchall() == [(order_id,), (replacement,)]
    assert orderless_active_alarms(db) == []
    notes = [r[0] for r in db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s ORDER BY id",
                                      (replacement,))]
    assert f"alarm(s) {alarm_id} of order {order_id} still active: this order carries them; it is verified " \
           "once they clear" in notes


def test_a_replacement_that_did_not_cure_the_pile_goes_back_to_dispatch_instead_of_closing(db, fleet):
    order_id, alarm_id = escalated(db, fleet[0])
    replacement = field.decide_escalation(db, None, order_id, action=SupervisorAction.REPLACE,
                                          note_text="beyond repair", actor="sam")
    # The pile reports and is online; only the carried alarm says it is not cured.
    db.execute("UPDATE pile_state SET online = true, last_seen = now() WHERE pile_id = %s", (fleet[0],))
    db.execute("UPDATE work_orders SET state = 'resolved', resolved_at = now() - interval '11 minutes', "
               "resolution = 'repaired' WHERE id = %s", (replacement,))

    verify(db, fast_policy(verify_s=600))

    assert db.execute("SELECT state, reopened_count FROM work_orders WHERE id = %s",
                      (replacement,)).fetchone() == ("ready_for_dispatch", 1)
