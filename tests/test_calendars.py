"""Calendars users expect (issue 11, item 10): sites have a time zone; maintenance windows
recur on the site's local clock across daylight-saving changes; preventive plans count
calendar months from a fixed anchor (31 January → 28 February, 31 March, 30 April …);
unknown fields in these bodies are refused with a 422 naming them."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from maintenance.alarms.lifecycle import lift_suppression, raise_alarm
from maintenance.planning import calendar
from maintenance.planning.planner import forecast, plan
from simulators.fleetgen import seed_fleet
from tests.test_conditions import ruleset

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc
NIGHTLY = {"frequency": "daily", "start_time": "02:00", "end_time": "04:00"}


@pytest.fixture
def desk(client_for):
    """A supervisor: sets sites' time zones, plans windows and PM plans."""
    return client_for("supervisor", "sam")


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def suppressed_at(db, pile: str, at: datetime) -> bool:
    """Raise a fresh alarm on `pile` at `at` and say whether it was suppressed."""
    n = db.execute("SELECT count(*) FROM alarms").fetchone()[0]
    rule = ruleset(f"{{id: hot-{n}, kind: threshold, metric: temp_c, raise_at: 90, clear_at: 80, for_s: 0, "
                   "category: thermal, severity: major}").rules[0]
    alarm_id, new = raise_alarm(db, pile, 1, rule, at=at, clear_after_s=0)
    assert new
    return db.execute("SELECT suppressed FROM alarms WHERE id = %s", (alarm_id,)).fetchone()[0]


def site_of(db, pile: str) -> str:
    return db.execute("SELECT site_id FROM piles WHERE id = %s", (pile,)).fetchone()[0]


def a_window(desk, target: dict, recurrence: dict, reason: str = "nightly firmware updates"):
    response = desk.post("/maintenance/windows", json=target | {"recurrence": recurrence, "reason": reason})
    assert response.status_code == 201, response.text
    return response.json()


# --- windows on the local clock ---------------------------------------------------------


def test_a_daily_window_at_2_to_4_berlin_suppresses_at_half_past_two_on_both_sides_of_a_clock_change(db, fleet, desk):
    pile, other = fleet[1], fleet[0]  # SITE-1 in Berlin; SITE-2 stays on UTC
    assert desk.patch("/sites/SITE-1", json={"timezone": "Europe/Berlin"}).status_code == 200
    window = a_window(desk, {"site_id": "SITE-1"}, NIGHTLY)
    assert (window["timezone"], window["starts_at"], window["recurrence"]["start_time"]) == (
        "Europe/Berlin", None, "02:00:00")

    # Spring: the clocks go forward on 29 March 2026; 02:30 local is 01:30 UTC before, 00:30 after.
    assert suppressed_at(db, pile, local(BERLIN, 2026, 3, 28, 2, 30)) is True
    assert suppressed_at(db, pile, local(BERLIN, 2026, 3, 30, 2, 30)) is True
    assert local(BERLIN, 2026, 3, 28, 2, 30).astimezone(UTC).hour == 1
    assert local(BERLIN, 2026, 3, 30, 2, 30).astimezone(UTC).hour == 0
    assert suppressed_at(db, pile, local(BERLIN, 2026, 3, 30, 4, 30)) is False
    assert suppressed_at(db, pile, local(BERLIN, 2026, 3, 28, 4, 30)) is False
    assert suppressed_at(db, pile, local(BERLIN, 2026, 3, 30, 1, 59)) is False
    assert suppressed_at(db, pile, local(BERLIN, 2026, 3, 30, 3, 59)) is True
    # On the night itself 02:00–03:00 does not exist: the window opens when the clock jumps.
    assert suppressed_at(db, pile, local(BERLIN, 2026, 3, 29, 3, 30)) is True
    # Autumn: back on 25 October 2026; 02:30 local is 00:30 UTC before, 01:30 after.
    assert suppressed_at(db, pile, local(BERLIN, 2026, 10, 24, 2, 30)) is True
    assert suppressed_at(db, pile, local(BERLIN, 2026, 10, 26, 2, 30)) is True
    assert suppressed_at(db, pile, local(BERLIN, 2026, 10, 26, 4, 30)) is False
    # On that night 02:00–03:00 passes twice; the window takes the second pass, never longer than two hours.
    assert suppressed_at(db, pile, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) is False   # 02:30 summer time
    assert suppressed_at(db, pile, datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) is True    # 02:30 winter time
    assert suppressed_at(db, pile, datetime(2026, 10, 25, 2, 59, tzinfo=UTC)) is True    # 03:59 winter time
    # The same UTC instants at a site on another clock are not in its window.
    assert site_of(db, other) == "SITE-2"
    assert suppressed_at(db, other, local(BERLIN, 2026, 3, 30, 2, 30)) is False


