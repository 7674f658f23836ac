"""The demo crew `pilecare run` seeds can serve the demo fleet: in every region someone
qualified is on shift, and a ready order there is offered to an engineer of that region; by
day an order one engineer declines goes to another, at night it waits for the morning."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from maintenance.dispatch import offers as dispatch
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from simulators.crew import seed_crew, shift_times
from simulators.fleetgen import REGIONS, seed_fleet


def test_the_seeded_crew_covers_every_region_and_takes_its_orders(db):
    seed_fleet(db, piles=60, seed=1)
    assert "18 engineers" in seed_crew(db, seed=1)
    assert "none added" in seed_crew(db, seed=1)  # idempotent
    on_shift = dict(db.execute(
        "SELECT r, count(DISTINCT e.id) FROM engineers e CROSS JOIN unnest(e.regions) r JOIN engineer_shifts s "
        "ON s.engineer_id = e.id AND now() BETWEEN s.starts_at AND s.ends_at GROUP BY r").fetchall())
    assert set(on_shift) == {r[0] for r in REGIONS}

    # One AC order per region (every engineer holds the AC skill).
    orders = {}
    for region, pile in db.execute(
            "SELECT DISTINCT ON (s.region) s.region, p.id FROM piles p JOIN sites s ON s.id = p.site_id "
            "JOIN pile_models m ON m.id = p.model_id WHERE m.kind = 'AC' ORDER BY s.region, p.id").fetchall():
        order_id, _ = open_corrective(db, pile, "cooling", title="Fan", priority=2, actor="test", severity="major")
        transition(db, order_id, S.READY_FOR_DISPATCH, actor="test")
        orders[order_id] = region
    dispatch.assign(db)
    offered = db.execute("SELECT a.work_order_id, e.regions FROM assignments a JOIN engineers e "
                         "ON e.id = a.engineer_id WHERE a.state = 'offered'").fetchall()
    assert len(offered) == len(orders) == len(REGIONS)
    assert all(orders[order_id] in regions for order_id, regions in offered)


def test_the_seeded_crew_covers_every_skill_a_fault_needs_around_the_clock(db):
    # Issue 12, item 3: a ground fault at night (HV) must find a qualified engineer on shift.
    from maintenance.dispatch.matching import load

    seed_crew(db, seed=1)
    config = load()
    needs = {tuple(config.needed_skills(kind, None, category))
             for kind in ("AC", "DC") for category in [None, *config.category_skills]}
    tomorrow = datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=1), time(0), tzinfo=timezone.utc)
    gaps = []
    for hour in range(24):
        at = tomorrow + timedelta(hours=hour, minutes=30)
        on_shift = db.execute(
            "SELECT e.skills, e.regions FROM engineers e JOIN engineer_shifts s ON s.engineer_id = e.id "
            "WHERE %s BETWEEN s.starts_at AND s.ends_at", (at,)).fetchall()
        for region, *_ in REGIONS:
            for need in needs:
                if not any(region in regions and set(need) <= set(skills) for skills, regions in on_shift):
                    gaps.append((f"{at:%H:%M}", region, need))
    assert ("HV",) in {tuple(s for s in n if s == "HV") for n in needs}  # the check covers high-voltage work
    assert gaps == []


# Why the demo (tests/test_demo_crew.py) seeds its crew's day to have begun just before now:
# with the seeded shifts (days 06–18 UTC, one engineer per region 18–06) an order that
# region's night engineer declines has nobody else to go to until the morning.
WEST_PILE = "PC-000003"  # the seeded fleet's first pile in region west, an AC pile


def _ready_in_the_west(db, kind: str, at) -> int:
    if kind == "corrective":
        order_id, _ = open_corrective(db, WEST_PILE, "connector", title="Lock jammed", priority=2, actor="test",
                                      severity="major")
        transition(db, order_id, S.READY_FOR_DISPATCH, actor="test")
        return order_id
    return db.execute("INSERT INTO work_orders (kind, pile_id, title, priority, created_by, due_at, state) "
                      "VALUES ('preventive', %s, 'Preventive maintenance', 4, 'test', %s, 'ready_for_dispatch') "
                      "RETURNING id", (WEST_PILE, at + timedelta(hours=1))).fetchone()[0]


def _offered_to(db, order_id: int) -> tuple[str] | None:
    """(engineer,) holding the live offer of the order, or None."""
    return db.execute("SELECT engineer_id FROM assignments WHERE work_order_id = %s AND state = 'offered'",
                      (order_id,)).fetchone()


def _at(hour: int, day: int = 1):
    return datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=day), time(hour),
                            tzinfo=timezone.utc)


@pytest.mark.parametrize("kind", ["preventive", "corrective"])
def test_by_day_an_order_a_seeded_engineer_declines_goes_to_another_on_shift(db, kind):
    seed_fleet(db, piles=30, seed=1)
    seed_crew(db, seed=1)
    at = _at(11)
    order_id = _ready_in_the_west(db, kind, at)
    dispatch.assign(db, now=at)
    [first] = _offered_to(db, order_id)
    dispatch.decline(db, order_id, first, "van in the workshop")
    dispatch.assign(db, now=at + timedelta(minutes=1))
    [second] = _offered_to(db, order_id)
    assert second != first
    assert db.execute("SELECT 'west' = ANY(regions) FROM engineers WHERE id = %s", (second,)).fetchone()[0]


@pytest.mark.parametrize("hour", [19, 3])
@pytest.mark.parametrize("kind", ["preventive", "corrective"])
def test_at_night_an_order_the_regions_engineer_declines_waits_for_the_morning(db, kind, hour):
    seed_fleet(db, piles=30, seed=1)
    seed_crew(db, seed=1)
    at = _at(hour)
    order_id = _ready_in_the_west(db, kind, at)
    dispatch.assign(db, now=at)
    assert _offered_to(db, order_id) == ("ENG-009",)  # the west's night engineer, alone on shift there
    dispatch.decline(db, order_id, "ENG-009", "van in the workshop")
    dispatch.assign(db, now=at + timedelta(minutes=1))
    assert _offered_to(db, order_id) is None
    morning = _at(6, day=2 if hour >= 18 else 1)
    if kind == "corrective":
        # A repair waiting is news, with when the day shift starts (issue 12, item 5).
        messages = [m for (m,) in db.execute("SELECT message FROM notifications WHERE work_order_id = %s "
                                             "AND kind = 'dispatch_waiting'", (order_id,))]
        assert len(messages) == 2
        assert all(f"no qualified engineer is on shift; the next qualified shift starts {morning:%Y-%m-%d} 06:00 UTC"
                   in m for m in messages)
    dispatch.assign(db, now=morning + timedelta(minutes=30))
    [taker] = _offered_to(db, order_id)
    assert taker != "ENG-009"


def test_the_seeded_day_shift_holds_every_moment_of_its_twelve_hours_whatever_hour_it_starts():
    # The demo starts the day two hours before now: the shift must hold now at every hour,
    # across midnight too (a day shift starting 22:00 covers 03:00 of the next date).
    today = date(2026, 11, 30)
    misses = []
    for hour in range(24):
        now = datetime.combine(today, time(hour, 59), tzinfo=timezone.utc)
        starts = time((hour - 2) % 24)
        days = shift_times(today, starts, night=False, days=7)
        nights = shift_times(today, starts, night=True, days=7)
        if not any(s <= now < e for s, e in days) or any(s <= now < e for s, e in nights):
            misses.append(hour)
        # The day's shift goes on for 9 hours or more: the demo takes a few minutes.
        if not any(s <= now and now + timedelta(hours=9) < e for s, e in days):
            misses.append(hour)
    assert misses == []
