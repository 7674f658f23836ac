"""Notices to dispatchers and supervisors (SLA warnings and breaches, safety faults,
escalations, orders nobody qualifies for) reach their people: on the console's event
stream (and its live feed) for their role and those above it only, to webhooks subscribed
to `notice`, and on the role's MQTT topic; written once per order and kind, delivered once
per target even with two deliverers."""
from __future__ import annotations

import json
import queue
import threading
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from api import accounts
from api.accounts import Role
from maintenance.alarms.lifecycle import raise_alarm
from maintenance.alarms.rules import default
from maintenance.dispatch import offers as dispatch
from maintenance.dispatch import roster
from maintenance.orders import sla
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from maintenance.orders.policy_step import open_from_alarms
from maintenance.outbox.delivery import deliver_due, fan_out
from maintenance.outbox.notices import notify
from maintenance.outbox.transports import MqttTransport, WebhookTransport, verify_signature
from tests.maint import fast_policy
from tests.conftest import PASSWORD
from tests.parallel import in_parallel
from tests.console_fixtures import chrome, server  # noqa: F401 (fixtures: the API server and a browser)
from tests.test_deliveries import SECRET, Receiver, add_webhook
from tests.test_events import parse

POLICY = fast_policy()
DC_NORTH = "TP-0004"  # a DC120 at SITE-1, region north (tests/factories.py)


# --- helpers ----------------------------------------------------------------------------

def order(db, pile: str, *, hours_ago: float) -> int:
    """A corrective order with a 12 h response clock, opened `hours_ago` hours ago."""
    order_id, _ = open_corrective(db, pile, "thermal", title="Overheat", priority=2, actor="rules",
                                  severity="major", response_h=12.0, resolve_h=48.0)
    db.execute("UPDATE work_orders SET created_at = created_at - make_interval(secs => %(s)s), "
               "response_due_at = response_due_at - make_interval(secs => %(s)s), "
               "resolve_due_at = resolve_due_at - make_interval(secs => %(s)s) WHERE id = %(id)s",
               {"s": hours_ago * 3600, "id": order_id})
    return order_id


def breached(db, pile: str) -> int:
    """An order whose response clock ran out an hour ago, and the watchdog's pass."""
    order_id = order(db, pile, hours_ago=13)
    sla.watch(db, POLICY)
    return order_id


def notices_in(text: str) -> list[dict]:
    """The notices of an SSE body, as their envelopes."""
    return [json.loads(e["data"]) for e in parse(text) if e["event"] == "notice"]


def stream(client) -> list[dict]:
    return notices_in(client.get("/events?after=0&timeout=0.5").text)


def deliver(db, transports) -> None:
    fan_out(db)
    deliver_due(db, transports)


class StaffApp:
    """A supervisor's or dispatcher's app: a paho subscriber on the test broker."""

    def __init__(self, settings, topic: str):
        self.messages: queue.Queue = queue.Queue()
        subscribed = threading.Event()
        target = settings.mqtt()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"staff-{id(self):x}")
        self.client.on_message = lambda c, u, msg: self.messages.put((msg.topic, json.loads(msg.payload)))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.username_pw_set(target.username, target.password)  # the broker takes no anonymous clients
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        assert subscribed.wait(5), "the staff app did not subscribe"

    def next(self, timeout=5.0):
        return self.messages.get(timeout=timeout)

    def all(self, expected: int, quiet_s: float = 0.5) -> list:
        """Every message until `expected` arrived (5 s at most) and then `quiet_s` passed."""
        got, deadline = [], time.monotonic() + 5
        while len(got) < expected and time.monotonic() < deadline:
            try:
                got.append(self.messages.get(timeout=0.1))
            except queue.Empty:
                pass
        try:
            while True:
                got.append(self.messages.get(timeout=quiet_s))
        except queue.Empty:
            return got

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def staff_topic(settings, role: str) -> str:
    return f"{settings.topic_prefix}/staff/{role}/notices"


@pytest.fixture
def mqtt(settings):
    transport = MqttTransport(settings)
    yield {"mqtt": transport}
    transport.close()


@pytest.fixture
def webhooks():
    transport = WebhookTransport(timeout_s=5)
    yield {"webhook": transport}
    transport.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


# --- the console's stream -----------------------------------------------------------------

