"""Shared fixtures: one fresh database and one project-configured Mosquitto per test
session; every test starts from empty tables and its own topic prefix."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from pilecare.embedded import mosquitto_binary
from pilecare.migrate import migrate
from pilecare.settings import Settings
from simulators.inprocess import RunningWorker
from tests import services


def pytest_configure(config):
    # Check the services once, and stop with one clear message if they are down.
    problem = services.ensure_postgres()
    if problem:
        pytest.exit(problem, returncode=3)
    if mosquitto_binary() is None:
        pytest.exit("Mosquitto is not installed (the test command installs it: apt-get install mosquitto)", returncode=3)


@pytest.fixture(scope="session")
def database_url():
    name, url = services.create_database()
    with psycopg.connect(url) as conn:
        migrate(conn, Settings(database_url=url, timescale="off"))
    yield url
    services.drop_database(name)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    b = services.Broker(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


_KEEP = {"schema_migrations"}
_TABLES = ("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
           "AND tablename NOT LIKE 'telemetry\\_p%' AND tablename <> 'telemetry_default'")


def empty_tables(conn: psycopg.Connection) -> None:
    """Empty every table but the migrations' bookkeeping and restart every id sequence, as a
    TRUNCATE … RESTART IDENTITY of them all would (an autocommit connection).

    Only the tables holding rows are emptied, by DELETE with triggers and foreign keys off
    (session_replication_role: every table that holds rows goes, so none is left dangling):
    a TRUNCATE of all ~100 tables made new files for each and cost 0.4–1.2 s per test, this
    ~10 ms. Without the superuser right to that setting it truncates the tables holding rows."""
    tables = [r[0] for r in conn.execute(_TABLES) if r[0] not in _KEEP]
    held = [r[0] for r in conn.execute(sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {} WHERE EXISTS (SELECT FROM {})").format(sql.Literal(t), sql.Identifier(t)) for t in tables))]
    superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    with conn.transaction():
        if not superuser:
            if held:
                conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(map(sql.Identifier, held))))
        else:
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in held:
                conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
        conn.execute("SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
                     "FROM pg_sequences WHERE schemaname = 'public' AND last_value IS NOT NULL")


@pytest.fixture
def db(database_url):
    """An autocommit connection to the test database, with every table emptied."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        empty_tables(conn)
        yield conn


@pytest.fixture
def settings(database_url, broker, db) -> Settings:
    """Settings for one test: its own topic prefix, ingest group and client id."""
    tag = uuid.uuid4().hex[:8]
    return Settings(
        database_url=database_url,
        mqtt_url=broker.url,
        topic_prefix=f"test-{tag}/pilecare/v1",
        ingest_group=f"ingest-{tag}",
        ingest_client_id=f"ingest-{tag}",
        timescale="off",
        secret_key="test-secret-" + "k" * 40,
    )


@pytest.fixture
def fleet(db):
    """A small registry: one customer, two sites, an AC and a DC model, 20 piles."""
    from tests.factories import make_fleet

    return make_fleet(db, piles=20)


@pytest.fixture
def ingest(settings):
    """An ingest worker running in a thread of the test process."""
    from ingest.worker import IngestWorker

    running = RunningWorker(IngestWorker(settings, housekeeping=False)).start()
    yield running.worker
    running.stop()


PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(settings):
    from api.app import create_app

    return create_app(settings)


def _login(client, user_id: str, password: str = PASSWORD):
    response = client.post("/auth/token", data={"username": user_id, "password": password})
    assert response.status_code == 200, response.text
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    client.cookies.clear()  # tests speak with the bearer token only
    return client


@pytest.fixture
def api(app, db):
    """The HTTP API in-process on the test database, logged in as an admin ("admin")."""
    from fastapi.testclient import TestClient

    from api import accounts

    accounts.create(db, "admin", role=accounts.Role.ADMIN, full_name="Ada Admin", password=PASSWORD, actor="test")
    with TestClient(app) as client:
        yield _login(client, "admin")


@pytest.fixture
def client_for(app, api, db):
    """client_for(role, user_id=None, engineer_id=None, customer_id=None): a client logged in
    as a new user with that role (an engineer's account linked to the engineer record given,
    a customer's to its customer)."""
    from fastapi.testclient import TestClient

    from api import accounts

    def make(role, user_id: str | None = None, engineer_id: str | None = None, customer_id: str | None = None):
        role = accounts.Role(role)
        user_id = user_id or f"{role.value}-{uuid.uuid4().hex[:6]}"
        accounts.create(db, user_id, role=role, full_name=user_id.title(), password=PASSWORD, actor="test",
                        engineer_id=engineer_id, customer_id=customer_id)
        # Shares the app (and its pool, opened by the admin client) but not cookies or headers.
        return _login(TestClient(app), user_id)

    return make


@pytest.fixture
def anonymous(app, api):
    """A client that has not logged in."""
    from fastapi.testclient import TestClient

    return TestClient(app)
