"""The HTTP side of issue 3: alarms, work orders (with timeline, alarms, checklist and
SLA clocks), rules and maintenance windows; illegal moves and invalid rules are refused
with clear errors."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from maintenance.alarms import conditions
from tests.maint import fast_policy
from tests.test_conditions import report, ruleset


@pytest.fixture
def api(client_for):
    """A supervisor, Anna: takes fault calls, moves orders, edits rules."""
    return client_for("supervisor", "anna")


def fault_report(api, pile, **extra):
    return api.post("/work-orders", json={"pile_id": pile, "fault_category": "user_interface",
                                          "title": "Screen dark", "severity": "minor"} | extra)


def test_a_fault_reported_by_hand_opens_an_order_with_its_clocks_and_timeline(api, db, fleet):
    created = fault_report(api, fleet[0])
    assert created.status_code == 201
    order = created.json()
    assert (order["kind"], order["state"], order["created_by"], order["priority"]) == ("corrective", "new", "anna", 3)
    assert order["response"]["status"] == "ok" and order["sla"] == "ok"
    due = datetime.fromisoformat(order["response"]["due_at"]) - datetime.fromisoformat(order["created_at"])
    assert due == timedelta(hours=24 * 0.75)  # minor, gold customer
    assert [t["to_state"] for t in order["timeline"]] == ["new"]
    again = fault_report(api, fleet[0], title="Still dark")
    assert again.status_code == 200 and again.json()["id"] == order["id"]
    assert again.json()["timeline"][-1]["note"] == "reported again by anna: Still dark"


def test_an_unknown_pile_or_a_bad_body_is_refused_with_a_reason(api, db, fleet):
    assert fault_report(api, "NOPE").status_code == 404
    bad = fault_report(api, fleet[0], severity="apocalyptic")
    assert bad.status_code == 422 and "severity" in bad.json()["detail"]


def test_moves_are_recorded_with_who_and_an_illegal_one_is_a_409_naming_the_allowed_ones(api, db, fleet):
    order_id = fault_report(api, fleet[0]).json()["id"]
    moved = api.post(f"/work-orders/{order_id}/transitions", json={"to": "ready_for_dispatch", "note": "needs a visit"})
    assert moved.status_code == 200 and moved.json()["state"] == "ready_for_dispatch"
    illegal = api.post(f"/work-orders/{order_id}/transitions", json={"to": "closed"})
    assert illegal.status_code == 409
    assert "cannot go from ready_for_dispatch to closed" in illegal.json()["detail"]
    assert "assigned" in illegal.json()["detail"]
    timeline = api.get(f"/work-orders/{order_id}").json()["timeline"]
    assert [(t["actor"], t["to_state"]) for t in timeline] == [("anna", "new"), ("anna", "ready_for_dispatch")]
    assert api.post("/work-orders/999/transitions", json={"to": "triage"}).status_code == 404


def test_work_orders_filter_by_state_kind_pile_site_priority_and_sla(api, db, fleet):
    first = fault_report(api, fleet[0]).json()["id"]
    fault_report(api, fleet[1], fault_category="connector", severity="critical")
    db.execute("UPDATE work_orders SET created_at = created_at - interval '30 hours', "
               "response_due_at = response_due_at - interval '30 hours' WHERE id = %s", (first,))
    site = db.execute("SELECT site_id FROM piles WHERE id = %s", (fleet[0],)).fetchone()[0]
    assert api.get("/work-orders").json()["count"] == 2
    assert [o["id"] for o in api.get("/work-orders", params={"sla": "breached"}).json()["data"]] == [first]
    assert api.get("/work-orders", params={"priority": 1}).json()["data"][0]["pile_id"] == fleet[1]
    assert api.get("/work-orders", params={"pile_id": fleet[0], "kind": "corrective"}).json()["count"] == 1
    assert all(o["site_id"] == site for o in api.get("/work-orders", params={"site_id": site}).json()["data"])
    assert api.get("/work-orders", params={"state": ["new", "triage"]}).json()["count"] == 2
    assert api.get("/work-orders", params={"sla": "nonsense"}).status_code == 422


def test_alarms_are_listed_filtered_acknowledged_once_and_commented(api, db, fleet):
    report(db, fleet[0], online=False)
    conditions.evaluate(db, ruleset("{id: offline, kind: offline, category: connectivity, severity: major}"),
                        fast_policy())
    listed = api.get("/alarms", params={"state": "active", "severity": "major", "pile_id": fleet[0]}).json()
    assert listed["count"] == 1
    alarm_id = listed["data"][0]["id"]
    assert api.get("/alarms", params={"severity": "critical"}).json()["count"] == 0
    assert api.post(f"/alarms/{alarm_id}/ack", json={"note": "site says router reboot"}).status_code == 204
    again = api.post(f"/alarms/{alarm_id}/ack")
    assert again.status_code == 409 and "anna" in again.json()["detail"]
    assert api.post(f"/alarms/{alarm_id}/comments", json={"text": "called the site"}).status_code == 201
    detail = api.get(f"/alarms/{alarm_id}").json()
    assert detail["acknowledged_by"] == "anna"
    assert [e["action"] for e in detail["events"]] == ["raised", "acknowledged", "comment"]
    assert api.get("/alarms/999").status_code == 404


def test_rules_are_edited_one_by_one_and_an_invalid_one_is_refused_with_reasons(api, db, fleet):
    listed = api.get("/rules").json()
    assert listed["count"] >= 16 and listed["version"] > 0
    rule = {"id": "cabinet.hot", "kind": "threshold", "metric": "temp_internal_c", "raise_at": 70, "clear_at": 60,
            "for_s": 30, "category": "thermal", "severity": "major"}
    assert api.post("/rules", json=rule).status_code == 201
    assert api.post("/rules", json=rule).status_code == 409
    inverted = api.put("/rules/cabinet.hot", json=rule | {"clear_at": 75})
    assert inverted.status_code == 422 and "clear_at (75.0) must be below raise_at" in inverted.json()["detail"]
    clash = api.post("/rules", json={"id": "ground2", "kind": "error_code", "error_code": "GroundFailure",
                                     "category": "electrical", "severity": "critical"})
    assert clash.status_code == 422 and "GroundFailure" in clash.json()["detail"]
    assert api.put("/rules/cabinet.hot", json=rule | {"raise_at": 72}).json()["raise_at"] == 72
    assert api.get("/rules/cabinet.hot").json()["raise_at"] == 72
    assert api.delete("/rules/cabinet.hot").status_code == 204
    assert api.get("/rules/cabinet.hot").status_code == 404
    history = api.get("/rules/history").json()
    assert [(h["rule_id"], h["action"], h["actor"]) for h in history[:3]] == [
        ("cabinet.hot", "deleted", "anna"), ("cabinet.hot", "updated", "anna"),
        ("cabinet.hot", "created", "anna")]


def test_maintenance_windows_are_planned_listed_and_cancelled(api, db, fleet):
    now = datetime.now(timezone.utc)
    body = {"site_id": "SITE-1", "starts_at": now.isoformat(), "ends_at": (now + timedelta(hours=2)).isoformat(),
            "reason": "PM visit"}
    created = api.post("/maintenance/windows", json=body)
    assert created.status_code == 201 and created.json()["active"] is True
    assert api.post("/maintenance/windows", json=body | {"pile_id": fleet[0]}).status_code == 422
    assert api.post("/maintenance/windows", json=body | {"ends_at": body["starts_at"]}).status_code == 422
    assert api.post("/maintenance/windows", json=body | {"site_id": "SITE-9"}).status_code == 422
    assert [w["id"] for w in api.get("/maintenance/windows", params={"pile_id": fleet[1]}).json()] == [created.json()["id"]]  # on SITE-1
    assert api.get("/maintenance/windows", params={"pile_id": fleet[0]}).json() == []  # on SITE-2
    assert api.delete(f"/maintenance/windows/{created.json()['id']}").status_code == 204
    assert api.delete(f"/maintenance/windows/{created.json()['id']}").status_code == 409
    assert api.get("/maintenance/windows").json() == []


def test_an_installation_job_is_scheduled_for_a_pile(api, db, fleet):
    due = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    created = api.post("/work-orders/installations", json={"pile_id": fleet[0], "title": "Install and commission",
                                                           "due_at": due})
    assert created.status_code == 201
    assert (created.json()["kind"], created.json()["state"], created.json()["sla"]) == ("installation", "new", "none")
    assert api.post("/work-orders/installations", json={"pile_id": "NOPE", "title": "x"}).status_code == 404


def engineer_on(db, order_id, state):
    """Order `order_id` offered to engineer E1 and, for `state` past assigned, accepted and under way."""
    from maintenance.dispatch import offers as dispatch
    from maintenance.orders.lifecycle import WorkOrderState as S
    from maintenance.orders.lifecycle import transition

    db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{AC,DC,HV}', '{north}', 52.5, 13.3)")
    transition(db, order_id, S.READY_FOR_DISPATCH, actor="rules")
    dispatch.override(db, order_id, "E1", actor="desk", reason="regular")
    if state == "assigned":
        return
    dispatch.accept(db, order_id, "E1")
    for to in {"en_route": [S.EN_ROUTE], "on_site": [S.EN_ROUTE, S.ON_SITE]}[state]:
        transition(db, order_id, to, actor="eva")


@pytest.mark.parametrize("order_state, to, endpoint", [
    ("assigned", "accepted", "/field/work-orders/{id}/accept"),
    ("on_site", "resolved", "/field/work-orders/{id}/complete"),
])
def test_a_dispatcher_cannot_make_the_engineers_moves_and_is_told_the_endpoint_that_does(
        api, db, fleet, order_state, to, endpoint):
    order_id = fault_report(api, fleet[0]).json()["id"]
    engineer_on(db, order_id, order_state)

    refused = api.post(f"/work-orders/{order_id}/transitions", json={"to": to})

    assert refused.status_code == 409
    assert endpoint.replace("{id}", str(order_id)) in refused.json()["detail"]
    assert api.get(f"/work-orders/{order_id}").json()["state"] == order_state


def test_a_dispatcher_holds_sends_back_and_cancels_by_hand_and_the_engineer_is_released(api, db, fleet):
    order_id = fault_report(api, fleet[0]).json()["id"]
    engineer_on(db, order_id, "en_route")

    for to in ("on_hold", "ready_for_dispatch", "on_hold", "triage", "cancelled"):
        moved = api.post(f"/work-orders/{order_id}/transitions", json={"to": to})
        assert moved.status_code == 200, moved.json()
    assert db.execute("SELECT state, engineer_id FROM work_orders WHERE id = %s", (order_id,)).fetchone() == (
        "cancelled", None)
    assert db.execute("SELECT state FROM assignments").fetchall() == [("withdrawn",)]


def test_only_a_verified_order_is_closed_by_hand(api, db, fleet):
    from maintenance.orders.lifecycle import WorkOrderState as S
    from maintenance.orders.lifecycle import transition

    order_id = fault_report(api, fleet[0]).json()["id"]
    transition(db, order_id, S.ESCALATED, actor="rules")
    refused = api.post(f"/work-orders/{order_id}/transitions", json={"to": "closed"})
    assert refused.status_code == 409 and "escalation-decision" in refused.json()["detail"]
    for to in (S.READY_FOR_DISPATCH, S.RESOLVED, S.VERIFIED):
        transition(db, order_id, to, actor="verification")
    assert api.post(f"/work-orders/{order_id}/transitions", json={"to": "closed"}).json()["state"] == "closed"


def test_the_fault_form_offers_exactly_the_categories_a_report_may_name(api, fleet):
    # Issue 12, item 7: the console's list comes from here, so it never offers one the API refuses.
    names = api.get("/work-orders/fault-categories").json()
    assert "other" in names and "electrical" in names and "mechanical" not in names
    assert names == sorted(names)
    for name in names[:3]:
        made = api.post("/work-orders", json={"pile_id": fleet[0], "fault_category": name, "title": "reported"})
        assert made.status_code == 201, made.text
    refused = api.post("/work-orders", json={"pile_id": fleet[0], "fault_category": "mechanical", "title": "x"})
    assert refused.status_code == 422
