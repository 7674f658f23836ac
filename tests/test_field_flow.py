"""Acceptance for issue 4: a simulated fault flows all the way through the real broker,
ingest, maintenance worker (rules, dispatch, notifications) and API — alarm → order →
offered to the best qualified on-shift engineer with the score breakdown stored → MQTT
notice on the engineer's phone → a decline reassigns → accept → en route → arrive →
diagnosis → parts → test → complete with a full report → verified from telemetry →
closed. Refusals along the way come back with clear errors."""
from __future__ import annotations

import json
import queue
import threading
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as paho
import pytest

from gateway.topics import Topics
from simulators.faults import FaultKind
from simulators.fleetgen import load_fleet
from simulators.runner import Simulation
from tests.devices import wait_for
from tests.maint import fast_policy, running_worker, use_rules
from tests.factories import set_stock

RULES = """
rules:
  - {id: error.GroundFailure, kind: error_code, error_code: GroundFailure, category: electrical, severity: major}
"""
SITE = (52.52, 13.40)  # where tests/factories.py puts every pile
REPORT = {"fault_cause": "insulation of the DC+ cable chafed at the gland", "action_taken": "replaced the cable",
          "customer_opinion": "quick and tidy", "customer_rating": 5, "customer_signoff_name": "J. Meyer"}


@pytest.fixture
def crew(db):
    """Engineers around the depot; only Eva and Fay are qualified, on shift and in region."""
    now = datetime.now(timezone.utc)
    db.execute(
        "INSERT INTO engineers (id, name, phone, skills, regions, home_lat, home_lon) VALUES "
        "('E1', 'Eva', '+49 1', '{AC,HV}', '{north}', 52.60, 13.50),"      # qualified, 11 km
        "('E2', 'Noah', '+49 2', '{AC}', '{north}', 52.521, 13.401),"      # next door, no high-voltage ticket
        "('E3', 'Otto', '+49 3', '{AC,HV}', '{north}', 52.53, 13.41),"     # close, but his shift starts tomorrow
        "('E4', 'Sven', '+49 4', '{AC,HV}', '{south}', 52.525, 13.405),"   # close, other region
        "('E5', 'Fay', '+49 5', '{AC,HV}', '{north}', 52.70, 13.70)")      # qualified, 30 km
    for engineer, starts in (("E1", -1), ("E2", -1), ("E3", 20), ("E4", -1), ("E5", -1)):
        db.execute("INSERT INTO engineer_shifts (engineer_id, starts_at, ends_at) VALUES (%s, %s, %s)",
                   (engineer, now + timedelta(hours=starts), now + timedelta(hours=starts + 9)))
    db.execute("INSERT INTO parts (id, name, unit_cost) VALUES ('CABLE-DC', 'DC cable set', 180)")
    db.execute("INSERT INTO stock_locations (id, kind, name, engineer_id) VALUES ('VAN-E5', 'van', 'Fay''s van', 'E5')")
    set_stock(db, "VAN-E5", "CABLE-DC", 1)


@pytest.fixture
def maintenance(settings):
    # Faults go straight to dispatch: no remote reset first.
    with running_worker(settings, fast_policy(clear_after_s=1, verify_s=2,
                                              triage={"categories": [], "attempts": 0, "wait_s": 1})) as policy:
        yield policy


class Phone:
    """An engineer's phone: a real MQTT subscription to their work-order topic."""

    def __init__(self, settings, engineer_id: str):
        self.messages: queue.Queue = queue.Queue()
        target = settings.mqtt()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"phone-{engineer_id}",
                                  protocol=paho.MQTTv5)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, msg: self.messages.put(json.loads(msg.payload))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            Topics(settings.topic_prefix).engineer_work_orders(engineer_id), qos=1)
        self.client.username_pw_set(target.username, target.password)  # the broker takes no anonymous clients
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        assert subscribed.wait(10), "the phone did not subscribe"

    def next(self, event: str, timeout: float = 20) -> dict:
        deadline = datetime.now() + timedelta(seconds=timeout)
        while datetime.now() < deadline:
            try:
                message = self.messages.get(timeout=0.5)
            except queue.Empty:
                continue
            if message["event"] == event:
                return message
        raise AssertionError(f"no {event} reached the phone within {timeout} s")

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def state_of(db, order_id):
    return db.execute("SELECT state, engineer_id FROM work_orders WHERE id = %s", (order_id,)).fetchone()


