"""Outbox deliveries: assignments reach the engineer's phone over MQTT, integrations and
customers get signed webhooks; failures are retried with a growing delay, recorded, and
end dead and visible; an endpoint that keeps failing is disabled; deliverers in parallel
deliver each event once."""
from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.topics import Topics
from maintenance.outbox import delivery as deliver
from maintenance.outbox.delivery import Deliverer, RetryPolicy, deliver_due, fan_out
from maintenance.outbox.transports import MqttTransport, TransportError, WebhookTransport, verify_signature
from maintenance.outbox.events import Event, enqueue
from maintenance.orders.lifecycle import open_corrective
from pilecare.embedded import free_port
from pilecare.errors import Conflict, NotFound
from pilecare.settings import Settings
from tests.parallel import in_parallel

SECRET = "whsec_test-secret"
TINY = RetryPolicy(max_attempts=3, disable_after_dead=2)


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A real HTTP endpoint on a local port that answers with scripted statuses."""

    def __init__(self, statuses=(), default: int = 200, error_body: bytes = b"database is down"):
        self.statuses, self.default = list(statuses), default
        self.requests: list[Received] = []
        lock, receiver = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else error_body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def engineers(db, fleet):
    db.execute("INSERT INTO engineers (id, name, skills, regions, home_lat, home_lon) VALUES "
               "('E1', 'Eva', '{AC,DC}', '{north}', 52.5, 13.3), ('E2', 'Emil', '{AC}', '{north}', 52.5, 13.3)")
    db.execute("INSERT INTO customers (id, name, tier) VALUES ('CUST-2', 'Harbour Parking', 'standard')")
    return ["E1", "E2"]


@pytest.fixture
def webhooks():
    transport = WebhookTransport(timeout_s=5)
    yield {"webhook": transport}
    transport.close()


def add_webhook(db, url, *, events=(), customer_id=None, secret=SECRET) -> int:
    return db.execute("INSERT INTO webhooks (url, secret, events, customer_id, created_by) VALUES (%s, %s, %s, %s, "
                      "'test') RETURNING id", (url, secret, list(events), customer_id)).fetchone()[0]


def offer(db, engineer_id="E1", **payload) -> int:
    return enqueue(db, Event.ASSIGNMENT_OFFERED, {"accept_by": "2030-01-01T10:00:00Z", **payload},
                   engineer_id=engineer_id)


def run_once(db, transports, now=None, policy=deliver.DEFAULT_POLICY) -> int:
    fan_out(db)
    return deliver_due(db, transports, now, policy=policy)


def fanned_out(db) -> datetime:
    """Fan out what is waiting; returns the database's time just after (a `now` they are due at)."""
    fan_out(db)
    return db.execute("SELECT clock_timestamp()").fetchone()[0]


def delivery(db, channel="webhook", **where) -> dict:
    where = {"channel": channel, **where}
    clause = " AND ".join(f"{k} = %s" for k in where)
    cur = db.execute(f"SELECT id, state, attempts, next_attempt_at, last_status, last_error, delivered_at "
                     f"FROM deliveries WHERE {clause} ORDER BY id", tuple(where.values()))
    rows = [dict(zip([c.name for c in cur.description], r)) for r in cur.fetchall()]
    assert len(rows) == 1, rows
    return rows[0]


class Phone:
    """The engineer's app: a paho subscriber on the test broker."""

    def __init__(self, settings: Settings, engineer_id: str):
        self.messages: queue.Queue = queue.Queue()
        subscribed = threading.Event()
        target = settings.mqtt()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"phone-{engineer_id}-{id(self):x}")
        self.client.on_message = lambda c, u, msg: self.messages.put((msg.topic, json.loads(msg.payload)))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            Topics(settings.topic_prefix).engineer_work_orders(engineer_id), qos=1)
        self.client.username_pw_set(target.username, target.password)  # the broker takes no anonymous clients
        self.client.connect(target.host, target.port)
        self.client.loop_start()
        assert subscribed.wait(5), "the phone did not subscribe"

    def next(self, timeout=5.0):
        return self.messages.get(timeout=timeout)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


# --- MQTT to the engineer -------------------------------------------------------------

