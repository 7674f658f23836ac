"""The console's search box (issue 5): piles, sites and customers by id, serial, name or
address, without customers' contact details."""
from __future__ import annotations

import pytest



def test_it_finds_piles_by_id_or_serial_with_their_site_and_customer(api, fleet):
    piles = api.get("/search", params={"q": "sn-tp-0003"}).json()["piles"]
    assert piles == [{"id": "TP-0003", "serial": "SN-TP-0003", "site_id": "SITE-2", "site_name": "Harbour",
                      "customer_name": "Metro Fleet"}]
    assert [p["id"] for p in api.get("/search", params={"q": "tp-001", "limit": 3}).json()["piles"]] == [
        "TP-0010", "TP-0011", "TP-0012"]


def test_it_finds_sites_by_name_or_address_and_customers_by_name(api, db, fleet):
    db.execute("UPDATE sites SET address = 'Am Kai 7, Hamburg' WHERE id = 'SITE-2'")
    assert [s["id"] for s in api.get("/search", params={"q": "HARB"}).json()["sites"]] == ["SITE-2"]
    assert api.get("/search", params={"q": "kai 7"}).json()["sites"][0]["address"] == "Am Kai 7, Hamburg"
    found = api.get("/search", params={"q": "metro"}).json()
    assert found["customers"] == [{"id": "CUST-1", "name": "Metro Fleet", "tier": "gold"}]
    assert {s["id"] for s in found["sites"]} == set()


def test_it_finds_work_orders_by_number_or_title_and_engineers_by_name(api, db, fleet):
    from maintenance.orders.lifecycle import open_corrective

    fan, _ = open_corrective(db, fleet[0], "cooling", title="Fan stopped", priority=2, actor="rules")
    lock, _ = open_corrective(db, fleet[1], "connector", title="Lock stuck", priority=2, actor="rules")
    db.execute("INSERT INTO engineers (id, name, phone, home_lat, home_lon) VALUES "
               "('ENG-7', 'Noah Berg', '+49 170 555', 52.5, 13.4)")
    assert [o["id"] for o in api.get("/search", params={"q": f"#{lock}"}).json()["work_orders"]][0] == lock
    assert [o["id"] for o in api.get("/search", params={"q": "fan st"}).json()["work_orders"]] == [fan]
    found = api.get("/search", params={"q": "noah"}).json()
    assert found["engineers"] == [{"id": "ENG-7", "name": "Noah Berg", "regions": []}]
    assert "+49 170 555" not in api.get("/search", params={"q": "noah"}).text


def test_results_never_carry_customer_contact_details(api, fleet):
    text = api.get("/search", params={"q": "e"}).text
    assert "Jana Meyer" not in text and "+49 30 1234567" not in text and "contact" not in text


def test_prefix_matches_come_first(api, db, fleet):
    db.execute("INSERT INTO customers (id, name) VALUES ('CUST-2', 'Harbour Energy'), ('CUST-3', 'City Harbour')")
    names = [c["name"] for c in api.get("/search", params={"q": "harbour"}).json()["customers"]]
    assert names == ["Harbour Energy", "City Harbour"]


def test_wildcards_are_taken_literally_and_an_empty_query_is_refused(api, fleet):
    assert api.get("/search", params={"q": "%"}).json() == {"piles": [], "sites": [], "customers": [], "work_orders": [],
                                                             "engineers": []}
    assert api.get("/search", params={"q": "TP_0001"}).json()["piles"] == []
    assert api.get("/search", params={"q": ""}).status_code == 422


@pytest.mark.parametrize("role, status", [("engineer", 403), ("viewer", 200), ("agent", 200)])
def test_every_office_role_may_search_and_engineers_may_not(client_for, fleet, role, status):
    assert client_for(role).get("/search", params={"q": "tp"}).status_code == status


@pytest.mark.parametrize("q", ["Hanna Kl", "030 1234567", "+49 30 123 4567", "(030) 123-4567", "1234567"])
def test_a_caller_is_found_by_their_contact_name_or_phone_in_any_usual_form(api, db, fleet, q):
    db.execute("UPDATE customers SET contact_name = 'Hanna Klein', contact_phone = '+49 30 1234567' WHERE id = 'CUST-1'")
    found = api.get("/search", params={"q": q}).json()
    assert [c["id"] for c in found["customers"]] == ["CUST-1"]
    assert "contact_phone" not in found["customers"][0]


def test_a_viewer_who_may_not_see_contact_details_cannot_find_a_customer_by_them(client_for, db, fleet):
    # A hit would tell the contact's name or number a few letters or digits at a time (docs/roles.md).
    db.execute("UPDATE customers SET contact_name = 'Zelda Quorn', contact_phone = '+49 30 98765432' WHERE id = 'CUST-1'")
    viewer, agent = client_for("viewer"), client_for("agent")
    for q in ("Quorn", "98765", "030 98765432"):
        assert viewer.get("/search", params={"q": q}).json()["customers"] == []
        assert [c["id"] for c in agent.get("/search", params={"q": q}).json()["customers"]] == ["CUST-1"]


def test_a_short_or_wordy_number_finds_no_phone(api, db, fleet):
    db.execute("UPDATE customers SET contact_phone = '+49 30 1234567' WHERE id = 'CUST-1'")
    assert api.get("/search", params={"q": "1234"}).json()["customers"] == []
    assert api.get("/search", params={"q": "order 1234567"}).json()["customers"] == []


def test_an_engineer_is_found_by_phone(api, db, fleet):
    db.execute("INSERT INTO engineers (id, name, phone, home_lat, home_lon) VALUES ('E7', 'Emil', '+49 170 5550123', 52.5, 13.4)")
    assert [e["id"] for e in api.get("/search", params={"q": "0170 5550123"}).json()["engineers"]] == ["E7"]