def clock_changes(zone: ZoneInfo, year: int) -> list[date]:
    """The days in `year` on which the zone's offset from UTC changes."""
    days = [date(year, 1, 1) + timedelta(days=n) for n in range(366)]
    noon = [datetime.combine(d, time(12), zone).utcoffset() for d in days]
    return [days[n] for n in range(1, len(days)) if noon[n] != noon[n - 1]]


@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata"])
def test_a_nightly_window_keeps_to_the_local_clock_on_both_sides_of_every_clock_change_of_the_year(db, fleet, desk,
                                                                                                   zone):
    pile, tz = fleet[1], ZoneInfo(zone)
    assert desk.patch("/sites/SITE-1", json={"timezone": zone}).status_code == 200
    a_window(desk, {"site_id": "SITE-1"}, NIGHTLY)
    changes = clock_changes(tz, 2026) or [date(2026, 3, 29)]  # Kolkata has none: any day must do
    for day in changes:
        before, after = day - timedelta(days=1), day + timedelta(days=1)
        inside = [datetime.combine(d, time(2, 30), tz) for d in (before, after)]
        assert suppressed_at(db, pile, inside[0]) is True and suppressed_at(db, pile, inside[1]) is True
        assert inside[0].utcoffset() != inside[1].utcoffset() or not clock_changes(tz, 2026)
        assert suppressed_at(db, pile, datetime.combine(after, time(4, 30), tz)) is False
        assert suppressed_at(db, pile, datetime.combine(before, time(4, 30), tz)) is False
        assert suppressed_at(db, pile, datetime.combine(after, time(1, 59), tz)) is False


def test_a_pile_window_follows_its_sites_clock_and_a_window_past_midnight_covers_the_next_morning(db, fleet, desk):
    pile = fleet[0]  # SITE-2
    assert desk.patch("/sites/SITE-2", json={"timezone": "America/New_York"}).status_code == 200
    a_window(desk, {"pile_id": pile}, {"frequency": "daily", "start_time": "22:00", "end_time": "01:00"})
    # New York changes clocks on 8 March 2026, three weeks before Europe.
    assert suppressed_at(db, pile, local(NEW_YORK, 2026, 3, 7, 23, 30)) is True
    assert suppressed_at(db, pile, local(NEW_YORK, 2026, 3, 9, 0, 30)) is True   # the occurrence of the 8th
    assert suppressed_at(db, pile, local(NEW_YORK, 2026, 3, 9, 1, 0)) is False
    assert suppressed_at(db, pile, local(NEW_YORK, 2026, 3, 9, 21, 59)) is False
    assert suppressed_at(db, fleet[2], local(NEW_YORK, 2026, 3, 9, 0, 30)) is False  # another pile of the site


def test_a_weekly_window_covers_only_its_weekdays_between_its_first_and_last_day(db, fleet, desk):
    pile = fleet[1]
    desk.patch("/sites/SITE-1", json={"timezone": "Europe/Berlin"})
    a_window(desk, {"site_id": "SITE-1"}, {"frequency": "weekly", "weekdays": [7], "start_time": "01:00",
                                            "end_time": "05:00", "first_day": "2026-04-05", "last_day": "2026-04-19"})
    assert suppressed_at(db, pile, local(BERLIN, 2026, 4, 12, 3, 0)) is True     # a Sunday
    assert suppressed_at(db, pile, local(BERLIN, 2026, 4, 13, 3, 0)) is False    # Monday
    assert suppressed_at(db, pile, local(BERLIN, 2026, 3, 29, 3, 0)) is False    # a Sunday before first_day
    assert suppressed_at(db, pile, local(BERLIN, 2026, 4, 19, 4, 59)) is True    # the last day
    assert suppressed_at(db, pile, local(BERLIN, 2026, 4, 26, 3, 0)) is False    # after it