def test_an_assignment_offer_reaches_the_engineers_phone_over_mqtt_within_moments(db, settings, engineers):
    order_id, _ = open_corrective(db, "TP-0002", "cooling", title="Fan stopped", priority=2, actor="rules")
    phone = Phone(settings, "E1")
    stop = threading.Event()
    worker = threading.Thread(target=deliver.run, args=(settings, stop), kwargs={"poll_s": 5}, daemon=True)
    worker.start()
    try:
        time.sleep(0.3)  # the deliverer is listening; NOTIFY must wake it well before its 5 s poll
        started = time.monotonic()
        outbox_id = enqueue(db, Event.ASSIGNMENT_OFFERED, {"work_order_id": order_id, "pile_id": "TP-0002"},
                            work_order_id=order_id, engineer_id="E1")
        topic, message = phone.next()
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        worker.join(10)
        phone.close()
    assert topic == f"{settings.topic_prefix}/engineers/E1/work-orders"
    assert message["id"] == outbox_id and message["event"] == "assignment.offered"
    assert message["work_order_id"] == order_id and message["data"]["pile_id"] == "TP-0002"
    assert delivery(db, channel="mqtt")["state"] == "delivered"


def test_only_the_engineer_concerned_gets_it_and_escalations_do_not_go_to_phones(db, settings, engineers):
    e1, e2 = Phone(settings, "E1"), Phone(settings, "E2")
    offer(db, "E1")
    enqueue(db, Event.ESCALATED, {"reason": "smoke"}, engineer_id="E2")
    deliverer = Deliverer(settings, transports={"mqtt": MqttTransport(settings)})
    try:
        assert deliverer.tick() == 3  # two rows fanned out, one delivery sent
        assert e1.next()[1]["event"] == "assignment.offered"
        with pytest.raises(queue.Empty):
            e2.next(timeout=0.5)
    finally:
        deliverer.close()
        e1.close()
        e2.close()
    assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1


def test_an_update_of_an_order_reaches_the_engineer_holding_it(db, settings, engineers):
    order_id, _ = open_corrective(db, "TP-0002", "cooling", title="Fan stopped", priority=2, actor="rules")
    db.execute("UPDATE work_orders SET engineer_id = 'E2' WHERE id = %s", (order_id,))
    enqueue(db, Event.WORK_ORDER_UPDATED, {"quote_id": 1, "approved": True}, work_order_id=order_id,
            customer_id="CUST-1")
    phone = Phone(settings, "E2")
    deliverer = Deliverer(settings, transports={"mqtt": MqttTransport(settings)})
    try:
        deliverer.tick()
        assert phone.next()[1]["data"] == {"quote_id": 1, "approved": True}
    finally:
        deliverer.close()
        phone.close()


def test_a_broker_that_cannot_be_reached_is_a_failed_attempt_with_a_readable_error(db, settings, engineers):
    offer(db)
    away = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{free_port()}"})
    transport = MqttTransport(away, timeout_s=1)
    try:
        run_once(db, {"mqtt": transport})
    finally:
        transport.close()
    d = delivery(db, channel="mqtt")
    assert (d["state"], d["attempts"]) == ("pending", 1)
    assert "cannot reach the MQTT broker at 127.0.0.1" in d["last_error"]


# --- signed webhooks ------------------------------------------------------------------

def test_a_webhook_carries_a_signature_that_verifies_and_fails_for_any_tampering(db, engineers, receiver, webhooks):
    add_webhook(db, receiver.url())
    outbox_id = offer(db)
    assert run_once(db, webhooks) == 1
    [got] = receiver.requests
    signature = got.headers["X-Pilecare-Signature"]
    assert got.headers["X-Pilecare-Event"] == "assignment.offered"
    assert got.headers["X-Pilecare-Delivery"] == str(delivery(db, channel="webhook")["id"])
    assert got.headers["Content-Type"] == "application/json"
    assert got.json["id"] == outbox_id and got.json["engineer_id"] == "E1"

    assert verify_signature(SECRET, signature, got.body)
    assert not verify_signature(SECRET, signature, got.body.replace(b"E1", b"E2"))
    assert not verify_signature("whsec_wrong", signature, got.body)
    assert not verify_signature(SECRET, signature, got.body, now=time.time() + 301)  # a replay, 5 min later
    assert not verify_signature(SECRET, None, got.body)
    assert not verify_signature(SECRET, "t=abc,v1=00", got.body)
    assert delivery(db, channel="webhook")["last_status"] == 200


def test_an_endpoint_failing_twice_is_retried_with_growing_delay_and_ends_delivered(db, engineers, webhooks):
    failing_twice = Receiver(statuses=[500, 500])
    try:
        add_webhook(db, failing_twice.url())
        offer(db)
        now = fanned_out(db)
        delays = []
        for _ in range(2):
            assert run_once(db, webhooks, now) == 1
            d = delivery(db)
            assert (d["state"], d["last_status"]) == ("pending", 500)
            assert d["last_error"] == "HTTP 500 Internal Server Error: database is down"
            delays.append(d["next_attempt_at"] - now)
            assert run_once(db, webhooks, d["next_attempt_at"] - timedelta(seconds=1)) == 0  # not due yet
            now = d["next_attempt_at"]
        assert run_once(db, webhooks, now) == 1
    finally:
        failing_twice.close()
    assert timedelta(seconds=8) <= delays[0] <= timedelta(seconds=12)
    assert delays[1] > delays[0]
    d = delivery(db)
    assert (d["state"], d["attempts"], d["last_status"], d["last_error"]) == ("delivered", 3, 200, None)
    assert len(failing_twice.requests) == 3
    assert len({r.headers["X-Pilecare-Delivery"] for r in failing_twice.requests}) == 1  # one id for the receiver


