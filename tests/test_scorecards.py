"""Staff scorecards per engineer and team (R-KPI, R-NO-REPEAT, issue 14): hand-computed on a
seeded October."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from maintenance.kpi import service
from maintenance.reports import ScorecardBy, scorecards
from tests.report_history import engineers, order

START, END = datetime(2026, 10, 1, tzinfo=timezone.utc), datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def october(db, fleet):
    """E1 (north) and E2 (coast), E3 (north) with nothing done; orders finished in October."""
    engineers(db)
    db.execute("INSERT INTO engineers (id, name, regions, home_lat, home_lon) VALUES ('E3', 'Ewa', '{north}', 52, 13)")
    # E1: repaired in time first time; repaired late, reopened once; repaired in September, and
    # a preventive job. The late one comes back in October: a repeat counted against E1.
    order(db, "TP-0001", "cooling", "2026-10-02Z", resolved="2026-10-02 12:00Z", resolve_due="2026-10-03Z",
          closed="2026-10-03Z", resolution="repaired", engineer="E1")
    late = order(db, "TP-0002", "connector", "2026-10-05Z", resolved="2026-10-07Z", resolve_due="2026-10-06Z",
                 closed="2026-10-08Z", resolution="repaired", reopened=1, engineer="E1")
    order(db, "TP-0006", None, "2026-10-01Z", kind="preventive", closed="2026-10-15Z", engineer="E1")
    # E2 repairs the repeat in time: the repeat is not E2's.
    order(db, "TP-0002", "connector", "2026-10-20Z", resolved="2026-10-20 06:00Z", resolve_due="2026-10-21Z",
          closed="2026-10-21Z", resolution="repaired", repeat_of=late, engineer="E2")
    # E2's order from September, closed in September: not an October job.
    order(db, "TP-0003", "connector", "2026-09-02Z", resolved="2026-09-02 06:00Z", resolve_due="2026-09-03Z",
          closed="2026-09-03Z", resolution="repaired", engineer="E2")
    request = db.execute("INSERT INTO requests (customer_id, channel, tier, subject, created_at, created_by, "
                         "response_due_at, resolve_due_at) VALUES ('CUST-1', 'phone', 'gold', 'rude', '2026-10-09Z', "
                         "'agent', '2026-10-10Z', '2026-10-14Z') RETURNING id").fetchone()[0]
    db.execute("INSERT INTO complaints (request_id, customer_id, engineer_id, created_at) "
               "VALUES (%s, 'CUST-1', 'E1', '2026-10-09 12:00Z')", (request,))
    db.execute("INSERT INTO follow_ups (work_order_id, customer_id, due_at, done_at, satisfaction, solved, recorded_by) "
               "VALUES (%s, 'CUST-1', '2026-10-09Z', '2026-10-09Z', 2, false, 'agent')", (late,))


def _card(c):
    return (c.group, c.jobs, c.repairs, c.fixed_first_time, c.first_time_fix_rate, c.repeat_repairs,
            c.repeat_repair_rate, c.resolved, c.resolved_in_time, c.timeliness_rate, c.csat_mean, c.complaints)


def test_each_engineer_s_scorecard_equals_a_hand_computation(db, october):
    cards = {c.group: c for c in scorecards(db, START, END, ScorecardBy.ENGINEER)}
    assert sorted(cards) == ["E1", "E2", "E3"]
    # E1: 3 jobs closed in October (2 repairs + 1 preventive); first-time 1 of 2; 1 repeat of
    # their repairs over 2 repairs; in time 1 of 2; satisfaction 2; one complaint.
    assert _card(cards["E1"]) == ("E1", 3, 2, 1, 0.5, 1, 0.5, 2, 1, 0.5, 2.0, 1)
    # E2: the repeat's repair, first time and in time; no repeat of their own.
    assert _card(cards["E2"]) == ("E2", 1, 1, 1, 1.0, 0, 0.0, 1, 1, 1.0, None, 0)
    assert _card(cards["E3"]) == ("E3", 0, 0, 0, None, 0, None, 0, 0, None, None, 0)


def test_first_time_fix_per_engineer_is_the_kpi_room_s_for_that_engineer(db, october):
    for card in scorecards(db, START, END, ScorecardBy.ENGINEER):
        kpis = service.compute(db, START, END, engineer_id=card.group)
        assert (card.repairs, card.fixed_first_time) == (kpis.orders_repaired, kpis.fixed_first_time), card.group


def test_a_team_s_scorecard_sums_its_engineers(db, october):
    cards = {c.group: c for c in scorecards(db, START, END, ScorecardBy.TEAM)}
    assert sorted(cards) == ["coast", "north"]
    assert cards["north"].engineers == 2 and _card(cards["north"]) == ("north", 3, 2, 1, 0.5, 1, 0.5, 2, 1, 0.5,
                                                                      2.0, 1)
    assert _card(cards["coast"]) == ("coast", 1, 1, 1, 1.0, 0, 0.0, 1, 1, 1.0, None, 0)


def test_scorecards_are_served_by_engineer_or_team_and_a_bad_range_is_named(api, october):
    response = api.get("/reports/scorecards", params={"by": "team", "from": "2026-10-01T00:00:00Z",
                                                      "to": "2026-11-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    assert [(c["group"], c["jobs"]) for c in response.json()["data"]] == [("coast", 1), ("north", 3)]
    response = api.get("/reports/scorecards", params={"from": "2026-11-01T00:00:00Z", "to": "2026-10-01T00:00:00Z"})
    assert response.status_code == 422 and response.json()["detail"].startswith("from:")
    assert api.get("/reports/scorecards", params={"by": "site"}).status_code == 422
