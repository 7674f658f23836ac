"""Engineers and dispatch over HTTP: the roster by role (viewers without phone numbers),
shifts and positions, a dispatch pass, the offers of an order with their scores, the
engineer's answer from the phone, a dispatcher's override and the day's PM route."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition

NOW = datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def _now():
    # "Now" of each test, not of the module's import: a long suite runs this file many minutes
    # after collecting it, maybe on the next day.
    global NOW
    NOW = datetime.now(timezone.utc)


EVA = {"id": "eva", "name": "Eva Berg", "phone": "+49 30 1234", "skills": ["AC", "DC", "HV"], "regions": ["north"],
       "home_lat": 52.5, "home_lon": 13.35, "max_jobs": 2}


@pytest.fixture
def dispatcher(client_for):
    return client_for("dispatcher")


@pytest.fixture
def eva(dispatcher):
    created = dispatcher.post("/engineers", json=EVA)
    assert created.status_code == 201, created.text
    shift = dispatcher.post("/engineers/eva/shifts", json={"starts_at": (NOW - timedelta(hours=1)).isoformat(),
                                                           "ends_at": (NOW + timedelta(hours=8)).isoformat()})
    assert shift.status_code == 201, shift.text
    return dispatcher.get("/engineers/eva").json()


def ready_order(db, pile="TP-0004", category="electrical"):
    order_id, _ = open_corrective(db, pile, category, title="Ground failure", priority=1, actor="rules",
                                  severity="critical", response_h=2, resolve_h=12)
    transition(db, order_id, S.READY_FOR_DISPATCH, actor="rules")
    return order_id


def test_dispatchers_keep_the_roster_and_viewers_see_it_without_phone_numbers(api, client_for, dispatcher, eva):
    assert eva["on_shift"] is True and eva["live_jobs"] == 0
    changed = dispatcher.patch("/engineers/eva", json={"max_jobs": 4, "skills": ["AC", "DC"]})
    assert changed.status_code == 200 and changed.json()["max_jobs"] == 4
    assert dispatcher.post("/engineers", json=EVA).json()["error"] == "conflict"

    viewer = client_for("viewer")
    listed = viewer.get("/engineers").json()
    assert listed["count"] == 1 and listed["data"][0]["phone"] is None
    assert viewer.get("/engineers/eva").status_code == 403
    assert viewer.post("/engineers", json=EVA | {"id": "x"}).status_code == 403
    assert client_for("agent").get("/engineers/eva").json()["phone"] == "+49 30 1234"
    overlapping = dispatcher.post("/engineers/eva/shifts", json={"starts_at": NOW.isoformat(),
                                                                 "ends_at": (NOW + timedelta(hours=1)).isoformat()})
    assert overlapping.status_code == 409


def test_an_engineer_reports_their_position_and_reads_only_their_own_van(client_for, dispatcher, eva, fleet):
    dispatcher.post("/engineers", json=EVA | {"id": "emil", "name": "Emil"})
    phone = client_for("engineer", engineer_id="eva")
    moved = phone.put("/engineers/me/position", json={"lat": 52.51, "lon": 13.39})
    assert moved.status_code == 200 and moved.json()["lat"] == 52.51 and moved.json()["position_at"]
    assert phone.get("/engineers/eva/stock").json() == []
    assert phone.get("/engineers/emil/stock").status_code == 404
    assert phone.get("/engineers").status_code == 403


def test_a_dispatch_pass_offers_the_order_and_shows_why(db, client_for, dispatcher, eva, fleet):
    job = ready_order(db)
    phone = client_for("engineer", engineer_id="eva")
    assert phone.post("/dispatch/run").status_code == 403

    run = dispatcher.post("/dispatch/run")
    assert run.status_code == 200 and len(run.json()["offered"]) == 1

    [offer] = client_for("viewer").get(f"/work-orders/{job}/assignments").json()
    assert (offer["engineer_id"], offer["state"], offer["assigned_by"]) == ("eva", "offered", "dispatch")
    assert offer["score"]["checked"]["skills"]["needed"] == ["DC", "HV"]
    accepted = phone.post(f"/field/work-orders/{job}/accept")
    assert accepted.status_code == 200, accepted.text
    assert dispatcher.get(f"/work-orders/{job}/assignments").json()[0]["state"] == "accepted"


def test_a_dispatcher_assigns_by_hand_with_a_reason_on_record(db, dispatcher, eva, fleet):
    job = ready_order(db)
    dispatcher.post("/engineers", json=EVA | {"id": "emil", "name": "Emil", "skills": ["DC"]})

    made = dispatcher.post(f"/work-orders/{job}/assign", json={"engineer_id": "emil", "reason": "knows the site"})

    assert made.status_code == 201, made.text
    body = made.json()
    assert body["engineer_id"] == "emil" and body["assigned_by"].startswith("dispatcher-")
    assert body["score"]["override"] is True
    assert body["score"]["violations"] == ["skills: missing HV", "on_shift: not on shift"]
    unknown = dispatcher.post(f"/work-orders/{job}/assign", json={"engineer_id": "nobody", "reason": "x"})
    assert unknown.status_code == 422 and unknown.json()["error"] == "invalid_input"
    assert dispatcher.get("/work-orders/999999/assignments").status_code == 404


def test_the_days_pm_route_comes_in_driving_order(db, client_for, dispatcher, eva, fleet):
    db.execute("INSERT INTO sites (id, customer_id, name, region, lat, lon) VALUES "
               "('S-A', 'CUST-1', 'A', 'north', 52.60, 13.60), ('S-B', 'CUST-1', 'B', 'north', 52.40, 13.10), "
               "('S-C', 'CUST-1', 'C', 'north', 52.62, 13.62)")
    db.execute("INSERT INTO piles (id, serial, model_id, site_id) VALUES ('P-A', 'SN-A', 'T-AC22', 'S-A'), "
               "('P-B', 'SN-B', 'T-AC22', 'S-B'), ('P-C', 'SN-C', 'T-AC22', 'S-C')")
    db.execute("INSERT INTO work_orders (kind, pile_id, site_id, title, created_by, due_at, engineer_id) "
               "SELECT 'preventive', p, s, 'PM', 'planner', '2025-06-02 09:00Z', 'eva' "
               "FROM (VALUES ('P-A', 'S-A'), ('P-B', 'S-B'), ('P-C', 'S-C')) v(p, s)")

    route = client_for("engineer", engineer_id="eva").get("/engineers/eva/route", params={"day": "2025-06-02"})

    assert route.status_code == 200, route.text
    body = route.json()
    order = [s["site_id"] for s in body["stops"]]
    assert sorted(order) == ["S-A", "S-B", "S-C"]
    assert abs(order.index("S-A") - order.index("S-C")) == 1   # the two neighbours back to back
    assert body["km"] <= body["given_km"]
