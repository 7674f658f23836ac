"""PM compliance has one definition (maintenance/kpi/pm_compliance.py, docs/kpi.md): the KPI
page, its series and the planning page's compliance give the same figure for the same
period, checked on a hand-made mix of orders against values worked out by hand."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance.kpi import service as kpi
from maintenance.kpi.pm_compliance import compliance
from maintenance.orders.lifecycle import WorkOrderState, transition
from maintenance.planning import plans as pm_plans
from maintenance.planning.planner import plan
from tests.test_kpi import calendar
from tests.test_preventive import close

# The period straddles now, so it holds orders not yet due; on the hour, so the two
# endpoints' own clocks (a moment apart) see the same orders as due and not yet due.
NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
START, END = NOW - timedelta(days=10), NOW + timedelta(days=10)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}


@pytest.fixture(autouse=True)
def _now():
    # "Now" of each test, not of the module's import: a long suite runs this file many minutes
    # after collecting it, maybe on the next day.
    global NOW, START, END, PERIOD
    NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    START, END = NOW - timedelta(days=10), NOW + timedelta(days=10)
    PERIOD = {"from": START.isoformat(), "to": END.isoformat()}


def d(days: float) -> datetime:
    return NOW + timedelta(days=days)


def planned_order(db, pile: str, due: datetime, state: str = "new", *, kind: str = "preventive",
                  site: str | None = None, resolved: datetime | None = None, closed: datetime | None = None):
    db.execute("INSERT INTO work_orders (kind, pile_id, site_id, title, created_by, due_at, state, resolved_at, "
               "closed_at) VALUES (%s, %s, %s, 'planned work', 'planner', %s, %s, %s, %s)",
               (kind, pile, site, due, state, resolved, closed))


@pytest.fixture
def mix(db, fleet):
    """Preventive orders due in the period with every outcome, on both sites (planner-made
    ones carry their site, hand-made ones only their pile's), two outside it, and two
    inspection rounds. Piles TP-0002, -0004, … are on SITE-1, TP-0001, -0003, … on SITE-2."""
    p = fleet
    # On time: closed before due; resolved before due but verified and closed after it; resolved, not
    # yet verified; done early, due after now.
    planned_order(db, p[1], d(-5), "closed", site="SITE-1", resolved=d(-6), closed=d(-6) + timedelta(hours=1))
    planned_order(db, p[2], d(-4), "closed", site="SITE-2", resolved=d(-4) - timedelta(hours=1), closed=d(-3))
    planned_order(db, p[3], d(-3), "resolved", site="SITE-1", resolved=d(-3) - timedelta(hours=2))
    planned_order(db, p[9], d(5), "closed", resolved=d(-1), closed=d(-1) + timedelta(hours=1))
    # Late: resolved and closed after its due date.
    planned_order(db, p[4], d(-8), "closed", site="SITE-2", resolved=d(-2) - timedelta(hours=1), closed=d(-2))
    # Cancelled after its due date: not counted.
    planned_order(db, p[5], d(-7), "cancelled", site="SITE-1", closed=d(-6))
    # Overdue: open past its due date; one sent back from verification (its resolution cleared).
    planned_order(db, p[6], d(-2), "assigned")
    planned_order(db, p[7], d(-1), "ready_for_dispatch")
    # Not yet due: open, due after now.
    planned_order(db, p[8], d(3))
    # Outside the period: due after its end, and due before its start (done late).
    planned_order(db, p[10], d(15))
    planned_order(db, p[11], d(-12), "closed", resolved=d(-1), closed=d(-1))
    # Inspection rounds: one overdue, one done on time; never PM.
    planned_order(db, p[1], d(-5), "on_site", kind="inspection", site="SITE-1")
    planned_order(db, p[0], d(-6), "closed", kind="inspection", site="SITE-2", resolved=d(-7), closed=d(-7))
    return fleet


# By hand from `mix`: (on time, late, overdue, not yet due, cancelled).
EXPECTED = {
    None: (4, 1, 2, 1, 1),       # 4 of 7: 0.5714
    "SITE-1": (3, 0, 1, 0, 1),   # TP-0002, -0004, -0010 on time, -0008 overdue: 3 of 4
    "SITE-2": (1, 1, 1, 1, 0),   # TP-0003 on time, -0005 late, -0007 overdue: 1 of 3
}


@pytest.mark.parametrize("site_id", [None, "SITE-1", "SITE-2"])
def test_the_kpi_page_and_the_compliance_page_give_the_same_pm_compliance_for_a_period(api, mix, site_id):
    params = PERIOD | ({"site_id": site_id} if site_id else {})
    kpis = api.get("/kpis", params=params).json()
    page = api.get("/maintenance/compliance", params=params).json()
    on_time, late, overdue, not_yet_due, cancelled = EXPECTED[site_id]
    due = on_time + late + overdue
    assert (kpis["pm_due"], kpis["pm_on_time"], kpis["pm_compliance"]) == (page["due"], page["closed_on_time"],
                                                                           page["rate"])
    assert (page["due"], page["rate"]) == (due, round(on_time / due, 4))
    assert (page["closed_on_time"], page["closed_late"], page["overdue_open"], page["open_not_yet_due"],
            page["cancelled"]) == EXPECTED[site_id]


def test_inspection_compliance_follows_the_same_rule_over_inspection_rounds_only(api, mix):
    page = api.get("/maintenance/compliance", params=PERIOD | {"kind": "inspection"}).json()
    assert (page["due"], page["closed_on_time"], page["overdue_open"], page["rate"]) == (2, 1, 1, 0.5)


def test_an_open_order_is_missed_once_its_due_date_has_passed_and_not_before(db, mix):
    [before] = compliance(db, [(START, END)], now=d(2))
    [after] = compliance(db, [(START, END)], now=d(4))     # TP-0009's due date has passed
    assert (before.due, before.overdue, before.not_yet_due) == (7, 2, 1)
    assert (after.due, after.overdue, after.not_yet_due, after.rate) == (8, 3, 0, 0.5)


def test_an_order_completed_on_its_due_date_is_on_time_and_periods_are_half_open(db, fleet):
    planned_order(db, fleet[0], d(-10), "closed", resolved=d(-10), closed=d(-9))
    planned_order(db, fleet[1], d(10), "new")
    [c] = compliance(db, [(START, END)], now=NOW)
    assert (c.on_time, c.due, c.not_yet_due, c.rate) == (1, 1, 0, 1.0)


@pytest.mark.parametrize("period", ["day", "week"])
@pytest.mark.parametrize("site_id", [None, "SITE-2"])
def test_a_kpi_series_gives_each_period_the_pm_compliance_of_that_period(db, mix, period, site_id):
    bounds = calendar(period, START.replace(hour=0), 21 if period == "day" else 3)
    series = kpi.series(db, bounds, site_id=site_id, now=NOW)
    alone = [compliance(db, [b], site_id=site_id, now=NOW)[0] for b in bounds]
    assert [(k.pm_due, k.pm_on_time, k.pm_compliance) for k in series] == [(c.due, c.on_time, c.rate) for c in alone]
    on_time, late, overdue, _, _ = EXPECTED[site_id]
    assert sum(k.pm_due for k in series) == on_time + late + overdue     # the periods hold the whole mix
    assert sum(1 for k in series if k.pm_due) > 1


def test_cancelling_an_overdue_pm_does_not_hide_it_its_replacement_is_due_on_the_same_date(db, fleet):
    pm_plans.seed_default_plans(db)
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    plan(db, now)
    order_id, pile, plan_id, due = db.execute(
        "SELECT id, pile_id, plan_id, due_at FROM work_orders WHERE kind = 'preventive' ORDER BY due_at, id LIMIT 1"
    ).fetchone()
    around = [(due - timedelta(days=1), due + timedelta(days=1))]
    [before] = compliance(db, around, now=now)
    transition(db, order_id, WorkOrderState.CANCELLED, actor="test", note="customer asked to postpone")
    plan(db, now)
    [after] = compliance(db, around, now=now)
    replaced = db.execute("SELECT due_at FROM work_orders WHERE pile_id = %s AND plan_id = %s AND state = 'new'",
                          (pile, plan_id)).fetchone()[0]
    assert replaced == due
    assert (after.due, after.overdue, after.rate, after.cancelled) == (before.due, before.overdue, before.rate, 1)


def test_compliance_counts_planned_orders_on_time_late_and_overdue(db, fleet):
    pm_plans.seed_default_plans(db)
    later = datetime(2026, 3, 1, tzinfo=timezone.utc)
    plan(db, later)
    ids = [r[0] for r in db.execute("SELECT id FROM work_orders WHERE due_at < '2025-08-01' ORDER BY id")]
    # The 7 DC piles: coastal ones due 2025-05-21, inland ones 2025-07-14.
    on_time, late = ids[:2], ids[2:5]
    for order_id in on_time:
        close(db, order_id, datetime(2025, 5, 1, tzinfo=timezone.utc))
    for order_id in late:
        close(db, order_id, later)
    db.execute("UPDATE work_orders SET state = 'cancelled', closed_at = now() WHERE id = %s", (ids[5],))
    [result] = compliance(db, [(datetime(2025, 1, 1, tzinfo=timezone.utc), datetime(2025, 8, 1, tzinfo=timezone.utc))],
                          now=later)
    assert (result.on_time, result.late, result.cancelled) == (2, 3, 1)
    assert result.due == len(ids) - 1 and result.overdue == len(ids) - 6
    assert result.rate == pytest.approx(2 / (len(ids) - 1), abs=1e-4)


def test_compliance_is_measured_on_planned_orders_only(db):
    with pytest.raises(ValueError):
        compliance(db, [(START, END)], kind="corrective")
