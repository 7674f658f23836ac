"""Customers and their contacts (issue 13, item 1; R-INFO): contacts kept normalised so calls
and mail find them, every change audited with who, when, before and after, contact details
only for the roles that need them, and one service history per customer and per pile."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance import policy as policies
from maintenance.alarms.lifecycle import raise_alarm
from maintenance.alarms.rules import default
from maintenance.orders.policy_step import open_from_alarms
from maintenance.servicedesk import Channel, open_request
from maintenance.servicedesk.contacts import by_email, by_phone

POLICY = policies.load()
POWER = default().by_id("error.PowerSwitchFailure")


@pytest.fixture
def agent(client_for):
    return client_for("agent", "kim")


@pytest.fixture
def supervisor(client_for):
    return client_for("supervisor", "sue")


def _new_customer(agent, **extra):
    body = {"id": "CUST-7", "name": "Harbour Charge",
            "contacts": [{"name": "Jana Meyer", "role": "site manager", "phone": "030 1234 5678",
                          "email": "Jana Meyer <Jana@Harbour.Example>"}]} | extra
    response = agent.post("/customers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_contacts_are_kept_as_e164_and_bare_lower_case_addresses_so_calls_and_mail_find_them(agent, db, fleet):
    card = _new_customer(agent)
    (jana,) = card["contacts"]
    assert (jana["phone"], jana["email"]) == ("+493012345678", "jana@harbour.example")
    assert by_phone(db, "+493012345678").contact_id == jana["id"]
    assert by_email(db, "jana@harbour.example").customer_id == "CUST-7"
    added = agent.post("/customers/CUST-7/contacts", json={"name": "Ola", "phone": "+44 20 7946 0958"}).json()
    assert added["phone"] == "+442079460958"
    changed = agent.patch(f"/customers/CUST-7/contacts/{added['id']}", json={"email": "OLA@Harbour.example "})
    assert changed.json()["email"] == "ola@harbour.example"


@pytest.mark.parametrize("method, path, body, field", [
    ("POST", "/customers", {"id": "C-8", "name": "X", "contacts": [{"name": "A", "phone": "call me"}]},
     "contacts[0].phone"),
    ("POST", "/customers/CUST-1/contacts", {"name": "A", "email": "not an address"}, "email"),
    ("POST", "/customers/CUST-1/contacts", {"name": "A", "phone": "12345678901234567890"}, "phone"),
    ("POST", "/customers", {"id": "C 8", "name": "X"}, "id"),
    ("POST", "/customers", {"id": "C-8", "name": "X", "tier": "diamond"}, "tier"),
])
def test_a_contact_or_customer_that_cannot_be_one_is_a_422_naming_the_field(agent, fleet, method, path, body, field):
    response = agent.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(f"{field}:"), response.text


def test_every_change_is_audited_with_who_when_before_and_after(agent, supervisor, fleet):
    _new_customer(agent)
    contact = agent.post("/customers/CUST-7/contacts", json={"name": "Ola", "phone": "030 555 0101"}).json()
    agent.patch(f"/customers/CUST-7/contacts/{contact['id']}", json={"role": "accounts"})
    agent.patch(f"/customers/CUST-7/contacts/{contact['id']}", json={"role": "accounts"})   # no change: no record
    agent.patch("/customers/CUST-7", json={"name": "Harbour Charge GmbH"})
    supervisor.patch("/customers/CUST-7", json={"tier": "gold"})
    assert agent.delete(f"/customers/CUST-7/contacts/{contact['id']}").status_code == 204
    assert agent.delete(f"/customers/CUST-7/contacts/{contact['id']}").status_code == 204  # already: no record

    changes = supervisor.get("/customers/CUST-7/changes").json()
    assert [(c["action"], c["actor"]) for c in changes] == [
        ("created", "kim"), ("contact_added", "kim"), ("contact_added", "kim"), ("contact_updated", "kim"),
        ("updated", "kim"), ("updated", "sue"), ("contact_removed", "kim")]
    times = [datetime.fromisoformat(c["at"]) for c in changes]
    assert times == sorted(times) and datetime.now(timezone.utc) - times[0] < timedelta(minutes=1)
    created, _, added, role, renamed, tier, removed = changes
    assert created["before"] is None and created["after"] == {"id": "CUST-7", "name": "Harbour Charge",
                                                              "tier": "standard"}
    assert added["before"] is None and added["after"]["phone"] == "+49305550101"
    assert (role["before"]["role"], role["after"]["role"], role["contact_id"]) == (None, "accounts", contact["id"])
    assert (renamed["before"]["name"], renamed["after"]["name"]) == ("Harbour Charge", "Harbour Charge GmbH")
    assert (tier["before"]["tier"], tier["after"]["tier"]) == ("standard", "gold")
    assert (removed["before"]["active"], removed["after"]["active"]) == (True, False)
    assert agent.get("/customers/CUST-7/changes").status_code == 403


def test_only_a_supervisor_sets_a_customers_tier(agent, supervisor, fleet):
    _new_customer(agent)
    refused = agent.patch("/customers/CUST-7", json={"tier": "platinum"})
    assert refused.status_code == 403 and refused.json()["detail"].startswith("tier:")
    assert agent.post("/customers", json={"id": "C-9", "name": "Big", "tier": "gold"}).status_code == 403
    assert supervisor.patch("/customers/CUST-7", json={"tier": "platinum"}).json()["tier"] == "platinum"


def test_one_e_mail_address_names_one_customer(agent, fleet):
    _new_customer(agent)
    clash = agent.post("/customers/CUST-1/contacts", json={"name": "Jana", "email": "jana@harbour.example"})
    assert clash.status_code == 409 and clash.json()["detail"].startswith("email:")
    assert agent.post("/customers/CUST-7/contacts", json={"name": "Jana at home", "email": "JANA@harbour.example"}
                      ).status_code == 201  # the same customer may list it twice


def test_the_first_active_contact_is_the_one_the_engineers_job_card_reads(agent, db, fleet):
    # CUST-1 was registered with its one contact on the customer row only (a fleet import).
    added = agent.post("/customers/CUST-1/contacts", json={"name": "Ola Berg", "phone": "030 555 0101"}).json()
    card = agent.get("/customers/CUST-1").json()
    assert [c["name"] for c in card["contacts"]] == ["Jana Meyer", "Ola Berg"]
    assert card["contact_name"] == "Jana Meyer"
    agent.delete(f"/customers/CUST-1/contacts/{card['contacts'][0]['id']}")
    row = db.execute("SELECT contact_name, contact_phone FROM customers WHERE id = 'CUST-1'").fetchone()
    assert row == ("Ola Berg", "+49305550101") and added["name"] == "Ola Berg"


def test_viewers_and_engineers_do_not_see_contact_details(agent, client_for, fleet):
    _new_customer(agent)
    viewer, engineer = client_for("viewer"), client_for("engineer")
    card = viewer.get("/customers/CUST-7").json()
    assert card["name"] == "Harbour Charge" and card["contacts"] is None
    assert (card["contact_name"], card["contact_phone"], card["contact_email"]) == (None, None, None)
    assert "1234" not in viewer.get("/customers").text and "jana" not in viewer.get("/customers").text.lower()
    assert viewer.get("/customers", params={"q": "Jana"}).json()["count"] == 0     # no search by contact either
    assert agent.get("/customers", params={"q": "Jana"}).json()["count"] == 1
    assert agent.get("/customers", params={"q": "1234 5678"}).json()["data"][0]["id"] == "CUST-7"
    assert engineer.get("/customers/CUST-7").status_code == 403


def test_the_history_holds_requests_orders_reports_complaints_and_follow_ups_in_time_order(db, fleet, api,
                                                                                            client_for):
    pile, other_pile = fleet[0], fleet[1]
    t0 = datetime.now(timezone.utc) - timedelta(days=3)
    # 1. The customer calls about the pile.
    call = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Screen dark",
                        actor="kim", pile_id=pile, at=t0)
    # 2. The pile reports the fault itself: the rules open the order from its alarm.
    raise_alarm(db, pile, 1, POWER, at=t0 + timedelta(hours=1), clear_after_s=0)
    db.execute("UPDATE alarms SET first_seen = %s", (t0 + timedelta(hours=1),))
    (order,) = open_from_alarms(db, POLICY)
    db.execute("UPDATE work_orders SET created_at = %s WHERE id = %s", (t0 + timedelta(hours=1), order))
    db.execute("UPDATE requests SET work_order_id = %s WHERE id = %s", (order, call))
    # 3. The engineer's report; 4. a complaint about the wait; 5. the follow-up call.
    db.execute("INSERT INTO service_reports (work_order_id, diagnosis, fault_cause, action_taken, test_passed, "
               "customer_rating, completed_at, completed_by, updated_by) VALUES (%s, 'relay', 'relay worn', "
               "'relay replaced', true, 4, %s, 'eva', 'eva')", (order, t0 + timedelta(days=1)))
    complaint_request = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.EMAIL, subject="Too slow",
                                     actor="smtp", pile_id=pile, at=t0 + timedelta(days=1, hours=2))
    db.execute("INSERT INTO complaints (request_id, customer_id, work_order_id, category, created_at) "
               "VALUES (%s, 'CUST-1', %s, 'response_time', %s)", (complaint_request, order,
                                                            t0 + timedelta(days=1, hours=2)))
    db.execute("INSERT INTO follow_ups (work_order_id, customer_id, due_at, done_at, channel, solved, satisfaction, "
               "recorded_by) VALUES (%s, 'CUST-1', %s, %s, 'call', true, 5, 'kim')",
               (order, t0 + timedelta(days=2), t0 + timedelta(days=2, hours=1)))
    # Another pile of the same customer: in the customer's history, not in this pile's.
    elsewhere = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.WEB, subject="Invoice",
                             actor="portal", pile_id=other_pile, at=t0 + timedelta(hours=3))

    history = api.get("/customers/CUST-1/history").json()
    entries = [(e["kind"], e["id"]) for e in history["data"]]
    assert entries == [("request", call), ("work_order", order), ("request", elsewhere), ("service_report", order),
                       ("request", complaint_request), ("complaint", 1), ("follow_up", 1)]
    assert history["count"] == 7
    at = [e["at"] for e in history["data"]]
    assert at == sorted(at)
    opened = history["data"][1]
    assert (opened["source"], opened["detail"]["kind"], opened["pile_id"]) == ("telemetry", "corrective", pile)
    report = history["data"][3]
    assert (report["title"], report["state"], report["detail"]["customer_rating"]) == ("relay worn", "passed", 4)
    assert history["data"][0]["source"] == "phone" and history["data"][-1]["detail"]["satisfaction"] == 5

    on_pile = api.get(f"/piles/{pile}/history").json()
    assert [(e["kind"], e["id"]) for e in on_pile["data"]] == [entry for entry in entries
                                                               if entry != ("request", elsewhere)]
    since = api.get("/customers/CUST-1/history", params={"since": (t0 + timedelta(days=1)).isoformat()}).json()
    assert [e["kind"] for e in since["data"]] == ["service_report", "request", "complaint", "follow_up"]
    assert since["count"] == 7
    # The customer's portal shows it the same history.
    portal = client_for("customer", "metro", customer_id="CUST-1")
    assert portal.get("/customers/CUST-1/history").json()["data"] == history["data"]
