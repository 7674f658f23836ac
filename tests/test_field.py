"""The field flow an engineer's phone drives: travel with an ETA, arrival checked against
the site, diagnosis settling warranty, quotes the customer approves, parts from stock,
the on-site test and a complete signed report; then verification closes the order.
Supervisors decide escalations."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gateway.commands import Downlink
from maintenance import fieldwork as field
from maintenance.fieldwork import CauseClass, SupervisorAction, Warranty
from maintenance.orders.policy_step import verify
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from pilecare.errors import Conflict, InvalidInput, NotFound
from tests.maint import fast_policy
from tests.factories import set_stock

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
    set_stock(db, "VAN-E1", "FAN-120", 2)
    set_stock(db, "WH-1", "FAN-120", 10)
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


def test_the_customer_at_the_pile_approves_the_quote_on_the_engineers_phone(db, fleet, job, client_for):
    eva = client_for("engineer", "eva", engineer_id="E1")
    on_site(db, job, cause=CauseClass.MISUSE)
    answer = {"approve": True, "approver_name": "J. Meyer (site manager)"}
    nothing = eva.post(f"/field/work-orders/{job}/quote-decision", json=answer)
    assert nothing.status_code == 409 and "no quote waiting" in nothing.json()["detail"]
    quote_id = field.make_quote(db, POLICY, job, "E1", parts=[("FAN-120", 1)], labour_h=1, travel_km=0, actor="eva")
    approved = eva.post(f"/field/work-orders/{job}/quote-decision", json=answer)
    assert approved.status_code == 200 and (approved.json()["id"], approved.json()["state"]) == (quote_id, "approved")
    assert db.execute("SELECT approver_name, decided_by FROM quotes").fetchone() == ("J. Meyer (site manager)", "eva")
    assert db.execute("SELECT count(*) FROM work_order_events WHERE work_order_id = %s AND note = %s",
                      (job, f"quote {quote_id} approved by J. Meyer (site manager) on site (recorded by eva)")
                      ).fetchone() == (1,)
    field.use_part(db, job, "E1", part_id="FAN-120", quantity=1, location_id="VAN-E1", defective_returned=False,
                   actor="eva")
    # Only the engineer holding the order records it.
    emil = client_for("engineer", "emil", engineer_id="E2")
    assert emil.post(f"/field/work-orders/{job}/quote-decision", json=answer).status_code == 404


def test_a_quote_the_customer_rejects_on_site_puts_the_order_on_hold(db, fleet, job, client_for):
    eva = client_for("engineer", "eva", engineer_id="E1")
    on_site(db, job, cause=CauseClass.EXTERNAL)
    field.make_quote(db, POLICY, job, "E1", parts=[], labour_h=1, travel_km=0, actor="eva")
    rejected = eva.post(f"/field/work-orders/{job}/quote-decision", json={"approve": False, "approver_name": "J. Meyer"})
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    assert state(db, job) == "on_hold"


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
    from maintenance.alarms.lifecycle import raise_alarm
    from maintenance.alarms.rules import default

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
    # The pile is up and has been for an hour: the command need not wait for it to settle.
    db.execute("UPDATE pile_state SET online = true, last_seen = now(), connectivity_changed_at = now() - "
               "interval '1 hour' WHERE pile_id = %s", (fleet[1],))
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


def shifts(db):
    """E1 and E2 on shift and both able to take the cooling job, so dispatch has a choice."""
    db.execute("INSERT INTO engineer_shifts (engineer_id, starts_at, ends_at) VALUES "
               "('E1', now() - interval '1 hour', now() + interval '8 hours'), "
               "('E2', now() - interval '1 hour', now() + interval '8 hours')")
    db.execute("UPDATE engineers SET skills = '{AC,DC,HV,cooling}'")


def holder(db, order_id):
    return (db.execute("SELECT engineer_id FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0],
            db.execute("SELECT state, reason, decided_at IS NOT NULL FROM assignments WHERE work_order_id = %s "
                       "ORDER BY id", (order_id,)).fetchall())


def test_an_order_the_engineer_escalated_and_the_supervisor_sent_back_is_offered_again(db, fleet, job):
    from maintenance.dispatch import offers as dispatch

    shifts(db)
    on_site(db, job)
    field.escalate(db, job, "E1", reason="need a second opinion", safety=False, actor="eva")
    assert holder(db, job) == (None, [("withdrawn", "escalated by eva: need a second opinion", True)])
    assert db.execute("SELECT engineer_id, payload->>'outcome' FROM outbox WHERE event = 'assignment.withdrawn'"
                      ).fetchall() == [("E1", "withdrawn")]

    field.decide_escalation(db, None, job, action=SupervisorAction.RETURN_TO_DISPATCH, note_text="send someone else",
                            actor="sam")
    assert len(dispatch.assign(db, dispatch.load())) == 1
    assert state(db, job) == "assigned"


def test_an_order_on_hold_after_a_rejected_quote_leaves_the_engineer_and_can_be_dispatched_again(db, fleet, job):
    from maintenance.dispatch import offers as dispatch

    shifts(db)
    on_site(db, job, cause=CauseClass.MISUSE)
    quote_id = field.make_quote(db, POLICY, job, "E1", parts=[], labour_h=1, travel_km=0, actor="eva")
    field.decide_quote(db, quote_id, approve=False, approver_name="J. Meyer", actor="agent-anna")
    assert holder(db, job) == (None, [("withdrawn", "on hold by agent-anna: the customer rejected the quote", True)])

    transition(db, job, S.READY_FOR_DISPATCH, actor="dora", note="the customer changed their mind")
    dispatch.override(db, job, "E2", actor="dora", reason="by hand")
    assert db.execute("SELECT state, engineer_id FROM work_orders WHERE id = %s", (job,)).fetchone() == (
        "assigned", "E2")


def test_the_engineer_no_longer_sees_an_escalated_order_and_a_dispatcher_can_hand_it_on(
        db, fleet, job, client_for):
    shifts(db)
    eva = client_for("engineer", "eva", engineer_id="E1")
    assert [o["id"] for o in eva.get("/field/work-orders").json()] == [job]
    on_site(db, job)
    field.escalate(db, job, "E1", reason="cabinet flooded", safety=True, actor="eva")

    assert eva.get("/field/work-orders").json() == []
    assert eva.get(f"/work-orders/{job}").status_code == 404
    handed = client_for("dispatcher").post(f"/work-orders/{job}/assign", json={"engineer_id": "E2", "reason": "dry"})
    assert handed.status_code == 201 and handed.json()["engineer_id"] == "E2"


def reopen(db, fleet, order_id):
    """The fault comes back during verification: the order goes back to dispatch."""
    from maintenance.alarms.lifecycle import raise_alarm
    from maintenance.alarms.rules import default

    alarm_id, _ = raise_alarm(db, fleet[1], 0, default().by_id("fan.stopped"), at=datetime.now(timezone.utc),
                              clear_after_s=0)
    open_corrective(db, fleet[1], "cooling", title="again", priority=2, actor="rules", alarm_id=alarm_id)
    verify(db, POLICY)
    assert state(db, order_id) == "ready_for_dispatch"


def second_visit(db, order_id):
    from maintenance.dispatch import offers as dispatch

    db.execute("INSERT INTO engineer_shifts (engineer_id, starts_at, ends_at) VALUES "
               "('E2', now() - interval '1 hour', now() + interval '8 hours')")
    dispatch.override(db, order_id, "E2", actor="dora", reason="second visit")
    dispatch.accept(db, order_id, "E2")
    field.start_travel(db, order_id, "E2", eta=datetime.now(timezone.utc), actor="emil")
    field.arrive(db, POLICY, order_id, "E2", lat=SITE[0], lon=SITE[1], actor="emil")


def test_a_reopened_order_needs_a_new_diagnosis_test_and_signed_report_and_keeps_the_first_as_an_earlier_visit(
        db, fleet, job, api):
    on_site(db, job)
    field.use_part(db, job, "E1", part_id="FAN-120", quantity=1, location_id="VAN-E1", defective_returned=True,
                   actor="eva")
    field.record_test(db, job, "E1", passed=True, notes="ok", actor="eva")
    field.complete(db, job, "E1", actor="eva", **FULL_REPORT)
    reopen(db, fleet, job)
    second_visit(db, job)

    with pytest.raises(Conflict, match="no diagnosis yet"):
        field.complete(db, job, "E2", actor="emil")
    assert db.execute("SELECT warranty FROM work_orders WHERE id = %s", (job,)).fetchone() == (None,)
    field.diagnose(db, POLICY, job, "E2", diagnosis="fan connector loose", cause_class=CauseClass.INSTALLATION,
                   actor="emil")
    with pytest.raises(InvalidInput) as refused:
        field.complete(db, job, "E2", actor="emil")
    for missing in ("fault cause", "on-site test result", "customer sign-off name", "parts used"):
        assert missing in refused.value.detail
    field.record_test(db, job, "E2", passed=True, notes="fan steady for an hour", actor="emil")
    field.complete(db, job, "E2", actor="emil", no_parts=True, **FULL_REPORT | {"fault_cause": "loose connector"})
    assert state(db, job) == "resolved"

    shown = api.get(f"/work-orders/{job}/report").json()
    assert (shown["report"]["fault_cause"], shown["report"]["completed_by"], shown["parts"]) == (
        "loose connector", "emil", [])
    [earlier] = shown["earlier_visits"]
    assert (earlier["report"]["fault_cause"], earlier["report"]["completed_by"], earlier["warranty"]) == (
        "fan bearing seized", "eva", "in_warranty")
    assert [(p["part_id"], p["recorded_by"]) for p in earlier["parts"]] == [("FAN-120", "eva")]


def test_a_reopened_order_outside_warranty_needs_a_new_quote(db, fleet, job, api):
    on_site(db, job, cause=CauseClass.MISUSE)
    first = field.make_quote(db, POLICY, job, "E1", parts=[], labour_h=1, travel_km=0, actor="eva")
    field.decide_quote(db, first, approve=True, approver_name="J. Meyer", actor="agent-anna")
    field.record_test(db, job, "E1", passed=True, notes="ok", actor="eva")
    field.complete(db, job, "E1", actor="eva", no_parts=True, **FULL_REPORT)
    reopen(db, fleet, job)
    second_visit(db, job)

    assert field.diagnose(db, POLICY, job, "E2", diagnosis="cable crushed again", cause_class=CauseClass.EXTERNAL,
                          actor="emil") is Warranty.OUT
    with pytest.raises(Conflict, match="must approve a quote"):
        field.record_test(db, job, "E2", passed=True, notes="ok", actor="emil")
    second = field.make_quote(db, POLICY, job, "E2", parts=[], labour_h=2, travel_km=0, actor="emil")
    shown = api.get(f"/work-orders/{job}/report").json()
    assert [(q["id"], q["state"]) for q in shown["quotes"]] == [(second, "pending")]
    assert [(q["id"], q["state"]) for q in shown["earlier_visits"][0]["quotes"]] == [(first, "superseded")]


def test_a_parts_request_repeated_by_the_phone_takes_stock_once(db, fleet, job):
    on_site(db, job)
    for _ in range(2):  # the phone lost the first answer and sends the same request again
        field.use_part(db, job, "E1", part_id="FAN-120", quantity=1, location_id="VAN-E1", defective_returned=True,
                       actor="eva", request_id="phone-7f3a")
    assert db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E1'").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM parts_used").fetchone() == (1,)
    with pytest.raises(Conflict, match="a new request needs a new id"):
        field.use_part(db, job, "E1", part_id="FAN-120", quantity=2, location_id="WH-1", defective_returned=False,
                       actor="eva", request_id="phone-7f3a")


def test_the_idempotency_key_header_makes_a_retried_parts_call_answer_the_same_without_taking_stock_again(
        db, fleet, job, client_for):
    on_site(db, job)
    eva = client_for("engineer", "eva", engineer_id="E1")
    part = {"part_id": "FAN-120", "quantity": 1, "location_id": "VAN-E1"}
    first = eva.post(f"/field/work-orders/{job}/parts", json=part, headers={"Idempotency-Key": "k-1"})
    again = eva.post(f"/field/work-orders/{job}/parts", json=part, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["timeline"] == again.json()["timeline"]
    assert eva.post(f"/field/work-orders/{job}/parts", json=part | {"request_id": "k-2"}).status_code == 201
    assert db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E1'").fetchone() == (0,)


def test_two_supervisors_deciding_at_once_make_one_decision_and_one_replacement(db, database_url, fleet, job):
    from tests.parallel import in_parallel

    field.escalate(db, job, "E1", reason="cabinet flooded", safety=False, actor="eva")

    def replace(conn):
        try:
            return field.decide_escalation(conn, None, job, action=SupervisorAction.REPLACE, note_text="replace",
                                           actor="sam")
        except Conflict as refused:
            return refused.detail

    results = in_parallel(database_url, replace, workers=4)

    assert len([r for r in results if isinstance(r, int)]) == 1
    assert db.execute("SELECT count(*) FROM work_orders WHERE kind = 'installation'").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM work_order_events WHERE work_order_id = %s AND to_state = 'closed' "
                      "AND from_state = 'escalated'", (job,)).fetchone() == (1,)


def test_the_en_route_note_gives_a_local_eta_in_utc(db, fleet, job):
    field.start_travel(db, job, "E1", eta=datetime(2030, 6, 1, 10, 0, tzinfo=timezone(timedelta(hours=8))),
                       actor="eva")
    assert db.execute("SELECT note FROM work_order_events WHERE to_state = 'en_route'").fetchone() == (
        "ETA 2030-06-01 02:00Z",)


def test_an_arrival_time_already_past_is_refused_because_the_customer_would_be_told_it(db, fleet, job):
    with pytest.raises(InvalidInput, match="has passed"):
        field.start_travel(db, job, "E1", eta=datetime(2020, 1, 1, tzinfo=timezone.utc), actor="eva")
    assert state(db, job) == "accepted"


# --- issue 12, item 2: arrival is a real check -----------------------------------------

def flags_of(db, order_id):
    return db.execute("SELECT arrival_flags FROM work_orders WHERE id = %s", (order_id,)).fetchone()[0]


def test_a_fix_that_jumped_kilometres_in_seconds_is_flagged_on_the_order(db, fleet, job):
    from maintenance.dispatch import roster

    field.start_travel(db, job, "E1", eta=datetime.now(timezone.utc) + timedelta(minutes=5), actor="eva")
    roster.set_position(db, "E1", SITE[0] + 0.45, SITE[1], at=datetime.now(timezone.utc) - timedelta(seconds=30))
    field.arrive(db, POLICY, job, "E1", lat=SITE[0] + 0.001, lon=SITE[1], actor="eva")  # 50 km in 30 s
    assert state(db, job) == "on_site"  # accepted: the engineer may really be there
    [flag] = flags_of(db, job)
    assert flag.startswith("position jumped 49.9 km in 30 s")
    note = db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s AND to_state = 'on_site'",
                      (job,)).fetchone()[0]
    assert "flagged: position jumped" in note


def test_an_arrival_sooner_than_the_trip_allows_is_flagged(db, fleet, job):
    field.start_travel(db, job, "E1", eta=datetime.now(timezone.utc) + timedelta(minutes=60), actor="eva")
    field.arrive(db, POLICY, job, "E1", lat=SITE[0] + 0.001, lon=SITE[1], actor="eva")
    assert flags_of(db, job) == ["arrived 0 min after setting off on a trip announced as 60 min"]


def test_an_honest_trip_is_not_flagged(db, fleet, job):
    from maintenance.dispatch import roster

    field.start_travel(db, job, "E1", eta=datetime.now(timezone.utc) + timedelta(minutes=10), actor="eva")
    roster.set_position(db, "E1", SITE[0] + 0.01, SITE[1], at=datetime.now(timezone.utc) - timedelta(minutes=2))
    field.arrive(db, POLICY, job, "E1", lat=SITE[0] + 0.001, lon=SITE[1], actor="eva")  # 1 km in 2 min
    assert flags_of(db, job) == []


@pytest.mark.parametrize("moved_km, seconds, announced_min, took_min, flagged", [
    (2.0, 30, None, None, True),      # 240 km/h
    (2.0, 60, None, None, False),     # 120 km/h: a motorway
    (0.9, 5, None, None, False),      # under 1 km: GPS noise
    (None, None, 40, 9, True),        # under a quarter of 40 min
    (None, None, 40, 11, False),
    (None, None, 15, 1, False),       # a short trip says nothing
])
def test_the_arrival_rules_and_their_edges(moved_km, seconds, announced_min, took_min, flagged):
    now = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    last = (SITE[0] + moved_km / 111.2, SITE[1]) if moved_km else None
    got = field.arrival_flags(fix=SITE, at=now, last=last,
                              last_at=now - timedelta(seconds=seconds) if seconds else None,
                              en_route_at=now - timedelta(minutes=took_min) if took_min else None,
                              eta=now - timedelta(minutes=took_min) + timedelta(minutes=announced_min)
                              if announced_min else None)
    assert bool(got) is flagged


def test_a_trip_of_many_small_jumps_faster_than_a_van_drives_is_flagged(db, fleet, job):
    from maintenance.dispatch import roster

    # Eva sets off 40 km away and sends a fix every 0.8 km — each under the 1 km jump rule —
    # and is at the pile 2 minutes later: 1,200 km/h over the whole trip.
    roster.set_position(db, "E1", SITE[0] + 0.36, SITE[1], at=datetime.now(timezone.utc))
    field.start_travel(db, job, "E1", eta=datetime.now(timezone.utc) + timedelta(minutes=2), actor="eva")
    db.execute("UPDATE work_order_events SET at = at - interval '2 minutes' WHERE work_order_id = %s "
               "AND to_state = 'en_route'", (job,))
    roster.set_position(db, "E1", SITE[0] + 0.008, SITE[1], at=datetime.now(timezone.utc) - timedelta(seconds=3))
    field.arrive(db, POLICY, job, "E1", lat=SITE[0] + 0.001, lon=SITE[1], actor="eva")
    [flag] = flags_of(db, job)
    assert flag.startswith("covered 39.9 km in 2 min since setting off (1")


def test_the_policy_sets_the_fastest_plausible_van(db, fleet, job):
    from maintenance.dispatch import roster

    roster.set_position(db, "E1", SITE[0] + 0.36, SITE[1], at=datetime.now(timezone.utc))
    field.start_travel(db, job, "E1", eta=datetime.now(timezone.utc) + timedelta(minutes=2), actor="eva")
    db.execute("UPDATE work_order_events SET at = at - interval '2 minutes' WHERE work_order_id = %s "
               "AND to_state = 'en_route'", (job,))
    roster.set_position(db, "E1", SITE[0] + 0.008, SITE[1], at=datetime.now(timezone.utc) - timedelta(seconds=3))
    # A demo whose vans drive 30× faster says so in its policy (pilecare run).
    field.arrive(db, POLICY.model_copy(update={"arrival_max_speed_kmh": 150 * 30}), job, "E1",
                 lat=SITE[0] + 0.001, lon=SITE[1], actor="eva")
    assert flags_of(db, job) == []
