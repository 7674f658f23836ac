"""The field flow an engineer's phone drives: travel with an ETA, arrival checked against
the site, diagnosis settling warranty, quotes the customer approves, parts from stock,
the on-site test and a complete signed report; then verification closes the order.
Supervisors decide escalations."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gateway.commands import Downlink
from maintenance import field
from maintenance.field import CauseClass, SupervisorAction, Warranty
from maintenance.orders import verify
from maintenance.workorders import WorkOrderState as S
from maintenance.workorders import open_corrective, transition
from pilecare.errors import Conflict, InvalidInput, NotFound
from tests.maint import fast_policy

POLICY = fast_policy(verify_s=0)
SITE = (52.52, 13.40)  # where tests/factories.py puts every pile
FULL_REPORT = {"fault_cause": "fan bearing seized", "action_taken": "replaced the cabinet fan",
               "customer_opinion": "happy it charges again", "customer_rating": 5, "customer_signoff_name": "J. Meyer"}


@pytest.fixture
def job(db, fleet):
    """An order accepted by engineer E1, who has two fans in the van."""
    db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{AC,DC,HV}', '{north}', 52.5, 13.3), ('E2', 'Emil', '{AC}', '{north}', 52.5, 13.3)")
    db.execute("INSERT INTO parts (id, name, unit_cost) VALUES ('FAN-120', 'Cabinet fan 120 mm', 42.50)")
    db.execute("INSERT INTO stock_locations (id, kind, name, engineer_id) VALUES ('VAN-E1', 'van', 'Eva''s van', 'E1'), "
               "('WH-1', 'warehouse', 'Central', NULL)")
    db.execute("INSERT INTO stock VALUES ('VAN-E1', 'FAN-120', 2), ('WH-1', 'FAN-120', 10)")
    order_id, _ = open_corrective(db, fleet[1], "cooling", title="Fan stopped", priority=2, actor="rules",
                                  severity="major")
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
        transition(db, order_id, to, actor="dispatch")
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (order_id,))
    db.execute("INSERT INTO assignments (work_order_id, engineer_id, state, assigned_by) VALUES (%s, 'E1', 'accepted', "
               "'dispatch')", (order_id,))
    transition(db, order_id, S.ACCEPTED, actor="E1")
    return order_id


def on_site(db, order_id, cause=CauseClass.MANUFACTURE):
    field.start_travel(db, order_id, "E1", eta=datetime.now(timezone.utc) + timedelta(minutes=30), actor="eva")
    field.arrive(db, POLICY, order_id, "E1", lat=SITE[0] + 0.001, lon=SITE[1], actor="eva")
    return field.diagnose(db, POLICY, order_id, "E1", diagnosis="fan does not spin", cause_class=cause, actor="eva")


def state(db, order_id):
    return db.execute("SELECT state FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0]


def test_a_repair_in_warranty_goes_from_travel_to_a_closed_order_with_a_complete_report(db, fleet, job):
    assert on_site(db, job) is Warranty.IN
    assert db.execute("SELECT event, customer_id FROM outbox WHERE event = 'arrival.eta'").fetchall() == [
        ("arrival.eta", "CUST-1")]
    field.use_part(db, job, "E1", part_id="FAN-120", quantity=1, location_id="VAN-E1", defective_returned=True,
                   actor="eva")
    assert db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E1'").fetchone()[0] == 1
    field.record_test(db, job, "E1", passed=True, notes="fan at 2,100 rpm, 30 min charge OK", actor="eva")
    field.complete(db, job, "E1", actor="eva", **FULL_REPORT)
    assert state(db, job) == "resolved"
    db.execute("UPDATE pile_state SET online = true, last_seen = now()")
    verify(db, POLICY)
    assert state(db, job) == "closed"
    moves = [r[0] for r in db.execute("SELECT to_state FROM work_order_events WHERE work_order_id = %s "
                                      "AND from_state IS DISTINCT FROM to_state ORDER BY id", (job,))]
    assert moves[-5:] == ["en_route", "on_site", "resolved", "verified", "closed"]


def test_arriving_far_from_the_pile_is_refused_with_the_distance(db, fleet, job):
    field.start_travel(db, job, "E1", eta=datetime.now(timezone.utc), actor="eva")
    with pytest.raises(Conflict, match=r"you are 5\.\d km from pile"):
        field.arrive(db, POLICY, job, "E1", lat=SITE[0] + 0.05, lon=SITE[1], actor="eva")
    assert state(db, job) == "en_route"


def test_an_incomplete_report_is_refused_naming_what_is_missing(db, fleet, job):
    on_site(db, job)
    with pytest.raises(InvalidInput) as refused:
        field.complete(db, job, "E1", actor="eva", fault_cause="fan", customer_rating=4)
    for missing in ("action taken", "on-site test result", "customer opinion", "customer sign-off name",
                    "parts used"):
        assert missing in refused.value.detail
    assert state(db, job) == "on_site"


def test_a_failed_on_site_test_cannot_complete_the_order(db, fleet, job):
    on_site(db, job)
    field.record_test(db, job, "E1", passed=False, notes="still no airflow", actor="eva")
    with pytest.raises(Conflict, match="test failed"):
        field.complete(db, job, "E1", actor="eva", no_parts=True, **FULL_REPORT)


def test_work_outside_warranty_needs_an_approved_quote_first(db, fleet, job):
    assert on_site(db, job, cause=CauseClass.MISUSE) is Warranty.OUT
    with pytest.raises(Conflict, match="must approve a quote"):
        field.use_part(db, job, "E1", part_id="FAN-120", quantity=1, location_id="VAN-E1",
                       defective_returned=False, actor="eva")
    quote_id = field.make_quote(db, POLICY, job, "E1", parts=[("FAN-120", 1)], labour_h=1.5, travel_km=20, actor="eva")
    total = db.execute("SELECT parts_cost, labour_cost, travel_cost, total FROM quotes WHERE id = %s",
                       (quote_id,)).fetchone()
    assert [str(v) for v in total] == ["42.50", "127.50", "18.00", "188.00"]
    field.decide_quote(db, quote_id, approve=True, approver_name="J. Meyer (site manager)", actor="agent-anna")
    field.use_part(db, job, "E1", part_id="FAN-120", quantity=1, location_id="VAN-E1", defective_returned=False,
                   actor="eva")
    assert db.execute("SELECT approver_name, decided_by FROM quotes").fetchone() == ("J. Meyer (site manager)",
                                                                                    "agent-anna")


def test_a_rejected_quote_puts_the_order_on_hold(db, fleet, job):
    on_site(db, job, cause=CauseClass.EXTERNAL)
    quote_id = field.make_quote(db, POLICY, job, "E1", parts=[], labour_h=1, travel_km=0, actor="eva")
    field.decide_quote(db, quote_id, approve=False, approver_name="J. Meyer", actor="agent-anna")
    assert state(db, job) == "on_hold"
    with pytest.raises(Conflict, match="no longer pending"):
        field.decide_quote(db, quote_id, approve=True, approver_name="J. Meyer", actor="agent-anna")


def test_a_pile_out_of_warranty_pays_even_for_a_manufacturing_fault(db, fleet, job):
    db.execute("UPDATE piles SET warranty_end = current_date - 1")
    assert on_site(db, job, cause=CauseClass.MANUFACTURE) is Warranty.OUT


def test_another_engineer_does_not_see_the_order_at_all(db, fleet, job):
    with pytest.raises(NotFound):
        field.start_travel(db, job, "E2", eta=datetime.now(timezone.utc), actor="emil")


def test_parts_come_out_of_stock_or_the_call_fails(db, fleet, job):
    on_site(db, job)
    with pytest.raises(Conflict, match="VAN-E1 holds 2 of FAN-120; 3 needed"):
        field.use_part(db, job, "E1", part_id="FAN-120", quantity=3, location_id="VAN-E1",
                       defective_returned=False, actor="eva")
    field.use_part(db, job, "E1", part_id="FAN-120", quantity=3, location_id="WH-1", defective_returned=False,
                   actor="eva")
    assert db.execute("SELECT location_id, quantity FROM stock ORDER BY 1").fetchall() == [("VAN-E1", 2), ("WH-1", 7)]


def test_a_repair_that_does_not_hold_reopens_and_is_not_a_first_time_fix(db, fleet, job):
    from maintenance.alarms import raise_alarm
    from maintenance.rules import default

    on_site(db, job)
    field.record_test(db, job, "E1", passed=True, notes="ok", actor="eva")
    field.complete(db, job, "E1", actor="eva", no_parts=True, **FULL_REPORT)
    rule = default().by_id("fan.stopped")
    alarm_id, _ = raise_alarm(db, fleet[1], 0, rule, at=datetime.now(timezone.utc), clear_after_s=0)
    open_corrective(db, fleet[1], "cooling", title="again", priority=2, actor="rules", alarm_id=alarm_id)
    verify(db, POLICY)
    assert db.execute("SELECT state, reopened_count, engineer_id FROM work_orders WHERE id = %s",
                      (job,)).fetchone() == ("ready_for_dispatch", 1, None)


def test_an_escalation_reaches_the_supervisor_who_takes_the_pile_out_of_service(settings, db, fleet, job):
    on_site(db, job)
    field.escalate(db, job, "E1", reason="burnt busbar, smell of ozone", safety=True, actor="eva")
    assert db.execute("SELECT kind, recipient_role FROM notifications").fetchall() == [("escalation", "supervisor")]
    downlink = Downlink(settings, "test-supervisor")
    try:
        field.decide_escalation(db, downlink, job, action=SupervisorAction.OUT_OF_SERVICE,
                                note_text="until the busbar is replaced", actor="sam")
    finally:
        downlink.close()
    assert db.execute("SELECT type, params->>'type', requested_by FROM commands").fetchall() == [
        ("ChangeAvailability", "Inoperative", "sam")]
    assert state(db, job) == "ready_for_dispatch"
    told = db.execute("SELECT payload->>'decision' FROM outbox WHERE customer_id = 'CUST-1' "
                      "AND event = 'work_order.updated'").fetchall()
    assert ("out_of_service",) in told


def test_a_supervisor_can_order_the_pile_replaced(db, fleet, job):
    field.escalate(db, job, "E1", reason="cabinet flooded", safety=False, actor="eva")
    replacement = field.decide_escalation(db, None, job, action=SupervisorAction.REPLACE,
                                          note_text="water damage beyond repair", actor="sam")
    assert db.execute("SELECT kind, state FROM work_orders WHERE id = %s", (replacement,)).fetchone() == (
        "installation", "new")
    assert db.execute("SELECT state, resolution FROM work_orders WHERE id = %s", (job,)).fetchone() == (
        "closed", "replaced")
