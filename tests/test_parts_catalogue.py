"""The parts catalogue and suppliers (R-PARTS, issue 14 item 1): parts with spec, unit, standard
cost, compatible pile models, alternates and supplier listings; suppliers; who may read and write."""
from __future__ import annotations

import pytest

from tests.factories import set_stock

FAN = {"id": "FAN-120", "name": "Cabinet fan 120 mm", "spec": "24 V DC, 120 × 120 × 38 mm", "unit": "pcs",
       "unit_cost": 42.5, "compatible_models": ["T-AC22", "T-DC120"]}


@pytest.fixture
def suppliers(api, fleet):
    for supplier in ({"id": "ACME", "name": "Acme Components", "email": "orders@acme.example"},
                     {"id": "BOLT", "name": "Bolt & Co"}):
        assert api.post("/suppliers", json=supplier).status_code == 201
    return api


def test_a_part_is_created_with_its_models_alternates_and_suppliers_and_read_back(suppliers):
    api = suppliers
    assert api.post("/parts", json={"id": "FAN-100", "name": "Cabinet fan 100 mm"}).status_code == 201
    created = api.post("/parts", json=FAN | {"alternates": ["FAN-100"], "suppliers": [
        {"supplier_id": "BOLT", "price": 39.9, "lead_time_days": 14},
        {"supplier_id": "ACME", "supplier_part_number": "AC-F120", "price": 37.0, "lead_time_days": 21}]})
    assert created.status_code == 201, created.text
    part = api.get("/parts/FAN-120").json()
    assert (part["name"], part["spec"], part["unit"], part["unit_cost"]) == (FAN["name"], FAN["spec"], "pcs", 42.5)
    assert part["compatible_models"] == ["T-AC22", "T-DC120"] and part["alternates"] == ["FAN-100"]
    assert [(s["supplier_id"], s["price"], s["lead_time_days"]) for s in part["suppliers"]] == [
        ("ACME", 37.0, 21), ("BOLT", 39.9, 14)]          # cheapest first
    assert part["suppliers"][0]["supplier_part_number"] == "AC-F120" and part["updated_by"] == "admin"
    # Alternates are one-way: FAN-100 names none.
    assert api.get("/parts/FAN-100").json()["alternates"] == []
    assert api.get("/suppliers/ACME").json()["parts"][0]["part_id"] == "FAN-120"


def test_the_list_filters_by_pile_model_supplier_text_and_active(suppliers):
    api = suppliers
    api.post("/parts", json=FAN | {"suppliers": [{"supplier_id": "ACME", "price": 37, "lead_time_days": 21}]})
    api.post("/parts", json={"id": "CABLE-DC", "name": "DC cable set", "compatible_models": ["T-DC120"],
                             "active": False})
    ids = lambda **query: [p["id"] for p in api.get("/parts", params=query).json()["data"]]  # noqa: E731
    assert ids() == ["CABLE-DC", "FAN-120"]
    assert ids(model_id="T-AC22") == ["FAN-120"]
    assert ids(supplier_id="ACME") == ["FAN-120"]
    assert ids(q="cable") == ["CABLE-DC"]
    assert ids(q="%") == []                                  # a wildcard is text, not a pattern
    assert ids(active=True) == ["FAN-120"]
    assert api.get("/parts", params={"limit": 1}).json()["count"] == 2


def test_a_part_shows_only_usable_stock_on_hand(suppliers, db):
    api = suppliers
    api.post("/parts", json=FAN)
    db.execute("INSERT INTO stock_locations (id, kind, name) VALUES ('WH-1', 'warehouse', 'Main warehouse')")
    set_stock(db, "WH-1", "FAN-120", 4)
    set_stock(db, "WH-1/quarantine", "FAN-120", 3)           # not issuable, so not on hand
    set_stock(db, "WH-1/receiving", "FAN-120", 2)
    assert api.get("/parts/FAN-120").json()["on_hand"] == 4


