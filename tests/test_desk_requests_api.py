"""The desk's requests over HTTP (issue 13): logging a call, the inbox, answering, waiting."""
from __future__ import annotations

from maintenance.orders import open_corrective


def _contact(db, phone="+49301234567", customer="CUST-1"):
    return db.execute("INSERT INTO customer_contacts (customer_id, name, role, phone, email) "
                      "VALUES (%s, 'Jana Meyer', 'site manager', %s, 'jana@metro.example') RETURNING id",
                      (customer, phone)).fetchone()[0]


def test_a_call_is_matched_to_its_contact_whatever_way_the_number_is_written(api, db, fleet):
    contact_id = _contact(db)
    response = api.post("/requests/calls", json={"caller": "030 123 4567", "subject": "How do I reset bay 2?",
                                                 "pile": "SN-TP-0003"})
    assert response.status_code == 201, response.text
    request = response.json()
    assert (request["customer_id"], request["contact_id"], request["caller"], request["pile_id"], request["channel"]) \
        == ("CUST-1", contact_id, "+49301234567", "TP-0003", "phone")
    assert request["number"] == f"SR-{request['id']}"


def test_a_phone_logged_fault_report_links_to_the_piles_open_corrective_order(api, db, fleet):
    _contact(db)
    existing, _ = open_corrective(db, "TP-0001", "connector", title="Lock failure", priority=2, actor="rules",
                                  response_h=4, resolve_h=24, repeat_days=30)
    response = api.post("/requests/calls", json={"caller": "+49 30 1234567", "subject": "Cable will not unlock",
                                                 "pile": "TP-0001", "request_class": "fault_report",
                                                 "fault_category": "connector"})
    assert response.status_code == 201, response.text
    assert response.json()["work_order_id"] == existing
    assert db.execute("SELECT count(*) FROM work_orders WHERE pile_id = 'TP-0001'").fetchone()[0] == 1


def test_an_installation_request_opens_an_installation_job(api, db, fleet):
    _contact(db)
    request = api.post("/requests/calls", json={"caller": "+49301234567", "subject": "Please commission the new pile",
                                                "pile": "TP-0004"}).json()
    classified = api.post(f"/requests/{request['id']}/classify", json={"request_class": "installation_request"})
    assert classified.status_code == 200, classified.text
    order = api.get(f"/work-orders/{classified.json()['work_order_id']}").json()
    assert (order["kind"], order["pile_id"]) == ("installation", "TP-0004")


def test_a_simple_question_answered_on_the_call_is_resolved_at_once(api, db, fleet):
    _contact(db)
    request = api.post("/requests/calls", json={"caller": "+49301234567", "subject": "Opening hours of the hotline?",
                                                "request_class": "consultation", "answer": "Around the clock."}).json()
    assert request["state"] == "resolved"
    assert request["responded_at"] is not None and request["resolved_at"] is not None
    assert [m["kind"] for m in request["messages"]] == ["answer"]


def test_an_unknown_number_needs_the_customer_named(api, db, fleet):
    response = api.post("/requests/calls", json={"caller": "+44 20 7946 0958", "subject": "Hello"})
    assert response.status_code == 422 and "customer_id" in response.text
    bad = api.post("/requests/calls", json={"caller": "not a number", "subject": "Hello", "customer_id": "CUST-1"})
    assert bad.status_code == 422 and "caller" in bad.text


def test_the_inbox_lists_open_requests_by_the_clock_due_next(api, db, fleet):
    db.execute("INSERT INTO customers (id, name, tier) VALUES ('CUST-P', 'Premium', 'platinum')")
    first = api.post("/requests/calls", json={"caller": "+49301111111", "customer_id": "CUST-1",
                                              "subject": "Gold question"}).json()
    second = api.post("/requests/calls", json={"caller": "+49302222222", "customer_id": "CUST-P",
                                               "subject": "Platinum question"}).json()
    inbox = api.get("/requests", params={"open": "true"}).json()
    assert [r["id"] for r in inbox["data"]] == [second["id"], first["id"]]   # platinum's 4 h before gold's 8 h
    assert inbox["count"] == 2


def test_waiting_for_the_customer_then_their_reply_reopens_the_request(api, db, fleet):
    request = api.post("/requests", json={"customer_id": "CUST-1", "subject": "Meter reading wrong",
                                          "description": "Bay 4 shows 0 kWh"}).json()
    assert request["channel"] == "web" and request["suggested_class"] is not None
    answered = api.post(f"/requests/{request['id']}/messages", json={"body": "Which session?", "kind": "answer"})
    assert answered.json()["state"] == "open"
    waiting = api.post(f"/requests/{request['id']}/wait", json={"note": "asked for the session"}).json()
    assert waiting["state"] == "waiting_customer" and waiting["waiting_since"] is not None
    note = api.post(f"/requests/{request['id']}/messages", json={"body": "customer is slow", "kind": "note"}).json()
    assert note["state"] == "waiting_customer"
    timeline = [(e["actor"], e["from_state"], e["to_state"]) for e in note["timeline"] if e["to_state"]]
    assert timeline == [("admin", None, "new"), ("admin", "new", "open"), ("admin", "open", "waiting_customer")]


