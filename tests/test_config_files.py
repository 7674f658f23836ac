"""The API applies the same configuration files as `pilecare maintenance`: the dispatch file
(PILECARE_DISPATCH_FILE) for a dispatch pass, a hand assignment and an engineer's decline,
and the policy file (PILECARE_POLICY_FILE) for SLA warnings and inspection findings."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml
from fastapi.testclient import TestClient

from api import accounts
from api.app import create_app
from maintenance.dispatch import matching
from maintenance import policy as policies
from tests.conftest import PASSWORD, _login
from tests.test_dispatch_api import EVA, ready_order

NOW = datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def _now():
    # "Now" of each test, not of the module's import: a long suite runs this file many minutes
    # after collecting it, maybe on the next day.
    global NOW
    NOW = datetime.now(timezone.utc)


@pytest.fixture
def configured(settings, db, fleet, tmp_path):
    """The API started with a dispatch file whose offers expire after 60 s and which escalates
    at the first refusal, and a policy with amber at half a clock and 7-hour minor responses."""
    dispatch_file = tmp_path / "dispatch.yaml"
    config = yaml.safe_load(matching.load().model_dump_json())
    dispatch_file.write_text(yaml.safe_dump(config | {"accept_timeout_s": 60, "max_offers": 1}))
    policy_file = tmp_path / "policy.yaml"
    policy = yaml.safe_load(policies.load().model_dump_json())
    policy["sla"]["warn_at"] = 0.5
    policy["sla"]["targets"]["minor"] = {"response_h": 7, "resolve_h": 70}
    policy_file.write_text(yaml.safe_dump(policy))
    app = create_app(settings.model_copy(update={"dispatch_file": str(dispatch_file),
                                                 "policy_file": str(policy_file)}))
    accounts.create(db, "sam", role=accounts.Role.SUPERVISOR, full_name="Sam", password=PASSWORD, actor="test")
    with TestClient(app) as supervisor:
        _login(supervisor, "sam")
        assert supervisor.post("/engineers", json=EVA).status_code == 201
        assert supervisor.post("/engineers/eva/shifts", json={
            "starts_at": (NOW - timedelta(hours=1)).isoformat(),
            "ends_at": (NOW + timedelta(hours=8)).isoformat()}).status_code == 201
        accounts.create(db, "eva-phone", role=accounts.Role.ENGINEER, full_name="Eva", password=PASSWORD,
                        actor="test", engineer_id="eva")
        yield supervisor, _login(TestClient(app), "eva-phone")


def offer_window_s(assignment: dict) -> float:
    return (datetime.fromisoformat(assignment["accept_by"])
            - datetime.fromisoformat(assignment["assigned_at"])).total_seconds()


def test_a_dispatch_pass_offers_with_the_configured_timeout(configured, db):
    supervisor, _ = configured
    order_id = ready_order(db)
    assert supervisor.post("/dispatch/run").json()["offered"]
    [offer] = supervisor.get(f"/work-orders/{order_id}/assignments").json()
    assert offer_window_s(offer) == pytest.approx(60, abs=2)  # the shipped file says 900


def test_a_hand_assignment_uses_the_configured_timeout(configured, db):
    supervisor, _ = configured
    order_id = ready_order(db)
    offer = supervisor.post(f"/work-orders/{order_id}/assign", json={"engineer_id": "eva", "reason": "she asked"})
    assert offer.status_code == 201, offer.text
    assert offer_window_s(offer.json()) == pytest.approx(60, abs=2)


def test_an_engineers_decline_counts_against_the_configured_number_of_offers(configured, db):
    supervisor, phone = configured
    order_id = ready_order(db)
    supervisor.post("/dispatch/run")
    declined = phone.post(f"/field/work-orders/{order_id}/decline", json={"reason": "van broke down"})
    assert declined.status_code == 200, declined.text
    # max_offers: 1 in the file (3 shipped): the first refusal escalates to the supervisor.
    assert declined.json()["state"] == "escalated"


def test_the_console_turns_amber_at_the_configured_share_of_a_clock(configured):
    supervisor, phone = configured
    assert supervisor.get("/work-orders/sla-policy").json() == {"warn_at": 0.5}
    assert phone.get("/work-orders/sla-policy").json() == {"warn_at": 0.5}


def test_an_inspection_finding_opens_its_order_with_the_configured_minor_clocks(configured, db):
    supervisor, _ = configured
    db.execute("UPDATE piles SET commissioned_on = %s", ((NOW - timedelta(days=400)).date(),))
    db.execute("UPDATE sites SET created_at = %s", (NOW - timedelta(days=100),))
    supervisor.post("/maintenance/plan-now")
    round_id = supervisor.get("/maintenance/inspections", params={"site_id": "SITE-1"}).json()["data"][0]["id"]
    finding = supervisor.post(f"/maintenance/inspections/{round_id}/findings", json={
        "pile_id": "TP-0004", "item": "Cable and connector", "needs_repair": True, "fault_category": "connector"})
    assert finding.status_code == 201, finding.text
    order = supervisor.get(f"/work-orders/{finding.json()['corrective_order_id']}").json()
    response_window = datetime.fromisoformat(order["response_due_at"]) - datetime.fromisoformat(order["created_at"])
    assert response_window == timedelta(hours=7)  # the shipped policy gives minor faults 24 h
