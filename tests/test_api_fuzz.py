"""No input breaks the API: schemathesis generates requests from /openapi.json, valid and
invalid, for every operation and as every role, against the app on the real test
database seeded with a small fleet, a crew and open work orders. Every answer must be
below 500 and match the response the OpenAPI document declares for its status.

Bounded for CI: a fixed number of generated examples per operation (FUZZ_EXAMPLES,
default 12) with a derandomized seed, so each run sends the same requests and takes the
same time (docs/internals.md, "API input and errors"). Raise PILECARE_FUZZ_EXAMPLES to look harder.
"""
from __future__ import annotations

import os

import hypothesis
import psycopg
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance

from api import accounts
from api.accounts import Role
from api.auth import issue_token
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from pilecare.settings import Settings
from simulators.crew import seed_crew
from tests.conftest import PASSWORD, empty_tables
from tests.factories import make_fleet

FUZZ_EXAMPLES = int(os.environ.get("PILECARE_FUZZ_EXAMPLES", "12"))

# The event stream never ends by design (tests/test_events.py covers it).
EXCLUDED = ["/events"]


def _app(settings: Settings):
    from api.app import create_app

    return create_app(settings)


class _SeededApp:
    """The app under test, behind one object the schema can hold from import time on:
    the document is read at collection, the database exists only once the fixtures run."""

    app = None

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)


SEEDED = _SeededApp()
_DOCUMENT = _app(Settings(database_url="postgresql://fuzz.invalid/unused", secret_key="fuzz-" + "k" * 40)).openapi()
schema = schemathesis.openapi.from_dict(_DOCUMENT, config=SchemathesisConfig.from_dict({
    # The coverage phase's boundary cases run for every operation whatever the bound below,
    # which alone takes minutes a role; the examples and fuzzing phases stay within it.
    "phases": {"coverage": {"enabled": False}},
})).exclude(path=EXCLUDED)
schema.app = SEEDED


@pytest.fixture(scope="module")
def seeded(database_url, broker, tmp_path_factory):
    """The app on a database holding a small fleet, a crew, open orders and one user per
    role; returns a bearer token per role."""
    settings = Settings(database_url=database_url, mqtt_url=broker.url, topic_prefix="fuzz/pilecare/v1",
                        timescale="off", secret_key="fuzz-secret-" + "k" * 40,
                        data_dir=str(tmp_path_factory.mktemp("fuzz")))
    tokens = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        empty_tables(conn)
        piles = make_fleet(conn, piles=6)
        seed_crew(conn, per_region=1)
        engineer = conn.execute("SELECT id FROM engineers ORDER BY id LIMIT 1").fetchone()[0]
        for pile in piles[:3]:
            order, _ = open_corrective(conn, pile, "cooling", title="Fan stopped", priority=2, actor="rules",
                                       severity="major")
            for to in (S.READY_FOR_DISPATCH, S.ASSIGNED):
                transition(conn, order, to, actor="dispatch")
            conn.execute("UPDATE work_orders SET engineer_id = %s WHERE id = %s", (engineer, order))
        for role in Role:
            user = accounts.create(conn, f"fuzz-{role.value}", role=role, full_name=role.value.title(),
                                   password=PASSWORD, actor="test",
                                   engineer_id=engineer if role is Role.ENGINEER else None,
                                   customer_id="CUST-1" if role is Role.CUSTOMER else None)
            tokens[role], _ = issue_token(settings, settings.secret_key, user)
    SEEDED.app = _app(settings)
    yield tokens
    # Schemathesis started the app's lifespan (its connection pool); close it before the
    # next test files empty the tables.
    shutdown_lifespans()
    SEEDED.app = None


# Admins reach every handler; engineers and customers see scoped answers and viewers
# masked ones: each of them gets the full bound. The other roles either pass the same
# handlers as an admin or are refused at the gate, so a few examples each show that no
# input breaks their path either.
SCOPED = [Role.ADMIN, Role.ENGINEER, Role.CUSTOMER, Role.VIEWER]
GATED = [r for r in Role if r not in SCOPED]
GATED_EXAMPLES = max(2, FUZZ_EXAMPLES // 4)


@pytest.fixture(scope="module", params=[r.value for r in SCOPED])
def role(request) -> Role:
    return Role(request.param)


@pytest.fixture(scope="module", params=[r.value for r in GATED])
def gated_role(request) -> Role:
    return Role(request.param)


@schema.parametrize()
@hypothesis.settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_it_answers_every_generated_request_below_500_and_as_declared(case, seeded, role):
    case.call_and_validate(headers={"Authorization": f"Bearer {seeded[role]}"},
                           checks=[not_a_server_error, response_schema_conformance])


@schema.parametrize()
@hypothesis.settings(max_examples=GATED_EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_it_answers_every_role_below_500_and_as_declared(case, seeded, gated_role):
    case.call_and_validate(headers={"Authorization": f"Bearer {seeded[gated_role]}"},
                           checks=[not_a_server_error, response_schema_conformance])
