"""Whatever a caller sends, the API answers with a 4xx naming the field, never a 5xx, and
never quietly ignores what it did not understand (issue 11, items 13 and 14): unknown query
parameters, numbers PostgreSQL cannot hold, NUL characters, references to records that do
not exist, the wrong media type, routes that do not exist. One error shape everywhere:
``{"error": …, "detail": …}``. tests/test_api_fuzz.py tries the rest of each kind."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import psycopg
import pytest

HUGE = "25198466758245576704"          # the number schemathesis found: beyond bigint
BEYOND_BIGINT = str(2**63)


def _error(response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert body["detail"].startswith(f"{field}:"), body["detail"]
    return body["detail"]


# --- item 13: no 5xx from any input ---

def test_it_answers_a_webhook_for_an_empty_customer_id_with_422_naming_customer_id(api, fleet):
    response = api.post("/webhooks", json={"url": "https://ops.example.com/hook", "customer_id": ""})
    _error(response, 422, "customer_id")


def test_it_answers_a_webhook_for_a_customer_that_does_not_exist_with_422_naming_customer_id(api, fleet):
    response = api.post("/webhooks", json={"url": "https://ops.example.com/hook", "customer_id": "CUST-404"})
    assert "CUST-404" in _error(response, 422, "customer_id")


@pytest.mark.parametrize("path", ["/piles", "/work-orders", "/alarms", "/ingest/dead-letters", "/deliveries",
                                  "/maintenance/inspections", "/piles/TP-0001/telemetry"])
@pytest.mark.parametrize("offset", [HUGE, BEYOND_BIGINT])
def test_it_answers_an_offset_beyond_bigint_with_422_naming_offset(api, fleet, path, offset):
    _error(api.get(path, params={"offset": offset}), 422, "offset")


@pytest.mark.parametrize("method, path, field", [
    ("GET", "/work-orders/{n}", "order_id"),
    ("GET", "/alarms/{n}", "alarm_id"),
    ("POST", "/alarms/{n}/ack", "alarm_id"),
    ("GET", "/webhooks/{n}", "webhook_id"),
    ("DELETE", "/maintenance/windows/{n}", "window_id"),
    ("GET", "/work-orders/{n}/assignments", "order_id"),
])
@pytest.mark.parametrize("number", [HUGE, "-" + HUGE])
def test_it_answers_an_id_beyond_bigint_in_a_path_with_422_naming_it(api, fleet, method, path, field, number):
    _error(api.request(method, path.format(n=number)), 422, field)


def test_it_answers_a_nul_in_a_search_with_422_naming_q(api, fleet):
    _error(api.get("/search?q=%00"), 422, "q")


@pytest.mark.parametrize("path, field", [
    ("/piles?site_id=SITE%001", "site_id"),
    ("/work-orders?pile_id=TP%00", "pile_id"),
    ("/piles/TP-0001%00", "pile_id"),
    ("/alarms?rule_id=fan%00", "rule_id"),
    ("/maintenance/plans?model_id=%00", "model_id"),
])
def test_it_answers_a_nul_in_any_query_or_path_parameter_with_422_naming_it(api, fleet, path, field):
    _error(api.get(path), 422, field)


FAULT = {"pile_id": "TP-0001", "fault_category": "cooling", "title": "Fan noise"}


@pytest.mark.parametrize("method, path, body, field", [
    ("POST", "/work-orders", {**FAULT, "title": "Fan\u0000noise"}, "title"),
    ("POST", "/work-orders", {**FAULT, "pile_id": "TP-0001\u0000"}, "pile_id"),
    ("POST", "/work-orders", {**FAULT, "description": "\u0000"}, "description"),
    ("PUT", "/maintenance/plans/pm-ac", {"name": "AC", "kind": "AC", "interval_days": 120,
                                         "checklist": ["Clean", "Tighten\u0000"]}, "checklist.1"),
])
def test_it_answers_a_nul_in_a_json_body_with_422_naming_where_it_is(api, fleet, method, path, body, field):
    _error(api.request(method, path, json=body), 422, field)
    assert api.get("/work-orders").json()["count"] == 0
    assert api.get("/maintenance/plans/pm-ac").status_code == 404


@pytest.mark.parametrize("path, raw, field", [
    ("/piles", '{"id": "TP-9999", "serial": "S", "model_id": "\\ud800", "site_id": "SITE-1"}', "model_id"),
    ("/piles", '{"id": "TP-9999", "serial": "S", "model_id": "T-AC22", "site_id": "SITE-1", "firmware": "1.\\udc00"}',
     "firmware"),
    ("/maintenance/windows", '{"site_id": "\\uDBFF", "starts_at": "2030-01-01T00:00:00Z", '
                             '"ends_at": "2030-01-01T02:00:00Z", "reason": "PM"}', "site_id"),
    ("/work-orders", '{"pile_id": "\\ud83d", "fault_category": "thermal", "title": "Hot"}', "pile_id"),
])
def test_it_answers_a_lone_surrogate_in_a_json_body_with_422_naming_where_it_is(api, fleet, path, raw, field):
    # JSON lets "\ud800" stand alone; no UTF-8 text (so no PostgreSQL column) can hold it.
    response = api.post(path, content=raw, headers={"Content-Type": "application/json"})
    _error(response, 422, field)
    assert "surrogate" in response.json()["detail"]


def test_a_surrogate_pair_in_a_json_body_is_a_character_and_stored(api, fleet):
    created = api.post("/work-orders", content='{"pile_id": "TP-0001", "fault_category": "thermal", '
                                               '"title": "Hot \\ud83d\\udd25"}',
                       headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    assert created.json()["title"] == "Hot \U0001f525"


@pytest.mark.parametrize("path, field", [
    ("/rules/history?limit=-1", "limit"),
    ("/rules/history?limit=0", "limit"),
    ("/maintenance/compliance?from=2000-01-01T00:00:00%2B16:00", "from"),
    ("/kpis?to=2026-01-01T00:00:00-23:00", "to"),
    ("/kpis?to=0001-01-01T00:00:00Z", "to"),
    ("/maintenance/schedule?to=9999-12-31T00:00:00Z", "to"),
    ("/piles/TP-0001/telemetry?to=0001-01-02T00:00:00Z", "to"),
])
def test_it_answers_a_limit_or_time_postgresql_cannot_take_with_422_naming_it(api, fleet, path, field):
    _error(api.get(path), 422, field)


def test_it_answers_a_nul_in_a_form_with_422_naming_the_field(anonymous):
    _error(anonymous.post("/auth/token", data={"username": "ad\u0000min", "password": "x"}), 422, "username")


PLAN = {"id": "pm-ac", "name": "AC", "kind": "AC", "interval_days": 120, "checklist": ["Exterior cleaning"]}


@pytest.mark.parametrize("field, value", [("sessions", 2**31), ("plug_cycles", 2**40), ("sessions", int(HUGE)),
                                          ("energy_kwh", "1e400"), ("operating_hours", "1e999")])
def test_it_answers_numbers_beyond_the_columns_range_in_a_plan_with_422_naming_the_field(api, fleet, field, value):
    # Sent as written: JSON's 1e400 is a number Python reads as infinity.
    body = json.dumps(PLAN)[:-1] + f', "{field}": {value}}}'
    _error(api.post("/maintenance/plans", content=body, headers={"Content-Type": "application/json"}), 422, field)
    assert api.get("/maintenance/plans/pm-ac").status_code == 404


@pytest.mark.parametrize("statement, params, status, field", [
    ("INSERT INTO sites (id, customer_id, name, region, lat, lon) VALUES ('S', '', 'n', 'r', 0, 0)", None,
     422, "customer_id"),
    ("INSERT INTO customers (id, name, tier) VALUES ('CUST-1', 'again', 'gold')", None, 409, "id"),
    ("INSERT INTO customers (id, tier) VALUES ('CUST-9', 'gold')", None, 422, "name"),
    ("INSERT INTO maintenance_plans (id, name, kind, sessions, created_by, updated_by) "
     "VALUES ('p', 'p', 'AC', 0, 't', 't')", None, 422, "sessions"),
    ("INSERT INTO maintenance_plans (id, name, kind, sessions, created_by, updated_by) "
     "VALUES ('p', 'p', 'AC', %s, 't', 't')", (2**40,), 422, "a value in the request"),
    ("SELECT 1 LIMIT %s", (int(HUGE),), 422, "a value in the request"),
    ("SELECT %s::text", ("a\x00b",), 422, "a value in the request"),
    ("SELECT %s::int", ("seven",), 422, "a value in the request"),
])
def test_it_maps_each_database_refusal_to_a_4xx_naming_the_field(db, fleet, statement, params, status, field):
    from api.app import database_error

    with pytest.raises(psycopg.Error) as refused:
        db.execute(statement, params)
    code, error, detail = database_error(refused.value)
    assert (code, detail.split(":")[0]) == (status, field), detail
    assert error == ("conflict" if status == 409 else "invalid_input")


def test_it_leaves_a_failure_of_the_database_itself_a_5xx(db):
    from api.app import database_error

    db.execute("SET statement_timeout = 10")
    with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:
        db.execute("SELECT pg_sleep(1)")
    with pytest.raises(psycopg.errors.QueryCanceled):
        database_error(cancelled.value)


# --- item 14: unknown query parameters are a 422; one error shape everywhere ---

@pytest.fixture
def two_customers(db, fleet):
    """A second customer with a site and a pile, an order and an alarm on each customer's pile."""
    from maintenance.orders.lifecycle import open_corrective

    db.execute("INSERT INTO customers (id, name, tier) VALUES ('CUST-2', 'Harbour Taxis', 'standard')")
    db.execute("INSERT INTO sites (id, customer_id, name, region, lat, lon, environment) VALUES "
               "('SITE-9', 'CUST-2', 'Taxi rank', 'north', 52.5, 13.4, '{}')")
    db.execute("INSERT INTO piles (id, serial, model_id, site_id) VALUES ('TP-9001', 'SN-9001', 'T-AC22', 'SITE-9')")
    orders = {}
    for customer, pile in (("CUST-1", fleet[0]), ("CUST-2", "TP-9001")):
        orders[customer], _ = open_corrective(db, pile, "cooling", title="Fan stopped", priority=2, actor="rules",
                                              severity="major")
        now = datetime.now(timezone.utc)
        db.execute("INSERT INTO alarms (pile_id, rule_id, fault_category, severity, first_seen, last_seen) "
                   "VALUES (%s, 'fan', 'cooling', 'major', %s, %s)", (pile, now, now))
    return orders


