"""Energy delivered from registers as real piles send them (issue 11, item 4): a reboot's 0
placeholder, registers that restart every session or move only at session end, whole-kWh
steps, a replaced meter. Each register goes through real MQTT and ingest, and the hourly
rollup, preventive-maintenance usage and the pile charts must all agree on one figure."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from importlib import resources

import psycopg
import pytest

from maintenance.planning.planner import forecast, plan
from pilecare import storage
from pilecare.migrate import migrate
from pilecare.settings import Settings
from tests import services
from tests.devices import Device, wait_for

PILE = "TP-0001"  # a DC120 pile (tests/factories.py)


def publish_register(settings, db, readings: list[tuple[float, float]],
                     every: timedelta = timedelta(minutes=1)) -> datetime:
    """Publish one message `every` (a minute) for connector 1, ending now: (register kWh,
    power kW) each; wait until ingest stored them, then refresh the rollup as housekeeping
    does. Returns the time of the first message."""
    device = Device(settings)
    first = datetime.now(timezone.utc).replace(microsecond=0) - every * len(readings)
    for seq, (kwh, kw) in enumerate(readings, start=1):
        at = (first + every * (seq - 1)).isoformat().replace("+00:00", "Z")
        device.telemetry(PILE, seq, ts=at, connectors=1, energy_kwh=kwh, power_kw=kw)
    device.wait_acked()
    device.close()
    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE pile_id = %s AND connector_id = 1",
                                (PILE,)).fetchone()[0] == len(readings), message="every reading stored")
    storage.refresh_dirty_rollups(db)
    return first


@pytest.fixture
def energy_plan(db, fleet):
    """A plan of one usage threshold: 50 kWh delivered, no calendar interval."""
    db.execute("INSERT INTO maintenance_plans (id, name, kind, energy_kwh, lead_days, created_by, updated_by) "
               "VALUES ('pm-energy', 'Every 50 kWh', 'DC', 50, 14, 'test', 'test')")


def chart_total(api, first: datetime, bucket: str) -> float:
    start = first - timedelta(hours=1)
    body = api.get(f"/piles/{PILE}/telemetry", params={
        "from": start.isoformat(), "to": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
        "bucket": bucket, "connector_id": 1}).json()
    return sum(b["energy_delivered_kwh"] or 0 for b in body["data"])


def pm_usage(db) -> float:
    return next(d.usage["energy_kwh"] for d in forecast(db) if d.pile_id == PILE)


def rollup_total(db) -> float:
    return db.execute("SELECT sum(delivered_kwh) FROM energy_hourly(%s, '-infinity', 'infinity')",
                      (PILE,)).fetchone()[0]


def test_it_counts_about_1_05_kwh_across_a_reboots_0_placeholder_and_opens_no_pm_order(
        settings, db, energy_plan, ingest, api):
    # 909.948 kWh, a reboot: 0.0 while charging at 0 kW before the meter is read, then on.
    first = publish_register(settings, db, [(909.948, 11.0), (0.0, 0.0), (909.950, 11.0), (911.0, 11.0)])
    assert rollup_total(db) == pytest.approx(1.052)
    assert pm_usage(db) == pytest.approx(1.052)
    assert plan(db).created == []
    assert db.execute("SELECT count(*) FROM work_orders").fetchone()[0] == 0
    assert chart_total(api, first, "1h") == pytest.approx(1.052)
    assert chart_total(api, first, "1m") == pytest.approx(1.052)


REGISTERS = {
    # Previous session ended at 31.2; the register rests at 0, then counts each session from 0.
    "restarting_every_session": ([(31.2, 0.0), (0.0, 0.0), (5.0, 11.0), (12.5, 11.0), (20.3, 11.0), (0.0, 0.0),
                                  (0.4, 11.0), (8.0, 11.0)], 20.3 + 8.0),
    # Still while charging, then the whole session at once when it ends.
    "moving_only_at_session_end": ([(1200.0, 11.0), (1200.0, 11.0), (1200.0, 11.0), (1200.0, 11.0),
                                    (1220.5, 0.0), (1220.5, 0.0)], 20.5),
    "stepping_in_whole_kwh": ([(1500.0, 7.0), (1500.0, 7.0), (1501.0, 7.0), (1501.0, 7.0), (1502.0, 7.0),
                               (1503.0, 0.0)], 3.0),
    # The old meter's last 0.5 kWh, then the new one from zero.
    "replaced_by_a_new_meter": ([(5000.0, 11.0), (5000.5, 11.0), (0.2, 11.0), (1.0, 11.0)], 0.5 + 1.0),
    "counting_for_life": ([(48213.734, 50.0), (48214.5, 50.0), (48215.3, 50.0)], 1.566),
}


@pytest.mark.parametrize("readings,delivered", REGISTERS.values(), ids=REGISTERS.keys())
def test_it_gives_the_energy_delivered_by_a_register_in_the_rollup_pm_usage_and_charts_alike(
        settings, db, energy_plan, ingest, api, readings, delivered):
    first = publish_register(settings, db, readings)
    assert rollup_total(db) == pytest.approx(delivered)
    assert pm_usage(db) == pytest.approx(delivered)
    assert chart_total(api, first, "1h") == pytest.approx(delivered)
    assert chart_total(api, first, "5m") == pytest.approx(delivered)


def test_a_hundred_kwh_delivered_still_opens_the_pm_order(settings, db, energy_plan, ingest):
    # Whatever the register does, real usage beyond the threshold is not hidden. Two hours
    # apart: 100 kWh at 50 kW takes two hours (migration 0025 counts no more than a connector
    # can deliver in the time between two readings).
    publish_register(settings, db, [(100.0, 50.0), (0.0, 50.0), (0.0, 0.0), (60.0, 50.0), (160.0, 50.0)],
                     every=timedelta(hours=2))
    assert pm_usage(db) == pytest.approx(60.0 + 100.0)  # restarted from zero: 60, then 100 more
    assert len(plan(db).created) == 1


def test_the_timescale_continuous_aggregate_is_created_with_the_rollup_query_of_plain_postgresql():
    # Migration 0025 writes the continuous aggregate's query out (SQL cannot import it): they must not drift.
    migration = resources.files("pilecare.migrations").joinpath("0025_energy_glitches.sql").read_text()
    cagg = " ".join(migration[migration.index("CREATE MATERIALIZED VIEW"):migration.index("WITH NO DATA")].split())
    select_list = storage.ROLLUP_SELECT.strip().splitlines()[1:]  # after the bucket, which differs by backend
    assert [" ".join(line.split()) in cagg for line in select_list] == [True] * len(select_list)
    assert all(f"AS {column}" in cagg for column in storage.ROLLUP_COLUMNS)


def test_an_admin_sets_how_a_models_register_behaves_and_who_and_when_are_recorded(api, db, fleet):
    response = api.patch("/pile-models/T-DC120", json={"energy_register": "session_end", "energy_resolution_kwh": 1})
    assert response.status_code == 200
    model = next(m for m in api.get("/pile-models").json() if m["id"] == "T-DC120")
    assert (model["energy_register"], model["energy_resolution_kwh"], model["register_set_by"]) == (
        "session_end", 1.0, "admin")
    assert model["register_set_at"] is not None
    assert next(m for m in api.get("/pile-models").json() if m["id"] == "T-AC22")["energy_register"] == "lifetime"


@pytest.mark.parametrize("body,field", [({"energy_register": "monthly"}, "energy_register"),
                                        ({"energy_resolution_kwh": 0}, "energy_resolution_kwh"),
                                        ({"energy_resolution_kwh": "a lot"}, "energy_resolution_kwh"),
                                        ({"register": "session"}, "register"),
                                        ({}, "energy_register")])
def test_a_bad_register_setting_is_a_422_naming_the_field(api, fleet, body, field):
    response = api.patch("/pile-models/T-DC120", json=body)
    assert response.status_code == 422 and field in str(response.json()["detail"])


def test_setting_the_register_of_an_unknown_model_is_a_404(api, fleet):
    response = api.patch("/pile-models/NOPE", json={"energy_register": "session"})
    assert response.status_code == 404 and "NOPE" in response.json()["detail"]



def test_a_chart_starting_between_two_readings_counts_the_step_from_the_reading_before_it(
        settings, db, fleet, ingest, api):
    first = publish_register(settings, db, [(100.0, 11.0), (101.0, 11.0), (0.0, 0.0), (103.0, 11.0)])
    start = first + timedelta(seconds=90)  # after 101.0, before the placeholder and 103.0
    body = api.get(f"/piles/{PILE}/telemetry", params={
        "from": start.isoformat(), "to": (first + timedelta(minutes=10)).isoformat(), "bucket": "1m",
        "connector_id": 1}).json()
    assert sum(b["energy_delivered_kwh"] or 0 for b in body["data"]) == pytest.approx(2.0)


def test_upgrading_recomputes_every_stored_hour_so_no_history_loses_its_energy():
    name, url = services.create_database()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            settings = Settings(database_url=url, timescale="off")
            # The database as it was before migration 0020: an hour of readings, rolled up without energy.
            conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (20, 'held back'), (25, 'held back'), "
                         "(29, 'held back')")
            migrate(conn, settings)
            hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
            for minute, kwh in enumerate((909.948, 0.0, 909.950, 911.0)):
                at = hour + timedelta(minutes=minute)
                conn.execute("INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, "
                             "energy_kwh) VALUES (%s, %s, 1, %s, %s, %s, %s)", (at, PILE, minute, at, at, kwh))
            conn.execute("INSERT INTO telemetry_hourly (bucket, pile_id, connector_id, samples, energy_min_kwh, "
                         "energy_max_kwh) VALUES (%s, %s, 1, 4, 0.0, 911.0)", (hour, PILE))
            conn.execute("DELETE FROM schema_migrations WHERE version IN (20, 25, 29)")
            assert migrate(conn, settings) == ["0020_energy_registers.sql", "0025_energy_glitches.sql",
                                               "0029_energy_placeholder_twice.sql"]
            assert storage.refresh_dirty_rollups(conn) == 1  # housekeeping's next pass
            assert conn.execute("SELECT sum(delivered_kwh) FROM energy_hourly(%s, '-infinity', 'infinity')",
                                (PILE,)).fetchone()[0] == pytest.approx(1.052)
    finally:
        services.drop_database(name)



# --- register glitches (issue 11, item 4, reviewer's finding): a reading no meter could have
# made counts nothing, and the register goes on from the last trusted reading.

GLITCHES = {
    "a_placeholder_at_the_top_of_the_range": [4294967.295],  # 0xFFFFFFFF Wh in kWh
    "a_placeholder_of_nines": [999999.999],
    "a_one_off_tiny_reading": [0.001],
    "a_small_step_back": [909.0],  # whole-kWh rounding
}


@pytest.mark.parametrize("glitch", GLITCHES.values(), ids=GLITCHES.keys())
def test_a_glitch_counts_about_1_05_kwh_opens_no_pm_order_and_puts_no_spike_in_the_charts(
        settings, db, energy_plan, ingest, api, glitch):
    first = publish_register(settings, db, [(909.948, 11.0), (glitch[0], 11.0), (909.950, 11.0), (911.0, 11.0)])
    assert rollup_total(db) == pytest.approx(1.052)
    assert pm_usage(db) == pytest.approx(1.052)
    assert plan(db).created == []
    assert db.execute("SELECT count(*) FROM work_orders").fetchone()[0] == 0
    for bucket in ("1h", "1m"):
        assert chart_total(api, first, bucket) == pytest.approx(1.052)
        assert max(b["energy_delivered_kwh"] or 0 for b in chart(api, first, bucket)) <= 1.052 + 1e-9


def chart(api, first: datetime, bucket: str) -> list[dict]:
    return api.get(f"/piles/{PILE}/telemetry", params={
        "from": (first - timedelta(hours=1)).isoformat(), "to": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
        "bucket": bucket, "connector_id": 1}).json()["data"]


def write_register(db, readings: list[float], first: datetime) -> list[datetime]:
    """Readings of connector 1 one a minute from `first`, written as ingest stores them, then
    rolled up; returns their times."""
    times = [first + timedelta(minutes=i) for i in range(len(readings))]
    with db.cursor() as cur:
        cur.executemany("INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, energy_kwh) "
                        "VALUES (%s, %s, 1, %s, %s, %s, %s)",
                        [(at, PILE, i, at, at, kwh) for i, (at, kwh) in enumerate(zip(times, readings))])
    storage.refresh_rollups(db, times[0], times[-1])
    return times


MEMBERS = {  # what comes between 909.948 and 909.950 → 911.0, and what is delivered
    "0xFFFFFFFF_Wh": ([4294967.295], 1.052),
    "0x7FFFFFFF_Wh": ([2147483.647], 1.052),
    "0xFFFFFF_Wh": ([16777.215], 1.052),
    "0xFFFF_kWh": ([65535.0], 1.052),
    "nines": ([999999.999], 1.052),
    "a_tiny_reading": ([0.001], 1.052),
    "a_step_back": ([909.0], 1.052),
    "two_different_glitches_in_a_row": ([4294967.295, 0.001], 1.052),
    "the_same_placeholder_twice": ([4294967.295, 4294967.295], 1.052),  # a constant confirms nothing (0029)
    "nines_three_times": ([999999.999] * 3, 1.052),
    "the_same_tiny_reading_twice": ([0.001, 0.001], 1.051),  # confirmed: a restart counting its 0.001
    "two_steps_back": ([909.0, 909.2], 1.052),
    "a_0_placeholder_and_a_glitch": ([0.0, 4294967.295], 1.052),
}
HOUR = datetime(2025, 3, 4, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("minutes_before_the_hour", [5, 2, 1, 0])
@pytest.mark.parametrize("glitch,delivered", MEMBERS.values(), ids=MEMBERS.keys())
def test_no_glitch_invents_energy_at_an_hour_boundary_or_a_chart_start_between_two_readings(
        db, fleet, glitch, delivered, minutes_before_the_hour):
    # A lifetime register resting at 909.948, the glitch, then 909.950 and 911.0; the glitch
    # falls in the hour's last minutes, right at its end, or opens the next hour.
    readings = [909.948] * 5 + glitch + [909.950, 911.0]
    first = HOUR - timedelta(minutes=5 + minutes_before_the_hour)
    times = write_register(db, readings, first)
    counted = db.execute("SELECT array_agg(delivered_kwh ORDER BY bucket) FROM energy_hourly(%s, '-infinity', "
                         "'infinity')", (PILE,)).fetchone()[0]
    assert sum(counted) == pytest.approx(delivered) and max(counted) <= delivered + 1e-9
    steps = db.execute("SELECT at, delivered_kwh FROM energy_steps(%s, '-infinity', 'infinity')", (PILE,)).fetchall()
    assert sum(kwh for at, kwh in steps if at > times[4]) == pytest.approx(delivered)
    for start in times[4:]:  # a sub-hour chart starting at any reading, the seam of rollup and raw
        from_there = db.execute("SELECT coalesce(sum(delivered_kwh), 0) FROM energy_steps(%s, %s, 'infinity')",
                                (PILE, start)).fetchone()[0]
        assert from_there == pytest.approx(sum(kwh for at, kwh in steps if at >= start))


@pytest.mark.parametrize("readings, minutes, delivered", [
    ([20.0, 4294967.295, 4294967.295, 20.002, 21.05], [0, 1, 2, 3, 4], 1.05),          # a new pile
    ([909.948, 4294967.295, 4294967.295, 909.95, 911.0], [0, 1, 2, 32, 33], 1.052),   # silent half an hour
    ([909.948, 999999.999, 999999.999, 909.95, 911.0], [0, 120, 240, 360, 480], 1.052),  # 2 h apart
], ids=["new pile", "silence before the return", "two hours apart"])
def test_a_placeholder_sent_twice_never_counts_the_whole_register(db, fleet, readings, minutes, delivered):
    # The second review of issue 11: the return from a repeated placeholder counted 911 kWh.
    with db.cursor() as cur:
        cur.executemany("INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, energy_kwh) "
                        "VALUES (%s, %s, 1, %s, %s, %s, %s)",
                        [(at, PILE, i, at, at, kwh) for i, (at, kwh) in
                         enumerate(zip([HOUR + timedelta(minutes=m) for m in minutes], readings))])
    storage.refresh_rollups(db, HOUR, HOUR + timedelta(minutes=minutes[-1]))
    assert rollup_total(db) == pytest.approx(delivered)
    steps = db.execute("SELECT sum(delivered_kwh) FROM energy_steps(%s, '-infinity', 'infinity')", (PILE,)).fetchone()[0]
    assert steps == pytest.approx(delivered)


def test_a_replaced_meter_that_starts_higher_counts_on_from_its_first_move(db, fleet):
    write_register(db, [909.948, 5000.0, 5000.0, 5000.5, 5001.0], HOUR - timedelta(minutes=2))
    assert rollup_total(db) == pytest.approx(1.0)


def test_a_session_register_restarting_right_after_a_glitch_still_counts_the_new_session_from_zero(db, fleet):
    # The end of a session (20.0 → 20.3), a top-of-range placeholder, then a session of 8.0 kWh.
    write_register(db, [20.0, 20.3, 4294967.295, 0.4, 4.0, 8.0], HOUR - timedelta(minutes=3))
    assert rollup_total(db) == pytest.approx(0.3 + 8.0)


def test_a_register_that_really_restarts_counts_what_it_delivered_after_the_restart(db, fleet):
    write_register(db, [500.0, 500.5, 0.3, 1.5, 3.0], HOUR - timedelta(minutes=2))
    assert rollup_total(db) == pytest.approx(0.5 + 3.0)


def test_no_hour_counts_more_than_a_connector_can_deliver_whatever_the_register_sends(db, fleet):
    # A register gone mad: every reading a glitch of some kind, for two hours.
    readings = [909.948, 4294967.295, 0.001, 65535.0, 909.0, 999999.999, 2147483.647, 0.002] * 15
    write_register(db, readings, HOUR - timedelta(minutes=60))
    hours = db.execute("SELECT delivered_kwh FROM energy_hourly(%s, '-infinity', 'infinity')", (PILE,)).fetchall()
    assert max(h[0] for h in hours) <= 2000.0  # the device contract's most a connector can deliver in an hour


def test_upgrading_to_0025_recomputes_hours_a_glitch_had_spiked():
    name, url = services.create_database()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            settings = Settings(database_url=url, timescale="off")
            conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (25, 'held back'), (29, 'held back')")
            migrate(conn, settings)
            hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
            for minute, kwh in enumerate((909.948, 4294967.295, 909.950, 911.0)):
                at = hour + timedelta(minutes=minute)
                conn.execute("INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, "
                             "energy_kwh) VALUES (%s, %s, 1, %s, %s, %s, %s)", (at, PILE, minute, at, at, kwh))
            conn.execute("INSERT INTO telemetry_hourly (bucket, pile_id, connector_id, samples, energy_delivered_kwh, "
                         "energy_first_kwh, energy_last_kwh) SELECT %s, pile_id, connector_id, count(*), "
                         "(energy_register(time, energy_kwh))[1], (energy_register(time, energy_kwh))[2], "
                         "(energy_register(time, energy_kwh))[3] FROM telemetry GROUP BY 2, 3", (hour,))
            assert conn.execute("SELECT sum(delivered_kwh) FROM energy_hourly(%s, '-infinity', 'infinity')",
                                (PILE,)).fetchone()[0] > 4_000_000  # the spike 0020 rolled up
            conn.execute("DELETE FROM schema_migrations WHERE version IN (25, 29)")
            assert migrate(conn, settings) == ["0025_energy_glitches.sql", "0029_energy_placeholder_twice.sql"]
            assert storage.refresh_dirty_rollups(conn) == 1  # housekeeping's next pass
            assert conn.execute("SELECT sum(delivered_kwh) FROM energy_hourly(%s, '-infinity', 'infinity')",
                                (PILE,)).fetchone()[0] == pytest.approx(1.052)
    finally:
        services.drop_database(name)
