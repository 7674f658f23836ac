"""Issue 11, item 5: a retained status is a snapshot of unknown age. What the broker
replays from its retained store when ingest subscribes anew (a new worker, a new client
id) is recorded, but never overrides fresher data and never makes a pile look seen now.
Real broker (retained messages, MQTT v5 RETAIN flag on subscribe), ingest, PostgreSQL."""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager

import pytest

from ingest.worker import IngestWorker
from simulators.inprocess import RunningWorker
from tests.devices import Device, telemetry, wait_for
from tests.maint import Pass

LAST_WILL = {"v": 1, "state": "offline", "reason": "connection_lost"}


@contextmanager
def new_subscription(settings):
    """A new ingest worker: new client id, plain subscription, so the broker sends it the
    retained statuses (a shared subscription gets none)."""
    fresh = settings.model_copy(update={"ingest_group": "", "ingest_client_id": f"ingest-new-{uuid.uuid4().hex[:6]}"})
    with RunningWorker(IngestWorker(fresh, housekeeping=False)) as running:
        yield running.worker


def retain(settings, pile: str, payload: dict, leaf: str = "status") -> None:
    """Leave `payload` in the broker's retained store, as a last will or a retained publish does."""
    device = Device(settings)
    device.publish(device.topics.pile(pile, leaf), payload, retain=True)
    device.wait_acked()
    device.close()


def events(db, pile: str) -> list[tuple]:
    return db.execute("SELECT online, retained FROM connectivity_events WHERE pile_id = %s ORDER BY id",
                      (pile,)).fetchall()


def state(db, pile: str) -> tuple:
    return db.execute("SELECT online, last_seen FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()


@pytest.fixture
def tick(settings):
    p = Pass(settings)
    yield p
    p.close()


def test_a_retained_last_will_of_a_pile_that_reconnected_raises_no_offline_alarm(settings, db, fleet, tick, api):
    pile = fleet[0]
    db.execute("UPDATE pile_models SET reporting_interval_s = 5")
    retain(settings, pile, LAST_WILL)  # the will of an earlier connection, still on the topic
    with new_subscription(settings):
        wait_for(lambda: events(db, pile) == [(False, True)], message="the retained will recorded as retained")
        # The pile reconnected before (its `online` was not retained) and reports every 5 s.
        device = Device(settings)
        for seq in (1, 2):
            device.telemetry(pile, seq)
        device.wait_acked()
        wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] == 2)
        tick()
        assert db.execute("SELECT count(*) FROM alarms WHERE pile_id = %s AND rule_id = 'offline'",
                          (pile,)).fetchone()[0] == 0
        assert api.get(f"/piles/{pile}").json()["online"] is True


def test_a_retained_last_will_of_a_pile_never_heard_from_raises_nothing(settings, db, fleet, tick):
    pile = fleet[0]
    retain(settings, pile, LAST_WILL)
    with new_subscription(settings):
        wait_for(lambda: events(db, pile) == [(False, True)])
        tick()
    assert db.execute("SELECT count(*) FROM alarms").fetchone()[0] == 0
    assert state(db, pile) == (False, None)


def test_a_dead_piles_retained_online_does_not_make_it_look_seen_now(settings, db, fleet, ingest, tick, api):
    pile = fleet[0]
    db.execute("UPDATE pile_models SET reporting_interval_s = 1")
    # `ts` is optional in a status: without it a replay cannot be told from a new message.
    retain(settings, pile, {"v": 1, "state": "online", "firmware": "2.4.1"})
    device = Device(settings)
    device.telemetry(pile, 1)
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] == 1)
    wait_for(lambda: events(db, pile) == [(True, False)])
    last_heard = state(db, pile)[1]
    time.sleep(3.5)  # the pile dies silently (no will): more than 3 reporting intervals pass
    with new_subscription(settings):
        wait_for(lambda: events(db, pile) == [(True, False), (True, True)], message="the retained online replayed")
        assert state(db, pile)[1] == last_heard
        assert api.get(f"/piles/{pile}").json()["online"] is False
        tick()
    assert db.execute("SELECT state FROM alarms WHERE pile_id = %s AND rule_id = 'offline'",
                      (pile,)).fetchone() == ("active",)


def test_a_retained_online_of_a_pile_never_heard_from_does_not_make_it_online(settings, db, fleet, api):
    pile = fleet[0]
    retain(settings, pile, {"v": 1, "state": "online", "ts": "2026-11-22T10:00:00Z", "firmware": "2.4.1"})
    with new_subscription(settings):
        wait_for(lambda: events(db, pile) == [(True, True)])
    assert state(db, pile) == (False, None)
    assert api.get(f"/piles/{pile}").json()["online"] is False
    assert db.execute("SELECT firmware_reported FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()[0] == "2.4.1"


def test_retained_telemetry_is_stored_but_does_not_make_the_pile_look_seen_now(settings, db, fleet):
    pile = fleet[0]
    retain(settings, pile, telemetry(7, ts="2026-11-22T10:00:00Z"), leaf="telemetry")
    with new_subscription(settings):
        wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] == 1)
    assert state(db, pile) == (False, None)
    assert db.execute("SELECT last_seq FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()[0] == 7


def test_a_live_last_will_still_marks_the_pile_offline_at_once(settings, db, fleet, tick):
    pile = fleet[0]
    with new_subscription(settings):
        device = Device(settings, will_pile=pile)
        device.telemetry(pile, 1)
        device.wait_acked()
        wait_for(lambda: state(db, pile)[0] is True)
        device.close(clean=False)
        wait_for(lambda: events(db, pile) == [(False, False)], timeout=20, message="the live last will")
        tick()
    assert state(db, pile)[0] is False
    assert db.execute("SELECT state FROM alarms WHERE pile_id = %s AND rule_id = 'offline'",
                      (pile,)).fetchone() == ("active",)