def test_an_alarm_suppressed_by_a_recurring_window_counts_again_once_the_occurrence_is_over(db, fleet, desk):
    over, running = fleet[1], fleet[3]  # both at SITE-1
    desk.patch("/sites/SITE-1", json={"timezone": "Europe/Berlin"})
    now = datetime.now(BERLIN)
    hhmm = lambda at: at.strftime("%H:%M")  # noqa: E731
    # Today's occurrence of the site's window began an hour ago and ended a minute ago; the
    # pile window of the other pile is still running.
    began = hhmm(now - timedelta(hours=1))
    site_window = a_window(desk, {"site_id": "SITE-1"}, {
        "frequency": "daily", "start_time": began, "end_time": hhmm(now - timedelta(minutes=1))})
    pile_window = a_window(desk, {"pile_id": running}, {
        "frequency": "daily", "start_time": began, "end_time": hhmm(now + timedelta(minutes=5))})
    assert (site_window["active"], pile_window["active"]) == (False, True)
    assert suppressed_at(db, over, now - timedelta(minutes=30)) is True
    assert suppressed_at(db, running, now) is True
    lifted = lift_suppression(db)
    assert [db.execute("SELECT pile_id FROM alarms WHERE id = %s", (i,)).fetchone()[0] for i in lifted] == [over]
    assert db.execute("SELECT action FROM alarm_events WHERE alarm_id = %s ORDER BY id DESC LIMIT 1",
                      (lifted[0],)).fetchone()[0] == "unsuppressed"


def test_windows_are_listed_with_their_recurrence_and_the_sites_clock(db, fleet, desk):
    desk.patch("/sites/SITE-1", json={"timezone": "Europe/Berlin"})
    made = a_window(desk, {"site_id": "SITE-1"}, NIGHTLY | {"last_day": "2020-01-01"})   # over long ago
    kept = a_window(desk, {"site_id": "SITE-1"}, NIGHTLY)
    listed = desk.get("/maintenance/windows", params={"pile_id": fleet[1]}).json()
    assert [w["id"] for w in listed] == [kept["id"]]
    assert listed[0]["recurrence"] == {"frequency": "daily", "start_time": "02:00:00", "end_time": "04:00:00",
                                       "weekdays": None, "first_day": None, "last_day": None}
    past = desk.get("/maintenance/windows", params={"include_past": True}).json()
    assert {w["id"] for w in past} == {made["id"], kept["id"]}


# --- bodies: unknown fields and bad values are refused, naming the field ----------------


def refused(response, *names: str) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    for name in names:
        assert name in detail, detail
    return detail


def test_a_window_body_with_an_unknown_field_or_a_muddled_shape_is_refused_naming_the_field(db, fleet, desk):
    span = {"site_id": "SITE-1", "starts_at": "2030-01-01T02:00:00Z", "ends_at": "2030-01-01T04:00:00Z",
            "reason": "works"}
    post = lambda body: desk.post("/maintenance/windows", json=body)  # noqa: E731
    refused(post(span | {"recurrence": "daily"}), "recurrence")
    refused(post(span | {"recurrence": NIGHTLY}), "recurrence", "starts_at")
    refused(post(span | {"timezone": "Europe/Berlin"}), "timezone")
    refused(post(span | {"reasn": "typo"}), "reasn")
    recurring = {"site_id": "SITE-1", "reason": "nightly", "recurrence": NIGHTLY}
    refused(post(recurring | {"timezone": "Europe/Berlin"}), "timezone")
    refused(post(recurring | {"recurrence": NIGHTLY | {"start_tme": "01:00"}}), "recurrence.start_tme")
    refused(post(recurring | {"recurrence": NIGHTLY | {"timezone": "UTC"}}), "recurrence.timezone")
    refused(post(recurring | {"recurrence": NIGHTLY | {"start_time": "02:00+01:00"}}), "start_time", "offset")
    refused(post(recurring | {"recurrence": NIGHTLY | {"end_time": "02:00"}}), "end_time")
    refused(post(recurring | {"recurrence": NIGHTLY | {"frequency": "hourly"}}), "frequency")
    refused(post(recurring | {"recurrence": NIGHTLY | {"weekdays": [1]}}), "weekdays")
    refused(post(recurring | {"recurrence": NIGHTLY | {"frequency": "weekly", "weekdays": [8]}}), "weekdays")
    refused(post(recurring | {"recurrence": NIGHTLY | {"first_day": "2026-05-02", "last_day": "2026-05-01"}}),
            "last_day")
    refused(post({"site_id": "SITE-1", "reason": "neither"}), "recurrence")
    refused(post(recurring | {"site_id": "SITE-9"}), "site_id")
    assert desk.get("/maintenance/windows", params={"include_past": True}).json() == []


