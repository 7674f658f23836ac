"""SLA clocks per severity and tier (R-RESPONSE), warnings and escalation once even with
two watchdogs, repeat repairs (R-NO-REPEAT) and verification that fails when the fault
returns."""
from __future__ import annotations

from datetime import timedelta

import pytest

from maintenance.orders import sla
from maintenance.orders.policy_step import verify
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from tests.maint import fast_policy
from tests.parallel import in_parallel

POLICY = fast_policy()


def order(db, pile, category="thermal", response_h=12.0, resolve_h=48.0, **kw):
    order_id, _ = open_corrective(db, pile, category, title="Overheat", priority=2, actor="rules",
                                  severity="major", response_h=response_h, resolve_h=resolve_h, **kw)
    return order_id


def shift(db, order_id, hours):
    """Pretend the order was opened `hours` earlier."""
    db.execute("UPDATE work_orders SET created_at = created_at - make_interval(secs => %(s)s), "
               "response_due_at = response_due_at - make_interval(secs => %(s)s), "
               "resolve_due_at = resolve_due_at - make_interval(secs => %(s)s) WHERE id = %(id)s",
               {"s": hours * 3600, "id": order_id})


def test_clocks_follow_severity_customer_tier_and_safety():
    assert POLICY.sla_for("major", "standard", False) == (12, 48)
    assert POLICY.sla_for("major", "platinum", False) == (6, 24)
    assert POLICY.sla_for("warning", "standard", False)[0] == 24  # R-RESPONSE: never beyond 24 h
    assert POLICY.sla_for("minor", "standard", True) == (2, 12)
    assert POLICY.priority_for("minor", "platinum", False) == 2
    assert POLICY.priority_for("warning", "standard", True) == 1


def test_an_order_three_quarters_through_its_response_window_gets_one_warning(db, fleet):
    order_id = order(db, fleet[0])
    shift(db, order_id, 10)  # 10 of 12 hours gone
    assert sla.watch(db, POLICY) == 1
    assert sla.watch(db, POLICY) == 0
    assert db.execute("SELECT kind, recipient_role FROM notifications").fetchall() == [
        ("sla_response_warning", "dispatcher")]


def test_a_breached_response_escalates_once_even_with_two_watchdogs(database_url, db, fleet):
    order_id = order(db, fleet[0])
    shift(db, order_id, 13)
    sent = in_parallel(database_url, lambda conn: sla.watch(conn, POLICY), workers=4)
    assert sum(sent) == 1
    row = db.execute("SELECT escalation_level, priority, sla_breached_at IS NOT NULL FROM work_orders").fetchone()
    assert row == (1, 1, True)
    assert db.execute("SELECT kind, recipient_role FROM notifications").fetchall() == [("sla_response_breach", "supervisor")]


def test_an_order_an_engineer_accepted_in_time_has_met_its_response_clock(db, fleet):
    order_id = order(db, fleet[0])
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED, S.ACCEPTED):
        transition(db, order_id, to, actor="eng-1")
    shift(db, order_id, 13)
    assert sla.watch(db, POLICY) == 0
    created, due, done = db.execute("SELECT created_at, response_due_at, responded_at FROM work_orders").fetchone()
    assert sla.status(created, due, done, done, 0.75) is sla.SlaStatus.BREACHED  # shifted: accepted "after" due
    assert sla.status(created, due + (done - due) * 2, done, done, 0.75) is sla.SlaStatus.MET


def test_the_same_fault_on_the_same_pile_within_30_days_of_closing_is_a_linked_repeat(db, fleet):
    first = order(db, fleet[0])
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED, S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED, S.VERIFIED, S.CLOSED):
        transition(db, first, to, actor="eng-1")
    again = order(db, fleet[0])
    other_fault = order(db, fleet[0], category="connector")
    other_pile = order(db, fleet[1])
    links = dict(db.execute("SELECT id, repeat_of FROM work_orders").fetchall())
    assert links[again] == first
    assert links[other_fault] is None and links[other_pile] is None


def test_a_repair_older_than_30_days_is_not_a_repeat(db, fleet):
    first = order(db, fleet[0])
    transition(db, first, S.CANCELLED, actor="agent")
    db.execute("UPDATE work_orders SET state = 'closed', closed_at = now() - interval '31 days' WHERE id = %s", (first,))
    again = order(db, fleet[0])
    assert db.execute("SELECT repeat_of FROM work_orders WHERE id = %s", (again,)).fetchone()[0] is None


@pytest.mark.parametrize("returns", [False, True])
def test_a_resolved_order_is_verified_after_a_healthy_period_or_reopened_when_the_fault_returns(db, fleet, returns):
    from maintenance.alarms.lifecycle import raise_alarm
    from maintenance.alarms.rules import default

    rule = default().by_id("error.PowerSwitchFailure")
    db.execute("UPDATE pile_state SET online = true, last_seen = now()")
    alarm_id, _ = raise_alarm(db, fleet[0], 1, rule, at=db.execute("SELECT now() - interval '1 hour'").fetchone()[0],
                              clear_after_s=0)
    order_id = order(db, fleet[0], category="power_module", alarm_id=alarm_id)
    db.execute("UPDATE alarms SET state = 'cleared', cleared_at = now()")
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED, S.ACCEPTED, S.EN_ROUTE, S.ON_SITE, S.RESOLVED):
        transition(db, order_id, to, actor="eng-1")
    db.execute("UPDATE work_orders SET resolved_at = now() - interval '10 seconds'")
    if returns:
        again, _ = raise_alarm(db, fleet[0], 1, rule, at=db.execute("SELECT now()").fetchone()[0], clear_after_s=0)
        open_corrective(db, fleet[0], "power_module", title="again", priority=2, actor="rules", alarm_id=again)
    verify(db, POLICY)
    state = db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0]
    # A field repair is verified, then closed by a person once the report is complete (issue 4).
    assert state == ("ready_for_dispatch" if returns else "verified")


@pytest.mark.parametrize("warn_at", [0.5, 0.75, 0.9])
def test_the_sql_clock_and_the_python_clock_give_the_same_status_at_every_stage(db, warn_at):
    # (hours since creation, hours of the window, hours after creation it was done, or None)
    cases = [(1, 12, None), (7, 12, None), (9.5, 12, None), (13, 12, None), (5, 12, 4), (20, 12, 14),
             (3, None, None), (11.99, 12, None)]
    now = db.execute("SELECT now()").fetchone()[0]
    for since, window, done in cases:
        created = now - timedelta(hours=since)
        due = created + timedelta(hours=window) if window is not None else None
        finished = created + timedelta(hours=done) if done is not None else None
        in_sql = db.execute(f"SELECT {sla.clock_sql('due', 'done', order='o')} FROM "
                            "(SELECT %(c)s::timestamptz AS created_at, %(d)s::timestamptz AS due, "
                            "%(f)s::timestamptz AS done) o",
                            {"c": created, "d": due, "f": finished, "warn": warn_at}).fetchone()[0]
        assert in_sql == sla.status(created, due, finished, now, warn_at).value, (since, window, done)
