"""Alarms and work orders keep their one-at-a-time rules under concurrency, and the
work-order lifecycle refuses illegal moves with a clear 409 and records who and when."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from maintenance.alarms.lifecycle import raise_alarm, request_clear, settle_clears
from maintenance.alarms.rules import default
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from pilecare.errors import Conflict, NotFound
from tests.parallel import in_parallel

NOW = datetime(2026, 11, 22, 10, tzinfo=timezone.utc)
GROUND = default().by_id("error.GroundFailure")
OVERHEAT = default().by_id("error.HighTemperature")


def test_concurrent_raisers_of_one_alarm_make_one_alarm_with_every_occurrence(database_url, db, fleet):
    results = in_parallel(database_url, lambda conn: raise_alarm(
        conn, fleet[0], 1, GROUND, at=NOW, clear_after_s=0, repeat=True))
    assert len({alarm_id for alarm_id, _ in results}) == 1
    assert sum(new for _, new in results) == 1
    assert db.execute("SELECT count(*), max(occurrences) FROM alarms").fetchone() == (1, 8)


def test_a_cleared_alarm_lets_the_next_fault_raise_a_new_one(db, fleet):
    first, _ = raise_alarm(db, fleet[0], 1, OVERHEAT, at=NOW, clear_after_s=0)
    assert request_clear(db, fleet[0], 1, OVERHEAT.id, at=NOW) == first
    assert request_clear(db, fleet[0], 1, OVERHEAT.id, at=NOW) is None
    assert settle_clears(db) == [first]
    second, new = raise_alarm(db, fleet[0], 1, OVERHEAT, at=NOW, clear_after_s=0)
    assert new and second != first


def test_concurrent_alarms_of_one_fault_category_share_one_open_corrective_order(database_url, db, fleet):
    alarm_id, _ = raise_alarm(db, fleet[0], 1, GROUND, at=NOW, clear_after_s=0)
    results = in_parallel(database_url, lambda conn: open_corrective(
        conn, fleet[0], "electrical", title="Ground fault", priority=1, actor="rules", alarm_id=alarm_id))
    assert len({order_id for order_id, _ in results}) == 1 and sum(created for _, created in results) == 1
    assert db.execute("SELECT count(*) FROM work_orders").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM work_order_alarms").fetchone()[0] == 1


def test_a_closed_order_makes_room_for_a_new_one(db, fleet):
    order_id, _ = open_corrective(db, fleet[0], "thermal", title="Overheat", priority=2, actor="rules")
    for state in (S.READY_FOR_DISPATCH, S.CANCELLED):
        transition(db, order_id, state, actor="dispatcher-1")
    again, created = open_corrective(db, fleet[0], "thermal", title="Overheat again", priority=2, actor="rules")
    assert created and again != order_id


def test_the_full_lifecycle_is_recorded_in_the_timeline_with_who(db, fleet):
    order_id, _ = open_corrective(db, fleet[0], "electrical", title="Ground fault", priority=1, actor="rules")
    path = [S.TRIAGE, S.READY_FOR_DISPATCH, S.ASSIGNED, S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED, S.VERIFIED, S.CLOSED]
    for state in path:
        transition(db, order_id, state, actor="someone")
    timeline = db.execute("SELECT from_state, to_state, actor FROM work_order_events WHERE work_order_id = %s ORDER BY id",
                          (order_id,)).fetchall()
    assert [t[1] for t in timeline] == ["new"] + [s.value for s in path]
    assert timeline[0][2] == "rules" and all(t[2] == "someone" for t in timeline[1:])
    assert db.execute("SELECT closed_at IS NOT NULL FROM work_orders").fetchone()[0]


def test_an_illegal_transition_is_a_409_naming_the_allowed_ones(db, fleet):
    order_id, _ = open_corrective(db, fleet[0], "electrical", title="Ground fault", priority=1, actor="rules")
    with pytest.raises(Conflict) as refused:
        transition(db, order_id, S.CLOSED, actor="someone")
    assert refused.value.status == 409
    assert "cannot go from new to closed" in refused.value.detail and "ready_for_dispatch" in refused.value.detail
    with pytest.raises(NotFound):
        transition(db, 999_999, S.TRIAGE, actor="someone")


def test_two_processes_moving_one_order_at_once_record_one_transition(database_url, db, fleet):
    order_id, _ = open_corrective(db, fleet[0], "electrical", title="Ground fault", priority=1, actor="rules")
    outcomes = []

    def move(conn):
        try:
            transition(conn, order_id, S.TRIAGE, actor="worker")
            outcomes.append("moved")
        except Conflict:
            outcomes.append("refused")

    in_parallel(database_url, move)
    assert outcomes.count("moved") == 1
    assert db.execute("SELECT count(*) FROM work_order_events WHERE to_state = 'triage'").fetchone()[0] == 1