def test_an_endpoint_that_always_fails_ends_dead_and_visible_and_is_then_disabled(db, engineers, webhooks):
    broken = Receiver(default=503)
    try:
        hook = add_webhook(db, broken.url())
        offer(db, "E1")
        offer(db, "E2")
        now = fanned_out(db)
        for _ in range(TINY.max_attempts):
            assert run_once(db, webhooks, now, TINY) == 2
            now += timedelta(hours=2)
    finally:
        broken.close()
    dead = db.execute("SELECT state, attempts, last_status, last_error FROM deliveries WHERE channel = 'webhook' "
                      "ORDER BY id").fetchall()
    assert dead == [("dead", 3, 503, "HTTP 503 Service Unavailable: database is down")] * 2
    active, reason, disabled_at = db.execute(
        "SELECT active, disabled_reason, disabled_at FROM webhooks WHERE id = %s", (hook,)).fetchone()
    assert not active and disabled_at is not None
    assert reason.startswith("disabled after 2 dead deliveries in a row; last error: HTTP 503")
    offer(db)
    assert run_once(db, webhooks, now, TINY) == 0  # a disabled endpoint gets nothing new
    assert db.execute("SELECT count(*) FROM deliveries WHERE channel = 'webhook'").fetchone()[0] == 2


def test_a_success_resets_the_count_of_dead_deliveries(db, engineers, webhooks):
    flaky = Receiver(statuses=[500, 500, 500])
    try:
        hook = add_webhook(db, flaky.url())
        offer(db)
        now = fanned_out(db)
        for _ in range(TINY.max_attempts):
            run_once(db, webhooks, now, TINY)
            now += timedelta(hours=2)
        assert db.execute("SELECT consecutive_dead FROM webhooks").fetchone()[0] == 1
        offer(db)
        run_once(db, webhooks, now, TINY)
    finally:
        flaky.close()
    assert db.execute("SELECT active, consecutive_dead FROM webhooks WHERE id = %s", (hook,)).fetchone() == (True, 0)


def test_a_410_gone_is_dead_at_once(db, engineers, webhooks):
    gone = Receiver(default=410)
    try:
        add_webhook(db, gone.url())
        offer(db)
        run_once(db, webhooks)
    finally:
        gone.close()
    assert (delivery(db)["state"], delivery(db)["attempts"]) == ("dead", 1)


def test_a_refused_connection_is_a_failure_with_a_readable_error(db, engineers, webhooks):
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    add_webhook(db, url)
    offer(db)
    assert run_once(db, webhooks) == 1
    d = delivery(db)
    assert (d["state"], d["attempts"], d["last_status"]) == ("pending", 1, None)
    assert d["last_error"].startswith(f"cannot connect to {url}: ")
    assert "refused" in d["last_error"].lower()


def test_a_dead_delivery_can_be_retried_once_more_by_hand(db, engineers, webhooks, receiver):
    hook = add_webhook(db, receiver.url())
    offer(db)
    fan_out(db)
    d = delivery(db)
    db.execute("UPDATE deliveries SET state = 'dead', attempts = 12 WHERE id = %s", (d["id"],))
    with pytest.raises(NotFound):
        deliver.retry(db, 999)
    db.execute("UPDATE webhooks SET active = false WHERE id = %s", (hook,))
    with pytest.raises(Conflict, match="re-enable the webhook first"):
        deliver.retry(db, d["id"])
    db.execute("UPDATE webhooks SET active = true WHERE id = %s", (hook,))
    deliver.retry(db, d["id"])
    with pytest.raises(Conflict, match="is pending; only dead deliveries are retried"):
        deliver.retry(db, d["id"])
    assert deliver_due(db, webhooks) == 1
    assert (delivery(db)["state"], delivery(db)["attempts"]) == ("delivered", 13)


# --- who gets what --------------------------------------------------------------------