def test_it_lists_only_the_customers_work_orders_when_filtered_by_customer(api, two_customers):
    listed = api.get("/work-orders", params={"customer_id": "CUST-2"}).json()
    assert [o["id"] for o in listed["data"]] == [two_customers["CUST-2"]]
    assert listed["count"] == 1
    assert api.get("/work-orders", params={"customer_id": "CUST-404"}).json()["count"] == 0
    assert api.get("/work-orders").json()["count"] == 2


def test_it_lists_only_the_customers_alarms_when_filtered_by_customer(api, two_customers):
    listed = api.get("/alarms", params={"customer_id": "CUST-2"}).json()
    assert [a["pile_id"] for a in listed["data"]] == ["TP-9001"]
    assert api.get("/alarms", params={"customer_id": "CUST-1"}).json()["count"] == 1
    assert api.get("/alarms").json()["count"] == 2


def test_it_computes_kpis_for_one_customer_when_filtered_by_customer(api, two_customers):
    assert api.get("/kpis").json()["orders_opened"] == 2
    assert api.get("/kpis", params={"customer_id": "CUST-2"}).json()["orders_opened"] == 1
    assert api.get("/kpis", params={"customer_id": "CUST-404"}).json()["orders_opened"] == 0
    series = api.get("/kpis/series", params={"period": "day", "count": 2, "customer_id": "CUST-2"}).json()
    assert series["customer_id"] == "CUST-2"
    assert [k["orders_opened"] for k in series["data"]] == [0, 1]


