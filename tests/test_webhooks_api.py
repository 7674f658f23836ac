"""Admins register webhook endpoints (the secret is shown once), see every delivery's
attempts and last error, see failing endpoints disabled with the reason, re-enable them
and retry dead deliveries. Nobody else may."""
from __future__ import annotations

from datetime import timedelta

import pytest

from api.accounts import Role
from maintenance.outbox.delivery import RetryPolicy, deliver_due, fan_out
from maintenance.outbox.transports import WebhookTransport, verify_signature
from maintenance.outbox.events import Event, enqueue
from pilecare.embedded import free_port
from tests.test_deliveries import Receiver

TINY = RetryPolicy(max_attempts=2, disable_after_dead=1)


@pytest.fixture
def engineer(db, fleet):
    db.execute("INSERT INTO engineers (id, name, home_lat, home_lon) VALUES ('E1', 'Eva', 52.5, 13.3)")
    return "E1"


@pytest.fixture
def transports():
    transport = WebhookTransport(timeout_s=5)
    yield {"webhook": transport}
    transport.close()


def offer(db):
    return enqueue(db, Event.ASSIGNMENT_OFFERED, {"accept_by": "2030-01-01T10:00:00Z"}, engineer_id="E1")


def deliver_until_dead(db, transports, policy=TINY):
    fan_out(db)
    now = db.execute("SELECT clock_timestamp()").fetchone()[0]
    for _ in range(policy.max_attempts):
        deliver_due(db, transports, now, policy=policy)
        now += timedelta(hours=2)


def test_an_admin_registers_an_endpoint_and_sees_the_secret_only_once(api, fleet):
    created = api.post("/webhooks", json={"url": "https://ops.example.com/hook", "events": ["assignment.offered"],
                                          "description": "ops board"})
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 30
    assert (hook["active"], hook["events"], hook["created_by"]) == (True, ["assignment.offered"], "admin")
    listed = api.get("/webhooks").json()
    assert listed["count"] == 1 and "secret" not in listed["data"][0]
    assert "secret" not in api.get(f"/webhooks/{hook['id']}").json()


@pytest.mark.parametrize("body, message", [
    ({"url": "ftp://example.com/x"}, "url: Value error, must be an http:// or https:// URL with a host"),
    ({"url": "not a url"}, "url: Value error, must be an http:// or https:// URL with a host"),
    ({"url": "https://x.example", "events": ["pile.exploded"]}, "events.0: Input should be"),
    ({"url": "https://x.example", "customer_id": "CUST-1", "events": ["work_order.escalated"]},
     "a customer's endpoint receives only arrival.eta, work_order.updated; not work_order.escalated"),
    ({"url": "https://x.example", "customer_id": "NOPE"}, "customer 'NOPE' does not exist"),
])
def test_a_bad_endpoint_is_refused_with_the_reason(api, fleet, body, message):
    response = api.post("/webhooks", json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.DISPATCHER, Role.AGENT, Role.VIEWER])
def test_only_admins_manage_webhooks(client_for, role):
    client = client_for(role)
    assert client.get("/webhooks").status_code == 403
    assert client.post("/webhooks", json={"url": "https://x.example"}).status_code == 403
    assert client.get("/deliveries?state=dead").status_code == 403


def test_a_receiver_verifies_deliveries_with_the_secret_it_was_given(api, db, engineer, transports):
    receiver = Receiver()
    try:
        secret = api.post("/webhooks", json={"url": receiver.url()}).json()["secret"]
        offer(db)
        fan_out(db)
        deliver_due(db, transports)
    finally:
        receiver.close()
    [got] = receiver.requests
    assert verify_signature(secret, got.headers["X-Pilecare-Signature"], got.body)


def test_a_failing_endpoint_shows_its_attempts_and_error_then_disabled_then_retried(api, db, engineer, transports):
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens
    hook = api.post("/webhooks", json={"url": url}).json()["id"]
    offer(db)
    fan_out(db)
    deliver_due(db, transports, policy=TINY)
    [pending] = api.get(f"/webhooks/{hook}/deliveries?state=pending").json()["data"]
    assert (pending["attempts"], pending["last_status"], pending["event"]) == (1, None, "assignment.offered")
    assert pending["last_error"].startswith(f"cannot connect to {url}")
    assert pending["next_attempt_at"] is not None

    deliver_until_dead(db, transports)
    webhook = api.get(f"/webhooks/{hook}").json()
    assert (webhook["active"], webhook["dead"], webhook["pending"], webhook["consecutive_dead"]) == (False, 1, 0, 1)
    assert webhook["disabled_reason"].startswith("disabled after 1 dead deliveries in a row; last error: cannot")
    dead = api.get("/deliveries?state=dead").json()
    assert dead["count"] == 1 and dead["data"][0]["url"] == url and dead["data"][0]["attempts"] == 2
    delivery_id = dead["data"][0]["id"]

    refused = api.post(f"/deliveries/{delivery_id}/retry")
    assert refused.status_code == 409 and "re-enable the webhook first" in refused.json()["detail"]
    enabled = api.patch(f"/webhooks/{hook}", json={"active": True}).json()
    assert (enabled["active"], enabled["consecutive_dead"], enabled["disabled_reason"]) == (True, 0, None)
    retried = api.post(f"/deliveries/{delivery_id}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    assert api.post(f"/deliveries/{delivery_id}/retry").status_code == 409
    assert api.post("/deliveries/999/retry").status_code == 404


def test_an_admin_changes_events_deactivates_rotates_the_secret_and_deletes(api, db, engineer):
    hook = api.post("/webhooks", json={"url": "https://x.example/h"}).json()
    changed = api.patch(f"/webhooks/{hook['id']}", json={"events": ["arrival.eta"], "active": False}).json()
    assert (changed["events"], changed["active"]) == (["arrival.eta"], False)
    assert changed["disabled_reason"] == "deactivated by admin"
    rotated = api.post(f"/webhooks/{hook['id']}/secret").json()["secret"]
    assert rotated != hook["secret"]
    assert db.execute("SELECT secret FROM webhooks").fetchone()[0] == rotated
    offer(db)
    fan_out(db)
    assert api.get(f"/webhooks/{hook['id']}/deliveries").json()["count"] == 0  # inactive: nothing fanned out
    assert api.delete(f"/webhooks/{hook['id']}").status_code == 204
    assert api.get(f"/webhooks/{hook['id']}").status_code == 404
    assert api.delete(f"/webhooks/{hook['id']}").status_code == 404