def test_the_arrival_notice_goes_only_to_that_customers_webhook(db, engineers, receiver, webhooks):
    add_webhook(db, receiver.url("/cust-1"), customer_id="CUST-1")
    add_webhook(db, receiver.url("/cust-2"), customer_id="CUST-2")
    add_webhook(db, receiver.url("/escalations"), events=["work_order.escalated"])
    enqueue(db, Event.ARRIVAL_ETA, {"eta": "2030-01-01T10:30:00+00:00"}, customer_id="CUST-1")
    enqueue(db, Event.ESCALATED, {"reason": "smoke"}, customer_id="CUST-1")  # internal: not for the customer
    offer(db)  # for the engineer and any integration subscribed to offers: none here
    assert run_once(db, webhooks) == 2
    got = sorted((r.path, r.json["event"]) for r in receiver.requests)
    assert got == [("/cust-1", "arrival.eta"), ("/escalations", "work_order.escalated")]


def test_an_integration_with_no_event_list_gets_everything(db, engineers, receiver, webhooks):
    add_webhook(db, receiver.url())
    for event in Event:
        enqueue(db, event, {}, engineer_id="E1", customer_id="CUST-2")
    assert run_once(db, webhooks) == len(Event)
    assert sorted(r.headers["X-Pilecare-Event"] for r in receiver.requests) == sorted(e.value for e in Event)


# --- several deliverers ---------------------------------------------------------------

def test_two_deliverers_at_once_deliver_each_event_once(db, database_url, engineers, receiver):
    add_webhook(db, receiver.url("/a"))
    add_webhook(db, receiver.url("/b"))
    for i in range(40):
        offer(db, n=i)

    def deliverer(conn):
        transport = WebhookTransport(timeout_s=5)
        try:
            done = 0
            while (n := fan_out(conn, limit=7) + deliver_due(conn, {"webhook": transport}, limit=5)):
                done += n
            return done
        finally:
            transport.close()

    in_parallel(database_url, deliverer, workers=2)
    ids = [r.headers["X-Pilecare-Delivery"] for r in receiver.requests]
    assert len(ids) == 80 and len(set(ids)) == 80
    assert db.execute("SELECT state, attempts, count(*) FROM deliveries WHERE channel = 'webhook' "
                      "GROUP BY 1, 2").fetchall() == [("delivered", 1, 80)]
    assert db.execute("SELECT count(*) FROM outbox WHERE fanned_out_at IS NULL").fetchone()[0] == 0


def test_a_claim_left_by_a_crashed_deliverer_comes_back_after_its_lease(db, engineers, receiver, webhooks):
    add_webhook(db, receiver.url())
    offer(db)
    now = fanned_out(db)
    policy = RetryPolicy(lease_s=60)
    [(token, claimed)] = deliver._claim(db, ["webhook"], now, 10, policy)  # …and the process dies
    assert deliver_due(db, webhooks, now + timedelta(seconds=30), policy=policy) == 0
    assert deliver_due(db, webhooks, now + timedelta(seconds=61), policy=policy) == 1
    assert delivery(db)["state"] == "delivered"
    # The late deliverer's outcome is not recorded over the new one's; its attempt counts
    # (it may have gone out before the crash).
    deliver._record(db, token, claimed, None, TransportError("late"), 5, now, policy)
    assert (delivery(db)["state"], delivery(db)["attempts"]) == ("delivered", 2)


def test_a_delivery_whose_outcome_is_never_recorded_dies_once_its_attempts_are_spent(db, engineers, webhooks):
    add_webhook(db, "http://127.0.0.1:9/never")
    offer(db)
    now = fanned_out(db)
    policy = RetryPolicy(lease_s=60, max_attempts=2)
    for crash in range(2):  # claimed, and the process dies each time before recording
        assert len(deliver._claim(db, ["webhook"], now + timedelta(seconds=61 * crash), 10, policy)) == 1
    assert deliver_due(db, webhooks, now + timedelta(seconds=200), policy=policy) == 0
    d = delivery(db)
    assert (d["state"], d["attempts"]) == ("dead", 2) and "no outcome could be recorded" in d["last_error"]


def test_an_error_body_postgresql_cannot_store_costs_no_other_delivery_its_outcome(db, engineers, webhooks, receiver):
    nul = Receiver(default=500, error_body=b"bad\x00request")
    try:
        broken, healthy = add_webhook(db, nul.url()), add_webhook(db, receiver.url())
        offer(db)
        assert run_once(db, webhooks, fanned_out(db)) == 2
    finally:
        nul.close()
    by_hook = {r[0]: r[1:] for r in db.execute(
        "SELECT webhook_id, state, attempts, last_error FROM deliveries WHERE channel = 'webhook'").fetchall()}
    assert by_hook[healthy][:2] == ("delivered", 1) and len(receiver.requests) == 1
    assert by_hook[broken] == ("pending", 1, "HTTP 500 Internal Server Error: bad\ufffdrequest")
