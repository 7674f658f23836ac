"""The maintenance API (plans, schedule, compliance, planner runs, inspections) against
real PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from maintenance.planning import plans as pm_plans

NOW = datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def _now():
    # "Now" of each test, not of the module's import: a long suite runs this file many minutes
    # after collecting it, maybe on the next day.
    global NOW
    NOW = datetime.now(timezone.utc)
PLAN = {"id": "pm-ac-coastal", "name": "Coastal AC", "kind": "AC", "model_id": "T-AC22", "interval_days": 120,
        "energy_kwh": 10_000, "lead_days": 10, "environment_factors": {"coastal": 0.6},
        "checklist": ["Exterior cleaning", "Connector corrosion check"]}


@pytest.fixture
def overdue(db, fleet):
    """Every pile commissioned long ago, every site registered long ago: all due now."""
    db.execute("UPDATE piles SET commissioned_on = %s", ((NOW - timedelta(days=400)).date(),))
    db.execute("UPDATE sites SET created_at = %s", (NOW - timedelta(days=100),))
    return fleet


def test_a_plan_is_created_read_listed_replaced_and_deleted(api, fleet):
    created = api.post("/maintenance/plans", json=PLAN)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["environment_factors"] == {"coastal": 0.6} and body["created_by"] == "admin" and body["active"]
    assert api.get("/maintenance/plans/pm-ac-coastal").json()["checklist"] == PLAN["checklist"]
    listed = api.get("/maintenance/plans", params={"kind": "AC"}).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == "pm-ac-coastal"
    replaced = api.put("/maintenance/plans/pm-ac-coastal",
                       json={**{k: v for k, v in PLAN.items() if k != "id"}, "interval_days": 90, "active": False})
    assert replaced.status_code == 200 and replaced.json()["interval_days"] == 90 and not replaced.json()["active"]
    assert api.delete("/maintenance/plans/pm-ac-coastal").status_code == 204
    assert api.get("/maintenance/plans/pm-ac-coastal").status_code == 404


def test_an_invalid_plan_is_a_422_with_every_reason(api, fleet):
    response = api.post("/maintenance/plans", json={**PLAN, "kind": "XX", "lead_days": -1, "checklist": [],
                                                    "environment_factors": {"swampy": 0.5}})
    assert response.status_code == 422
    detail = response.json()["detail"]
    for field in ("kind", "lead_days", "checklist", "environment_factors"):
        assert field in detail
    no_trigger = {k: v for k, v in PLAN.items() if k not in ("interval_days", "energy_kwh")}
    response = api.post("/maintenance/plans", json=no_trigger)
    assert response.status_code == 422 and "at least one usage threshold" in response.json()["detail"]


def test_a_plan_for_an_unknown_or_mismatched_model_is_a_422_naming_the_model(api, fleet):
    unknown = api.post("/maintenance/plans", json={**PLAN, "model_id": "NOPE"})
    assert unknown.status_code == 422 and "NOPE" in unknown.json()["detail"]
    wrong_kind = api.post("/maintenance/plans", json={**PLAN, "model_id": "T-DC120"})
    assert wrong_kind.status_code == 422 and "DC model" in wrong_kind.json()["detail"]


def test_unknown_plans_are_404_a_repeated_id_409_and_a_plan_with_orders_cannot_be_deleted(api, overdue):
    assert api.get("/maintenance/plans/nope").status_code == 404
    assert api.put("/maintenance/plans/nope", json={k: v for k, v in PLAN.items() if k != "id"}).status_code == 404
    assert api.delete("/maintenance/plans/nope").status_code == 404
    assert api.post("/maintenance/plans", json=PLAN).status_code == 201
    assert api.post("/maintenance/plans", json=PLAN).status_code == 409
    api.post("/maintenance/plan-now")
    refused = api.delete("/maintenance/plans/pm-ac-coastal")
    assert refused.status_code == 409 and "active to false" in refused.json()["detail"]


def test_plan_now_seeds_the_default_plans_and_creates_orders_visits_and_rounds_once(api, overdue):
    first = api.post("/maintenance/plan-now").json()
    assert first["preventive"]["ran"] and len(first["preventive"]["created"]) == 20
    assert len(first["preventive"]["visits"]) == 2 and len(first["inspections"]["created"]) == 2
    assert {p["id"] for p in api.get("/maintenance/plans").json()["data"]} == {p.id for p in pm_plans.default()}
    again = api.post("/maintenance/plan-now").json()
    assert again["preventive"]["created"] == [] and again["preventive"]["already_open"] == 20
    assert again["inspections"]["created"] == []


def test_the_schedule_lists_open_orders_and_visits_by_site_and_date_range(api, overdue):
    api.post("/maintenance/plan-now")
    everything = api.get("/maintenance/schedule").json()
    assert len(everything["orders"]) == 22 and len(everything["visits"]) == 2 and everything["forecast"] == []
    site = api.get("/maintenance/schedule", params={"site_id": "SITE-1"}).json()
    assert len(site["orders"]) == 11 and {o["site_id"] for o in site["orders"]} == {"SITE-1"}
    assert [v["site_id"] for v in site["visits"]] == ["SITE-1"] and len(site["visits"][0]["orders"]) == 10
    future = api.get("/maintenance/schedule", params={"from": (NOW + timedelta(days=1)).isoformat()}).json()
    assert future["orders"] == [] and future["visits"] == []
    naive = api.get("/maintenance/schedule", params={"from": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and "timezone" in naive.json()["detail"]


def test_the_schedule_forecasts_piles_without_open_orders(api, db, fleet):
    db.execute("UPDATE piles SET commissioned_on = %s", ((NOW - timedelta(days=100)).date(),))
    pm_plans.seed_default_plans(db)
    body = api.get("/maintenance/schedule", params={"forecast": "true", "site_id": "SITE-2",
                                                    "to": (NOW + timedelta(days=60)).isoformat()}).json()
    # Coastal DC piles: 180 × 0.7 = 126 days after commissioning, 26 days from now.
    assert {f["pile_id"] for f in body["forecast"]} == {"TP-0001", "TP-0007", "TP-0013", "TP-0019"}
    assert all(f["trigger"] == "calendar" and f["factor"] == 0.7 for f in body["forecast"])


def test_compliance_reports_overdue_orders_for_the_period(api, overdue):
    api.post("/maintenance/plan-now")
    start = (NOW - timedelta(days=400)).isoformat()
    body = api.get("/maintenance/compliance", params={"from": start, "to": NOW.isoformat()}).json()
    assert body["due"] == body["overdue_open"] == 20 and body["rate"] == 0.0
    rounds = api.get("/maintenance/compliance", params={"kind": "inspection", "from": start}).json()
    assert rounds["overdue_open"] == 2 and rounds["kind"] == "inspection"  # due 90 days after registration
    empty = api.get("/maintenance/compliance", params={"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"})
    assert empty.json()["due"] == 0 and empty.json()["rate"] is None
    assert api.get("/maintenance/compliance", params={"kind": "corrective"}).status_code == 422


def test_an_inspection_finding_that_needs_a_repair_opens_a_corrective_order(api, db, overdue):
    api.post("/maintenance/plan-now")
    rounds = api.get("/maintenance/inspections", params={"site_id": "SITE-1", "open": "true"}).json()
    assert rounds["count"] == 1
    round_id = rounds["data"][0]["id"]
    response = api.post(f"/maintenance/inspections/{round_id}/findings", json={
        "pile_id": "TP-0004", "item": "Cable and connector", "observation": "Cut in the cable jacket",
        "needs_repair": True, "fault_category": "connector", "priority": 2, "recorded_by": "eng-7"})
    assert response.status_code == 201, response.text
    corrective_id = response.json()["corrective_order_id"]
    assert db.execute("SELECT kind, pile_id FROM work_orders WHERE id = %s", (corrective_id,)).fetchone() == (
        "corrective", "TP-0004")
    detail = api.get(f"/maintenance/inspections/{round_id}").json()
    assert detail["repair_count"] == 1 and detail["findings"][0]["corrective_order_id"] == corrective_id


def test_findings_are_refused_clearly(api, overdue):
    api.post("/maintenance/plan-now")
    round_id = api.get("/maintenance/inspections", params={"site_id": "SITE-1"}).json()["data"][0]["id"]
    elsewhere = api.post(f"/maintenance/inspections/{round_id}/findings",
                         json={"pile_id": "TP-0001", "item": "x", "recorded_by": "eng-7"})
    assert elsewhere.status_code == 422 and "SITE-2" in elsewhere.json()["detail"]
    no_category = api.post(f"/maintenance/inspections/{round_id}/findings",
                           json={"pile_id": "TP-0002", "item": "x", "needs_repair": True, "recorded_by": "eng-7"})
    assert no_category.status_code == 422 and "fault_category" in no_category.json()["detail"]
    assert api.post("/maintenance/inspections/999999/findings",
                    json={"pile_id": "TP-0002", "item": "x", "recorded_by": "eng-7"}).status_code == 404
    assert api.get("/maintenance/inspections/999999").status_code == 404


def test_a_site_inspection_interval_is_set_and_reset_through_the_api(api, db, fleet):
    assert api.put("/maintenance/sites/SITE-1/inspection-interval", json={"interval_days": 30}).status_code == 204
    assert db.execute("SELECT inspection_interval_days FROM sites WHERE id = 'SITE-1'").fetchone()[0] == 30
    assert api.put("/maintenance/sites/SITE-1/inspection-interval", json={"interval_days": None}).status_code == 204
    assert api.put("/maintenance/sites/NOPE/inspection-interval", json={"interval_days": 30}).status_code == 404
    assert api.put("/maintenance/sites/SITE-1/inspection-interval", json={"interval_days": 0}).status_code == 422
