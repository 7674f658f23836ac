"""Issue 11, item 6: timestamps without a UTC offset. The rule (docs/device-protocol.md,
section 9): such a time is read as UTC for the record and, its zone being unknown, the
telemetry is stored at receive time like a skewed clock's; the pile stays online and the
data-quality problem is reported once per pile, counted. Real broker, ingest, PostgreSQL."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.devices import Device, telemetry, wait_for
from tests.maint import Pass


def naive(at: datetime, fmt: str) -> str:
    return at.astimezone(timezone.utc).replace(tzinfo=None).strftime(fmt)


def stored(db, pile: str) -> int:
    return db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0 AND pile_id = %s", (pile,)).fetchone()[0]


@pytest.fixture
def tick(settings):
    p = Pass(settings)
    yield p
    p.close()


def test_the_issues_timestamp_is_read_as_utc_and_stored_at_receive_time(settings, db, fleet, ingest):
    pile = fleet[0]
    device = Device(settings)
    device.telemetry(pile, 1, ts="2026-11-30T04:20:21")
    device.wait_acked()
    wait_for(lambda: stored(db, pile) == 1)
    device_ts, at_receive = db.execute(
        "SELECT device_ts, time = received_at FROM telemetry WHERE connector_id = 0").fetchone()
    assert device_ts == datetime(2026, 11, 30, 4, 20, 21, tzinfo=timezone.utc)
    assert at_receive is True
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    assert db.execute("SELECT problem, count FROM data_quality").fetchall() == [("timestamp_without_offset", 1)]


# (format, hours the pile's clock is ahead of UTC): a clock that knows no zone may run on
# UTC or on the site's local time, east or west of it.
CLOCKS = {
    "seconds_utc": ("%Y-%m-%dT%H:%M:%S", 0),
    "space_utc": ("%Y-%m-%d %H:%M:%S", 0),
    "fraction_utc": ("%Y-%m-%dT%H:%M:%S.%f", 0),
    "minutes_utc": ("%Y-%m-%dT%H:%M", 0),
    "seconds_local_east": ("%Y-%m-%dT%H:%M:%S", 8),
    "seconds_local_west": ("%Y-%m-%dT%H:%M:%S", -5),
}


@pytest.mark.parametrize("fmt, offset_h", CLOCKS.values(), ids=CLOCKS.keys())
def test_a_pile_that_sends_times_without_an_offset_stays_online_and_is_reported_once(
        settings, db, fleet, ingest, tick, api, fmt, offset_h):
    pile = fleet[0]
    db.execute("UPDATE pile_models SET reporting_interval_s = 1")
    device = Device(settings)
    device.telemetry(pile, 1)  # it was heard from properly once
    device.wait_acked()
    wait_for(lambda: stored(db, pile) == 1)
    # Then it talks every half second, for longer than 3 reporting intervals, with a clock
    # that knows no zone.
    for seq in range(2, 10):
        device.telemetry(pile, seq, ts=naive(datetime.now(timezone.utc) + timedelta(hours=offset_h), fmt))
        time.sleep(0.5)
    device.wait_acked()
    wait_for(lambda: stored(db, pile) == 9)
    tick()
    assert db.execute("SELECT count(*) FROM alarms WHERE rule_id = 'offline'").fetchone()[0] == 0
    detail = api.get(f"/piles/{pile}").json()
    assert detail["online"] is True
    assert [(q["problem"], q["count"]) for q in detail["data_quality"]] == [("timestamp_without_offset", 8)]
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    assert db.execute("SELECT bool_and(time = received_at) FROM telemetry WHERE seq > 1").fetchone()[0] is True


def test_events_and_statuses_without_an_offset_are_stored_with_the_time_read_as_utc(settings, db, fleet, ingest):
    pile = fleet[0]
    device = Device(settings)
    device.publish(device.topics.events(pile), {"v": 1, "id": uuid.uuid4().hex, "ts": "2026-11-30T04:20:21",
                                                "type": "session_start_failed", "connector_id": 1})
    device.publish(device.topics.status(pile), {"v": 1, "state": "online", "ts": "2026-11-30 04:20:22"})
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT count(*) FROM pile_events").fetchone()[0] == 1
             and db.execute("SELECT count(*) FROM connectivity_events").fetchone()[0] == 1)
    assert db.execute("SELECT device_ts FROM pile_events").fetchone()[0] == datetime(
        2026, 11, 30, 4, 20, 21, tzinfo=timezone.utc)
    assert db.execute("SELECT device_ts FROM connectivity_events").fetchone()[0] == datetime(
        2026, 11, 30, 4, 20, 22, tzinfo=timezone.utc)
    assert db.execute("SELECT problem, count FROM data_quality").fetchall() == [("timestamp_without_offset", 2)]
    assert db.execute("SELECT online FROM pile_state WHERE pile_id = %s", (pile,)).fetchone()[0] is True


def test_a_redelivered_message_without_an_offset_is_stored_once(settings, db, fleet, ingest):
    pile = fleet[0]
    device = Device(settings)
    body = telemetry(3, ts="2026-11-30T04:20:21")
    for _ in range(3):
        device.publish(device.topics.telemetry(pile), body)
    device.wait_acked()
    wait_for(lambda: db.execute("SELECT coalesce(sum(received), 0) FROM ingest_counters").fetchone()[0] == 3)
    assert stored(db, pile) == 1
