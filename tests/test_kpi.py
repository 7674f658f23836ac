"""Service KPIs from the platform's own records, with their definitions checked on
hand-made histories."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance import kpi

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
END = START + timedelta(hours=24)


def h(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def status(db, pile, at, new_status):
    db.execute("INSERT INTO connector_status_changes (pile_id, connector_id, time, new_status, new_error_code) "
               "VALUES (%s, 1, %s, %s, 'NoError')", (pile, at, new_status))


@pytest.fixture
def port(db, fleet):
    """One pile with one known port."""
    db.execute("INSERT INTO connector_state (pile_id, connector_id, time, seq, status, error_code, status_since) "
               "VALUES (%s, 1, now(), 1, 'Available', 'NoError', now())", (fleet[0],))
    status(db, fleet[0], h(-10), "Available")
    status(db, fleet[0], h(6), "Faulted")
    status(db, fleet[0], h(9), "Available")
    return fleet[0]


def test_availability_counts_faulted_time_against_the_port(db, port):
    assert kpi.compute(db, START, END).availability == pytest.approx(21 / 24, abs=1e-4)


def test_an_offline_pile_is_down_and_planned_maintenance_is_not_counted(db, port):
    db.execute("INSERT INTO connectivity_events (pile_id, received_at, online) VALUES (%s, %s, false), (%s, %s, true)",
               (port, h(12), port, h(13)))
    assert kpi.compute(db, START, END).availability == pytest.approx(20 / 24, abs=1e-4)
    db.execute("INSERT INTO maintenance_windows (pile_id, starts_at, ends_at, reason, created_by) "
               "VALUES (%s, %s, %s, 'PM', 'test')", (port, h(11), h(14)))
    assert kpi.compute(db, START, END).availability == pytest.approx(21 / 24, abs=1e-4)


def order(db, pile, created, **columns):
    cols = ["kind", "pile_id", "fault_category", "title", "created_by", "created_at", *columns]
    values = ["corrective", pile, columns.pop("category", "thermal"), "t", "test", created, *columns.values()]
    cols = [c for c in cols if c != "category"]
    db.execute(f"INSERT INTO work_orders ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(values))})", values)


def test_response_mttr_first_time_fix_and_repeats_follow_their_definitions(db, fleet):
    order(db, fleet[0], h(1), responded_at=h(3), resolved_at=h(5), state="closed", closed_at=h(6),
          resolution="repaired", category="a")
    order(db, fleet[1], h(2), responded_at=h(6), resolved_at=h(10), state="closed", closed_at=h(11),
          resolution="repaired", reopened_count=1, category="b")
    first = db.execute("SELECT id FROM work_orders ORDER BY id LIMIT 1").fetchone()[0]
    order(db, fleet[0], h(20), repeat_of=first, category="a")
    order(db, fleet[2], h(-48), responded_at=h(-47), category="c")  # before the period: not counted
    k = kpi.compute(db, START, END)
    assert k.orders_opened == 3
    assert (k.response_median_h, k.response_mean_h) == (3.0, 3.0)   # 2 h and 4 h
    assert k.mttr_h == 6.0                                         # 4 h and 8 h
    assert k.first_time_fix_rate == 0.5
    assert k.repeat_repair_rate == pytest.approx(1 / 3, abs=1e-4)


def test_pm_compliance_is_the_share_of_due_preventive_orders_closed_by_their_due_date(db, fleet):
    for pile, closed in ((fleet[0], h(5)), (fleet[1], h(30)), (fleet[2], None)):
        db.execute("INSERT INTO work_orders (kind, pile_id, title, created_by, due_at, state, closed_at) "
                   "VALUES ('preventive', %s, 'PM', 'planner', %s, %s, %s)",
                   (pile, h(10), "closed" if closed else "new", closed))
    assert kpi.compute(db, START, END).pm_compliance == pytest.approx(1 / 3, abs=1e-4)