def test_a_part_refuses_an_unknown_pile_model_alternate_or_supplier_naming_it(suppliers):
    api = suppliers
    for body, field, name in ((FAN | {"compatible_models": ["T-AC22", "NOPE-1"]}, "compatible_models", "NOPE-1"),
                              (FAN | {"alternates": ["GHOST"]}, "alternates", "GHOST"),
                              (FAN | {"alternates": ["FAN-120"]}, "alternates", "FAN-120"),
                              (FAN | {"suppliers": [{"supplier_id": "NOBODY", "price": 1, "lead_time_days": 1}]},
                               "supplier_id", "NOBODY")):
        response = api.post("/parts", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith(field) and name in response.json()["detail"]
    # Nothing of the refused attempts was kept.
    assert api.get("/parts").json()["count"] == 0
    assert api.post("/parts", json=FAN | {"id": "bad/id"}).status_code == 422
    assert api.post("/parts", json=FAN).status_code == 201
    taken = api.post("/parts", json=FAN)
    assert taken.status_code == 409 and "FAN-120" in taken.json()["detail"]


def test_a_part_is_updated_its_lists_replaced_and_its_supplier_listings_changed(suppliers):
    api = suppliers
    api.post("/parts", json={"id": "FAN-100", "name": "Cabinet fan 100 mm"})
    api.post("/parts", json=FAN | {"alternates": ["FAN-100"]})
    changed = api.patch("/parts/FAN-120", json={"unit_cost": 44.0, "compatible_models": ["T-DC120"],
                                                "alternates": [], "active": False})
    assert changed.status_code == 200, changed.text
    part = changed.json()
    assert (part["unit_cost"], part["compatible_models"], part["alternates"], part["active"]) == (
        44.0, ["T-DC120"], [], False)
    assert part["name"] == FAN["name"]                        # untouched
    assert api.patch("/parts/FAN-120", json={"compatible_models": ["NOPE"]}).status_code == 422
    assert api.patch("/parts/NOPE", json={"name": "x"}).status_code == 404
    listed = api.put("/parts/FAN-120/suppliers/BOLT", json={"price": 41.0, "lead_time_days": 10})
    assert [(s["supplier_id"], s["price"]) for s in listed.json()["suppliers"]] == [("BOLT", 41.0)]
    relisted = api.put("/parts/FAN-120/suppliers/BOLT", json={"price": 40.0, "lead_time_days": 12,
                                                              "supplier_part_number": "B-120"})
    assert [(s["price"], s["lead_time_days"], s["supplier_part_number"]) for s in relisted.json()["suppliers"]] == [
        (40.0, 12, "B-120")]
    assert api.delete("/parts/FAN-120/suppliers/BOLT").json()["suppliers"] == []
    assert api.delete("/parts/FAN-120/suppliers/BOLT").status_code == 404


def test_suppliers_are_created_updated_listed_and_read(suppliers):
    api = suppliers
    assert api.post("/suppliers", json={"id": "ACME", "name": "Again"}).status_code == 409
    assert api.post("/suppliers", json={"id": "X", "name": "X", "email": "not-an-address"}).status_code == 422
    updated = api.patch("/suppliers/BOLT", json={"phone": "+49 40 555", "active": False})
    assert updated.status_code == 200 and updated.json()["phone"] == "+49 40 555"
    assert updated.json()["updated_by"] == "admin" and updated.json()["name"] == "Bolt & Co"
    assert [s["id"] for s in api.get("/suppliers", params={"active": True}).json()["data"]] == ["ACME"]
    assert [s["id"] for s in api.get("/suppliers", params={"q": "bolt"}).json()["data"]] == ["BOLT"]
    assert api.get("/suppliers/NOPE").status_code == 404
    assert api.patch("/suppliers/NOPE", json={"name": "x"}).status_code == 404


def test_office_roles_read_the_catalogue_and_only_stores_roles_write_it(suppliers, client_for):
    api = suppliers
    api.post("/parts", json=FAN)
    viewer, keeper, engineer = client_for("viewer"), client_for("parts_keeper"), client_for("engineer")
    assert viewer.get("/parts/FAN-120").status_code == 200
    assert viewer.patch("/parts/FAN-120", json={"name": "x"}).status_code == 403
    assert engineer.get("/parts").status_code == 403
    renamed = keeper.patch("/parts/FAN-120", json={"name": "Fan 120"})
    assert renamed.status_code == 200 and renamed.json()["updated_by"].startswith("parts_keeper")
