"""Preventive maintenance planning against real PostgreSQL: usage and environment decide
when piles fall due, orders come a lead time ahead, one site's piles share a visit, and
restarts or concurrent planners never duplicate an order."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest

from maintenance.planning import plans as pm_plans
from maintenance.planning.planner import Trigger, environment_factor, forecast, plan
from pilecare import storage
from pilecare.errors import InvalidInput
from tests.parallel import in_parallel

# Midnight, so calendar due dates land on whole days. The fleet was installed on
# 2025-01-15: the AC plan (365 days) is far off, the DC plan (180) too.
NOW = datetime(2025, 4, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
AC_SITE1, AC_SITE2, DC_SITE1, DC_SITE2 = "TP-0002", "TP-0003", "TP-0004", "TP-0001"


@pytest.fixture
def planned(db, fleet):
    pm_plans.seed_default_plans(db)
    return fleet


def deliver(db, pile_id: str, kwh: float, start: datetime, end: datetime, connectors=(1, 2), register_from=1000.0):
    """Hourly energy-register readings rising by `kwh` in total, split over the connectors,
    plus pile-level rows (connector 0, no register); then the rollup ingest would refresh.
    (A register at 0 is a placeholder, not a reading: the default starts above it.)"""
    hours = int((end - start) / timedelta(hours=1))
    share = kwh / len(connectors)
    for connector in connectors:
        db.execute(
            "INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at, energy_kwh) "
            "SELECT t, %(pile)s, %(c)s, n, t, t, %(base)s + n * %(step)s "
            "FROM generate_series(0, %(hours)s) n, LATERAL (SELECT %(start)s + n * INTERVAL '1 hour' AS t) x",
            {"pile": pile_id, "c": connector, "base": register_from, "step": share / hours, "hours": hours,
             "start": start})
    db.execute("INSERT INTO telemetry (time, pile_id, connector_id, seq, device_ts, received_at) "
               "SELECT t, %(pile)s, 0, n, t, t FROM generate_series(0, %(hours)s) n, "
               "LATERAL (SELECT %(start)s + n * INTERVAL '1 hour' AS t) x",
               {"pile": pile_id, "hours": hours, "start": start})
    storage.refresh_rollups(db, start, end + timedelta(hours=1))


def events(db, pile_id: str, kind: str, count: int, start: datetime, end: datetime):
    db.execute("INSERT INTO pile_events (pile_id, event_id, type, connector_id, device_ts, received_at) "
               "SELECT %(pile)s, %(kind)s || '-' || n, %(kind)s, 1, t, t FROM generate_series(1, %(count)s) n, "
               "LATERAL (SELECT %(start)s + (n - 1) * %(step)s AS t) x",
               {"pile": pile_id, "kind": kind, "count": count, "start": start, "step": (end - start) / count})


def pm_orders(db):
    return db.execute("SELECT pile_id, plan_id, due_at, visit_id, state, created_by FROM work_orders "
                      "WHERE kind = 'preventive' ORDER BY pile_id").fetchall()


def close(db, order_id: int, at: datetime):
    # Straight to closed: the lifecycle itself is tested with the work orders.
    db.execute("UPDATE work_orders SET state = 'closed', closed_at = %s WHERE id = %s", (at, order_id))
    db.execute("INSERT INTO work_order_events (work_order_id, actor, from_state, to_state) "
               "VALUES (%s, 'engineer-1', 'verified', 'closed')", (order_id,))


def commissioned(db, dates: dict[str, date], default: date):
    db.execute("UPDATE piles SET commissioned_on = %s", (default,))
    for pile_id, day in dates.items():
        db.execute("UPDATE piles SET commissioned_on = %s WHERE id = %s", (day, pile_id))


def test_a_pile_crossing_its_energy_threshold_gets_an_order_before_its_calendar_date(db, planned):
    deliver(db, AC_SITE1, 20_500, NOW - 60 * DAY, NOW - DAY)
    result = plan(db, NOW)
    assert result.ran and len(result.created) == 1 and len(result.visits) == 1
    [(pile_id, plan_id, due_at, visit_id, state, created_by)] = pm_orders(db)
    assert (pile_id, plan_id, state, created_by) == (AC_SITE1, "pm-ac", "new", "planner")
    assert due_at == NOW < datetime(2026, 1, 15, tzinfo=timezone.utc)  # the calendar date
    assert visit_id == result.visits[0]
    note, actor, to_state = db.execute("SELECT note, actor, to_state FROM work_order_events").fetchone()
    assert (actor, to_state) == ("planner", "new") and note.startswith("energy_kwh: 20,500 of 20,000")
    checklist = db.execute("SELECT checklist FROM work_orders").fetchone()[0]
    assert checklist[0] == {"item": pm_plans.default()[0].checklist[0], "done": False}


def test_a_pile_projected_to_cross_its_threshold_within_the_lead_time_gets_an_order_due_then(db, planned):
    deliver(db, AC_SITE1, 19_000, NOW - 30 * DAY, NOW)  # 633 kWh a day: 1,000 kWh to go
    plan(db, NOW)
    [(pile_id, _, due_at, *_)] = pm_orders(db)
    assert pile_id == AC_SITE1
    assert NOW + DAY < due_at < NOW + 2 * DAY


def test_usage_counts_energy_sessions_plugs_and_powered_hours_and_a_meter_reset_counts_from_zero(db, planned):
    deliver(db, AC_SITE1, 100, NOW - 10 * DAY, NOW - 9 * DAY, connectors=(1, 2), register_from=5_000)
    events(db, AC_SITE1, "session_started", 40, NOW - 20 * DAY, NOW)
    events(db, AC_SITE1, "connector_plugged", 45, NOW - 20 * DAY, NOW)
    events(db, AC_SITE1, "session_stopped", 40, NOW - 20 * DAY, NOW)
    usage = next(d.usage for d in forecast(db, NOW) if d.pile_id == AC_SITE1)
    assert usage["energy_kwh"] == pytest.approx(100)
    assert usage["operating_hours"] == 25  # hours with pile-level rows
    assert (usage["sessions"], usage["plug_cycles"]) == (40, 45)
    deliver(db, AC_SITE1, 30, NOW - 5 * DAY, NOW - 4 * DAY, connectors=(1,), register_from=0)  # meter replaced
    usage = next(d.usage for d in forecast(db, NOW) if d.pile_id == AC_SITE1)
    # Connector 1's 50 before its meter was replaced still count, then 30 from zero; connector 2's 50.
    assert usage["energy_kwh"] == pytest.approx(50 + 30 + 50)
    assert usage["operating_hours"] == 50


def test_a_pile_crossing_its_session_threshold_gets_an_order_naming_sessions(db, planned):
    events(db, DC_SITE1, "session_started", 5_000, NOW - 40 * DAY, NOW)
    plan(db, NOW)
    assert [o[0] for o in pm_orders(db)] == [DC_SITE1]
    assert db.execute("SELECT note FROM work_order_events").fetchone()[0].startswith("sessions: 5,000 of 5,000")


def test_restarting_the_planner_creates_no_duplicates(db, planned):
    deliver(db, AC_SITE1, 20_500, NOW - 60 * DAY, NOW - DAY)
    first = plan(db, NOW)
    again = plan(db, NOW + timedelta(hours=1))
    assert len(first.created) == 1 and again.created == [] and again.already_open == 1
    assert len(pm_orders(db)) == 1
    assert db.execute("SELECT count(*) FROM work_order_events").fetchone()[0] == 1


def test_the_database_refuses_a_second_open_order_for_one_pile_and_plan(db, planned):
    deliver(db, AC_SITE1, 20_500, NOW - 60 * DAY, NOW - DAY)
    plan(db, NOW)
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO work_orders (kind, pile_id, plan_id, title, created_by) "
                   "VALUES ('preventive', %s, 'pm-ac', 'by hand', 'someone')", (AC_SITE1,))


def test_a_cancelled_pm_order_is_planned_again_because_the_pm_is_still_owed(db, planned):
    deliver(db, AC_SITE1, 20_500, NOW - 60 * DAY, NOW - DAY)
    [first] = plan(db, NOW).created
    db.execute("UPDATE work_orders SET state = 'cancelled', closed_at = %s WHERE id = %s", (NOW, first))
    [second] = plan(db, NOW + DAY).created
    assert second != first


def test_concurrent_planners_create_each_order_exactly_once(database_url, db, planned):
    later = datetime(2026, 3, 1, tzinfo=timezone.utc)  # every pile of the fleet is overdue
    results = in_parallel(database_url, lambda conn: plan(conn, later), workers=8)
    orders = pm_orders(db)
    assert len(orders) == 20 and len({(o[0], o[1]) for o in orders}) == 20
    assert sorted(i for r in results for i in r.created) == sorted(
        r[0] for r in db.execute("SELECT id FROM work_orders"))
    assert db.execute("SELECT count(*) FROM work_order_events").fetchone()[0] == 20
    # Overdue piles are visited as soon as possible: one visit per site.
    assert db.execute("SELECT site_id, planned_for FROM pm_visits ORDER BY site_id").fetchall() == [
        ("SITE-1", later.date()), ("SITE-2", later.date())]


def test_two_planners_on_two_connections_started_together_create_each_order_once(database_url, db, planned):
    later = datetime(2026, 3, 1, tzinfo=timezone.utc)
    in_parallel(database_url, lambda conn: plan(conn, later), workers=2)
    in_parallel(database_url, lambda conn: plan(conn, later + DAY), workers=2)  # and restarted
    assert len(pm_orders(db)) == 20


def test_a_coastal_site_shortens_the_calendar_interval_by_its_configured_factor(db, planned):
    dues = {d.pile_id: d for d in forecast(db, NOW)}
    installed = datetime(2025, 1, 15, tzinfo=timezone.utc)
    assert dues[AC_SITE1].due_at == installed + 365 * DAY
    assert dues[AC_SITE2].due_at == installed + 365 * 0.7 * DAY
    assert dues[DC_SITE2].due_at == installed + 180 * 0.7 * DAY
    assert dues[AC_SITE2].trigger is Trigger.CALENDAR and dues[AC_SITE2].factor == 0.7


def test_changing_a_plans_environment_factor_moves_the_due_date(db, planned):
    ac = pm_plans.get_plan(db, "pm-ac")
    kept = {k: v for k, v in ac.items() if k in pm_plans.PlanFields.model_fields}
    fields = pm_plans.PlanFields.model_validate({**kept, "environment_factors": {"coastal": 0.5}})
    pm_plans.update_plan(db, "pm-ac", fields, actor="supervisor")
    due = next(d for d in forecast(db, NOW) if d.pile_id == AC_SITE2)
    assert due.due_at == datetime(2025, 1, 15, tzinfo=timezone.utc) + 182.5 * DAY


def test_an_environment_due_date_inside_the_lead_time_gets_an_order_only_at_the_coastal_site(db, planned):
    # DC at the coastal site: 126 days → 2025-05-21, created 21 days ahead; inland: 2025-07-14.
    result = plan(db, datetime(2025, 5, 1, tzinfo=timezone.utc))
    piles = {o[0] for o in pm_orders(db)}
    assert piles and all(db.execute("SELECT site_id FROM piles WHERE id = %s", (p,)).fetchone()[0] == "SITE-2"
                         for p in piles)
    assert len(result.visits) == 1


def test_several_environments_multiply_and_never_go_below_the_plans_floor(db, planned):
    ac = pm_plans.get_plan(db, "pm-ac")
    assert environment_factor(ac, ["coastal", "hot"]) == pytest.approx(0.56)
    assert environment_factor(ac, ["coastal", "hot", "dusty"]) == 0.5  # 0.42 floored
    assert environment_factor(ac, ["unknown"]) == 1.0


def test_piles_of_one_site_due_within_the_window_share_one_visit_and_later_ones_get_another(db, planned):
    today = date(2025, 6, 1)
    now = datetime(2025, 6, 1, tzinfo=timezone.utc)
    # Site 1 AC piles fall due 365 days after commissioning: in 5, 12, 17 and 25 days.
    dues = {"TP-0002": 5, "TP-0006": 12, "TP-0008": 17, "TP-0012": 25}
    commissioned(db, {p: today + timedelta(days=d - 365) for p, d in dues.items()}, default=today - timedelta(days=10))
    first = plan(db, now)
    assert len(first.visits) == 1
    orders = pm_orders(db)
    # TP-0008's lead time (14 days) has not come, but the crew is on site within its window.
    assert [o[0] for o in orders] == ["TP-0002", "TP-0006", "TP-0008"]
    assert {o[3] for o in orders} == set(first.visits)
    assert db.execute("SELECT planned_for FROM pm_visits").fetchone()[0] == today + timedelta(days=5)
    second = plan(db, now + 12 * DAY)
    assert len(second.created) == 1 and second.visits != first.visits
    assert db.execute("SELECT planned_for FROM pm_visits WHERE id = %s", (second.visits[0],)).fetchone()[0] == \
        today + timedelta(days=25)


def test_a_completed_pm_restarts_the_usage_count_and_the_calendar(db, planned):
    deliver(db, AC_SITE1, 20_500, NOW - 60 * DAY, NOW - DAY)
    [order_id] = plan(db, NOW).created
    close(db, order_id, NOW + DAY)
    assert plan(db, NOW + 2 * DAY).created == []
    due = next(d for d in forecast(db, NOW + 2 * DAY) if d.pile_id == AC_SITE1)
    assert due.since == NOW + DAY and due.usage["energy_kwh"] == 0
    assert due.due_at == NOW + DAY + 365 * DAY


def test_a_model_plan_replaces_the_generic_plan_of_its_kind(db, planned):
    spec = pm_plans.PlanSpec(id="pm-dc120", name="DC120 plan", kind="DC", model_id="T-DC120", interval_days=90,
                             checklist=["Cooling: fans and filters"])
    pm_plans.create_plan(db, spec, actor="supervisor")
    assert {d.plan_id for d in forecast(db, NOW) if d.pile_id == DC_SITE1} == {"pm-dc120"}


def test_the_default_plans_give_dc_piles_cooling_insulation_and_cable_wear_checks(db):
    plans = {p.id: p for p in pm_plans.default()}
    dc, ac = " ".join(plans["pm-dc"].checklist).lower(), " ".join(plans["pm-ac"].checklist).lower()
    for item in ("exterior cleaning", "tighten", "charging-module", "auxiliary battery", "cooling", "insulation",
                 "cable and connector wear"):
        assert item in dc
    assert "cooling" not in ac and "insulation" not in ac


def test_an_invalid_plan_set_names_each_problem_and_where(db):
    with pytest.raises(InvalidInput) as refused:
        pm_plans.parse("plans:\n  - {id: Bad Id, name: x, kind: XX, checklist: []}\n")
    detail = refused.value.detail
    assert "plans.0.id" in detail and "plans.0.kind" in detail and "plans.0.checklist" in detail
    with pytest.raises(InvalidInput, match="interval_days, interval_months or at least one usage threshold"):
        pm_plans.parse("plans:\n  - {id: p, name: x, kind: AC, checklist: [a]}\n")


def test_default_plans_are_seeded_only_into_an_empty_table(db, fleet):
    assert pm_plans.seed_default_plans(db) == 2
    assert pm_plans.seed_default_plans(db) == 0
    db.execute("UPDATE maintenance_plans SET active = false")
    assert pm_plans.seed_default_plans(db) == 0 and plan(db, NOW).created == []


def test_planned_work_goes_to_dispatch_only_when_it_is_nearly_due(db, fleet):
    from maintenance.orders.policy_step import route_new
    from maintenance.orders.lifecycle import create_installation
    from tests.maint import fast_policy

    now = datetime.now(timezone.utc)
    soon = create_installation(db, fleet[0], title="Install", actor="agent", due_at=now + timedelta(hours=20))
    later = create_installation(db, fleet[1], title="Install", actor="agent", due_at=now + timedelta(days=10))
    assert route_new(db, fast_policy(planned_lead_h=48)) == 1
    states = dict(db.execute("SELECT id, state FROM work_orders").fetchall())
    assert states == {soon: "ready_for_dispatch", later: "new"}
    note = db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s ORDER BY id DESC LIMIT 1",
                      (soon,)).fetchone()[0]
    assert note.startswith("planned work, due ")
