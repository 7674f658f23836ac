"""Status, not error code, says whether a connector works (issue 11, item 2): a connector
that stays Faulted while its error code goes back to NoError keeps its alarm and its order,
a pile (connector 0) that says Faulted or Unavailable keeps its pile-wide alarm, and
verification never calls a pile healthy while it says it is down."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance.alarms.lifecycle import raise_alarm
from maintenance.alarms.rules import default
from maintenance.alarms.status_changes import process_status_changes
from maintenance.orders.policy_step import verify
from tests.devices import Device, telemetry, wait_for
from tests.maint import Pass, fast_policy


class Pile:
    """One pile's telemetry stream: each report one second after the last, the newest now."""

    def __init__(self, settings, db, pile_id):
        self.settings, self.db, self.pile_id, self.seq = settings, db, pile_id, 0

    def report(self, *states, pile_status=None, vendor_error_code=None):
        """Publish one message per (status, error code) of connector 1 and wait until stored.
        `pile_status` is the pile's own status (connector 0), sent with each message."""
        device = Device(self.settings)
        start = datetime.now(timezone.utc) - timedelta(seconds=len(states))
        for i, (status, error) in enumerate(states):
            self.seq += 1
            body = telemetry(self.seq, ts=(start + timedelta(seconds=i)).isoformat(), status=status, error_code=error)
            if pile_status:
                body["status"] = pile_status
            if vendor_error_code and error != "NoError":
                body["connectors"][0]["vendor_error_code"] = vendor_error_code
            device.publish(device.topics.telemetry(self.pile_id), body)
        device.wait_acked()
        device.close()
        wait_for(lambda: self.db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0 AND pile_id = %s",
                                         (self.pile_id,)).fetchone()[0] == self.seq)


@pytest.fixture
def passes(settings):
    made = []

    def make(**policy):
        made.append(Pass(settings, fast_policy(**policy)))
        return made[-1]
    yield make
    for p in made:
        p.close()


def alarms(db):
    return db.execute("SELECT rule_id, state, clear_requested_at IS NOT NULL FROM alarms ORDER BY id").fetchall()


def order(db):
    return db.execute("SELECT state, resolution FROM work_orders").fetchone()


def test_a_connector_still_faulted_with_no_error_keeps_its_alarm_and_order_until_it_reports_available(
        settings, db, fleet, ingest, passes):
    pile, tick = Pile(settings, db, fleet[0]), passes(clear_after_s=0)  # a hold-off that passes at once
    pile.report(("Faulted", "OverVoltage"), ("Faulted", "NoError"), ("Faulted", "NoError"), ("Faulted", "NoError"))
    tick(3)

    assert alarms(db) == [("error.OverVoltage", "active", False)]
    assert order(db) == ("ready_for_dispatch", None), "not resolved (cleared_at_pile) while the connector is Faulted"

    pile.report(("Available", "NoError"))
    tick(3)

    assert alarms(db) == [("error.OverVoltage", "cleared", True)]
    assert order(db) == ("resolved", "cleared_at_pile"), "clearing and verification start at the Available report"


def test_a_connector_that_goes_back_to_faulted_with_no_error_within_the_hold_off_keeps_the_same_alarm(
        settings, db, fleet, ingest, passes):
    pile, tick = Pile(settings, db, fleet[0]), passes(clear_after_s=600)
    pile.report(("Faulted", "PowerSwitchFailure"), ("Available", "NoError"), ("Faulted", "NoError"))
    tick()

    assert db.execute("SELECT state, clear_requested_at, flaps FROM alarms").fetchall() == [("active", None, 1)]
    assert db.execute("SELECT action FROM alarm_events ORDER BY id").fetchall() == [
        ("raised",), ("clear_requested",), ("returned",)]


def test_a_connector_faulted_with_another_error_code_keeps_the_first_alarm_too(settings, db, fleet, ingest, passes):
    pile, tick = Pile(settings, db, fleet[0]), passes(clear_after_s=0)
    pile.report(("Faulted", "PowerSwitchFailure"), ("Faulted", "InternalError"), ("Faulted", "NoError"))
    tick(2)

    assert alarms(db) == [("error.PowerSwitchFailure", "active", False), ("error.InternalError", "active", False)]

    pile.report(("Available", "NoError"))
    tick(2)
    assert [a[1] for a in alarms(db)] == ["cleared", "cleared"]


def test_a_connector_unavailable_after_a_fault_starts_the_clear_since_out_of_service_leaves_it_so(
        settings, db, fleet, ingest, passes):
    # ChangeAvailability Inoperative (a safety fault taken out of service) leaves connectors
    # Unavailable after the repair as before it: only Faulted keeps a connector's alarm.
    pile, tick = Pile(settings, db, fleet[0]), passes(clear_after_s=0)
    pile.report(("Faulted", "GroundFailure"), ("Unavailable", "NoError"))
    tick()

    assert alarms(db) == [("error.GroundFailure", "cleared", True)]


