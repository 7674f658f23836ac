"""The desk's KPIs equal the values worked out by hand on a small seeded set (issue 13, item 6)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from maintenance.kpi import desk
from maintenance.orders import open_corrective

START, END = datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 11, 1, tzinfo=timezone.utc)


def _request(db, customer, tier, channel, created, due_h, responded=None, agent=None, order=None):
    return db.execute(
        "INSERT INTO requests (customer_id, channel, subject, tier, created_at, created_by, response_due_at, "
        " resolve_due_at, responded_at, agent, work_order_id, state) "
        "VALUES (%s, %s, 'q', %s, %s::timestamptz, 'seed', %s::timestamptz + make_interval(hours => %s), "
        " %s::timestamptz + interval '5 days', %s, %s, %s, CASE WHEN %s::timestamptz IS NULL THEN 'new' ELSE 'open' END) "
        "RETURNING id", (customer, channel, tier, created, created, due_h, created, responded, agent, order, responded)
    ).fetchone()[0]


@pytest.fixture
def seeded(db, fleet):
    db.execute("INSERT INTO customers (id, name, tier) VALUES ('CUST-P', 'Premium', 'platinum')")
    db.execute("INSERT INTO engineers (id, name, regions, home_lat, home_lon) VALUES ('E1', 'Eva', '{north}', 52.5, 13.4)")
    order, _ = open_corrective(db, "TP-0001", "connector", title="Lock", priority=2, actor="rules", response_h=4,
                               resolve_h=24, repeat_days=30)
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (order,))
    r1 = _request(db, "CUST-1", "gold", "phone", "2026-10-02 08:00Z", 8, "2026-10-02 09:00Z", "a1")   # 1 h
    r2 = _request(db, "CUST-1", "gold", "email", "2026-10-03 08:00Z", 8, "2026-10-03 18:00Z", "a1")   # 10 h, late
    r3 = _request(db, "CUST-P", "platinum", "email", "2026-10-04 08:00Z", 4, "2026-10-04 10:00Z", "a2")  # 2 h
    r4 = _request(db, "CUST-P", "platinum", "web", "2026-10-05 08:00Z", 4)                          # never answered
    _request(db, "CUST-1", "gold", "phone", "2026-09-30 08:00Z", 8, "2026-09-30 20:00Z", "a1")      # before the period
    db.execute("INSERT INTO follow_ups (work_order_id, customer_id, due_at, done_at, satisfaction, solved, recorded_by) "
               "VALUES (%s, 'CUST-1', '2026-10-10Z', '2026-10-11Z', 5, true, 'a1')", (order,))
    db.execute("INSERT INTO follow_ups (request_id, customer_id, due_at, done_at, satisfaction, solved, recorded_by) "
               "VALUES (%s, 'CUST-1', '2026-10-12Z', '2026-10-12Z', 3, true, 'a2')", (r1,))
    db.execute("INSERT INTO follow_ups (request_id, customer_id, due_at) VALUES (%s, 'CUST-P', '2026-10-20Z')", (r3,))
    db.execute("INSERT INTO complaints (request_id, customer_id, state, engineer_id, created_at, closed_at, satisfied) "
               "VALUES (%s, 'CUST-1', 'closed', 'E1', '2026-10-03 10:00Z', '2026-10-05 10:00Z', true)", (r2,))
    db.execute("INSERT INTO complaints (request_id, customer_id, created_at) VALUES (%s, 'CUST-P', '2026-10-06Z')", (r4,))
    return order


def test_the_desk_kpis_of_a_month_equal_the_hand_computed_values(db, seeded):
    k = desk.compute(db, START, END)
    assert (k.requests, k.responded) == (4, 3)
    assert k.first_response_median_h == 2.0                       # of 1, 2 and 10 hours
    assert k.first_response_p90_h == 8.4                          # 2 + 0.8 × (10 − 2), linear interpolation
    assert (k.response_clock_ended, k.response_breached, k.breach_share) == (4, 2, 0.5)
    assert (k.follow_ups_scored, k.csat_mean, k.csat_share) == (2, 4.0, 0.5)
    assert (k.follow_ups_due, k.follow_ups_done, k.follow_up_completion) == (3, 2, 0.6667)
    assert (k.complaints, k.complaints_closed, k.complaint_handling_rate) == (2, 1, 0.5)
    assert (k.complaints_closed_in_period, k.complaint_handling_h, k.complaints_satisfied) == (1, 48.0, 1)


def test_the_first_response_breaks_down_per_channel_and_tier(db, seeded):
    by_channel = {k.group: k for k in desk.breakdown(db, START, END, desk.Dimension.CHANNEL)}
    assert by_channel["phone"].first_response_median_h == 1.0 and by_channel["phone"].breach_share == 0.0
    assert by_channel["email"].first_response_median_h == 6.0 and by_channel["email"].breach_share == 0.5
    assert by_channel["web"].first_response_median_h is None and by_channel["web"].breach_share == 1.0
    by_tier = {k.group: k for k in desk.breakdown(db, START, END, desk.Dimension.TIER)}
    assert (by_tier["gold"].requests, by_tier["gold"].breach_share) == (2, 0.5)
    assert (by_tier["platinum"].requests, by_tier["platinum"].breach_share) == (2, 0.5)


def test_complaints_and_satisfaction_count_against_the_responsible_engineer_and_team(db, seeded):
    by_engineer = {k.group: k for k in desk.breakdown(db, START, END, desk.Dimension.ENGINEER)}
    assert (by_engineer["E1"].complaints, by_engineer["E1"].csat_mean) == (1, 5.0)
    by_team = {k.group: k for k in desk.breakdown(db, START, END, desk.Dimension.TEAM)}
    assert by_team["north"].complaints == 1


def test_the_desk_kpis_are_served_with_their_breakdown_and_definitions(api, seeded):
    response = api.get("/kpis/desk", params={"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z",
                                             "by": "agent"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"]["breach_share"] == 0.5
    assert {g["group"]: g["requests"] for g in body["groups"]} == {"a1": 2, "a2": 1, None: 1}
    kpis = api.get("/kpis", params={"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}).json()
    assert kpis["desk"]["csat_mean"] == 4.0
    keys = {d["key"] for d in api.get("/kpis/definitions").json()}
    assert {"csat", "first_response_h", "complaint_handling_rate", "follow_up_completion"} <= keys


def test_a_request_paused_before_its_due_time_is_not_counted_as_breached_while_it_waits(db, fleet):
    from datetime import timedelta

    from maintenance import policy as policies
    from maintenance.servicedesk import Channel, RequestState, move, open_request

    now = db.execute("SELECT now()").fetchone()[0]
    request_id = open_request(db, policies.load(), customer_id="CUST-1", channel=Channel.PHONE, subject="Invoice",
                              actor="agent", at=now - timedelta(hours=10))          # gold: due 8 h after arrival
    move(db, request_id, RequestState.WAITING_CUSTOMER, actor="agent", note="asked for the serial number")
    # It went to the customer 1 h after arrival (moved back in time rather than waited for): 7 h of the clock left.
    db.execute("UPDATE requests SET waiting_since = now() - interval '9 hours' WHERE id = %s", (request_id,))
    k = desk.compute(db, now - timedelta(days=1), now + timedelta(days=1))
    assert (k.requests, k.response_clock_ended, k.response_breached, k.breach_share) == (1, 0, 0, None)