def test_an_sla_breach_reaches_supervisors_and_admins_on_the_console_stream(api, client_for, db, fleet):
    order_id = breached(db, fleet[0])

    for client in (client_for(Role.SUPERVISOR), api):
        [notice] = stream(client)
        assert notice["event"] == "notice" and notice["work_order_id"] == order_id
        data = notice["data"]
        assert (data["kind"], data["role"], data["work_order_id"], data["pile_id"]) == (
            "sla_response_breach", "supervisor", order_id, fleet[0])
        assert data["message"].startswith(f"Order {order_id} ({fleet[0]}) breached its response SLA")


def test_a_supervisors_notice_is_not_shown_to_dispatchers_agents_viewers_or_engineers(client_for, db, fleet):
    db.execute("INSERT INTO engineers (id, name, home_lat, home_lon) VALUES ('E1', 'Eva', 52.5, 13.3)")
    order_id = breached(db, fleet[0])
    db.execute("UPDATE work_orders SET engineer_id = 'E1' WHERE id = %s", (order_id,))  # even the one holding it
    for role in (Role.DISPATCHER, Role.AGENT, Role.VIEWER):
        assert stream(client_for(role)) == [], role
    assert stream(client_for(Role.ENGINEER, engineer_id="E1")) == []


def test_a_response_warning_reaches_dispatchers_and_the_supervisors_above_them(client_for, db, fleet):
    order_id = order(db, fleet[0], hours_ago=10)  # 10 of 12 hours gone
    sla.watch(db, POLICY)
    for role in (Role.DISPATCHER, Role.SUPERVISOR):
        [notice] = stream(client_for(role))
        assert (notice["data"]["kind"], notice["data"]["role"], notice["work_order_id"]) == (
            "sla_response_warning", "dispatcher", order_id)
    assert stream(client_for(Role.AGENT)) == []


def test_a_supervisor_sees_a_breach_notice_arrive_in_the_console(db, fleet, chrome):
    accounts.create(db, "sam", role=Role.SUPERVISOR, full_name="Sam Supervisor", password=PASSWORD, actor="test")
    chrome.login("sam", PASSWORD)
    chrome.wait(lambda d: chrome.js("return document.querySelector('#live').dataset.state") == "live",
                message="the live stream")
    order_id = breached(db, fleet[0])
    chrome.wait(lambda d: chrome.exists("#feed [data-event='notice']"), message="the notice in the live feed")
    assert f"Notice #{order_id}" in chrome.text("#feed [data-event='notice']")
    assert "breached its response SLA" in chrome.text("#toasts")
    assert chrome.errors() == []


# --- webhooks -------------------------------------------------------------------------------

def test_an_admin_subscribes_an_endpoint_to_notices_and_a_customers_endpoint_may_not(api, fleet):
    created = api.post("/webhooks", json={"url": "https://ops.example.com/pager", "events": ["notice"]})
    assert created.status_code == 201, created.text
    assert created.json()["events"] == ["notice"]
    refused = api.post("/webhooks", json={"url": "https://x.example", "customer_id": "CUST-1", "events": ["notice"]})
    assert refused.status_code == 422 and "not notice" in refused.json()["detail"]


def test_an_sla_breach_reaches_a_webhook_subscribed_to_notices_signed(db, fleet, receiver, webhooks):
    add_webhook(db, receiver.url("/pager"), events=["notice"])
    add_webhook(db, receiver.url("/orders"), events=["work_order.created"])
    order_id = breached(db, fleet[0])

    deliver(db, webhooks)

    pager = [r for r in receiver.requests if r.path == "/pager"]
    assert [r.headers["X-Pilecare-Event"] for r in pager] == ["notice"]
    assert verify_signature(SECRET, pager[0].headers["X-Pilecare-Signature"], pager[0].body)
    body = pager[0].json
    assert (body["event"], body["work_order_id"]) == ("notice", order_id)
    assert (body["data"]["kind"], body["data"]["role"]) == ("sla_response_breach", "supervisor")
    assert all(r.headers["X-Pilecare-Event"] != "notice" for r in receiver.requests if r.path == "/orders")


# --- MQTT -----------------------------------------------------------------------------------

