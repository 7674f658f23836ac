"""Dispatch against real PostgreSQL: the qualified, on-shift engineer in region with room
gets the offer (with the reason stored); offers are made once even with two dispatchers;
declines and timeouts go to someone else; too many refusals escalate; dispatchers
override by hand, on the record."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance.dispatch import offers as dispatch
from maintenance.dispatch import roster
from maintenance.dispatch.matching import EngineerIn, OrderIn
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from pilecare.errors import Conflict, InvalidInput, NotFound
from tests.parallel import in_parallel
from tests.factories import set_stock

CONFIG = dispatch.load()
NOW = datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def _now():
    # "Now" of each test, not of the module's import: offers made at NOW lapse by the real
    # clock, and a long suite runs this file many minutes after collecting it.
    global NOW
    NOW = datetime.now(timezone.utc)
PILE = (52.52, 13.40)             # where tests/factories.py puts every pile
DC_NORTH, AC_NORTH = "TP-0004", "TP-0002"   # DC120 and AC22 piles at SITE-1, region north
DC_NORTH_2 = "TP-0010"


def near(km: float) -> tuple[float, float]:
    """A point about `km` (straight line) east of the piles."""
    return PILE[0], PILE[1] + km / 67.8


def engineer(db, eid, km=1.0, skills=("AC", "DC", "HV"), regions=("north",), shift=True, max_jobs=3):
    lat, lon = near(km)
    roster.create(db, eid, name=eid.title(), home_lat=lat, home_lon=lon, skills=skills, regions=regions,
                  max_jobs=max_jobs)
    if shift:
        roster.add_shift(db, eid, NOW - timedelta(hours=1), NOW + timedelta(hours=8))
    return eid


def ready(db, pile=DC_NORTH, category="electrical", priority=2):
    order_id, _ = open_corrective(db, pile, category, title=f"{category} fault", priority=priority, actor="rules",
                                  severity="major", response_h=4, resolve_h=24)
    transition(db, order_id, S.READY_FOR_DISPATCH, actor="rules")
    return order_id


def offers(db, order_id):
    return db.execute("SELECT engineer_id, state FROM assignments WHERE work_order_id = %s ORDER BY id",
                      (order_id,)).fetchall()


def order(db, order_id):
    return db.execute("SELECT state, engineer_id FROM work_orders WHERE id = %s", (order_id,)).fetchone()


def test_the_order_goes_to_the_qualified_engineer_not_the_nearer_ones_who_cannot_take_it(db, fleet):
    job = ready(db)
    engineer(db, "far", km=30)
    engineer(db, "no-hv", km=1, skills=("AC", "DC"))
    engineer(db, "off-shift", km=1, shift=False)
    engineer(db, "coast-only", km=1, regions=("coast",))
    engineer(db, "busy", km=1, max_jobs=1)
    busy_job = ready(db, pile=DC_NORTH_2, category="cooling")
    dispatch.override(db, busy_job, "busy", actor="desk", reason="regular")

    made = dispatch.assign(db, CONFIG, now=NOW)

    assert len(made) == 1
    assert order(db, job) == ("assigned", "far")
    score = db.execute("SELECT score FROM assignments WHERE id = %s", (made[0],)).fetchone()[0]
    assert score["solver"] == "linear_sum_assignment"
    assert set(score["terms"]) == {"travel", "sla", "priority", "workload", "parts"}
    assert 35 < score["travel"]["km"] < 45   # 30 km straight, 1.3 road factor
    assert score["checked"]["skills"] == {"needed": ["DC", "HV"], "missing": [], "ok": True}
    assert score["qualified_engineers"] == 1
    assert score["total"] == pytest.approx(sum(score["terms"].values()), abs=0.05)


def test_an_offer_writes_the_timeline_and_an_outbox_event_for_the_engineer(db, fleet):
    job = ready(db)
    engineer(db, "eva")
    [assignment] = dispatch.assign(db, CONFIG, now=NOW)
    event, to, payload = db.execute(
        "SELECT event, engineer_id, payload FROM outbox WHERE event LIKE 'assignment.%'").fetchone()
    assert (event, to) == ("assignment.offered", "eva")
    assert payload["work_order_id"] == job and payload["pile_id"] == DC_NORTH and payload["assignment_id"] == assignment
    assert payload["accept_by"].startswith((NOW + timedelta(seconds=CONFIG.accept_timeout_s)).isoformat()[:16])
    assert db.execute("SELECT actor, to_state FROM work_order_events WHERE work_order_id = %s ORDER BY id DESC",
                      (job,)).fetchone() == ("dispatch", "assigned")


def test_the_van_carrying_the_parts_wins_between_equal_engineers(db, fleet):
    job = ready(db, category="cooling")
    engineer(db, "a", km=5)
    engineer(db, "b", km=5)
    db.execute("INSERT INTO parts (id, name) VALUES ('FAN-120', 'Cabinet fan')")
    db.execute("INSERT INTO category_parts VALUES ('cooling', 'FAN-120')")
    db.execute("INSERT INTO stock_locations (id, kind, name, engineer_id) VALUES ('VAN-B', 'van', 'B''s van', 'b')")
    set_stock(db, "VAN-B", "FAN-120", 1)
    dispatch.assign(db, CONFIG, now=NOW)
    assert order(db, job) == ("assigned", "b")


def test_two_dispatchers_at_once_offer_every_order_exactly_once(db, fleet, database_url):
    jobs = [ready(db, pile=p, category="cooling") for p in fleet[:8]]
    for eid in ("a", "b", "c"):
        engineer(db, eid, regions=("north", "coast"))

    results = in_parallel(database_url, lambda conn: dispatch.assign(conn, CONFIG, now=NOW), workers=4)

    assert sum(len(r) for r in results) == 8
    assert [len(offers(db, j)) for j in jobs] == [1] * 8
    # Three engineers with three slots each, spread rather than piled on one.
    per_engineer = dict(db.execute("SELECT engineer_id, count(*) FROM assignments GROUP BY 1").fetchall())
    assert sorted(per_engineer.values()) == [2, 3, 3]


def test_a_declined_order_goes_to_someone_else_on_the_next_pass(db, fleet):
    job = ready(db)
    engineer(db, "near", km=2)
    engineer(db, "far", km=20)
    dispatch.assign(db, CONFIG, now=NOW)
    assert order(db, job) == ("assigned", "near")

    dispatch.decline(db, job, "near", "van in the workshop")

    assert order(db, job) == ("ready_for_dispatch", None)
    assert db.execute("SELECT event, engineer_id, payload->>'outcome' FROM outbox WHERE event LIKE 'assignment.%' "
                      "ORDER BY id DESC").fetchone() == (
        "assignment.withdrawn", "near", "declined")
    dispatch.assign(db, CONFIG, now=NOW)
    assert order(db, job) == ("assigned", "far")
    assert offers(db, job) == [("near", "declined"), ("far", "offered")]
    reason = db.execute("SELECT reason FROM assignments WHERE engineer_id = 'near'").fetchone()[0]
    assert reason == "van in the workshop"


def test_an_unanswered_offer_times_out_and_goes_to_someone_else(db, fleet):
    job = ready(db)
    engineer(db, "near", km=2)
    engineer(db, "far", km=20)
    dispatch.assign(db, CONFIG, now=NOW)

    assert dispatch.expire_offers(db, CONFIG, now=NOW + timedelta(seconds=CONFIG.accept_timeout_s - 5)) == 0
    later = NOW + timedelta(seconds=CONFIG.accept_timeout_s + 5)
    assert dispatch.step(db, CONFIG, now=later) == 2   # one timed out, one offered

    assert offers(db, job) == [("near", "timed_out"), ("far", "offered")]
    assert db.execute("SELECT actor FROM work_order_events WHERE work_order_id = %s AND to_state = "
                      "'ready_for_dispatch' ORDER BY id DESC", (job,)).fetchone() == ("dispatch",)
    with pytest.raises(NotFound):
        dispatch.accept(db, job, "near")


def test_too_many_refusals_escalate_to_the_supervisor_once(db, fleet):
    config = CONFIG.model_copy(update={"max_offers": 2})
    job = ready(db)
    for eid, km in (("a", 1), ("b", 2), ("c", 3)):
        engineer(db, eid, km=km)
    dispatch.assign(db, config, now=NOW)
    dispatch.decline(db, job, "a", "no time", config=config)
    dispatch.assign(db, config, now=NOW)
    dispatch.decline(db, job, "b", "no time", config=config)

    assert order(db, job) == ("escalated", None)
    assert db.execute("SELECT kind, recipient_role FROM notifications WHERE work_order_id = %s",
                      (job,)).fetchall() == [("escalation", "supervisor")]
    assert db.execute("SELECT count(*) FROM outbox WHERE event = 'work_order.escalated'").fetchone()[0] == 1
    assert dispatch.assign(db, config, now=NOW) == []
    assert offers(db, job) == [("a", "declined"), ("b", "declined")]


def test_only_the_engineer_holding_the_offer_may_accept_it(db, fleet):
    job = ready(db)
    engineer(db, "eva")
    engineer(db, "emil", km=40)
    dispatch.assign(db, CONFIG, now=NOW)

    with pytest.raises(NotFound, match=f"work order {job} does not exist"):
        dispatch.accept(db, job, "emil")
    with pytest.raises(NotFound):
        dispatch.decline(db, job, "emil", "not mine")
    dispatch.accept(db, job, "eva")

    assert order(db, job) == ("accepted", "eva")
    assert offers(db, job) == [("eva", "accepted")]
    with pytest.raises(Conflict, match="already accepted"):
        dispatch.accept(db, job, "eva")
    with pytest.raises(Conflict, match="escalate"):
        dispatch.decline(db, job, "eva", "changed my mind")


def test_a_dispatcher_override_withdraws_the_offer_and_records_the_broken_rules(db, fleet):
    job = ready(db)
    engineer(db, "eva")
    engineer(db, "trainee", km=1, skills=("DC",))
    dispatch.assign(db, CONFIG, now=NOW)

    dispatch.override(db, job, "trainee", actor="desk", reason="Eva is sick; trainee goes with a colleague")

    assert order(db, job) == ("assigned", "trainee")
    assert offers(db, job) == [("eva", "withdrawn"), ("trainee", "offered")]
    by, score = db.execute("SELECT assigned_by, score FROM assignments WHERE engineer_id = 'trainee'").fetchone()
    assert by == "desk"
    assert score["override"] is True and score["violations"] == ["skills: missing HV"]
    assert score["reason"].startswith("Eva is sick")
    events = [r[0] for r in db.execute("SELECT event FROM outbox WHERE event LIKE 'assignment.%' ORDER BY id")]
    assert events == ["assignment.offered", "assignment.withdrawn", "assignment.offered"]
    # A withdrawal is not a refusal: eva may be offered this order again.
    assert dispatch._escalate_if_refused(db, CONFIG, job) is False


def test_override_refuses_unknown_and_inactive_engineers_and_orders_already_under_way(db, fleet):
    job = ready(db)
    engineer(db, "eva")
    roster.create(db, "gone", name="Gone", home_lat=52.5, home_lon=13.4, active=False)
    with pytest.raises(InvalidInput, match="does not exist"):
        dispatch.override(db, job, "nobody", actor="desk", reason="x")
    with pytest.raises(InvalidInput, match="not active"):
        dispatch.override(db, job, "gone", actor="desk", reason="x")
    dispatch.assign(db, CONFIG, now=NOW)
    dispatch.accept(db, job, "eva")
    with pytest.raises(Conflict, match="accepted"):
        dispatch.override(db, job, "eva", actor="desk", reason="x")


def test_an_order_nobody_qualifies_for_stays_ready_and_is_noted_once(db, fleet):
    job = ready(db)
    engineer(db, "ac-only", skills=("AC",))
    dispatch.assign(db, CONFIG, now=NOW)
    dispatch.assign(db, CONFIG, now=NOW)
    assert order(db, job) == ("ready_for_dispatch", None)
    notes = db.execute("SELECT recipient_role, kind, message FROM notifications WHERE work_order_id = %s "
                       "ORDER BY recipient_role", (job,)).fetchall()
    assert [(role, kind) for role, kind, _ in notes] == [("dispatcher", "dispatch_no_engineer"),
                                                         ("supervisor", "dispatch_no_engineer")]
    assert all("needs DC, HV in region north" in message for _, _, message in notes)
    assert db.execute("SELECT count(*) FROM work_order_events WHERE work_order_id = %s AND note LIKE %s",
                      (job, "%has no qualified engineer%")).fetchone()[0] == 1


def notices(db, order_id):
    return db.execute("SELECT recipient_role, kind, message FROM notifications WHERE work_order_id = %s "
                      "ORDER BY recipient_role", (order_id,)).fetchall()


def test_a_safety_fault_with_no_qualified_engineer_on_shift_tells_once_when_the_next_one_starts(db, fleet):
    # Issue 12, item 5: at night the only HV engineers start at 06:00 and 07:30 tomorrow.
    job = ready(db)
    db.execute("UPDATE work_orders SET safety = true, priority = 1 WHERE id = %s", (job,))
    engineer(db, "early", shift=False)
    engineer(db, "late", shift=False)
    engineer(db, "ac-only", skills=("AC",))  # on shift, but not for a DC pile's high voltage
    roster.add_shift(db, "early", NOW + timedelta(hours=6), NOW + timedelta(hours=14))
    roster.add_shift(db, "late", NOW + timedelta(hours=7, minutes=30), NOW + timedelta(hours=15))
    dispatch.assign(db, CONFIG, now=NOW)
    dispatch.assign(db, CONFIG, now=NOW + timedelta(minutes=5))
    assert order(db, job) == ("ready_for_dispatch", None)
    sent = notices(db, job)
    start = (NOW + timedelta(hours=6)).strftime("%Y-%m-%d %H:%M")
    assert [(role, kind) for role, kind, _ in sent] == [("dispatcher", "dispatch_waiting"),
                                                        ("supervisor", "dispatch_waiting")]
    for _, _, message in sent:
        assert "no qualified engineer is on shift" in message and f"starts {start} UTC (early)" in message
    assert db.execute("SELECT count(*) FROM work_order_events WHERE work_order_id = %s AND note LIKE %s",
                      (job, "%waits: no qualified engineer is on shift%")).fetchone()[0] == 1


def test_an_order_whose_qualified_engineers_are_all_busy_says_so(db, fleet):
    busy_job = ready(db, pile=DC_NORTH_2, category="cooling")
    engineer(db, "only", max_jobs=1)
    dispatch.override(db, busy_job, "only", actor="desk", reason="regular")
    job = ready(db)
    dispatch.assign(db, CONFIG, now=NOW)
    [(_, _, message), _] = notices(db, job)
    assert "all 1 qualified engineer(s) on shift are at capacity" in message
    assert "no qualified shift is planned" in message


def test_planned_work_waiting_for_the_morning_is_no_news(db, fleet):
    job = ready(db)
    db.execute("UPDATE work_orders SET kind = 'preventive', fault_category = NULL WHERE id = %s", (job,))
    engineer(db, "early", shift=False)
    roster.add_shift(db, "early", NOW + timedelta(hours=6), NOW + timedelta(hours=14))
    dispatch.assign(db, CONFIG, now=NOW)
    assert notices(db, job) == []


def test_a_fresh_reported_position_counts_instead_of_home(db, fleet):
    job = ready(db, category="cooling")
    engineer(db, "home-near", km=10)
    engineer(db, "out-and-about", km=60)
    roster.set_position(db, "out-and-about", *near(1), at=NOW - timedelta(minutes=5))
    dispatch.assign(db, CONFIG, now=NOW)
    assert order(db, job)[1] == "out-and-about"
    score = db.execute("SELECT score FROM assignments").fetchone()[0]
    assert score["travel"]["from"] == "position"


def eng(eid, x_km, capacity=1):
    return EngineerIn(eid, PILE[0], PILE[1] + x_km / 67.8, frozenset({"AC"}), frozenset({"r"}), max_jobs=capacity)


def job_at(order_id, x_km, priority=3):
    return OrderIn(order_id, PILE[0], PILE[1] + x_km / 67.8, "r", pile_kind="AC", priority=priority)


def test_the_solver_looks_at_all_orders_together_where_greedy_takes_the_nearest_first():
    # The urgent order is nearest to A, but taking A leaves the other order with B far away.
    engineers = [eng("A", 0), eng("B", 10)]
    orders = [job_at(1, 4, priority=1), job_at(2, 0.5, priority=3)]
    solved = {o.order_id: o.engineer_id for o in dispatch.solve(orders, engineers, CONFIG)}
    greedy = {o.order_id: o.engineer_id for o in dispatch.greedy(orders, engineers, CONFIG)}
    assert greedy == {1: "A", 2: "B"}
    assert solved == {1: "B", 2: "A"}


def test_when_engineers_are_short_the_urgent_orders_are_served():
    engineers = [eng("A", 0)]
    orders = [job_at(1, 1, priority=4), job_at(2, 30, priority=1)]
    assert [(o.order_id, o.engineer_id) for o in dispatch.solve(orders, engineers, CONFIG)] == [(2, "A")]


def test_an_offer_on_an_order_put_on_hold_is_withdrawn_at_once_and_the_engineer_told(db, fleet):
    job = ready(db)
    engineer(db, "eva")
    dispatch.assign(db, CONFIG, now=NOW)
    transition(db, job, S.ON_HOLD, actor="desk", note="customer closed the car park")

    assert order(db, job) == ("on_hold", None)
    assert offers(db, job) == [("eva", "withdrawn")]
    assert db.execute("SELECT reason, decided_at IS NOT NULL FROM assignments").fetchone() == (
        "on hold by desk: customer closed the car park", True)
    assert db.execute("SELECT engineer_id, payload->>'outcome' FROM outbox WHERE event = 'assignment.withdrawn'"
                      ).fetchall() == [("eva", "withdrawn")]
    assert dispatch.expire_offers(db, CONFIG, now=NOW + timedelta(hours=1)) == 0


def accepted(db, job, eid):
    dispatch.override(db, job, eid, actor="desk", reason="regular")
    dispatch.accept(db, job, eid)


@pytest.mark.parametrize("away", [S.ON_HOLD, S.ESCALATED, S.CANCELLED])
def test_an_accepted_order_leaving_the_engineers_hands_ends_the_assignment_and_is_offered_again(db, fleet, away):
    job = ready(db)
    engineer(db, "eva", km=1)
    engineer(db, "emil", km=5)
    accepted(db, job, "eva")

    transition(db, job, away, actor="desk", note="the customer called")

    assert order(db, job) == (away.value, None)
    assert offers(db, job) == [("eva", "withdrawn")]
    assert db.execute("SELECT engineer_id FROM outbox WHERE event = 'assignment.withdrawn'").fetchall() == [("eva",)]
    if away is not S.CANCELLED:
        transition(db, job, S.READY_FOR_DISPATCH, actor="desk")
        assert len(dispatch.assign(db, CONFIG, now=NOW)) == 1
        assert order(db, job)[0] == "assigned"
        assert db.execute("SELECT count(*) FROM outbox WHERE event = 'assignment.withdrawn'").fetchone()[0] == 1


def test_a_declined_offer_is_recorded_once_not_again_as_withdrawn(db, fleet):
    job = ready(db)
    engineer(db, "eva")
    dispatch.override(db, job, "eva", actor="desk", reason="regular")
    dispatch.decline(db, job, "eva", "van in the workshop", config=CONFIG)

    assert offers(db, job) == [("eva", "declined")]
    assert db.execute("SELECT payload->>'outcome' FROM outbox WHERE event = 'assignment.withdrawn'").fetchall() == [
        ("declined",)]


def test_a_hand_assignment_over_a_live_offer_left_by_old_data_is_a_409_not_a_500(db, fleet):
    job = ready(db)
    engineer(db, "eva")
    engineer(db, "emil")
    # An accepted assignment on a ready order, as orders escalated before the fix were left.
    db.execute("INSERT INTO assignments (work_order_id, engineer_id, state, assigned_by) "
               "VALUES (%s, 'eva', 'accepted', 'desk')", (job,))

    with pytest.raises(Conflict, match="offered to someone else meanwhile"):
        dispatch.override(db, job, "emil", actor="desk", reason="by hand")
    assert order(db, job) == ("ready_for_dispatch", None)


def test_an_engineer_whose_login_was_deactivated_is_not_offered_work(db, fleet):
    from api import accounts

    engineer(db, "near", km=1)
    engineer(db, "far", km=20)
    accounts.create(db, "nora", role=accounts.Role.ENGINEER, full_name="Nora", password="long enough password",
                    actor="test", engineer_id="near")
    accounts.update(db, "nora", actor="admin", active=False)
    job = ready(db)
    dispatch.assign(db, CONFIG, now=NOW)
    assert order(db, job) == ("assigned", "far")


def ready_preventive(db, pile=DC_NORTH):
    order_id = db.execute("INSERT INTO work_orders (kind, pile_id, title, priority, created_by, due_at) "
                          "VALUES ('preventive', %s, 'PM', 4, 'planner', now() + interval '7 days') RETURNING id",
                          (pile,)).fetchone()[0]
    transition(db, order_id, S.READY_FOR_DISPATCH, actor="planner")
    return order_id


def test_unanswered_planned_offers_never_fill_the_engineers_so_urgent_repairs_are_offered_at_once(db, fleet):
    for eid in ("E1", "E2", "E3"):
        engineer(db, eid, max_jobs=3)
    planned = [ready_preventive(db) for _ in range(9)]
    dispatch.assign(db, CONFIG, now=NOW)
    held = db.execute("SELECT engineer_id, count(*) FROM assignments WHERE state = 'offered' GROUP BY engineer_id "
                      "ORDER BY engineer_id").fetchall()
    assert held == [("E1", 1), ("E2", 1), ("E3", 1)]
    assert sum(order(db, o)[0] == "ready_for_dispatch" for o in planned) == 6

    urgent = [ready(db, category=c, priority=1) for c in ("electrical", "cooling", "connector")]
    dispatch.assign(db, CONFIG, now=NOW)  # the planned offers are still unanswered
    assert all(order(db, o)[0] == "assigned" for o in urgent)
    assert sum(order(db, o)[0] == "ready_for_dispatch" for o in planned) == 6


def test_the_planned_limit_holds_for_the_solver_and_greedy_and_counts_live_planned_jobs():
    engineers = [eng("A", 0, capacity=3), EngineerIn("B", PILE[0], PILE[1], frozenset({"AC"}), frozenset({"r"}),
                                                     max_jobs=3, live_jobs=1, live_planned=1)]
    orders = [OrderIn(i, PILE[0], PILE[1], "r", pile_kind="AC", priority=4, planned=True) for i in range(1, 5)]
    for solver in (dispatch.solve, dispatch.greedy):
        assert [o.engineer_id for o in solver(orders, engineers, CONFIG)] == ["A"]
    roomy = CONFIG.model_copy(update={"max_planned_jobs": 3})
    assert len(dispatch.solve(orders, engineers, roomy)) == 4
