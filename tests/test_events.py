"""The console's live feed: outbox events as server-sent events, resumable by id;
engineers see only their own; an event that commits late behind a higher id is not
skipped; quiet streams send heartbeats."""
from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from api.accounts import Role
from api.routes import events as feed
from maintenance.outbox.events import Event, enqueue


@pytest.fixture
def engineers(db, fleet):
    db.execute("INSERT INTO engineers (id, name, home_lat, home_lon) VALUES ('E1', 'Eva', 52.5, 13.3), "
               "('E2', 'Emil', 52.5, 13.3)")


def parse(text: str) -> list[dict]:
    """The events of an SSE body: [{"id", "event", "data"}], comments and retry left out."""
    out = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":")
                      and ": " in line)
        if "event" in fields:
            out.append({"id": int(fields["id"]), "event": fields["event"], "data": fields["data"]})
    return out


def offer(db, engineer_id):
    return enqueue(db, Event.ASSIGNMENT_OFFERED, {"to": engineer_id}, engineer_id=engineer_id)


def test_the_console_reads_committed_events_as_a_stream_with_their_ids(api, db, engineers):
    first = offer(db, "E1")
    second = enqueue(db, Event.ARRIVAL_ETA, {"eta": "2030-01-01T10:30:00+00:00"}, customer_id="CUST-1")
    response = api.get("/events?after=0&limit=2")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("retry: 3000\n\n")
    got = parse(response.text)
    assert [(e["id"], e["event"]) for e in got] == [(first, "assignment.offered"), (second, "arrival.eta")]
    assert '"customer_id":"CUST-1"' in got[1]["data"] and '"data":{"eta":"2030-01-01T10:30:00+00:00"}' in got[1]["data"]


def test_a_reconnecting_client_resumes_after_the_last_event_it_saw(api, db, engineers):
    ids = [offer(db, "E1") for _ in range(3)]
    resumed = api.get("/events?limit=2", headers={"Last-Event-ID": str(ids[0])})
    assert [e["id"] for e in parse(resumed.text)] == ids[1:]
    assert [e["id"] for e in parse(api.get(f"/events?after={ids[1]}&limit=1").text)] == ids[2:]


def test_engineers_see_only_their_own_events(client_for, db, engineers):
    offer(db, "E1")
    mine = offer(db, "E2")
    enqueue(db, Event.ESCALATED, {"reason": "smoke"})
    emil = client_for(Role.ENGINEER, engineer_id="E2")
    assert [e["id"] for e in parse(emil.get("/events?after=0&timeout=0.5").text)] == [mine]
    assert client_for(Role.ENGINEER).get("/events?after=0&timeout=0.2").status_code == 403  # not linked
    assert len(parse(client_for(Role.VIEWER).get("/events?after=0&timeout=0.5").text)) == 3


def test_without_a_position_the_stream_starts_now_and_gets_what_commits_later(api, db, database_url, engineers,
                                                                            monkeypatch):
    offer(db, "E1")  # before: not sent
    started = threading.Event()
    take_position = feed._start

    def start_and_tell(conn, after):
        # The stream takes its position, then E2 commits: "later" is a fact, not a sleep.
        position = take_position(conn, after)
        started.set()
        return position

    monkeypatch.setattr(feed, "_start", start_and_tell)

    def later():
        assert started.wait(10)
        with psycopg.connect(database_url, autocommit=True) as conn:
            offer(conn, "E2")

    thread = threading.Thread(target=later)
    thread.start()
    got = parse(api.get("/events?limit=1&timeout=10").text)
    thread.join()
    assert [json_to(e) for e in got] == ["E2"]


def json_to(event) -> str:
    import json

    return json.loads(event["data"])["data"]["to"]


def test_an_event_committing_late_behind_a_higher_id_is_not_skipped(api, db, database_url, engineers):
    with psycopg.connect(database_url) as slow:  # a transaction that takes its time
        early = offer(slow, "E1")
        late = offer(db, "E2")  # a higher id, committed first
        assert early < late
        assert parse(api.get("/events?after=0&timeout=0.5").text) == []  # held back until it settles
        slow.commit()
    assert [e["id"] for e in parse(api.get("/events?after=0&limit=2").text)] == [early, late]


def test_a_quiet_stream_sends_heartbeats(api, db, engineers, monkeypatch):
    monkeypatch.setattr(feed, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(feed, "POLL_S", 0.05)
    response = api.get("/events?timeout=0.5")
    assert ": keep-alive\n\n" in response.text and parse(response.text) == []


def test_the_stream_needs_a_login(anonymous):
    assert anonymous.get("/events?timeout=0.1").status_code == 401


def test_alarms_and_orders_announce_themselves_on_the_stream(api, db, engineers):
    from datetime import datetime, timezone

    from maintenance.alarms.lifecycle import raise_alarm, request_clear, settle_clears
    from maintenance.alarms.rules import default
    from maintenance.orders.lifecycle import WorkOrderState as S
    from maintenance.orders.lifecycle import open_corrective, transition

    pile = db.execute("SELECT id FROM piles ORDER BY id LIMIT 1").fetchone()[0]
    alarm_id, _ = raise_alarm(db, pile, 0, default().by_id("fan.stopped"), at=datetime.now(timezone.utc),
                              clear_after_s=0)
    order_id, _ = open_corrective(db, pile, "cooling", title="Fan stopped", priority=2, actor="rules",
                                  alarm_id=alarm_id)
    transition(db, order_id, S.READY_FOR_DISPATCH, actor="rules")
    request_clear(db, pile, 0, "fan.stopped", at=datetime.now(timezone.utc))
    settle_clears(db)
    got = [(e["event"], json.loads(e["data"])["data"]) for e in parse(api.get("/events?after=0&limit=4").text)]
    assert [name for name, _ in got] == ["alarm.raised", "work_order.created", "work_order.updated", "alarm.cleared"]
    assert got[0][1]["alarm_id"] == alarm_id and got[0][1]["rule_id"] == "fan.stopped"
    assert got[1][1]["work_order_id"] == order_id and got[1][1]["state"] == "new"
    assert (got[2][1]["from"], got[2][1]["state"]) == ("new", "ready_for_dispatch")


def test_a_stream_ends_soon_after_its_account_is_deactivated(client_for, db, database_url, engineers, monkeypatch):
    monkeypatch.setattr(feed, "RECHECK_S", 0.1)
    monkeypatch.setattr(feed, "POLL_S", 0.05)
    watcher = client_for("viewer", "walt")

    def deactivate():
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET active = false WHERE id = 'walt'")

    # 2 s: the stream must have passed its login check first, even on a machine under load.
    threading.Timer(2.0, deactivate).start()
    started = time.monotonic()
    response = watcher.get("/events?timeout=30")
    assert response.status_code == 200 and time.monotonic() - started < 12  # not the 30 s it asked for
    assert watcher.get("/events?timeout=1").status_code == 401
