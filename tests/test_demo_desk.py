"""The demo's busy desk (issue 13, item 9): simulated customers reach the desk by every
channel through its real front doors (SMTP listener, API) and demo agents work what
arrives — requests classified and answered, a complaint moved on, a follow-up called."""
from __future__ import annotations

import pytest

from maintenance import policy as policies
from maintenance.servicedesk.smtp_listener import SmtpListener
from simulators.crew_accounts import ensure_accounts
from simulators.desk_crowd import DeskCrowd
from tests.console_fixtures import server  # noqa: F401  (the API in a real uvicorn)

DESK = "service@pilecare.local"


@pytest.fixture
def listener(settings, fleet):
    running = SmtpListener(settings.model_copy(update={"desk_address": DESK}), host="127.0.0.1", port=0,
                           policy=policies.load()).start()
    yield running
    running.stop()


def test_demo_customers_reach_the_desk_by_every_channel_and_demo_agents_work_it(db, fleet, server, listener,  # noqa: F811
                                                                                 tmp_path):
    db.execute("INSERT INTO customer_contacts (customer_id, name, phone, email) "
               "VALUES ('CUST-1', 'Jana Meyer', '+49301234567', 'jana@metro.example')")
    db.execute("UPDATE customers SET contact_name = 'Jana Meyer', contact_phone = '+49301234567', "
               "contact_email = 'jana@metro.example'")
    crowd = DeskCrowd(server.url, ensure_accounts(db, tmp_path / "crew-accounts"), smtp=("127.0.0.1", listener.port),
                      desk_address=DESK, seed=3)
    assert crowd.load_contacts() == 1 and crowd.portal
    for _ in range(30):
        crowd.customer_turn()
    channels = dict(db.execute("SELECT channel, count(*) FROM requests GROUP BY 1").fetchall())
    assert set(channels) == {"phone", "email", "web"}, channels
    assert sum(channels.values()) == 30
    for _ in range(60):
        crowd.request_turn()
        crowd.complaint_turn()
    unclassified = db.execute("SELECT count(*) FROM requests WHERE class IS NULL").fetchone()[0]
    assert unclassified < 30
    assert db.execute("SELECT count(*) FROM requests WHERE state = 'resolved'").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM request_messages WHERE kind = 'acknowledgement'").fetchone()[0] \
        == channels["email"]
    assert db.execute("SELECT count(*) FROM complaints").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM complaint_events WHERE from_state IS NOT NULL").fetchone()[0] > 0
    # A finished job's follow-up is called back by an agent.
    db.execute("INSERT INTO follow_ups (request_id, customer_id, due_at, survey_token) "
               "SELECT id, customer_id, now() - interval '1 hour', 'tok' FROM requests WHERE state = 'resolved' "
               "ORDER BY id LIMIT 1 ON CONFLICT DO NOTHING")
    crowd.follow_up_turn()
    assert db.execute("SELECT count(*) FROM follow_ups WHERE done_at IS NOT NULL AND recorded_by LIKE 'demo-agent-%'"
                      ).fetchone()[0] == 1