def test_staff_cannot_send_what_pilecare_sends_itself(api, db, fleet):
    request = api.post("/requests", json={"customer_id": "CUST-1", "subject": "x", "description": "y"}).json()
    response = api.post(f"/requests/{request['id']}/messages", json={"body": "hi", "kind": "acknowledgement"})
    assert response.status_code == 422 and "kind" in response.text


def test_an_agents_answer_to_an_e_mailed_request_goes_out_by_mail_and_a_note_never_does(api, db, fleet):
    from maintenance import policy as policies
    from maintenance.servicedesk import Channel, open_request

    request_id = open_request(db, policies.load(), customer_id="CUST-1", channel=Channel.EMAIL, subject="Invoice",
                              caller="jana@metro.example", actor="smtp")
    api.post(f"/requests/{request_id}/messages", json={"body": "Attached again.", "kind": "answer"})
    api.post(f"/requests/{request_id}/messages", json={"body": "she called too", "kind": "note"})
    mails = db.execute("SELECT m.mail_to, m.subject, m.body FROM outbox_mail m JOIN outbox o ON o.id = m.outbox_id "
                       "WHERE o.request_id = %s", (request_id,)).fetchall()
    assert mails == [("jana@metro.example", f"[SR-{request_id}] Invoice", "Attached again.")]


def test_a_customer_sees_only_their_own_requests_and_never_the_desks_notes(api, db, fleet, client_for):
    db.execute("INSERT INTO customers (id, name) VALUES ('CUST-2', 'Rival Charging')")
    mine = api.post("/requests", json={"customer_id": "CUST-1", "subject": "Ours", "description": "a"}).json()
    theirs = api.post("/requests", json={"customer_id": "CUST-2", "subject": "Theirs", "description": "b"}).json()
    api.post(f"/requests/{mine['id']}/messages", json={"body": "customer sounded upset", "kind": "note"})
    api.post(f"/requests/{mine['id']}/messages", json={"body": "We will call you today.", "kind": "answer"})
    portal = client_for("customer", customer_id="CUST-1")
    listed = portal.get("/requests").json()
    assert [r["id"] for r in listed["data"]] == [mine["id"]] and listed["count"] == 1
    page = portal.get(f"/requests/{mine['id']}").json()
    assert [m["body"] for m in page["messages"]] == ["a", "We will call you today."]
    assert page["timeline"] == [] and page["caller"] is None and page["agent"] is None
    assert {m["author"] for m in page["messages"] if m["direction"] == "out"} == {"service desk"}
    assert portal.get(f"/requests/{theirs['id']}").status_code == 404
    assert portal.post(f"/requests/{theirs['id']}/messages", json={"body": "hi"}).status_code == 404
    opened = portal.post("/requests", json={"subject": "New", "description": "Bay 3 dark", "pile_id": "TP-0001"})
    assert opened.status_code == 201 and opened.json()["customer_id"] == "CUST-1"
    assert portal.post("/requests", json={"subject": "x", "description": "y", "customer_id": "CUST-2"}) \
        .status_code == 404
    assert portal.post(f"/requests/{mine['id']}/classify", json={"request_class": "consultation"}).status_code == 403


def test_a_customer_naming_another_customers_pile_or_site_is_answered_as_if_it_did_not_exist(api, db, fleet,
                                                                                             client_for):
    db.execute("INSERT INTO customers (id, name) VALUES ('CUST-2', 'Rival Charging')")
    rival = client_for("customer", customer_id="CUST-2")
    site = db.execute("SELECT site_id FROM piles WHERE id = 'TP-0001'").fetchone()[0]
    for field, theirs, missing in (("pile_id", "TP-0001", "NO-PILE"), ("site_id", site, "NO-SITE")):
        other = rival.post("/requests", json={"subject": "x", "description": "y", field: theirs})
        absent = rival.post("/requests", json={"subject": "x", "description": "y", field: missing})
        assert (other.status_code, absent.status_code) == (404, 404), other.text
        assert other.json()["detail"] == absent.json()["detail"].replace(repr(missing), repr(theirs))
    assert db.execute("SELECT count(*) FROM requests").fetchone()[0] == 0


def test_a_promise_given_in_local_time_is_recorded_in_utc(api, db, fleet):
    request = api.post("/requests", json={"customer_id": "CUST-1", "subject": "Tariff", "description": "?"}).json()
    promised = api.post(f"/requests/{request['id']}/promise", json={"promised_at": "2099-05-01T14:00:00+02:00"})
    assert promised.status_code == 200, promised.text
    assert promised.json()["promised_at"] == "2099-05-01T12:00:00Z"
    assert any(e["note"] == "answer promised by 2099-05-01 12:00Z" for e in promised.json()["timeline"]), \
        promised.json()["timeline"]