def test_a_simulated_fault_is_dispatched_repaired_verified_and_closed(
        settings, db, fleet, crew, ingest, maintenance, client_for):
    use_rules(db, RULES)
    db.execute("UPDATE pile_models SET reporting_interval_s = 1")
    pile = fleet[1]  # an AC pile at the north depot
    eva, fay = client_for("engineer", "eva", engineer_id="E1"), client_for("engineer", "fay", engineer_id="E5")
    noah = client_for("engineer", "noah", engineer_id="E2")
    phones = {e: Phone(settings, e) for e in ("E1", "E5")}
    sim = Simulation(settings, load_fleet(db, 2), interval=0.5, seed=3).start()
    try:
        wait_for(lambda: db.execute("SELECT online FROM pile_state WHERE pile_id = %s", (pile,)).fetchone() == (True,),
                 timeout=20, message="the pile online")
        sim.inject(pile, FaultKind.GROUND_FAULT, connector_id=1)

        # Offered to Eva: the nearest engineer who is qualified, on shift and in region.
        offer = phones["E1"].next("assignment.offered")
        order_id = offer["work_order_id"]
        assert state_of(db, order_id) == ("assigned", "E1")
        score = db.execute("SELECT score FROM assignments WHERE work_order_id = %s AND engineer_id = 'E1'",
                           (order_id,)).fetchone()[0]
        assert score["checked"]["skills"] == {"needed": ["AC", "HV"], "missing": [], "ok": True}
        assert score["checked"]["on_shift"] and score["checked"]["region"]["ok"]
        assert score["qualified_engineers"] == 2 and 10 < score["travel"]["km"] < 20
        assert set(score["terms"]) == {"travel", "sla", "priority", "workload", "parts"}

        # Noah may not touch it: for him it does not exist.
        refused = noah.post(f"/field/work-orders/{order_id}/accept")
        assert refused.status_code == 404 and refused.json()["detail"] == f"work order {order_id} does not exist"

        # Eva declines; the next pass offers it to Fay, the other qualified engineer.
        assert eva.post(f"/field/work-orders/{order_id}/decline", json={"reason": "van in the garage"}).status_code == 200
        phones["E5"].next("assignment.offered")
        wait_for(lambda: state_of(db, order_id) == ("assigned", "E5"), timeout=10, message="offered to Fay")
        assert eva.get(f"/work-orders/{order_id}").status_code == 404

        # An illegal step: completing before even accepting.
        early = fay.post(f"/field/work-orders/{order_id}/complete", json=REPORT)
        assert early.status_code == 409 and "assigned" in early.json()["detail"]

        assert fay.post(f"/field/work-orders/{order_id}/accept").json()["state"] == "accepted"
        assert fay.post(f"/field/work-orders/{order_id}/accept").status_code == 409
        eta = (datetime.now(timezone.utc) + timedelta(minutes=25)).isoformat()
        assert fay.post(f"/field/work-orders/{order_id}/en-route", json={"eta": eta}).json()["state"] == "en_route"
        far = fay.post(f"/field/work-orders/{order_id}/arrive", json={"lat": 52.70, "lon": 13.70})
        assert far.status_code == 409 and "km from pile" in far.json()["detail"]
        assert fay.post(f"/field/work-orders/{order_id}/arrive",
                        json={"lat": SITE[0] + 0.0005, "lon": SITE[1]}).json()["state"] == "on_site"
        assert fay.post(f"/field/work-orders/{order_id}/diagnosis", json={
            "diagnosis": "DC+ cable insulation chafed, ground fault", "cause_class": "material"}).json()["warranty"] \
            == "in_warranty"
        assert fay.post(f"/field/work-orders/{order_id}/parts", json={
            "part_id": "CABLE-DC", "quantity": 1, "location_id": "VAN-E5", "defective_returned": True}).status_code == 201
        assert fay.post(f"/field/work-orders/{order_id}/test", json={"passed": True, "notes": "insulation 500 MΩ"}
                        ).status_code == 200

        incomplete = fay.post(f"/field/work-orders/{order_id}/complete",
                              json={k: v for k, v in REPORT.items() if k != "customer_signoff_name"})
        assert incomplete.status_code == 422 and "customer sign-off name" in incomplete.json()["detail"]

        sim.clear(pile)
        done = fay.post(f"/field/work-orders/{order_id}/complete", json=REPORT)
        assert done.status_code == 200 and done.json()["state"] == "resolved"
        wait_for(lambda: state_of(db, order_id)[0] == "closed", timeout=30, interval=0.3,
                 message="verified from telemetry and closed")
    finally:
        sim.stop()
        for phone in phones.values():
            phone.close()

    timeline = [r[0] for r in db.execute(
        "SELECT to_state FROM work_order_events WHERE work_order_id = %s AND from_state IS DISTINCT FROM to_state "
        "ORDER BY id", (order_id,))]
    assert timeline == ["new", "ready_for_dispatch", "assigned", "ready_for_dispatch", "assigned", "accepted",
                        "en_route", "on_site", "resolved", "verified", "closed"]
    assert db.execute("SELECT engineer_id, state FROM assignments WHERE work_order_id = %s ORDER BY id",
                      (order_id,)).fetchall() == [("E1", "declined"), ("E5", "done")]
    assert db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E5'").fetchone() == (0,)
    report = fay.get(f"/work-orders/{order_id}/report").json()
    assert report["report"]["customer_signoff_name"] == "J. Meyer" and report["parts"][0]["defective_returned"]
    # The customer heard when Fay would arrive.
    assert db.execute("SELECT count(*) FROM outbox WHERE event = 'arrival.eta' AND work_order_id = %s",
                      (order_id,)).fetchone()[0] == 1