def test_each_notice_reaches_its_roles_mqtt_topic(db, settings, fleet, mqtt):
    supervisors = StaffApp(settings, staff_topic(settings, "supervisor"))
    dispatchers = StaffApp(settings, staff_topic(settings, "dispatcher"))
    try:
        late = breached(db, fleet[0])
        soon = order(db, fleet[1], hours_ago=10)
        sla.watch(db, POLICY)

        deliver(db, mqtt)

        topic, message = supervisors.next()
        assert topic == f"{settings.topic_prefix}/staff/supervisor/notices"
        assert (message["event"], message["work_order_id"], message["data"]["kind"]) == (
            "notice", late, "sla_response_breach")
        topic, message = dispatchers.next()
        assert topic == f"{settings.topic_prefix}/staff/dispatcher/notices"
        assert (message["work_order_id"], message["data"]["kind"]) == (soon, "sla_response_warning")
        assert supervisors.all(0) == [] and dispatchers.all(0) == []
    finally:
        supervisors.close()
        dispatchers.close()
    assert db.execute("SELECT role, state, attempts FROM deliveries WHERE channel = 'mqtt' ORDER BY role").fetchall() \
        == [("dispatcher", "delivered", 1), ("supervisor", "delivered", 1)]


# --- exactly once -----------------------------------------------------------------------------

def test_a_notice_is_sent_once_per_order_and_kind_and_not_at_all_when_its_change_rolls_back(db, database_url, fleet):
    order_id = order(db, fleet[0], hours_ago=13)
    assert notify(db, "sla_response_breach", "supervisor", "late", work_order_id=order_id, pile_id=fleet[0])
    assert not notify(db, "sla_response_breach", "supervisor", "late again", work_order_id=order_id,
                      pile_id=fleet[0])
    with psycopg.connect(database_url) as conn:
        notify(conn, "safety", "supervisor", "Safety fault", work_order_id=order_id, pile_id=fleet[0])
        conn.rollback()
    assert db.execute("SELECT payload->>'kind', payload->>'message' FROM outbox WHERE event = 'notice'").fetchall() \
        == [("sla_response_breach", "late")]
    with pytest.raises(ValueError, match="notices go to dispatcher, supervisor, agent, not 'engineer'"):
        notify(db, "safety", "engineer", "x", work_order_id=order_id)


def test_two_watchdogs_and_two_deliverers_at_once_deliver_each_notice_once_per_target(db, database_url, settings,
                                                                                    fleet, receiver):
    add_webhook(db, receiver.url("/pager"), events=["notice"])
    add_webhook(db, receiver.url("/everything"))
    late = [order(db, pile, hours_ago=13) for pile in fleet[:8]]
    assert sum(in_parallel(database_url, lambda conn: sla.watch(conn, POLICY), workers=4)) == len(late)
    notices = [r[0] for r in db.execute("SELECT id FROM outbox WHERE event = 'notice' ORDER BY id")]
    assert len(notices) == len(late)
    supervisors = StaffApp(settings, staff_topic(settings, "+"))

    def deliverer(conn):
        transports = {"webhook": WebhookTransport(timeout_s=5), "mqtt": MqttTransport(settings)}
        try:
            while fan_out(conn, limit=3) + deliver_due(conn, transports, limit=2):
                pass
        finally:
            for transport in transports.values():
                transport.close()

    try:
        in_parallel(database_url, deliverer, workers=2)
        published = supervisors.all(len(notices))
    finally:
        supervisors.close()
    for path in ("/pager", "/everything"):
        got = [r.json["id"] for r in receiver.requests if r.path == path and r.json["event"] == "notice"]
        assert sorted(got) == notices, path
    assert sorted(message["id"] for _, message in published) == notices
    assert db.execute("SELECT channel, state, attempts, count(*) FROM deliveries WHERE outbox_id = ANY(%s) "
                      "GROUP BY 1, 2, 3 ORDER BY 1", (notices,)).fetchall() == [
        ("mqtt", "delivered", 1, 8), ("webhook", "delivered", 1, 16)]


# --- the other notices ----------------------------------------------------------------------