@pytest.mark.parametrize("pile_status", ["Unavailable", "Faulted"])
def test_a_pile_wide_alarm_stays_while_the_pile_itself_says_it_is_down(
        settings, db, fleet, ingest, passes, pile_status):
    pile, tick = Pile(settings, db, fleet[0]), passes(clear_after_s=0)
    pile.report(("Unavailable", "OtherError"), pile_status=pile_status, vendor_error_code="EStop")
    tick()
    assert db.execute("SELECT rule_id, connector_id, state FROM alarms").fetchall() == [("estop", 0, "active")]

    # The connector's code goes back to NoError while the pile still says it is down.
    pile.report(("Unavailable", "NoError"), pile_status=pile_status)
    tick()
    assert alarms(db) == [("estop", "active", False)]

    pile.report(("Available", "NoError"), pile_status="Available")
    tick()
    assert alarms(db) == [("estop", "cleared", True)]


def resolved_order(db, pile):
    """A corrective order that cleared at the pile an hour ago: due for verification."""
    order_id = db.execute(
        "INSERT INTO work_orders (kind, pile_id, fault_category, title, priority, created_by, state, resolved_at, "
        "resolution) VALUES ('corrective', %s, 'power_module', 'PowerSwitchFailure on connector 1', 2, 'rules', "
        "'resolved', now() - interval '1 hour', 'cleared_at_pile') RETURNING id", (pile,)).fetchone()[0]
    return order_id


@pytest.mark.parametrize("pile_status", ["Unavailable", "Faulted"])
def test_verification_does_not_call_a_pile_healthy_while_the_pile_itself_says_it_is_down(
        settings, db, fleet, ingest, pile_status):
    pile = Pile(settings, db, fleet[0])
    pile.report(("Available", "NoError"), pile_status=pile_status)
    order_id = resolved_order(db, fleet[0])

    verify(db, fast_policy(verify_s=60))
    assert db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone() == ("resolved",)

    pile.report(("Available", "NoError"), pile_status="Available")
    verify(db, fast_policy(verify_s=60))
    assert db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone() == ("closed",)


def test_verification_does_not_call_a_pile_healthy_while_a_connector_is_faulted_with_no_error(
        settings, db, fleet, ingest):
    pile = Pile(settings, db, fleet[0])
    pile.report(("Faulted", "NoError"))
    order_id = resolved_order(db, fleet[0])

    verify(db, fast_policy(verify_s=60))

    assert db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone() == ("resolved",)


# The command as recorded: answered; published and never answered (timed out after it left:
# the pile may have obeyed); or an OCPP command never delivered (the pile cannot have obeyed).
COMMANDS = {
    "acknowledged": "'acknowledged', 'mqtt', 'Accepted', now(), NULL",
    "sent_never_answered": "'timed_out', 'mqtt', NULL, now(), NULL",
    "never_delivered": "'timed_out', 'ocpp', NULL, NULL, NULL",
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_pile_the_platform_took_out_of_service_stays_unavailable_without_holding_its_pile_wide_alarm(
        settings, db, fleet, ingest, passes, command):
    # ChangeAvailability Inoperative on connector 0 leaves the pile Unavailable after the
    # e-stop is released as before: the platform's own doing, not a fault it still reports.
    pile, tick = Pile(settings, db, fleet[0]), passes(clear_after_s=0)
    db.execute("INSERT INTO commands (id, pile_id, type, params, requested_by, state, via, ack_status, sent_at, "
               "delivering_at) VALUES (gen_random_uuid(), %s, 'ChangeAvailability', "
               "'{\"connector_id\": 0, \"type\": \"Inoperative\"}', 'rules', " + COMMANDS[command] + ")",
               (fleet[0],))
    pile.report(("Unavailable", "OtherError"), pile_status="Unavailable", vendor_error_code="EStop")
    tick()
    assert alarms(db) == [("estop", "active", False)]

    pile.report(("Unavailable", "NoError"), pile_status="Unavailable")  # released, still Inoperative
    tick()

    if command == "never_delivered":  # Unavailable is the pile's own report: the alarm holds
        assert alarms(db) == [("estop", "active", False)]
    else:
        assert alarms(db) == [("estop", "cleared", True)]


def pile_transition(db, pile, status, error):
    """A transition of the pile itself (connector 0), as ingest records it (migration 0018)."""
    db.execute("INSERT INTO connector_status_changes (pile_id, connector_id, time, new_status, new_error_code) "
               "VALUES (%s, 0, now(), %s, %s)", (pile, status, error))


@pytest.mark.parametrize("pile_status", ["Unavailable", "Faulted"])
def test_a_pile_level_alarm_stays_while_the_piles_own_transition_says_down_with_no_error(db, fleet, pile_status):
    rules = default()
    raise_alarm(db, fleet[0], 0, rules.by_id("error.InternalError"), at=datetime.now(timezone.utc), clear_after_s=0)

    pile_transition(db, fleet[0], pile_status, "NoError")
    process_status_changes(db, rules, fast_policy())
    assert alarms(db) == [("error.InternalError", "active", False)]

    pile_transition(db, fleet[0], "Available", "NoError")
    process_status_changes(db, rules, fast_policy())
    assert alarms(db) == [("error.InternalError", "active", True)]  # the clear starts at Available
