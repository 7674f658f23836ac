"""No command straight into a reboot (issue 11, item 7): an automatic command (a remote
reset, taking a pile out of service) waits until the pile has been online the policy's
`command_settle_s` since its last (re)connect or boot. A due command waits, it is not
dropped; a pile that never settles within the triage budget goes to dispatch."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from gateway.commands import Downlink
from maintenance.alarms.lifecycle import raise_alarm
from maintenance.alarms.rules import default
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from maintenance.orders.policy_step import open_from_alarms, step, triage
from tests.devices import Device, now_iso, wait_for
from tests.maint import fast_policy
from tests.parallel import in_parallel

SETTLE_S = 3
POLICY = fast_policy(command_settle_s=SETTLE_S, triage={"categories": ["connector"], "attempts": 2, "wait_s": 60})
LOCK = default().by_id("error.ConnectorLockFailure")
GROUND = default().by_id("error.GroundFailure")


@pytest.fixture
def downlink(settings):
    link = Downlink(settings, f"test-maintenance-{uuid.uuid4().hex[:6]}")
    yield link
    link.close()


@pytest.fixture
def device(settings):
    d = Device(settings)
    yield d
    d.close()


def report(db, device, pile, *, online=False, boot=False):
    """The pile speaks: its `online` status on a (re)connect, a `boot` event, and telemetry."""
    if online:
        device.publish(device.topics.status(pile), {"v": 1, "state": "online", "ts": now_iso()})
    if boot:
        device.publish(device.topics.events(pile), {"v": 1, "id": uuid.uuid4().hex, "ts": now_iso(), "type": "boot",
                                                    "data": {"reason": "watchdog"}})
    seq = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM telemetry WHERE pile_id = %s", (pile,)).fetchone()[0]
    device.telemetry(pile, seq, status="Faulted", error_code="ConnectorLockFailure")
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE pile_id = %s AND seq = %s AND connector_id = 0",
                                (pile, seq)).fetchone()[0] == 1)
    if online:
        wait_for(lambda: db.execute("SELECT count(*) FROM connectivity_events WHERE pile_id = %s AND online",
                                    (pile,)).fetchone()[0] >= 1)
    if boot:
        wait_for(lambda: db.execute("SELECT count(*) FROM pile_events WHERE pile_id = %s AND type = 'boot'",
                                    (pile,)).fetchone()[0] >= 1)


def up_for_an_hour(db, device, pile):
    """The pile reports, and its last (re)connect was an hour ago."""
    report(db, device, pile)
    db.execute("UPDATE pile_state SET connectivity_changed_at = now() - interval '1 hour' WHERE pile_id = %s",
               (pile,))


def order_in_triage(db, pile):
    """An order for an active connector-lock alarm whose first reset is due now."""
    alarm_id, _ = raise_alarm(db, pile, 1, LOCK, at=datetime.now(timezone.utc), clear_after_s=0)
    order_id, _ = open_corrective(db, pile, LOCK.category, title="ConnectorLockFailure on connector 1", priority=2,
                                  actor="rules", alarm_id=alarm_id)
    db.execute("UPDATE work_orders SET triage_next_at = now() WHERE id = %s", (order_id,))
    transition(db, order_id, S.TRIAGE, actor="rules")
    return order_id, alarm_id


def resets(db, pile):
    return db.execute("SELECT requested_at FROM commands WHERE pile_id = %s AND type = 'Reset'", (pile,)).fetchall()


def notes(db, order_id):
    return [r[0] for r in db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s ORDER BY id",
                                     (order_id,))]


def test_a_reset_due_right_after_a_pile_reconnects_waits_until_it_has_been_up_the_settle_time(
        db, fleet, ingest, device, downlink):
    pile = fleet[0]
    order_id, _ = order_in_triage(db, pile)
    report(db, device, pile, online=True)  # it just reconnected

    triage(db, POLICY, downlink)
    triage(db, POLICY, downlink)

    assert resets(db, pile) == [], "no reset within the settle time of the reconnect"
    assert [n for n in notes(db, order_id) if "waits" in (n or "")] == [
        f"remote reset 1 of 2 waits: the pile is offline or (re)connected or booted less than {SETTLE_S} s ago"]

    time.sleep(SETTLE_S)
    report(db, device, pile)  # still reporting, no new connect or boot
    triage(db, POLICY, downlink)

    [(sent_at,)] = resets(db, pile)
    connected_at = db.execute("SELECT connectivity_changed_at FROM pile_state WHERE pile_id = %s",
                              (pile,)).fetchone()[0]
    assert sent_at - connected_at >= timedelta(seconds=SETTLE_S), "the reset waited, it was not dropped"
    assert db.execute("SELECT triage_attempts, triage_waiting_since FROM work_orders WHERE id = %s",
                      (order_id,)).fetchone() == (1, None)


def test_a_reset_due_right_after_a_boot_waits_even_if_the_connection_never_dropped(
        db, fleet, ingest, device, downlink):
    pile = fleet[0]
    order_id, _ = order_in_triage(db, pile)
    up_for_an_hour(db, device, pile)
    report(db, device, pile, boot=True)  # rebooted without a last will (a watchdog reset)

    triage(db, POLICY, downlink)
    assert resets(db, pile) == []

    time.sleep(SETTLE_S)
    report(db, device, pile)
    triage(db, POLICY, downlink)
    assert len(resets(db, pile)) == 1


def test_a_reset_for_an_offline_pile_waits_instead_of_being_queued_for_its_reconnect(
        db, fleet, ingest, device, downlink):
    pile = fleet[0]
    order_id, _ = order_in_triage(db, pile)
    up_for_an_hour(db, device, pile)
    device.publish(device.topics.status(pile), {"v": 1, "state": "offline", "reason": "connection_lost"})
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT NOT online FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()[0])

    triage(db, POLICY, downlink)

    assert resets(db, pile) == []
    assert db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone() == ("triage",)


def test_a_reset_goes_at_once_to_a_pile_that_has_been_up_for_long(db, fleet, ingest, device, downlink):
    pile = fleet[0]
    order_in_triage(db, pile)
    report(db, device, pile, online=True)
    up_for_an_hour(db, device, pile)

    triage(db, POLICY, downlink)

    assert len(resets(db, pile)) == 1


def test_a_pile_that_never_settles_goes_to_dispatch_after_the_triage_budget(db, fleet, ingest, device, downlink):
    pile = fleet[0]
    order_id, _ = order_in_triage(db, pile)
    report(db, device, pile, online=True)
    triage(db, POLICY, downlink)
    # Rebooting in a loop: two triage budgets (2 × 60 s) later it still has not stayed up.
    db.execute("UPDATE work_orders SET triage_waiting_since = now() - interval '121 seconds' WHERE id = %s",
               (order_id,))
    report(db, device, pile, boot=True)

    triage(db, POLICY, downlink)

    assert resets(db, pile) == []
    assert db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone() == ("ready_for_dispatch",)
    assert "a remote reset cannot reach it safely; dispatch" in notes(db, order_id)[-1]


def test_a_fault_that_clears_while_its_reset_waits_is_resolved_without_a_reset(db, fleet, ingest, device, downlink):
    pile = fleet[0]
    order_id, alarm_id = order_in_triage(db, pile)
    report(db, device, pile, online=True)
    triage(db, POLICY, downlink)
    db.execute("UPDATE alarms SET state = 'cleared', cleared_at = now() WHERE id = %s", (alarm_id,))

    triage(db, POLICY, downlink)

    assert resets(db, pile) == []
    assert db.execute("SELECT state, resolution FROM work_orders WHERE id = %s", (order_id,)).fetchone() == (
        "resolved", "cleared_at_pile")


def test_two_maintenance_workers_send_a_reset_that_waited_once(database_url, db, fleet, ingest, device, downlink,
                                                                 settings):
    pile = fleet[0]
    order_id, _ = order_in_triage(db, pile)
    report(db, device, pile, online=True)
    triage(db, POLICY, downlink)
    assert resets(db, pile) == []
    up_for_an_hour(db, device, pile)

    def worker(conn):
        link = Downlink(settings, f"test-worker-{uuid.uuid4().hex[:6]}")
        try:
            return triage(conn, POLICY, link)
        finally:
            link.close()
    in_parallel(database_url, worker, workers=3)

    assert len(resets(db, pile)) == 1


def test_taking_a_pile_out_of_service_for_a_safety_fault_waits_for_it_to_settle_too(
        db, fleet, ingest, device, downlink):
    pile = fleet[0]
    report(db, device, pile, online=True, boot=True)  # just booted
    raise_alarm(db, pile, 1, GROUND, at=datetime.now(timezone.utc) - timedelta(minutes=1), clear_after_s=0)

    [order_id] = open_from_alarms(db, POLICY, downlink)

    assert db.execute("SELECT type FROM commands WHERE pile_id = %s", (pile,)).fetchall() == []
    assert db.execute("SELECT out_of_service_requested_at IS NOT NULL, out_of_service_at FROM work_orders "
                      "WHERE id = %s", (order_id,)).fetchone() == (True, None)
    assert notes(db, order_id)[-1].startswith("safety: out of service decided; the command waits until the pile has "
                                              f"been online {SETTLE_S} s")

    step(db, POLICY, downlink)
    assert db.execute("SELECT count(*) FROM commands WHERE pile_id = %s", (pile,)).fetchone()[0] == 0

    time.sleep(SETTLE_S)
    report(db, device, pile)
    step(db, POLICY, downlink)
    step(db, POLICY, downlink)

    assert db.execute("SELECT type, params->>'type', requested_by FROM commands WHERE pile_id = %s",
                      (pile,)).fetchall() == [("ChangeAvailability", "Inoperative", "rules")]
    assert notes(db, order_id)[-1].startswith("safety: pile taken out of service (ChangeAvailability Inoperative")


def test_a_pile_taken_out_of_service_goes_back_in_once_a_supervisor_verified_its_repair(
        db, fleet, ingest, device, downlink):
    pile = fleet[0]
    up_for_an_hour(db, device, pile)
    raise_alarm(db, pile, 1, GROUND, at=datetime.now(timezone.utc) - timedelta(minutes=1), clear_after_s=0)
    [order_id] = open_from_alarms(db, POLICY, downlink)
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED, S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED):
        transition(db, order_id, to, actor="eva")
    step(db, POLICY, downlink)
    assert availability_commands(db, pile) == [("Inoperative", "rules")]  # resolved is not enough

    transition(db, order_id, S.VERIFIED, actor="sam-supervisor")
    step(db, POLICY, downlink)
    step(db, POLICY, downlink)

    assert availability_commands(db, pile) == [("Inoperative", "rules"), ("Operative", "sam-supervisor")]
    assert notes(db, order_id)[-1].startswith("safety: repair verified by sam-supervisor; pile back in service "
                                              "(ChangeAvailability Operative")


def test_a_pile_stays_out_of_service_while_another_safety_order_keeps_it_out(db, fleet, ingest, device, downlink):
    pile = fleet[0]
    up_for_an_hour(db, device, pile)
    raise_alarm(db, pile, 1, GROUND, at=datetime.now(timezone.utc) - timedelta(minutes=1), clear_after_s=0)
    [first] = open_from_alarms(db, POLICY, downlink)
    second, _ = open_corrective(db, pile, "emergency_stop", title="E-stop pressed", priority=1, actor="rules",
                                severity="critical")
    db.execute("UPDATE work_orders SET out_of_service_requested_at = now(), out_of_service_at = now() WHERE id = %s",
               (second,))
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED, S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED, S.VERIFIED):
        transition(db, first, to, actor="sam-supervisor")
    step(db, POLICY, downlink)
    assert availability_commands(db, pile) == [("Inoperative", "rules")]


def availability_commands(db, pile):
    return db.execute("SELECT params->>'type', requested_by FROM commands WHERE pile_id = %s "
                      "AND type = 'ChangeAvailability' ORDER BY requested_at", (pile,)).fetchall()
