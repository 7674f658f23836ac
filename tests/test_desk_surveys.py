"""The follow-up's survey link is mailed once when the follow-up falls due (issue 13, R-FOLLOWUP)."""
from __future__ import annotations

import threading

import psycopg

from maintenance import policy as policies
from maintenance.orders import open_corrective
from maintenance.servicedesk import Channel, open_request, surveys

BASE = "https://desk.example.com"


def _due(db, **columns):
    names = ", ".join(columns)
    return db.execute(f"INSERT INTO follow_ups ({names}, due_at, survey_token) VALUES "
                      f"({', '.join(['%s'] * len(columns))}, now() - interval '1 minute', md5(random()::text)) "
                      "RETURNING id, survey_token", list(columns.values())).fetchone()


def _mails(db):
    return db.execute("SELECT mail_to, subject, body FROM outbox_mail ORDER BY outbox_id").fetchall()


def test_a_due_follow_up_of_an_e_mailed_request_mails_its_link_in_the_thread_once_with_two_workers(db, fleet,
                                                                                                   database_url):
    request_id = open_request(db, policies.load(), customer_id="CUST-1", channel=Channel.EMAIL, subject="Invoice",
                              caller="jana@metro.example", actor="smtp")
    _, token = _due(db, request_id=request_id, customer_id="CUST-1")
    counts, barrier = [], threading.Barrier(2)

    def worker():
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            counts.append(surveys.send_due(conn, BASE) + surveys.send_due(conn, BASE))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 1
    [(to, subject, body)] = _mails(db)
    assert (to, subject) == ("jana@metro.example", f"[SR-{request_id}] Invoice")
    assert f"{BASE}/survey/{token}" in body
    assert db.execute("SELECT kind FROM request_messages WHERE request_id = %s", (request_id,)).fetchall() == \
        [("survey",)]


def test_an_orders_follow_up_without_a_request_goes_to_the_customers_contact(db, fleet):
    db.execute("INSERT INTO customer_contacts (customer_id, name, email) VALUES ('CUST-1', 'Jana', 'jana@metro.example')")
    order, _ = open_corrective(db, "TP-0001", "connector", title="Lock", priority=2, actor="rules", response_h=4,
                               resolve_h=24, repeat_days=30)
    _, token = _due(db, work_order_id=order, customer_id="CUST-1")
    assert surveys.send_due(db, BASE) == 1
    [(to, subject, body)] = _mails(db)
    assert (to, subject) == ("jana@metro.example", "How did we do?")
    assert f"work order {order}" in body and token in body


def test_a_follow_up_not_yet_due_or_already_answered_is_not_mailed(db, fleet):
    db.execute("INSERT INTO customer_contacts (customer_id, name, email) VALUES ('CUST-1', 'Jana', 'jana@metro.example')")
    order, _ = open_corrective(db, "TP-0001", "connector", title="Lock", priority=2, actor="rules", response_h=4,
                               resolve_h=24, repeat_days=30)
    db.execute("INSERT INTO follow_ups (work_order_id, customer_id, due_at, survey_token) "
               "VALUES (%s, 'CUST-1', now() + interval '1 day', 't1')", (order,))
    request_id = open_request(db, policies.load(), customer_id="CUST-1", channel=Channel.EMAIL, subject="x",
                              caller="jana@metro.example", actor="smtp")
    db.execute("INSERT INTO follow_ups (request_id, customer_id, due_at, done_at, survey_token) "
               "VALUES (%s, 'CUST-1', now() - interval '1 hour', now(), 't2')", (request_id,))
    assert surveys.send_due(db, BASE) == 0 and _mails(db) == []