def test_a_sites_time_zone_is_set_by_name_and_each_change_is_recorded_with_who_and_when(db, fleet, desk):
    assert {s["id"]: s["timezone"] for s in desk.get("/sites").json()} == {"SITE-1": "UTC", "SITE-2": "UTC"}
    refused(desk.patch("/sites/SITE-1", json={"timezone": "Mars/Olympus_Mons"}), "timezone", "Mars/Olympus_Mons")
    refused(desk.patch("/sites/SITE-1", json={"timezone": "localtime"}), "timezone")
    refused(desk.patch("/sites/SITE-1", json={"timezone": "+01:00"}), "timezone")
    refused(desk.patch("/sites/SITE-1", json={"time_zone": "Europe/Berlin"}), "time_zone")
    refused(desk.patch("/sites/SITE-1", json={"timezone": "Europe/Berlin", "recurrence": "daily"}), "recurrence")
    assert desk.patch("/sites/SITE-9", json={"timezone": "Europe/Berlin"}).status_code == 404
    changed = desk.patch("/sites/SITE-1", json={"timezone": "Europe/Berlin"})
    assert changed.status_code == 200 and changed.json()["timezone"] == "Europe/Berlin"
    assert desk.patch("/sites/SITE-1", json={"timezone": "Europe/Berlin"}).status_code == 200  # no change: no event
    events = db.execute("SELECT actor, changes, at > now() - interval '1 minute' FROM site_events").fetchall()
    assert events == [("sam", {"timezone": {"from": "UTC", "to": "Europe/Berlin"}}, True)]


def test_a_site_is_registered_with_its_time_zone_and_a_bad_body_is_refused_naming_the_field(db, fleet, api):
    site = {"id": "SITE-3", "customer_id": "CUST-1", "name": "Airport", "region": "south", "lat": 48.35,
            "lon": 11.78, "environment": ["cold"], "timezone": "Europe/Berlin"}
    refused(api.post("/sites", json={k: v for k, v in site.items() if k != "timezone"}), "timezone")
    refused(api.post("/sites", json=site | {"timezone": "Europe/Berlinn"}), "timezone")
    refused(api.post("/sites", json=site | {"time_zone": "UTC"}), "time_zone")
    refused(api.post("/sites", json=site | {"customer_id": "CUST-9"}), "customer_id")
    refused(api.post("/sites", json=site | {"environment": ["windy"]}), "environment")
    created = api.post("/sites", json=site)
    assert created.status_code == 201 and created.json()["timezone"] == "Europe/Berlin"
    assert api.post("/sites", json=site).status_code == 409
    assert db.execute("SELECT actor FROM site_events WHERE site_id = 'SITE-3'").fetchall() == [("admin",)]
    refused(api.put("/maintenance/sites/SITE-3/inspection-interval", json={"interval_days": 30, "timezone": "UTC"}),
            "timezone")


def test_the_seeded_fleet_has_a_time_zone_for_every_site(db):
    seed_fleet(db, piles=30, seed=3)
    assert db.execute("SELECT DISTINCT timezone FROM sites").fetchall() == [("Europe/Berlin",)]


# --- plans in calendar months ------------------------------------------------------------


def test_calendar_months_count_from_the_anchor_so_short_months_neither_skip_nor_drift():
    series = [calendar.nth(date(2026, 1, 31), 1, k) for k in range(1, 7)]
    assert series == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31),
                      date(2026, 6, 30), date(2026, 7, 31)]
    assert calendar.nth(date(2028, 1, 31), 1, 1) == date(2028, 2, 29)           # a leap year
    assert calendar.nth(date(2028, 2, 29), 1, 1) == date(2028, 3, 29)           # not the 31st: the anchor's day
    assert calendar.nth(date(2028, 2, 29), 12, 1) == date(2029, 2, 28)
    assert [calendar.nth(date(2025, 11, 30), 3, k) for k in range(1, 5)] == [
        date(2026, 2, 28), date(2026, 5, 30), date(2026, 8, 30), date(2026, 11, 30)]
    anchor = date(2026, 1, 31)
    assert calendar.next_due(anchor, 1, anchor) == date(2026, 2, 28)
    assert calendar.next_due(anchor, 1, date(2026, 2, 28)) == date(2026, 3, 31)
    assert calendar.next_due(anchor, 1, date(2026, 3, 30)) == date(2026, 3, 31)
    assert calendar.next_due(anchor, 1, date(2031, 4, 30)) == date(2031, 5, 31)
    assert calendar.next_due(anchor, 6, date(2026, 1, 31)) == date(2026, 7, 31)
    assert [calendar.scaled_months(m, f) for m, f in ((12, 0.7), (1, 0.7), (3, 0.5))] == [8, 1, 2]
    with pytest.raises(ValueError):
        calendar.next_due(anchor, 0, anchor)