@pytest.mark.parametrize("path, unknown", [
    ("/work-orders", "customer"),
    ("/work-orders", "customerid"),
    ("/alarms", "colour"),
    ("/piles", "page"),
    ("/kpis", "customer"),
    ("/maintenance/plans", "site_id"),
    ("/fleet/health", "site_id"),
    ("/piles/TP-0001", "verbose"),
])
def test_it_refuses_an_unknown_query_parameter_with_422_naming_it(api, fleet, path, unknown):
    detail = _error(api.get(path, params={unknown: "CUST-1"}), 422, unknown)
    assert "takes" in detail


def test_it_names_the_parameters_an_endpoint_takes_when_refusing_an_unknown_one(api, fleet):
    detail = _error(api.get("/work-orders", params={"customer": "CUST-1"}), 422, "customer")
    assert "customer_id" in detail and "pile_id" in detail
    detail = _error(api.get("/fleet/health", params={"x": "1"}), 422, "x")
    assert detail.endswith("takes: none")


def test_it_answers_an_unknown_route_in_the_same_error_shape(api):
    response = api.get("/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "no such endpoint: GET /no-such-thing"}


def test_it_answers_a_method_the_route_does_not_take_in_the_same_error_shape(api):
    response = api.delete("/piles")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert "GET" in response.json()["detail"] and "POST" in response.json()["detail"]


@pytest.mark.parametrize("kwargs, sent", [
    ({"data": {"pile_id": "TP-0001", "fault_category": "cooling", "title": "Fan"}},
     "application/x-www-form-urlencoded"),
    ({"content": b"pile_id=TP-0001", "headers": {"Content-Type": "text/plain"}}, "text/plain"),
])
def test_it_tells_a_json_endpoint_sent_something_else_that_it_wants_json(api, fleet, kwargs, sent):
    response = api.post("/work-orders", **kwargs)
    detail = _error(response, 415, "body")
    assert response.json()["error"] == "unsupported_media_type"
    assert "wants JSON" in detail and sent in detail


def test_it_tells_the_login_sent_json_that_it_wants_a_form(anonymous):
    response = anonymous.post("/auth/token", json={"username": "admin", "password": "x"})
    detail = _error(response, 415, "body")
    assert "wants a form" in detail and "username" in detail and "password" in detail


def test_it_declares_its_error_shape_for_every_operation(app):
    document = app.openapi()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            declared = operation["responses"]
            for status in ("422", "default"):
                assert declared[status]["content"]["application/json"]["schema"] == \
                    {"$ref": "#/components/schemas/ErrorPublic"}, (method, path, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


# --- unknown fields in a JSON body are refused, like unknown query parameters ---

def _open_objects(document: dict) -> list[str]:
    """Every object schema reachable from a JSON request body that takes fields it does not
    list (additionalProperties not false), as "METHOD /path: Schema"."""
    schemas = document["components"]["schemas"]
    found: list[str] = []

    def walk(schema: dict, where: str, seen: set[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas[name], f"{where}: {name}", seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for part in schema.get(key, []):
                walk(part, where, seen)
        if "properties" in schema:
            if schema.get("additionalProperties") is not False:
                found.append(where)
            for field in schema["properties"].values():
                walk(field, where, seen)
        if "items" in schema:
            walk(schema["items"], where, seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                walk(body["schema"], f"{method.upper()} {path}", set())
    return found


def test_every_json_body_refuses_fields_it_does_not_know(app):
    assert _open_objects(app.openapi()) == []


@pytest.mark.parametrize("method, path, body, unknown", [
    ("post", "/piles", {"id": "TP-9001", "serial": "SN-9001", "model_id": "T-AC22", "site_id": "SITE-1",
                        "firmwre": "1.0"}, "firmwre"),  # a misspelt field
    ("post", "/engineers", {"id": "E9", "name": "Nina", "home_lat": 52.5, "home_lon": 13.4, "vehicle": "van"}, "vehicle"),
    ("post", "/work-orders", {"pile_id": "TP-0001", "fault_category": "cable", "title": "smoke", "priority": "high"},
     "priority"),
])
def test_it_refuses_an_unknown_field_in_a_json_body_with_422_naming_it(api, fleet, method, path, body, unknown):
    assert _error(getattr(api, method)(path, json=body), 422, unknown) == f"{unknown}: Extra inputs are not permitted"
