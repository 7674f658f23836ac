"""Requests from every channel, their clocks and what a class opens (issue 13, R-INTAKE, R-RESPONSE)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from maintenance import policy as policies
from maintenance.orders import open_corrective
from maintenance.servicedesk import Channel, MessageKind, RequestClass, RequestState, add_message, move, open_request
from maintenance.servicedesk.intake import classify, suggest
from pilecare.errors import Conflict, InvalidInput

POLICY = policies.load()


def _row(db, request_id, *columns):
    return db.execute(f"SELECT {', '.join(columns)} FROM requests WHERE id = %s", (request_id,)).fetchone()


def test_a_request_gets_the_first_response_due_time_of_its_customers_tier(db, fleet):
    db.execute("INSERT INTO customers (id, name, tier) VALUES ('CUST-P', 'Premium Charge', 'platinum')")
    standard = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Question", actor="agent")
    platinum = open_request(db, POLICY, customer_id="CUST-P", channel=Channel.PHONE, subject="Question", actor="agent")
    gold_due, gold_created = _row(db, standard, "response_due_at", "created_at")
    platinum_due, platinum_created = _row(db, platinum, "response_due_at", "created_at")
    assert gold_due - gold_created == timedelta(hours=8)          # CUST-1 is gold
    assert platinum_due - platinum_created == timedelta(hours=4)
    assert platinum_due < gold_due


def test_waiting_for_the_customer_pauses_both_clocks(db, fleet):
    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.EMAIL, subject="Invoice", actor="agent")
    due_before, resolve_before = _row(db, request_id, "response_due_at", "resolve_due_at")
    move(db, request_id, RequestState.WAITING_CUSTOMER, actor="agent", note="asked for the serial number")
    # The customer takes an hour to answer (moved back in time rather than waited for).
    db.execute("UPDATE requests SET waiting_since = waiting_since - interval '1 hour' WHERE id = %s", (request_id,))
    add_message(db, request_id, direction="in", channel="email", author="jana@metro.example", body="SN-TP-0001")
    state, due_after, resolve_after, waited = _row(db, request_id, "state", "response_due_at", "resolve_due_at",
                                                   "waited_s")
    assert state == "open"
    assert timedelta(minutes=59) < due_after - due_before < timedelta(minutes=61)
    assert timedelta(minutes=59) < resolve_after - resolve_before < timedelta(minutes=61)
    assert 3590 < waited < 3610


def test_an_acknowledgement_is_not_a_response_but_an_answer_is(db, fleet):
    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.EMAIL, subject="Hours?", actor="smtp")
    add_message(db, request_id, direction="out", channel="email", author="pilecare", kind=MessageKind.ACKNOWLEDGEMENT,
                body="We have your mail")
    assert _row(db, request_id, "state", "responded_at") == ("new", None)
    add_message(db, request_id, direction="out", channel="email", author="agent-1", kind=MessageKind.ANSWER,
                body="We open at 8")
    state, responded_at = _row(db, request_id, "state", "responded_at")
    assert state == "open" and responded_at is not None
    history = db.execute("SELECT actor, from_state, to_state FROM request_events WHERE request_id = %s ORDER BY id",
                         (request_id,)).fetchall()
    assert history == [("smtp", None, "new"), ("agent-1", "new", "open")]


def test_a_phone_logged_fault_report_joins_the_piles_open_corrective_order(db, fleet):
    existing, created = open_corrective(db, "TP-0001", "connector", title="Lock failure", priority=2, actor="rules",
                                        response_h=4, resolve_h=24, repeat_days=30)
    assert created
    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Cable stuck",
                              pile_id="TP-0001", actor="agent-1")
    linked = classify(db, POLICY, None, request_id, RequestClass.FAULT_REPORT, actor="agent-1", fault_category="connector")
    assert linked == existing
    assert db.execute("SELECT count(*) FROM work_orders WHERE pile_id = 'TP-0001'").fetchone()[0] == 1
    assert _row(db, request_id, "class", "work_order_id") == ("fault_report", existing)


def test_an_installation_request_opens_an_installation_job(db, fleet):
    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.WEB, subject="Commission the new pile",
                              pile_id="TP-0002", actor="portal")
    order_id = classify(db, POLICY, None, request_id, RequestClass.INSTALLATION_REQUEST, actor="agent-1")
    assert db.execute("SELECT kind, pile_id FROM work_orders WHERE id = %s", (order_id,)).fetchone() == \
        ("installation", "TP-0002")


def test_a_request_is_classified_once_and_a_fault_report_needs_its_pile(db, fleet):
    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Broken", actor="agent")
    with pytest.raises(InvalidInput, match="pile_id"):
        classify(db, POLICY, None, request_id, RequestClass.FAULT_REPORT, actor="agent", fault_category="connector")
    classify(db, POLICY, None, request_id, RequestClass.CONSULTATION, actor="agent")
    with pytest.raises(Conflict, match="already classified"):
        classify(db, POLICY, None, request_id, RequestClass.SUGGESTION, actor="agent")


def test_a_pile_of_another_customer_is_refused(db, fleet):
    db.execute("INSERT INTO customers (id, name) VALUES ('CUST-2', 'Other')")
    with pytest.raises(InvalidInput, match="pile_id.*another customer"):
        open_request(db, POLICY, customer_id="CUST-2", channel=Channel.PHONE, subject="x", pile_id="TP-0001", actor="a")


@pytest.mark.parametrize("text, expected", [
    ("The charger at bay 3 is not charging since this morning", RequestClass.FAULT_REPORT),
    ("I want to complain about your engineer", RequestClass.COMPLAINT),
    ("Can you install two new piles at our depot?", RequestClass.INSTALLATION_REQUEST),
    ("What are your opening hours?", RequestClass.CONSULTATION),
    ("A suggestion: show the price on the screen", RequestClass.SUGGESTION),
])
def test_pilecare_suggests_a_class_from_the_words(text, expected):
    assert suggest(text) is expected


def _overdue(db, request_id, hours_late: float) -> None:
    # The request arrived long ago: its window moved back rather than waited for.
    db.execute("UPDATE requests SET created_at = now() - interval '30 hours', "
               "response_due_at = now() - make_interval(secs => %s), resolve_due_at = now() + interval '5 hours' "
               "WHERE id = %s", (hours_late * 3600, request_id))


def test_an_unanswered_request_is_escalated_exactly_once_with_two_workers(db, fleet, database_url):
    import threading

    import psycopg

    from maintenance.servicedesk import clocks

    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Call me", actor="agent")
    _overdue(db, request_id, 1)
    barrier, counts = threading.Barrier(2), []

    def worker():
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            counts.append(sum(clocks.watch(conn, POLICY) for _ in range(3)))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kinds = db.execute("SELECT kind, recipient_role FROM notifications WHERE request_id = %s ORDER BY kind",
                       (request_id,)).fetchall()
    assert kinds == [("desk_resolve_warning", "agent"), ("desk_response_breach", "supervisor")]
    assert sum(counts) == 2
    assert db.execute("SELECT sla_breached_at IS NOT NULL FROM requests WHERE id = %s", (request_id,)).fetchone()[0]
    assert db.execute("SELECT count(*) FROM request_events WHERE request_id = %s AND note LIKE 'SLA breached%%'",
                      (request_id,)).fetchone()[0] == 1


def test_a_request_waiting_for_the_customer_is_not_warned_or_escalated(db, fleet):
    from maintenance.servicedesk import clocks

    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Call me", actor="agent")
    move(db, request_id, RequestState.WAITING_CUSTOMER, actor="agent", note="asked for a photo")
    _overdue(db, request_id, 1)
    assert clocks.watch(db, POLICY) == 0
    assert db.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


def test_an_answered_request_is_not_escalated_for_its_response(db, fleet):
    from maintenance.servicedesk import clocks

    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Hours", actor="agent")
    add_message(db, request_id, direction="out", channel="phone", author="agent", kind=MessageKind.ANSWER, body="8–18")
    _overdue(db, request_id, 1)
    clocks.watch(db, POLICY)
    assert db.execute("SELECT kind FROM notifications WHERE request_id = %s", (request_id,)).fetchall() == \
        [("desk_resolve_warning",)]


def test_the_linked_orders_progress_reaches_the_request_and_its_resolution_resolves_it(db, fleet):
    from maintenance.servicedesk.linked_orders import on_order_moved

    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Stuck cable",
                              pile_id="TP-0001", actor="agent")
    order_id = classify(db, POLICY, None, request_id, RequestClass.FAULT_REPORT, actor="agent",
                        fault_category="connector")
    on_order_moved(db, order_id, "accepted", "en_route")
    assert _row(db, request_id, "state")[0] == "open"           # the update was its first response
    on_order_moved(db, order_id, "on_site", "resolved")
    assert _row(db, request_id, "state")[0] == "resolved"
    on_order_moved(db, order_id, "resolved", "ready_for_dispatch")
    assert _row(db, request_id, "state")[0] == "open"
    kinds = db.execute("SELECT kind FROM request_messages WHERE request_id = %s ORDER BY id", (request_id,)).fetchall()
    assert kinds == [("progress",), ("progress",)]


def test_two_replies_at_once_on_a_waiting_request_are_both_kept_and_it_is_resumed_once(database_url, db, fleet):
    from tests.parallel import in_parallel

    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.WEB, subject="Invoice", actor="agent")
    move(db, request_id, RequestState.WAITING_CUSTOMER, actor="agent", note="asked for the serial number")
    in_parallel(database_url, lambda conn: add_message(conn, request_id, direction="in", channel="web",
                                                       author="portal-user", body="SN-TP-0001"), workers=4)
    assert db.execute("SELECT count(*) FROM request_messages WHERE request_id = %s", (request_id,)).fetchone()[0] == 4
    assert db.execute("SELECT count(*) FROM request_events WHERE request_id = %s AND to_state = 'open'",
                      (request_id,)).fetchone()[0] == 1
    assert _row(db, request_id, "state") == ("open",)