def monthly_plan(desk, **fields):
    body = {"id": "pm-dc-monthly", "name": "DC monthly check", "kind": "DC", "model_id": "T-DC120",
            "interval_months": 1, "lead_days": 14, "checklist": ["Clean filters"]} | fields
    response = desk.post("/maintenance/plans", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def pm_due_days(db, pile: str, zone: ZoneInfo) -> list[tuple[date, time, str]]:
    rows = db.execute("SELECT due_at, state FROM work_orders WHERE kind = 'preventive' AND pile_id = %s ORDER BY id",
                      (pile,)).fetchall()
    return [(d.astimezone(zone).date(), d.astimezone(zone).time(), state) for d, state in rows]


def test_a_monthly_plan_from_31_january_falls_due_on_28_february_31_march_30_april_and_31_may(db, fleet, desk):
    pile = fleet[0]  # a T-DC120 at SITE-2
    desk.patch("/sites/SITE-2", json={"timezone": "Europe/Berlin"})
    db.execute("UPDATE piles SET commissioned_on = '2026-01-31'")
    plan_row = monthly_plan(desk)
    assert plan_row["interval_months"] == 1 and plan_row["interval_days"] is None

    def month(run: datetime, done: datetime | None):
        assert plan(db, run).ran
        if done is not None:
            db.execute("UPDATE work_orders SET state = 'closed', closed_at = %s WHERE pile_id = %s AND state = 'new'",
                       (done, pile))

    month(local(BERLIN, 2026, 2, 20, 9, 0), local(BERLIN, 2026, 2, 25, 10, 0))   # done early
    month(local(BERLIN, 2026, 3, 20, 9, 0), local(BERLIN, 2026, 4, 2, 10, 0))    # done late
    month(local(BERLIN, 2026, 4, 20, 9, 0), local(BERLIN, 2026, 4, 30, 10, 0))
    month(local(BERLIN, 2026, 5, 20, 9, 0), None)
    end = time(23, 59, 59)
    assert pm_due_days(db, pile, BERLIN) == [(date(2026, 2, 28), end, "closed"), (date(2026, 3, 31), end, "closed"),
                                             (date(2026, 4, 30), end, "closed"), (date(2026, 5, 31), end, "new")]
    note = db.execute("SELECT note FROM work_order_events e JOIN work_orders w ON w.id = e.work_order_id "
                      "WHERE w.pile_id = %s ORDER BY e.id DESC LIMIT 1", (pile,)).fetchone()[0]
    assert note == "calendar: every 1 month(s) (1 × environment 1.00, whole months) from 2026-01-31, " \
                   "local days of Europe/Berlin"


def test_a_monthly_due_date_is_the_sites_local_day_and_its_visit_is_planned_for_that_day(db, fleet, desk):
    pile = fleet[0]
    desk.patch("/sites/SITE-2", json={"timezone": "America/New_York"})
    db.execute("UPDATE piles SET commissioned_on = '2028-01-31'")  # the site's piles share one visit
    monthly_plan(desk, environment_factors={"coastal": 0.5})   # SITE-2 is coastal: still every month
    [due] = [d for d in forecast(db, datetime(2028, 2, 1, tzinfo=UTC)) if d.pile_id == pile]
    assert due.due_at.astimezone(NEW_YORK).date() == date(2028, 2, 29)         # in UTC already 1 March
    assert due.due_at.astimezone(UTC).date() == date(2028, 3, 1)
    plan(db, datetime(2028, 2, 20, tzinfo=UTC))
    assert db.execute("SELECT v.planned_for FROM pm_visits v JOIN work_orders w ON w.visit_id = v.id "
                      "WHERE w.pile_id = %s", (pile,)).fetchall() == [(date(2028, 2, 29),)]


def test_a_plan_body_with_an_unknown_field_or_two_calendars_is_refused_naming_the_field(db, fleet, desk):
    body = {"id": "pm-x", "name": "X", "kind": "DC", "interval_months": 3, "checklist": ["Look"]}
    post = lambda extra: desk.post("/maintenance/plans", json=body | extra)  # noqa: E731
    refused(post({"timezone": "Europe/Berlin"}), "timezone")
    refused(post({"recurrence": "monthly"}), "recurrence")
    refused(post({"interval_month": 1}), "interval_month")
    refused(post({"interval_days": 90}), "interval_days", "interval_months")
    refused(post({"interval_months": 0}), "interval_months")
    refused(post({"interval_months": 1, "lead_days": 28}), "lead_days")
    replacement = {k: v for k, v in body.items() if k != "id"} | {"timezon": "UTC"}
    refused(desk.put("/maintenance/plans/pm-x", json=replacement), "timezon")
    assert post({}).status_code == 201
    assert desk.get("/maintenance/plans/pm-x").json()["interval_months"] == 3
