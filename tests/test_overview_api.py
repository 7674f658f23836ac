"""The console's fleet overview (issue 5): piles by state with their shares, each site's
worst state, fleet availability over the last day and 30 days on a known history, and the
pile page's uptime."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest


NOW = datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def clock():
    """Histories end at the test's start: ongoing outages are measured to the API's now."""
    global NOW
    NOW = datetime.now(timezone.utc)


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def port(db, pile, status="Available", error="NoError"):
    db.execute("INSERT INTO connector_state (pile_id, connector_id, time, seq, status, error_code, status_since) "
               "VALUES (%s, 1, now(), 1, %s, %s, now())", (pile, status, error))


def online(db, piles):
    db.execute("UPDATE pile_state SET online = true, last_seen = now(), connectivity_changed_at = %s "
               "WHERE pile_id = ANY(%s)", (ago(24 * 40), piles))


def change(db, pile, at, old, new):
    db.execute("INSERT INTO connector_status_changes (pile_id, connector_id, time, old_status, new_status, "
               "old_error_code, new_error_code) VALUES (%s, 1, %s, %s, %s, 'NoError', 'NoError')", (pile, at, old, new))


def goes_offline(db, pile, at):
    db.execute("INSERT INTO connectivity_events (pile_id, received_at, online) VALUES (%s, %s, false)", (pile, at))
    db.execute("UPDATE pile_state SET online = false, connectivity_changed_at = %s WHERE pile_id = %s", (at, pile))


@pytest.fixture
def states(db, fleet):
    """20 piles at two sites, all online; TP-0001 (Harbour) offline, TP-0002 (Depot North)
    faulted, TP-0003 (Harbour) charging."""
    online(db, fleet)
    for pile in fleet:
        port(db, pile, {"TP-0002": "Faulted", "TP-0003": "Charging"}.get(pile, "Available"),
             "GroundFailure" if pile == "TP-0002" else "NoError")
    goes_offline(db, "TP-0001", ago(2))
    return fleet


def test_the_overview_counts_piles_by_state_with_their_shares(api, states):
    body = api.get("/fleet/overview").json()
    assert {k: body[k] for k in ("piles", "online", "offline", "faulted", "charging")} == {
        "piles": 20, "online": 19, "offline": 1, "faulted": 1, "charging": 1}
    assert body["shares"] == {"online": 0.95, "offline": 0.05, "faulted": 0.05, "charging": 0.05}
    assert body["availability"]["target"] == 0.97


def test_each_site_shows_its_worst_pile_state_with_its_customer_and_region(api, states):
    sites = {s["site_id"]: s for s in api.get("/fleet/overview").json()["sites"]}
    assert sites["SITE-1"]["worst"] == "faulted"
    assert sites["SITE-2"]["worst"] == "offline"     # offline beats charging
    assert (sites["SITE-2"]["customer_name"], sites["SITE-2"]["region"], sites["SITE-2"]["piles"]) == (
        "Metro Fleet", "coast", 10)


def test_the_overview_counts_active_alarms_open_orders_and_breached_slas(api, db, states):
    db.execute("INSERT INTO alarms (pile_id, rule_id, fault_category, severity, first_seen, last_seen) VALUES "
               "('TP-0002', 'r', 'ground', 'critical', now(), now())")
    db.execute("INSERT INTO alarms (pile_id, rule_id, fault_category, severity, state, first_seen, last_seen) VALUES "
               "('TP-0004', 'r', 'ground', 'critical', 'cleared', now(), now())")
    for pile, state, due in (("TP-0002", "new", ago(1)), ("TP-0005", "assigned", ago(-5)), ("TP-0006", "closed", ago(1))):
        db.execute("INSERT INTO work_orders (kind, pile_id, fault_category, state, title, created_by, response_due_at) "
                   "VALUES ('corrective', %s, 'ground', %s, 't', 'test', %s)", (pile, state, due))
    body = api.get("/fleet/overview").json()
    assert (body["open_alarms"], body["open_work_orders"], body["sla_breached"]) == (1, 2, 1)


@pytest.fixture
def history(db, fleet):
    """Four ports known for 40 days, each online until an outage:
    TP-0005 Faulted 10 h → 4 h ago (6 h); TP-0006 Faulted 5 → 3 days ago (48 h);
    TP-0007 offline for the last 2 h; TP-0008 Faulted for the last 20 h, 5 h of them in a
    planned maintenance window."""
    piles = ["TP-0005", "TP-0006", "TP-0007", "TP-0008"]
    online(db, piles)
    for pile in piles:
        port(db, pile, "Faulted" if pile == "TP-0008" else "Available")
        change(db, pile, ago(24 * 40), None, "Available")
    change(db, "TP-0005", ago(10), "Available", "Faulted")
    change(db, "TP-0005", ago(4), "Faulted", "Available")
    change(db, "TP-0006", ago(24 * 5), "Available", "Faulted")
    change(db, "TP-0006", ago(24 * 3), "Faulted", "Available")
    goes_offline(db, "TP-0007", ago(2))
    change(db, "TP-0008", ago(20), "Available", "Faulted")
    db.execute("INSERT INTO maintenance_windows (pile_id, starts_at, ends_at, reason, created_by) "
               "VALUES ('TP-0008', %s, %s, 'PM', 'test')", (ago(20), ago(15)))
    return piles


def test_fleet_availability_is_the_share_of_port_time_up_with_planned_work_excluded(api, history):
    availability = api.get("/fleet/overview").json()["availability"]
    # day: 4 ports × 24 h, down 6 + 2 + (20 - 5) = 23 h; month: 4 × 720 h, down 6 + 48 + 2 + 15 = 71 h
    assert availability["day"] == pytest.approx(1 - 23 / 96, abs=1e-4)
    assert availability["month"] == pytest.approx(1 - 71 / 2880, abs=1e-4)


def test_a_30_day_figure_says_how_much_of_the_30_days_has_data(api, db, fleet):
    # Issue 12, item 6: a young fleet's "30-day availability" after 10 hours covers 10 of 720 hours.
    online(db, ["TP-0005"])
    port(db, "TP-0005", "Available")
    change(db, "TP-0005", ago(10), None, "Available")
    availability = api.get("/fleet/overview").json()["availability"]
    assert availability["month"] == 1.0
    assert availability["month_covered"] == pytest.approx(10 / 720, abs=1e-3)
    assert availability["day_covered"] == pytest.approx(10 / 24, abs=1e-3)


def test_a_history_older_than_the_period_covers_all_of_it(api, history):
    availability = api.get("/fleet/overview").json()["availability"]
    assert (availability["day_covered"], availability["month_covered"]) == (1.0, 1.0)


def test_an_outage_counts_once_when_a_faulted_pile_also_goes_offline(api, db, history):
    goes_offline(db, "TP-0005", ago(8))                     # inside its fault (10 h → 4 h ago) and beyond
    db.execute("INSERT INTO connectivity_events (pile_id, received_at, online) VALUES ('TP-0005', %s, true)", (ago(3),))
    db.execute("UPDATE pile_state SET online = true WHERE pile_id = 'TP-0005'")
    assert api.get("/fleet/overview").json()["availability"]["day"] == pytest.approx(1 - 24 / 96, abs=1e-4)


def test_the_pile_page_gets_its_uptime_with_faulted_offline_and_planned_hours(api, history):
    faulted = api.get("/piles/TP-0008/availability", params={"days": 1}).json()
    assert faulted["availability"] == pytest.approx(1 - 15 / 24, abs=1e-4)
    assert (faulted["faulted_hours"], faulted["planned_hours"], faulted["down_hours"]) == (
        pytest.approx(20, abs=0.01), pytest.approx(5, abs=0.01), pytest.approx(15, abs=0.01))
    assert faulted["online_share"] == 1.0
    offline = api.get("/piles/TP-0007/availability").json()
    assert (offline["days"], offline["offline_hours"], offline["faulted_hours"]) == (30, pytest.approx(2, abs=0.01), 0)
    assert offline["online_share"] == pytest.approx(1 - 2 / 720, abs=1e-5)
    assert api.get("/piles/NOPE/availability").status_code == 404


def test_engineers_may_not_see_the_fleet_overview_and_viewers_may(client_for, states):
    assert client_for("engineer").get("/fleet/overview").status_code == 403
    assert client_for("viewer").get("/fleet/overview").status_code == 200