def test_a_safety_fault_a_rule_found_notifies_the_supervisor_on_the_stream_webhook_and_topic(
        client_for, db, settings, fleet, receiver, webhooks, mqtt):
    add_webhook(db, receiver.url("/pager"), events=["notice"])
    ground = default().by_id("error.GroundFailure")
    raise_alarm(db, fleet[0], 1, ground, at=datetime.now(timezone.utc) - timedelta(hours=1), clear_after_s=0,
                detail={"error_code": "GroundFailure"})
    supervisors = StaffApp(settings, staff_topic(settings, "supervisor"))
    try:
        [order_id] = open_from_alarms(db, POLICY, None)
        deliver(db, webhooks | mqtt)
        _, published = supervisors.next()
    finally:
        supervisors.close()
    [notice] = stream(client_for(Role.SUPERVISOR))
    [hooked] = [r.json for r in receiver.requests]
    for body in (notice, hooked, published):
        assert (body["event"], body["work_order_id"], body["data"]["kind"]) == ("notice", order_id, "safety")
        assert body["data"]["message"] == f"Safety fault GroundFailure on pile {fleet[0]}: order {order_id}"


def test_a_safety_fault_reported_by_phone_notifies_the_supervisor(api, client_for, db, fleet):
    created = api.post("/work-orders", json={"pile_id": fleet[0], "fault_category": "electrical", "safety": True,
                                             "title": "Caller felt a shock", "severity": "critical"})
    assert created.status_code == 201, created.text
    [notice] = stream(client_for(Role.SUPERVISOR))
    assert (notice["work_order_id"], notice["data"]["kind"]) == (created.json()["id"], "safety")
    assert "(reported by admin)" in notice["data"]["message"]


def test_an_order_nobody_qualifies_for_is_noticed_once_on_the_webhook_and_topic(db, settings, fleet, receiver,
                                                                                webhooks, mqtt):
    add_webhook(db, receiver.url("/pager"), events=["notice"])
    now = datetime.now(timezone.utc)
    roster.create(db, "ac-only", name="Ac-Only", home_lat=52.52, home_lon=13.41, skills=("AC",), regions=("north",))
    roster.add_shift(db, "ac-only", now - timedelta(hours=1), now + timedelta(hours=8))
    job, _ = open_corrective(db, DC_NORTH, "electrical", title="electrical fault", priority=2, actor="rules",
                             severity="major", response_h=4, resolve_h=24)
    transition(db, job, S.READY_FOR_DISPATCH, actor="rules")
    supervisors = StaffApp(settings, staff_topic(settings, "supervisor"))
    try:
        dispatch.assign(db, dispatch.load(), now=now)
        dispatch.assign(db, dispatch.load(), now=now)
        deliver(db, webhooks | mqtt)
        published = supervisors.all(1)
    finally:
        supervisors.close()
    # Once each to the dispatcher and the supervisor (issue 12, item 5); the supervisors' topic gets theirs.
    hooks = [r.json for r in receiver.requests]
    assert sorted(h["data"]["role"] for h in hooks) == ["dispatcher", "supervisor"]
    [hooked] = [h for h in hooks if h["data"]["role"] == "supervisor"]
    assert [m["id"] for _, m in published] == [hooked["id"]]
    assert (hooked["work_order_id"], hooked["data"]["kind"]) == (job, "dispatch_no_engineer")
    assert "needs DC, HV in region north" in hooked["data"]["message"]


def test_too_many_refusals_tell_the_supervisor_with_a_notice_besides_the_escalation(db, fleet):
    now = datetime.now(timezone.utc)
    config = dispatch.load().model_copy(update={"max_offers": 1})
    roster.create(db, "eva", name="Eva", home_lat=52.52, home_lon=13.41, skills=("AC", "DC", "HV"),
                  regions=("north",))
    roster.add_shift(db, "eva", now - timedelta(hours=1), now + timedelta(hours=8))
    job, _ = open_corrective(db, DC_NORTH, "electrical", title="electrical fault", priority=2, actor="rules",
                             severity="major", response_h=4, resolve_h=24)
    transition(db, job, S.READY_FOR_DISPATCH, actor="rules")
    dispatch.assign(db, config, now=now)
    dispatch.decline(db, job, "eva", "no time", config=config)
    assert db.execute("SELECT event, role, payload->>'kind' FROM outbox WHERE work_order_id = %s "
                      "AND event IN ('work_order.escalated', 'notice') ORDER BY event", (job,)).fetchall() == [
        ("notice", "supervisor", "escalation"), ("work_order.escalated", None, None)]
