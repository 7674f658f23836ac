"""Issue 15, item 6: the shipped broker configuration enforces the device contract's security.

Each test runs its own Mosquitto with the shipped config whose password and ACL files are
rendered from the test database and kept in step by gateway/broker_auth.py (as
`pilecare broker-auth` does), and talks to it with mosquitto_pub and paho like a pile would.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time

import pytest

from gateway import broker_auth, credentials, mqtt
from gateway.broker_auth import ServiceRole
from gateway.credentials import Protocol
from gateway.topics import Topics
from ingest.worker import IngestWorker
from pilecare.settings import parse_mqtt_url
from simulators.fleetgen import load_fleet
from simulators.inprocess import RunningWorker
from simulators.runner import Simulation, read_credentials
from tests.devices import telemetry, wait_for
from tests.services import Broker


class SecuredBroker:
    """A broker with the shipped config and a keeper thread rendering its files from PostgreSQL."""

    def __init__(self, workdir, database_url: str, prefix: str):
        self.broker = Broker(workdir, files_from_db=True)
        self.broker.start()
        self.prefix = prefix
        self.files = broker_auth.BrokerFiles(self.broker.password_file, self.broker.acl_file,
                                             broker_pid=self.broker.process.pid)
        self.stop = threading.Event()
        self.keeper = threading.Thread(target=broker_auth.keep_in_step, args=(database_url, self.files, prefix),
                                       kwargs={"stop": self.stop}, daemon=True)
        self.keeper.start()

    def url(self, username: str | None = None, password: str | None = None) -> str:
        account = f"{username}:{password}@" if username else ""
        return f"mqtt://{account}127.0.0.1:{self.broker.port}"

    def pub(self, topic: str, payload, username: str | None = None, password: str | None = None,
            *, tls: bool = False) -> subprocess.CompletedProcess:
        """mosquitto_pub, QoS 1: returns when the broker acknowledged (or refused) it."""
        port = ["-p", str(self.broker.tls_port), "--cafile", str(self.broker.ca_file)] if tls else \
            ["-p", str(self.broker.port)]
        account = ["-u", username, "-P", password] if username else []
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", *port, *account, "-q", "1", "-t", topic,
                               "-m", body, "-V", "mqttv5"], capture_output=True, text=True, timeout=20)

    def accepts(self, username: str, password: str) -> bool:
        return self.pub(f"{self.prefix}/piles/{username}/events", "{}", username, password).returncode == 0

    def close(self):
        self.stop.set()
        self.keeper.join(10)
        self.broker.stop()


@pytest.fixture
def secured(tmp_path, database_url, settings, db):
    broker = SecuredBroker(tmp_path / "broker", database_url, settings.topic_prefix)
    yield broker
    broker.close()


def account(db, role: ServiceRole) -> tuple[str, str]:
    return broker_auth.ensure_service_account(db, role, created_by="test")


def test_a_pile_cannot_publish_on_another_piles_topics_and_ingest_never_sees_it(secured, settings, db, fleet):
    a, b = fleet[0], fleet[1]
    password_a = credentials.issue(db, a, Protocol.MQTT, issued_by="test").password
    credentials.issue(db, b, Protocol.MQTT, issued_by="test")
    ingest_settings = settings.model_copy(update={"mqtt_url": secured.url(*account(db, ServiceRole.INGEST))})
    wait_for(lambda: secured.accepts(a, password_a), timeout=15, message="the broker to know pile A")
    worker = RunningWorker(IngestWorker(ingest_settings, housekeeping=False)).start()
    try:
        topics = Topics(settings.topic_prefix)
        secured.pub(topics.telemetry(b), telemetry(1), a, password_a)  # acknowledged, and dropped by the broker
        assert secured.pub(topics.telemetry(a), telemetry(1), a, password_a).returncode == 0
        wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE pile_id = %s", (a,)).fetchone()[0] > 0,
                 timeout=20, message="pile A's own message stored")
    finally:
        worker.stop()
    assert db.execute("SELECT count(*) FROM telemetry WHERE pile_id = %s", (b,)).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0


def test_a_pile_never_receives_another_piles_commands(secured, settings, db, fleet):
    a, b = fleet[0], fleet[1]
    password_a = credentials.issue(db, a, Protocol.MQTT, issued_by="test").password
    platform = account(db, ServiceRole.API)
    wait_for(lambda: secured.accepts(a, password_a), timeout=15, message="the broker to know pile A")
    topics = Topics(settings.topic_prefix)
    received, subscribed = [], threading.Event()
    target = parse_mqtt_url(secured.url(a, password_a))
    client = mqtt.client(target, f"sub-{a}")
    client.on_message = lambda c, u, msg: received.append(msg.topic)
    # Mosquitto grants the SUBSCRIBE to B's topic; its ACL is applied to every message delivered.
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_connect = lambda c, u, f, rc, p: c.subscribe([(topics.commands(b), 1), (topics.commands(a), 1)])
    mqtt.connect(client, target, persistent=False)
    client.loop_start()
    try:
        assert subscribed.wait(10), "no SUBACK"
        assert secured.pub(topics.commands(b), {"id": "for-b"}, *platform).returncode == 0
        assert secured.pub(topics.commands(a), {"id": "for-a"}, *platform).returncode == 0
        wait_for(lambda: topics.commands(a) in received, timeout=10, message="A's own command")
    finally:
        client.loop_stop()
        client.disconnect()
    assert received == [topics.commands(a)]


def test_anonymous_clients_and_wrong_passwords_are_refused_at_connect(secured, settings, db, fleet):
    password = credentials.issue(db, fleet[0], Protocol.MQTT, issued_by="test").password
    wait_for(lambda: secured.accepts(fleet[0], password), timeout=15, message="the broker to know the pile")
    topic = Topics(settings.topic_prefix).telemetry(fleet[0])
    anonymous = secured.pub(topic, telemetry(1))
    assert anonymous.returncode != 0 and "not authori" in anonymous.stderr.lower()
    wrong = secured.pub(topic, telemetry(1), fleet[0], password[::-1])
    assert wrong.returncode != 0 and "not authori" in wrong.stderr.lower()


def test_revoked_credentials_are_refused_at_connect_and_the_live_session_is_dropped(secured, settings, db, fleet):
    pile = fleet[0]
    password = credentials.issue(db, pile, Protocol.MQTT, issued_by="test").password
    wait_for(lambda: secured.accepts(pile, password), timeout=15, message="the broker to know the pile")
    target = parse_mqtt_url(secured.url(pile, password))
    session = mqtt.client(target, f"live-{pile}")
    session.reconnect_delay_set(min_delay=30, max_delay=60)  # stays down once dropped
    connected = threading.Event()
    session.on_connect = lambda c, u, f, rc, p: (not rc.is_failure) and connected.set()
    mqtt.connect(session, target, persistent=False)
    session.loop_start()
    try:
        assert connected.wait(10)
        assert credentials.revoke(db, pile, Protocol.MQTT, revoked_by="test")
        wait_for(lambda: not secured.accepts(pile, password), timeout=15, message="the revoked password refused")
        wait_for(lambda: not session.is_connected(), timeout=10, message="the live session dropped at the reload")
    finally:
        session.loop_stop()


def test_rotation_refuses_the_old_password_and_accepts_the_new_one(secured, settings, db, fleet):
    pile = fleet[0]
    old = credentials.issue(db, pile, Protocol.MQTT, issued_by="test").password
    wait_for(lambda: secured.accepts(pile, old), timeout=15, message="the broker to know the first password")
    new = credentials.issue(db, pile, Protocol.MQTT, issued_by="test").password
    wait_for(lambda: secured.accepts(pile, new), timeout=15, message="the new password accepted")
    assert not secured.accepts(pile, old)


def test_an_ocpp_password_does_not_open_the_broker(secured, settings, db, fleet):
    mqtt_password = credentials.issue(db, fleet[0], Protocol.MQTT, issued_by="test").password
    ocpp_password = credentials.issue(db, fleet[0], Protocol.OCPP, issued_by="test").password
    wait_for(lambda: secured.accepts(fleet[0], mqtt_password), timeout=15, message="the broker to know the pile")
    assert not secured.accepts(fleet[0], ocpp_password)


def test_a_pile_connects_over_tls_with_the_generated_certificate(secured, settings, db, fleet):
    password = credentials.issue(db, fleet[0], Protocol.MQTT, issued_by="test").password
    wait_for(lambda: secured.accepts(fleet[0], password), timeout=15, message="the broker to know the pile")
    sent = secured.pub(Topics(settings.topic_prefix).telemetry(fleet[0]), telemetry(1), fleet[0], password, tls=True)
    assert sent.returncode == 0, sent.stderr


def test_service_accounts_get_only_what_their_process_uses(db, settings):
    account(db, ServiceRole.INGEST)
    account(db, ServiceRole.API)
    acl = broker_auth.render(db, "p/v1").acl
    blocks = {block.splitlines()[0]: block.splitlines()[1:] for block in acl.split("\n\n")[1:]}
    assert blocks["user pilecare-ingest"] == [f"topic read p/v1/piles/+/{leaf}" for leaf in
                                              ("telemetry", "status", "events", "commands/ack", "ocpp")]
    assert blocks["user pilecare-api"] == ["topic write p/v1/piles/+/commands", "topic write p/v1/engineers/+/work-orders",
                                           "topic write p/v1/staff/+/notices"]


def test_a_pile_named_like_a_service_account_gets_no_broker_password(db, settings):
    from tests.factories import make_fleet

    make_fleet(db, piles=1)
    db.execute("INSERT INTO piles (id, serial, model_id, site_id) SELECT 'pilecare-ingest', 'SN-X', model_id, site_id "
               "FROM piles LIMIT 1")
    account(db, ServiceRole.INGEST)
    credentials.issue(db, "pilecare-ingest", Protocol.MQTT, issued_by="test")
    passwords = broker_auth.render(db, "p/v1").passwords
    assert [line.split(":")[0] for line in passwords.splitlines()] == ["pilecare-ingest"]
    assert passwords.count("pilecare-ingest:") == 1


def test_a_pile_named_like_ingests_default_client_id_gets_no_broker_password(db):
    from pilecare.settings import Settings
    from tests.factories import make_fleet

    ingest_id = Settings.model_fields["ingest_client_id"].default_factory()  # pilecare-ingest-<host>
    make_fleet(db, piles=1)
    db.execute("INSERT INTO piles (id, serial, model_id, site_id) SELECT %s, 'SN-X', model_id, site_id "
               "FROM piles LIMIT 1", (ingest_id,))
    credentials.issue(db, ingest_id, Protocol.MQTT, issued_by="test")

    passwords = broker_auth.render(db, "p/v1").passwords

    assert ingest_id not in passwords


def test_the_simulators_fleet_reports_with_per_pile_credentials(tmp_path, database_url, settings, db, fleet):
    from pilecare.run import DEVICE_CREDENTIALS, secure_local_broker

    secure_local_broker(db, tmp_path, settings.topic_prefix)
    path = tmp_path / DEVICE_CREDENTIALS
    assert path.stat().st_mode & 0o777 == 0o600
    known = read_credentials(str(path))
    assert set(known) == set(fleet)
    # A second start keeps the passwords the simulator knows (no rotation of the whole fleet);
    # the service accounts get new ones each start.
    accounts = secure_local_broker(db, tmp_path, settings.topic_prefix)
    assert read_credentials(str(path)) == known

    broker = Broker(tmp_path / "broker", files_from_db=True)  # the files secure_local_broker rendered
    broker.start()
    worker = sim = None
    try:
        url = f"mqtt://127.0.0.1:{broker.port}"
        ingest_user, ingest_password = accounts[ServiceRole.INGEST]
        worker = RunningWorker(IngestWorker(settings.model_copy(
            update={"mqtt_url": url.replace("//", f"//{ingest_user}:{ingest_password}@")}), housekeeping=False)).start()
        # No account of its own: each pile can only be in the air with its own password.
        sim = Simulation(settings.model_copy(update={"mqtt_url": url}), load_fleet(db, 5), interval=0.3,
                         credentials=known).start()
        wait_for(lambda: db.execute("SELECT count(DISTINCT pile_id) FROM telemetry").fetchone()[0] == 5, timeout=30,
                 message="all five piles reporting")
        wait_for(lambda: all(n > 0 for n in sim.published_by_pile.values()), timeout=10, message="acks for every pile")
    finally:
        if sim:
            sim.stop()
        if worker:
            worker.stop()
        broker.stop()


def test_the_broker_auth_command_sets_service_accounts_from_the_environment_and_renders(tmp_path, database_url,
                                                                                        settings, db, fleet):
    import os
    import sys

    from gateway.credentials import password_matches

    credentials.issue(db, fleet[0], Protocol.MQTT, issued_by="test")
    env = dict(os.environ, PILECARE_DATABASE_URL=database_url, PILECARE_TOPIC_PREFIX=settings.topic_prefix,
               PILECARE_BROKER_PASSWORD_INGEST="ingest-secret-123")
    done = subprocess.run([sys.executable, "-m", "pilecare.cli", "broker-auth", "--once", "--accounts-from-env",
                           "--password-file", str(tmp_path / "passwords"), "--acl-file", str(tmp_path / "acl")],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    users = dict(line.split(":", 1) for line in (tmp_path / "passwords").read_text().splitlines())
    assert set(users) == {"pilecare-ingest", fleet[0]}
    assert password_matches("ingest-secret-123", users["pilecare-ingest"])
    assert f"pattern write {settings.topic_prefix}/piles/%u/telemetry" in (tmp_path / "acl").read_text()
    assert (tmp_path / "passwords").stat().st_mode & 0o777 == 0o600


def test_a_pile_cannot_take_over_ingests_session_by_using_its_client_id(secured, settings, db, fleet):
    a, b = fleet[0], fleet[1]
    password_a = credentials.issue(db, a, Protocol.MQTT, issued_by="test").password
    password_b = credentials.issue(db, b, Protocol.MQTT, issued_by="test").password
    user, password = account(db, ServiceRole.INGEST)
    wait_for(lambda: secured.accepts(a, password_a), timeout=15, message="the broker to know pile A")
    ingest_id, uplink = settings.ingest_client_id, f"{settings.topic_prefix}/piles/+/telemetry"

    def session(username: str, secret: str, *options: str, tls: bool = False) -> subprocess.CompletedProcess:
        port = ["-p", str(secured.broker.tls_port), "--cafile", str(secured.broker.ca_file)] if tls else \
            ["-p", str(secured.broker.port)]
        return subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", *port, "-u", username, "-P", secret,
                               "-i", ingest_id, "-c", "-x", "3600", "-q", "1", "-V", "mqttv5", *options],
                              capture_output=True, text=True, timeout=30)

    assert session(user, password, "-t", uplink, "-E").returncode == 0  # ingest's persistent session
    assert secured.pub(Topics(settings.topic_prefix).telemetry(b), telemetry(1), b, password_b).returncode == 0
    # Pile A, over the piles' TLS listener, presents ingest's client id and a persistent session.
    session(a, password_a, "-t", f"{settings.topic_prefix}/piles/{a}/commands", "-E", tls=True)

    back = session(user, password, "-t", uplink, "-C", "1", "-W", "10", "-v")
    assert f"/piles/{b}/telemetry" in back.stdout, back.stderr
