"""Inspection rounds per site (R-INSPECT) against real PostgreSQL: one open round per
site whatever the number of planners, findings recorded on it, and findings that need
a repair open corrective orders."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance import policy as policies
from maintenance.planning import inspections
from maintenance.planning.inspections import FindingCreate, plan_rounds, record_finding
from pilecare.errors import Conflict, InvalidInput, NotFound
from tests.test_preventive import close, in_parallel

REGISTERED = datetime(2025, 1, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
POLICY = policies.load()


@pytest.fixture
def sites(db, fleet):
    db.execute("UPDATE sites SET created_at = %s", (REGISTERED,))
    return fleet


def rounds(db):
    return db.execute("SELECT id, site_id, pile_id, due_at, state, created_by FROM work_orders "
                      "WHERE kind = 'inspection' ORDER BY site_id, id").fetchall()


def test_each_site_gets_one_round_when_its_interval_comes_within_the_lead_time(db, sites):
    assert plan_rounds(db, REGISTERED + 82 * DAY).created == []
    result = plan_rounds(db, REGISTERED + 83 * DAY)  # due at 90 days, opened 7 days ahead
    assert len(result.created) == 2
    site_rounds = rounds(db)
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in site_rounds] == [
        ("SITE-1", "TP-0002", REGISTERED + 90 * DAY, "new", "planner"),  # the site's first pile holds the order
        ("SITE-2", "TP-0001", REGISTERED + 90 * DAY, "new", "planner")]
    assert db.execute("SELECT count(*) FROM work_order_events WHERE to_state = 'new' AND actor = 'planner'"
                      ).fetchone()[0] == 2


def test_rerunning_or_running_concurrent_round_planners_keeps_one_open_round_per_site(database_url, db, sites):
    results = in_parallel(database_url, lambda conn: plan_rounds(conn, REGISTERED + 100 * DAY))
    assert sum(len(r.created) for r in results) == 2
    assert plan_rounds(db, REGISTERED + 101 * DAY).created == []
    assert len(rounds(db)) == 2


def test_a_site_interval_overrides_the_default_and_the_next_round_counts_from_the_last_closed_one(db, sites):
    inspections.set_interval(db, "SITE-2", 30)
    assert [r[1] for r in rounds(db)] == [] and len(plan_rounds(db, REGISTERED + 25 * DAY).created) == 1
    [(order_id, site_id, *_)] = rounds(db)
    assert site_id == "SITE-2"
    close(db, order_id, REGISTERED + 40 * DAY)
    assert plan_rounds(db, REGISTERED + 62 * DAY).created == []
    [second] = plan_rounds(db, REGISTERED + 63 * DAY).created  # 40 + 30 - 7
    assert db.execute("SELECT due_at FROM work_orders WHERE id = %s", (second,)).fetchone()[0] == REGISTERED + 70 * DAY
    with pytest.raises(NotFound):
        inspections.set_interval(db, "NOPE", 30)


def test_a_finding_that_needs_a_repair_opens_a_corrective_order_linked_to_the_inspection(db, sites):
    plan_rounds(db, REGISTERED + 90 * DAY)
    round_id = next(r[0] for r in rounds(db) if r[1] == "SITE-1")
    ok = record_finding(db, POLICY, round_id, FindingCreate(pile_id="TP-0004", item="Emergency stop", recorded_by="eng-1"))
    assert ok["corrective_order_id"] is None
    broken = record_finding(db, POLICY, round_id, FindingCreate(
        pile_id="TP-0006", item="Cable and connector", observation="Cracked latch on connector 2", needs_repair=True,
        fault_category="connector", priority=2, recorded_by="eng-1"))
    kind, pile_id, category, priority, state, created_by, title = db.execute(
        "SELECT kind, pile_id, fault_category, priority, state, created_by, title FROM work_orders WHERE id = %s",
        (broken["corrective_order_id"],)).fetchone()
    assert (kind, pile_id, category, priority, state, created_by) == (
        "corrective", "TP-0006", "connector", 2, "new", "eng-1")
    assert f"#{round_id}" in title
    assert [f["item"] for f in inspections.findings(db, round_id)] == ["Emergency stop", "Cable and connector"]
    listed = inspections.get_round(db, round_id)
    assert (listed["finding_count"], listed["repair_count"], listed["piles"]) == (2, 1, 10)


def test_a_second_repair_finding_of_the_same_fault_joins_the_open_corrective_order(db, sites):
    plan_rounds(db, REGISTERED + 90 * DAY)
    round_id = rounds(db)[0][0]
    finding = FindingCreate(pile_id="TP-0002", item="Display", needs_repair=True, fault_category="user_interface",
                            recorded_by="eng-1")
    first = record_finding(db, POLICY, round_id, finding)
    second = record_finding(db, POLICY, round_id, finding)
    assert first["corrective_order_id"] == second["corrective_order_id"]
    assert db.execute("SELECT count(*) FROM work_orders WHERE kind = 'corrective'").fetchone()[0] == 1


def test_findings_are_refused_for_a_pile_elsewhere_a_closed_round_or_an_unknown_order(db, sites):
    plan_rounds(db, REGISTERED + 90 * DAY)
    round_id = next(r[0] for r in rounds(db) if r[1] == "SITE-1")
    with pytest.raises(InvalidInput, match="TP-0001 is at SITE-2"):
        record_finding(db, POLICY, round_id, FindingCreate(pile_id="TP-0001", item="x", recorded_by="eng-1"))
    with pytest.raises(InvalidInput, match="no pile"):
        record_finding(db, POLICY, round_id, FindingCreate(pile_id="NOPE", item="x", recorded_by="eng-1"))
    close(db, round_id, REGISTERED + 91 * DAY)
    with pytest.raises(Conflict, match="is closed"):
        record_finding(db, POLICY, round_id, FindingCreate(pile_id="TP-0002", item="x", recorded_by="eng-1"))
    with pytest.raises(NotFound):
        record_finding(db, POLICY, 999_999, FindingCreate(pile_id="TP-0002", item="x", recorded_by="eng-1"))
    assert db.execute("SELECT count(*) FROM inspection_findings").fetchone()[0] == 0


def test_a_repair_finding_without_a_fault_category_is_invalid():
    with pytest.raises(ValueError, match="fault_category"):
        FindingCreate(pile_id="TP-0002", item="x", needs_repair=True, recorded_by="eng-1")


def test_a_site_without_piles_gets_no_round(db, sites):
    db.execute("INSERT INTO sites (id, customer_id, name, region, lat, lon, created_at) "
               "VALUES ('SITE-3', 'CUST-1', 'Empty lot', 'north', 52, 13, %s)", (REGISTERED,))
    assert {r[1] for r in rounds(db)} == set() and len(plan_rounds(db, REGISTERED + 90 * DAY).created) == 2