def test_out_of_warranty_work_waits_for_the_customers_approval_of_the_quote(db, fleet, crew, client_for):
    from maintenance.orders.lifecycle import WorkOrderState as S
    from maintenance.orders.lifecycle import open_corrective, transition

    pile = fleet[1]
    db.execute("UPDATE piles SET warranty_end = '2024-01-01' WHERE id = %s", (pile,))
    order_id, _ = open_corrective(db, pile, "electrical", title="Ground fault", priority=2, actor="rules",
                                  severity="major")
    for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
        transition(db, order_id, to, actor="dispatch")
    db.execute("UPDATE work_orders SET engineer_id = 'E5' WHERE id = %s", (order_id,))
    db.execute("INSERT INTO assignments (work_order_id, engineer_id, assigned_by) VALUES (%s, 'E5', 'dispatch')",
               (order_id,))
    fay, agent = client_for("engineer", "fay", engineer_id="E5"), client_for("agent", "anna")
    fay.post(f"/field/work-orders/{order_id}/accept")
    fay.post(f"/field/work-orders/{order_id}/en-route",
             json={"eta": (datetime.now(timezone.utc) + timedelta(minutes=10)).isoformat()})
    fay.post(f"/field/work-orders/{order_id}/arrive", json={"lat": SITE[0], "lon": SITE[1]})
    diagnosis = fay.post(f"/field/work-orders/{order_id}/diagnosis",
                         json={"diagnosis": "cable cut by a vehicle", "cause_class": "external"})
    assert diagnosis.json()["warranty"] == "out_of_warranty"

    part = {"part_id": "CABLE-DC", "quantity": 1, "location_id": "VAN-E5"}
    refused = fay.post(f"/field/work-orders/{order_id}/parts", json=part)
    assert refused.status_code == 409 and "quote" in refused.json()["detail"]
    quote = fay.post(f"/field/work-orders/{order_id}/quote",
                     json={"parts": [{"part_id": "CABLE-DC", "quantity": 1}], "labour_h": 1.5, "travel_km": 30})
    assert quote.status_code == 201 and quote.json()["state"] == "pending"
    assert float(quote.json()["total"]) == 180 + 1.5 * 85 + 30 * 0.9
    assert fay.post(f"/quotes/{quote.json()['id']}/decision",
                    json={"approve": True, "approver_name": "J. Meyer"}).status_code == 403  # not the engineer's call
    approved = agent.post(f"/quotes/{quote.json()['id']}/decision", json={"approve": True, "approver_name": "J. Meyer"})
    assert approved.json()["state"] == "approved" and approved.json()["decided_by"] == "anna"
    assert fay.post(f"/field/work-orders/{order_id}/parts", json=part).status_code == 201
