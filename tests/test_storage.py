"""Plain-PostgreSQL storage: day partitions ahead, late uploads kept, retention by
dropping partitions, hourly rollups kept up to date by the app."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from ingest.housekeeping import Housekeeping
from pilecare import storage


def partitions(db) -> set[str]:
    return {r[0] for r in db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'telemetry'::regclass")}


def insert(db, when: datetime, pile="TP-0001", connector=1, seq=1, power=10.0, temp=30.0, energy=100.0):
    db.execute(
        "INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, status, error_code, "
        "power_kw, temp_c, energy_kwh) VALUES (%s, %s, %s, %s, %s, %s, 'Charging', 'NoError', %s, %s, %s)",
        (when, pile, connector, seq, when, when, power, temp, energy))


def test_partitions_are_created_ahead_for_the_coming_days(settings, db):
    future = date.today() + timedelta(days=30)
    created = storage.ensure_partitions(db, settings, today=future)
    ahead = {f"telemetry_p{future + timedelta(days=d):%Y%m%d}" for d in range(settings.partition_ahead_days + 1)}
    assert ahead <= partitions(db)
    assert set(created) >= ahead


def test_a_late_upload_waits_in_the_default_partition_and_moves_when_its_day_gets_a_partition(settings, db):
    old_day = date.today() - timedelta(days=20)
    when = datetime(old_day.year, old_day.month, old_day.day, 12, tzinfo=timezone.utc)
    insert(db, when)
    assert db.execute("SELECT count(*) FROM telemetry_default").fetchone()[0] == 1
    storage.ensure_partitions(db, settings, today=old_day)
    name = f"telemetry_p{old_day:%Y%m%d}"
    assert name in partitions(db)
    assert db.execute(f"SELECT count(*) FROM {name}").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 1


def test_retention_drops_whole_partitions_older_than_the_retention_period(settings, db):
    old_day = date.today() - timedelta(days=settings.retention_days + 5)
    storage.ensure_partitions(db, settings, today=old_day)
    old_partition = f"telemetry_p{old_day:%Y%m%d}"
    assert old_partition in partitions(db)
    recent = datetime.now(timezone.utc) - timedelta(hours=1)
    insert(db, recent)
    dropped = storage.drop_expired(db, settings)
    assert old_partition in dropped and old_partition not in partitions(db)
    assert db.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 1


def test_hourly_rollups_aggregate_each_hour_and_are_idempotent(settings, db):
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    for i, (power, temp, energy) in enumerate([(10.0, 30.0, 100.0), (20.0, 40.0, 105.0), (30.0, 50.0, 112.0)]):
        insert(db, hour + timedelta(minutes=10 * i), seq=i + 1, power=power, temp=temp, energy=energy)
    insert(db, hour + timedelta(hours=1, minutes=5), seq=9, power=5.0)
    for _ in range(2):
        storage.refresh_rollups(db, hour, hour + timedelta(hours=2))
    rows = db.execute(
        "SELECT bucket, samples, power_avg_kw, power_max_kw, temp_max_c, energy_min_kwh, energy_max_kwh "
        "FROM telemetry_hourly ORDER BY bucket").fetchall()
    assert rows == [(hour, 3, 20.0, 30.0, 50.0, 100.0, 112.0), (hour + timedelta(hours=1), 1, 5.0, 5.0, 30.0, 100.0, 100.0)]


def test_housekeeping_runs_once_at_a_time_across_workers(settings, db):
    db.execute("SELECT pg_advisory_lock(%s)", (0x68_6F_75_73,))
    try:
        assert Housekeeping(settings).run_once() is False
    finally:
        db.execute("SELECT pg_advisory_unlock(%s)", (0x68_6F_75_73,))
    assert Housekeeping(settings).run_once() is True



def test_ingest_marks_the_hours_it_wrote_and_housekeeping_refreshes_exactly_those(settings, db, fleet):
    import json
    import time as clock

    import psycopg

    from ingest.decode import Decoder, Inbound
    from ingest.store import Store
    from tests.devices import telemetry

    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    with psycopg.connect(settings.database_url) as conn:
        store, decoder = Store(conn, "t"), Decoder(settings)
        for seq, minute in ((1, 10), (2, 20)):  # an upload three days late
            ts = (hour + timedelta(minutes=minute)).isoformat()
            raw = json.dumps(telemetry(seq, ts=ts, power_kw=10.0 * seq)).encode()
            inbound = Inbound(f"{settings.topic_prefix}/piles/{fleet[0]}/telemetry", raw, 1, 1, clock.time(), 1)
            store.write([(inbound, decoder.decode(inbound))])
    assert [r[0] for r in db.execute("SELECT hour FROM telemetry_dirty_hours")] == [hour]
    assert storage.refresh_dirty_rollups(db) == 1
    assert db.execute("SELECT count(*) FROM telemetry_dirty_hours").fetchone()[0] == 0
    assert db.execute("SELECT samples, power_avg_kw FROM telemetry_hourly WHERE connector_id = 1 AND bucket = %s",
                      (hour,)).fetchone() == (2, 15.0)
