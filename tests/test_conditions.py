"""Condition rules over the fleet's latest state: duration, hysteresis, meters, stuck
sessions, trends, maintenance windows. State is written straight to the tables ingest
owns, so each rule's edge can be placed exactly."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance.alarms import conditions
from maintenance.alarms import trends
from maintenance.alarms import rules as rulesets
from maintenance.alarms.lifecycle import settle_clears
from tests.maint import fast_policy

POLICY = fast_policy(clear_after_s=0)


def ruleset(*lines: str) -> rulesets.RuleSet:
    return rulesets.parse("rules:\n" + "\n".join(f"  - {line}" for line in lines))


def report(db, pile, *, status="Charging", power_kw=11.0, offered_kw=22.0, energy_kwh=100.0, temp_c=40.0,
           soc_pct=40.0, fan_rpm=1500.0, online=True, seen_s_ago=0):
    """The latest state of connector 1 of `pile`, as ingest would leave it."""
    db.execute("UPDATE pile_state SET online = %s, last_seen = now() - make_interval(secs => %s), fan_rpm = %s "
               "WHERE pile_id = %s", (online, seen_s_ago, fan_rpm, pile))
    db.execute(
        "INSERT INTO connector_state (pile_id, connector_id, time, seq, status, error_code, power_kw, power_offered_kw, "
        "energy_kwh, temp_c, soc_pct, status_since) VALUES (%s, 1, now(), 1, %s, 'NoError', %s, %s, %s, %s, %s, now()) "
        "ON CONFLICT (pile_id, connector_id) DO UPDATE SET status = excluded.status, power_kw = excluded.power_kw, "
        "power_offered_kw = excluded.power_offered_kw, energy_kwh = excluded.energy_kwh, temp_c = excluded.temp_c, "
        "soc_pct = excluded.soc_pct", (pile, status, power_kw, offered_kw, energy_kwh, temp_c, soc_pct))


def alarms(db, rule_id):
    return db.execute("SELECT pile_id, connector_id, state FROM alarms WHERE rule_id = %s ORDER BY id",
                      (rule_id,)).fetchall()


def evaluate(db, rules):
    conditions.evaluate(db, rules, POLICY)
    settle_clears(db)


def age_clocks(db, seconds):
    db.execute("UPDATE rule_conditions SET since = since - make_interval(secs => %s)", (seconds,))


HOT = "{id: hot, kind: threshold, metric: temp_c, raise_at: 90, clear_at: 80, for_s: 60, category: thermal, severity: major}"


def test_a_threshold_raises_only_after_it_has_held_for_its_duration(db, fleet):
    rules = ruleset(HOT)
    report(db, fleet[0], temp_c=95)
    evaluate(db, rules)
    assert alarms(db, "hot") == []
    age_clocks(db, 61)
    evaluate(db, rules)
    assert alarms(db, "hot") == [(fleet[0], 1, "active")]


def test_a_value_inside_the_hysteresis_band_neither_clears_nor_restarts_the_alarm(db, fleet):
    rules = ruleset(HOT)
    report(db, fleet[0], temp_c=95)
    evaluate(db, rules)
    age_clocks(db, 61)
    evaluate(db, rules)
    report(db, fleet[0], temp_c=85)  # below the raise limit, above the clear limit
    evaluate(db, rules)
    assert alarms(db, "hot") == [(fleet[0], 1, "active")]
    report(db, fleet[0], temp_c=79)
    evaluate(db, rules)
    assert alarms(db, "hot") == [(fleet[0], 1, "cleared")]


def test_a_dip_below_the_limit_restarts_the_duration_clock(db, fleet):
    rules = ruleset(HOT)
    report(db, fleet[0], temp_c=95)
    evaluate(db, rules)
    age_clocks(db, 50)
    report(db, fleet[0], temp_c=85)
    evaluate(db, rules)
    report(db, fleet[0], temp_c=95)
    evaluate(db, rules)
    age_clocks(db, 20)
    evaluate(db, rules)
    assert alarms(db, "hot") == []


def test_a_stale_pile_is_not_judged_on_old_values(db, fleet):
    rules = ruleset(HOT.replace("for_s: 60", "for_s: 0"))
    report(db, fleet[0], temp_c=95, seen_s_ago=3600)
    evaluate(db, rules)
    assert alarms(db, "hot") == []


METER = "{id: meter, kind: meter, for_s: 300, min_power_kw: 1, category: metering, severity: major}"


def test_a_meter_that_stops_counting_while_power_flows_raises_after_its_duration(db, fleet):
    rules = ruleset(METER)
    report(db, fleet[0], energy_kwh=100.0)
    evaluate(db, rules)
    age_clocks(db, 301)
    report(db, fleet[0], energy_kwh=100.0)
    evaluate(db, rules)
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]
    report(db, fleet[0], energy_kwh=100.5)  # counting again
    evaluate(db, rules)
    assert alarms(db, "meter") == [(fleet[0], 1, "cleared")]


def test_a_meter_that_goes_backwards_raises_at_once(db, fleet):
    rules = ruleset(METER)
    report(db, fleet[0], energy_kwh=100.0)
    evaluate(db, rules)
    report(db, fleet[0], energy_kwh=90.0)
    evaluate(db, rules)
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]


def test_an_idle_connector_is_no_meter_fault(db, fleet):
    rules = ruleset(METER)
    report(db, fleet[0], status="Available", power_kw=0, energy_kwh=100.0)
    evaluate(db, rules)
    age_clocks(db, 3600)
    evaluate(db, rules)
    assert alarms(db, "meter") == []


def test_a_session_charging_at_no_power_for_hours_is_stuck(db, fleet):
    rules = ruleset("{id: stuck, kind: stuck_session, for_s: 7200, max_power_kw: 0.1, category: session, severity: minor}")
    report(db, fleet[0], power_kw=0.0)
    report(db, fleet[1], power_kw=7.0)
    evaluate(db, rules)
    age_clocks(db, 7201)
    evaluate(db, rules)
    assert alarms(db, "stuck") == [(fleet[0], 1, "active")]


@pytest.mark.parametrize("soc, power, raised", [(40, 15.0, True), (40, 20.0, False), (90, 5.0, False)])
def test_derating_is_low_power_while_charging_below_the_taper(db, fleet, soc, power, raised):
    rules = ruleset("{id: derate, kind: derating, ratio: 0.85, for_s: 0, category: power_module, severity: minor}")
    report(db, fleet[0], power_kw=power, offered_kw=22.0, soc_pct=soc)
    evaluate(db, rules)
    assert bool(alarms(db, "derate")) is raised


def test_a_last_will_raises_offline_at_once_and_silence_beyond_k_intervals_too(db, fleet):
    rules = ruleset("{id: offline, kind: offline, silence_factor: 3, category: connectivity, severity: major}")
    report(db, fleet[0], online=False)
    report(db, fleet[1], seen_s_ago=200)  # T-DC120 / T-AC22 report every 15 / 30 s: beyond 3 intervals
    report(db, fleet[2], seen_s_ago=5)
    evaluate(db, rules)
    assert {a[0] for a in alarms(db, "offline")} == {fleet[0], fleet[1]}


def test_an_alarm_inside_a_maintenance_window_is_suppressed_and_opens_no_order(db, fleet):
    from maintenance.orders.policy_step import open_from_alarms

    db.execute("INSERT INTO maintenance_windows (site_id, starts_at, ends_at, reason, created_by) "
               "SELECT site_id, now() - interval '1 hour', now() + interval '1 hour', 'PM visit', 'test' "
               "FROM piles WHERE id = %s", (fleet[0],))
    rules = ruleset("{id: offline, kind: offline, category: connectivity, severity: major}")
    report(db, fleet[0], online=False)
    report(db, fleet[1], online=False)
    same_site = db.execute("SELECT site_id FROM piles WHERE id = %s", (fleet[0],)).fetchone()[0] == \
        db.execute("SELECT site_id FROM piles WHERE id = %s", (fleet[1],)).fetchone()[0]
    evaluate(db, rules)
    open_from_alarms(db, POLICY)
    suppressed = dict(db.execute("SELECT pile_id, suppressed FROM alarms").fetchall())
    assert suppressed[fleet[0]] is True and suppressed[fleet[1]] is same_site
    assert fleet[0] not in {r[0] for r in db.execute("SELECT pile_id FROM work_orders")}


def test_a_downward_trend_that_crosses_the_limit_within_the_horizon_raises_a_warning(db, fleet):
    rule = ("{id: insulation, kind: trend, metric: insulation_mohm, above: false, limit: 100, horizon_days: 21, "
            "lookback_days: 14, min_points: 24, category: insulation, severity: warning}")
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    rows = []
    for h in range(24 * 7):  # a week of hourly readings
        t = now - timedelta(hours=h)
        rows.append((t, fleet[0], 300 + 20 * h / 24))  # 300 MΩ now, falling 20 MΩ a day
        rows.append((t, fleet[1], 500.0))  # steady
    with db.cursor() as cur:
        cur.executemany("INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, insulation_mohm) "
                        "VALUES (%s, %s, 0, 1, %s, %s, %s)", [(t, p, t, t, v) for t, p, v in rows])
    assert trends.run(db, ruleset(rule), POLICY) == 1
    detail = db.execute("SELECT pile_id, detail FROM alarms WHERE rule_id = 'insulation'").fetchall()
    assert [d[0] for d in detail] == [fleet[0]]
    assert detail[0][1]["eta_days"] == pytest.approx(10, abs=0.5)  # 300 → 100 at 20 per day


# --- registers as real piles send them (issue 11, item 4): the model's register setting

def register_of(db, pile, kind, resolution_kwh=0.001):
    db.execute("UPDATE pile_models SET energy_register = %s, energy_resolution_kwh = %s "
               "WHERE id = (SELECT model_id FROM piles WHERE id = %s)", (kind, resolution_kwh, pile))


def session_ended(db, pile, seconds_ago):
    db.execute("UPDATE connector_state SET status_since = now() - make_interval(secs => %s) WHERE pile_id = %s",
               (seconds_ago, pile))


def test_a_reboots_0_placeholder_while_charging_is_no_meter_fault(db, fleet):
    rules = ruleset(METER)
    for energy in (909.948, 0.0, 909.950):  # 0.0: the meter not read yet after a reboot
        report(db, fleet[0], energy_kwh=energy)
        evaluate(db, rules)
    age_clocks(db, 301)
    report(db, fleet[0], energy_kwh=911.0)
    evaluate(db, rules)
    assert alarms(db, "meter") == []


def test_a_lifetime_register_stuck_at_0_while_power_flows_is_still_a_meter_fault(db, fleet):
    rules = ruleset(METER)
    report(db, fleet[0], energy_kwh=0.0)
    evaluate(db, rules)
    age_clocks(db, 301)
    evaluate(db, rules)
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]


def test_a_session_register_starting_again_at_a_new_session_is_no_fault_but_one_that_stalls_is(db, fleet):
    register_of(db, fleet[0], "session")
    rules = ruleset(METER)
    report(db, fleet[0], energy_kwh=20.3)
    evaluate(db, rules)
    report(db, fleet[0], energy_kwh=0.4)  # a new session counts from zero
    evaluate(db, rules)
    assert alarms(db, "meter") == []
    age_clocks(db, 301)
    evaluate(db, rules)
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]


def test_a_lifetime_register_that_goes_back_to_a_lower_reading_still_raises_at_once(db, fleet):
    rules = ruleset(METER)
    report(db, fleet[0], energy_kwh=20.3)
    evaluate(db, rules)
    report(db, fleet[0], energy_kwh=0.4)
    evaluate(db, rules)
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]


def read_register(db, pile, readings: list[float], every_s: float = 60):
    """Connector 1 charging while its register sends `readings` `every_s` apart (a minute),
    ending now: each stored as ingest stores it (telemetry and the latest state) and the rules
    evaluated."""
    rules = ruleset(METER)
    for i, energy in enumerate(readings):
        db.execute("INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, status, power_kw, "
                   "energy_kwh) SELECT t, %s, 1, %s, t, t, 'Charging', 11.0, %s FROM (SELECT now() - "
                   "make_interval(secs => %s) AS t) x", (pile, i, energy, (len(readings) - 1 - i) * every_s))
        report(db, pile, energy_kwh=energy)
        evaluate(db, rules)


GLITCHES = {  # issue 11, item 4: what a register sends between 909.948 and 909.950
    "a_placeholder_at_the_top_of_the_range": [4294967.295],
    "a_placeholder_of_nines": [999999.999],
    "a_one_off_tiny_reading": [0.001],
    "a_small_step_back": [909.0],
    "two_different_glitches_in_a_row": [4294967.295, 0.001],
    "the_same_placeholder_twice": [4294967.295, 4294967.295],
}


@pytest.mark.parametrize("glitch", GLITCHES.values(), ids=GLITCHES.keys())
def test_a_register_glitch_while_charging_is_no_meter_fault(db, fleet, glitch):
    read_register(db, fleet[0], [909.9, 909.948] + glitch + [909.950, 911.0])
    assert alarms(db, "meter") == []


def test_a_lifetime_register_that_goes_backwards_and_counts_on_from_there_raises_once_the_next_reading_confirms_it(
        db, fleet):
    read_register(db, fleet[0], [20.0, 20.3, 0.4])
    assert alarms(db, "meter") == []  # one low reading may be a glitch
    read_register(db, fleet[0], [0.5])
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]
    detail = db.execute("SELECT detail FROM alarms WHERE rule_id = 'meter'").fetchone()[0]
    assert (detail["reason"], detail["from_kwh"], detail["to_kwh"]) == ("register went backwards", 20.3, 0.5)


def test_a_session_register_that_restarts_through_a_glitch_is_no_fault(db, fleet):
    register_of(db, fleet[0], "session")
    read_register(db, fleet[0], [20.0, 20.3, 4294967.295, 0.4, 0.5, 0.9])
    assert alarms(db, "meter") == []


def test_a_lifetime_register_stalled_behind_a_glitch_is_still_a_meter_fault(db, fleet):
    read_register(db, fleet[0], [909.948, 909.948, 4294967.295, 909.948])
    age_clocks(db, 301)
    read_register(db, fleet[0], [909.948])
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]


def test_a_session_end_register_still_for_an_hour_of_charging_is_no_fault_when_it_moves_at_the_end(db, fleet):
    register_of(db, fleet[0], "session_end")
    rules = ruleset(METER)
    report(db, fleet[0], energy_kwh=1200.0)
    evaluate(db, rules)
    age_clocks(db, 3600)
    evaluate(db, rules)
    assert alarms(db, "meter") == []
    report(db, fleet[0], status="Finishing", power_kw=0.0, energy_kwh=1220.5)
    session_ended(db, fleet[0], 0)
    evaluate(db, rules)
    session_ended(db, fleet[0], 3600)
    evaluate(db, rules)
    assert alarms(db, "meter") == []


def test_a_session_end_register_that_does_not_move_after_the_session_is_a_meter_fault(db, fleet):
    register_of(db, fleet[0], "session_end")
    rules = ruleset(METER)
    report(db, fleet[0], energy_kwh=1200.0)
    evaluate(db, rules)
    age_clocks(db, 3600)
    report(db, fleet[0], status="Available", power_kw=0.0, energy_kwh=1200.0)
    session_ended(db, fleet[0], 60)  # the register may still catch up
    evaluate(db, rules)
    assert alarms(db, "meter") == []
    session_ended(db, fleet[0], 301)
    evaluate(db, rules)
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]


def test_a_whole_kwh_register_on_a_slow_charge_is_stalled_only_once_it_should_have_moved_twice(db, fleet):
    register_of(db, fleet[0], "lifetime", resolution_kwh=1.0)
    rules = ruleset(METER)
    report(db, fleet[0], power_kw=3.0, energy_kwh=1500.0)
    evaluate(db, rules)
    age_clocks(db, 301)  # 0.25 kWh at 3 kW: a whole-kWh register need not have moved
    evaluate(db, rules)
    assert alarms(db, "meter") == []
    age_clocks(db, 2100)  # 2401 s at 3 kW: 2 kWh, two steps missing
    evaluate(db, rules)
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]


# --- time across a gap in the data is not time a condition held (issue 11, item 11)

def silence(db, seconds):
    """The pile fell silent right after the clocks last saw their conditions, `seconds` ago."""
    db.execute("UPDATE rule_conditions SET since = since - make_interval(secs => %(s)s), "
               "seen_at = seen_at - make_interval(secs => %(s)s)", {"s": seconds})


def test_a_meter_clock_is_not_measured_across_33_minutes_of_silence(db, fleet):
    rules = ruleset(METER.replace("for_s: 300", "for_s: 600"))
    report(db, fleet[0], energy_kwh=100.0)
    evaluate(db, rules)
    silence(db, 33 * 60)
    report(db, fleet[0], energy_kwh=100.0)  # back, charging, register where it was
    evaluate(db, rules)
    assert alarms(db, "meter") == []
    age_clocks(db, 601)  # a register still after the gap is a fault like any other
    evaluate(db, rules)
    assert alarms(db, "meter") == [(fleet[0], 1, "active")]


DURATION_RULES = {
    "threshold": (HOT, {"temp_c": 95.0}),
    "pile_threshold": ("{id: fan, kind: threshold, metric: fan_rpm, above: false, raise_at: 300, clear_at: 800, "
                       "for_s: 60, category: cooling, severity: major}", {"fan_rpm": 100.0}),
    "derating": ("{id: derate, kind: derating, ratio: 0.85, for_s: 600, category: power_module, severity: minor}",
                 {"power_kw": 5.0, "offered_kw": 22.0}),
    "stuck_session": ("{id: stuck, kind: stuck_session, for_s: 7200, max_power_kw: 0.1, category: session, "
                      "severity: minor}", {"power_kw": 0.0}),
    "meter": (METER, {"energy_kwh": 100.0}),
}


@pytest.mark.parametrize("rule,state", DURATION_RULES.values(), ids=DURATION_RULES.keys())
def test_no_duration_rule_counts_a_gap_in_the_data_as_time_its_condition_held(db, fleet, rule, state):
    rules = ruleset(rule)
    rule_id = rules.rules[0].id
    report(db, fleet[0], **state)
    evaluate(db, rules)
    silence(db, 3 * 3600)
    report(db, fleet[0], **state)
    evaluate(db, rules)
    assert alarms(db, rule_id) == []


@pytest.mark.parametrize("rule,state", DURATION_RULES.values(), ids=DURATION_RULES.keys())
def test_a_pause_shorter_than_the_piles_silence_tolerance_keeps_the_clock(db, fleet, rule, state):
    rules = ruleset(rule)
    rule_id = rules.rules[0].id
    report(db, fleet[0], **state)
    evaluate(db, rules)
    silence(db, 30)  # a DC120 reports every 15 s: 3 intervals are 45 s
    age_clocks(db, 7200)
    report(db, fleet[0], **state)
    evaluate(db, rules)
    assert alarms(db, rule_id) == [(fleet[0], 0 if rule_id == "fan" else 1, "active")]


def test_a_fast_charge_whose_register_steps_more_than_10_kwh_a_reading_is_no_meter_fault(db, fleet):
    # A 120 kW charger read every 5 minutes (or the demo's 30× clock): 10 kWh a reading, and
    # every reading a step the glitch walk looks at; the walk trusts a reading only once the
    # next confirms it, and that lag is not a register going backwards.
    read_register(db, fleet[0], [25393.425, 25403.425, 25413.424, 25423.425, 25433.425, 25443.329])
    assert alarms(db, "meter") == []



def test_a_register_rising_faster_than_any_charger_is_not_taken_for_one_going_backwards(db, fleet):
    # 10 kWh every 10 s is 3.6 MW: the glitch walk trusts none of these rises (each only once
    # confirmed, and a confirmed one is a new baseline), so its trusted reading lags the raw
    # one. Compared with an anchor taken from a raw reading, that lag looked like a register
    # going backwards and raised at once (seen in the demo at 30x before the simulator's fix).
    read_register(db, fleet[0], [25393.425, 25403.425, 25413.424, 25423.425, 25433.425, 25443.329], every_s=10)
    assert [d for d in db.execute("SELECT detail->>'reason' FROM alarms WHERE rule_id = 'meter'").fetchall()] == []
