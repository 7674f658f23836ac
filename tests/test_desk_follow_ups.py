"""Follow-ups after finished jobs and resolved requests (issue 13 item 5, R-FOLLOWUP): one
per job whatever the workers and reopens, an answer recorded once, "not solved" reopens
what was followed up, and the survey link works once without a login."""
from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from maintenance import policy as policies
from maintenance.orders import create_installation, desk, open_corrective, transition
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.servicedesk import Channel, RequestState, move, open_request
from maintenance.servicedesk.follow_ups import FollowUpChannel, record, schedule
from maintenance.servicedesk.intake import classify
from maintenance.servicedesk.requests import RequestClass
from pilecare.errors import Conflict, InvalidInput, NotFound
from tests.parallel import in_parallel

POLICY = policies.load()


def _resolve(db, order_id, *, via=(S.READY_FOR_DISPATCH, S.RESOLVED)):
    for state in via:
        transition(db, order_id, state, actor="dispatcher-1")


def _corrective(db, pile="TP-0001", category="cooling"):
    order_id, _ = open_corrective(db, pile, category, title="Fan stopped", priority=2, actor="rules")
    return order_id


def _follow_ups(db, column, value):
    return db.execute(f"SELECT id, customer_id, due_at FROM follow_ups WHERE {column} = %s", (value,)).fetchall()


def _order(db, order_id, *columns):
    return db.execute(f"SELECT {', '.join(columns)} FROM work_orders WHERE id = %s", (order_id,)).fetchone()


def _timeline(db, order_id):
    return [r[0] for r in db.execute("SELECT note FROM work_order_events WHERE work_order_id = %s AND note IS NOT NULL "
                                     "ORDER BY id", (order_id,)).fetchall()]


# --- scheduling ---

def test_every_resolved_corrective_or_installation_order_gets_one_follow_up_after_the_configured_days(db, fleet):
    corrective = _corrective(db)
    installation = create_installation(db, "TP-0002", title="Commission", actor="agent-1")
    preventive = db.execute("INSERT INTO work_orders (kind, pile_id, title, created_by) "
                            "VALUES ('preventive', 'TP-0003', 'PM', 'planner') RETURNING id").fetchone()[0]
    for order_id in (corrective, installation, preventive):
        _resolve(db, order_id)
    assert schedule(db, POLICY) == 2
    assert schedule(db, POLICY) == 0
    for order_id in (corrective, installation):
        [(follow_up_id, customer, due)] = _follow_ups(db, "work_order_id", order_id)
        resolved_at = _order(db, order_id, "resolved_at")[0]
        assert customer == "CUST-1"
        assert due - resolved_at == timedelta(days=POLICY.desk.follow_up_days)
        assert f"follow-up {follow_up_id} scheduled" in _timeline(db, order_id)[-1]
    assert _follow_ups(db, "work_order_id", preventive) == []


def test_two_schedulers_and_a_reopened_order_still_make_exactly_one_follow_up(database_url, db, fleet):
    orders = [_corrective(db, pile) for pile in ("TP-0001", "TP-0002", "TP-0003")]
    for order_id in orders:
        _resolve(db, order_id)
    made = in_parallel(database_url, lambda conn: schedule(conn, POLICY), workers=4)
    assert sum(made) == 3
    # The repair does not hold: reopened and resolved again, then scheduled again by two workers.
    _resolve(db, orders[0], via=(S.READY_FOR_DISPATCH, S.RESOLVED))
    assert sum(in_parallel(database_url, lambda conn: schedule(conn, POLICY), workers=2)) == 0
    counts = db.execute("SELECT work_order_id, count(*) FROM follow_ups GROUP BY 1 ORDER BY 1").fetchall()
    assert counts == [(order_id, 1) for order_id in orders]


def test_an_order_resolved_in_a_transaction_that_commits_late_is_not_skipped(database_url, db, fleet):
    early, late = _corrective(db, "TP-0001"), _corrective(db, "TP-0002")
    transition(db, early, S.READY_FOR_DISPATCH, actor="d")
    with psycopg.connect(database_url) as slow:          # not autocommit: a transaction stays open
        transition(slow, early, S.RESOLVED, actor="d")   # the lower outbox id, still uncommitted
        _resolve(db, late)                               # a higher id, committed first
        schedule(db, POLICY)
        slow.commit()
    schedule(db, POLICY)
    assert len(_follow_ups(db, "work_order_id", early)) == len(_follow_ups(db, "work_order_id", late)) == 1


def test_a_pass_reads_every_move_in_small_batches_and_follows_up_only_the_resolved(db, fleet):
    orders = [_corrective(db, pile) for pile in ("TP-0001", "TP-0002", "TP-0003")]
    for order_id in orders:   # eight moves in all: two holds, three to dispatch, three resolved
        _resolve(db, order_id, via=(S.ON_HOLD, S.READY_FOR_DISPATCH, S.RESOLVED) if order_id != orders[1]
                 else (S.READY_FOR_DISPATCH, S.RESOLVED))
    assert schedule(db, POLICY, batch=3) == 3
    assert db.execute("SELECT last_outbox_id FROM desk_cursor").fetchone()[0] == \
        db.execute("SELECT max(id) FROM outbox WHERE event = 'work_order.updated'").fetchone()[0]


def test_the_cursor_row_is_recreated_when_it_is_missing(db, fleet):
    db.execute("DELETE FROM desk_cursor")
    order_id = _corrective(db)
    _resolve(db, order_id)
    assert schedule(db, POLICY) == 1
    assert db.execute("SELECT count(*) FROM desk_cursor").fetchone()[0] == 1


def test_a_resolved_request_gets_one_follow_up_and_a_request_with_an_order_only_the_orders(db, fleet):
    question = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Opening hours?",
                            actor="agent-1")
    move(db, question, RequestState.RESOLVED, actor="agent-1", note="answered")
    fault = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.PHONE, subject="Cable stuck",
                         pile_id="TP-0001", actor="agent-1")
    order_id = classify(db, POLICY, None, fault, RequestClass.FAULT_REPORT, actor="agent-1", fault_category="connector")
    move(db, fault, RequestState.RESOLVED, actor="agent-1", note="repaired")
    _resolve(db, order_id)
    assert schedule(db, POLICY) == 2
    assert len(_follow_ups(db, "request_id", question)) == 1
    assert _follow_ups(db, "request_id", fault) == []
    assert len(_follow_ups(db, "work_order_id", order_id)) == 1
    # Reopened and resolved again: still the one follow-up.
    move(db, question, RequestState.OPEN, actor="agent-1")
    move(db, question, RequestState.RESOLVED, actor="agent-1")
    assert schedule(db, POLICY) == 0


# --- the answer ---

def _scheduled(db, order_id):
    _resolve(db, order_id)
    schedule(db, POLICY)
    return _follow_ups(db, "work_order_id", order_id)[0][0]


def test_not_solved_sends_a_resolved_order_back_to_dispatch_for_a_new_visit(db, fleet):
    order_id = _corrective(db)
    follow_up_id = _scheduled(db, order_id)
    db.execute("INSERT INTO service_reports (work_order_id, diagnosis, updated_by) VALUES (%s, 'fan seized', 'eva')",
               (order_id,))
    outcome = record(db, follow_up_id, solved=False, satisfaction=2, comments="still overheating", actor="agent-1")
    assert outcome.reopened == "work_order" and outcome.work_order_id == order_id
    assert _order(db, order_id, "state", "resolved_at") == ("ready_for_dispatch", None)
    assert db.execute("SELECT count(*) FROM service_reports WHERE work_order_id = %s", (order_id,)).fetchone()[0] == 0
    assert db.execute("SELECT diagnosis FROM service_report_history WHERE work_order_id = %s",
                      (order_id,)).fetchone()[0] == "fan seized"
    notes = _timeline(db, order_id)
    assert any("NOT solved, satisfaction 2/5: still overheating" in n for n in notes)
    assert db.execute("SELECT actor FROM work_order_events WHERE work_order_id = %s AND to_state = 'ready_for_dispatch' "
                      "ORDER BY id DESC LIMIT 1", (order_id,)).fetchone()[0] == "agent-1"
    assert db.execute("SELECT done_at IS NOT NULL, solved, satisfaction, channel, recorded_by, agent FROM follow_ups "
                      "WHERE id = %s", (follow_up_id,)).fetchone() == (True, False, 2, "call", "agent-1", "agent-1")


@pytest.mark.parametrize("finished", [S.VERIFIED, S.CLOSED])
def test_not_solved_reopens_a_verified_or_closed_order(db, fleet, finished):
    order_id = _corrective(db)
    follow_up_id = _scheduled(db, order_id)
    _resolve(db, order_id, via=(S.VERIFIED, S.CLOSED)[:(2 if finished is S.CLOSED else 1)])
    record(db, follow_up_id, solved=False, satisfaction=None, comments=None, actor="agent-1")
    assert _order(db, order_id, "state", "closed_at", "verified_at") == ("ready_for_dispatch", None, None)


def test_a_closed_order_whose_pile_has_another_open_order_for_the_fault_is_linked_to_it(db, fleet):
    order_id = _corrective(db)
    follow_up_id = _scheduled(db, order_id)
    _resolve(db, order_id, via=(S.VERIFIED, S.CLOSED))
    again = _corrective(db)   # the fault came back: the rules opened a new order
    assert again != order_id
    outcome = record(db, follow_up_id, solved=False, satisfaction=1, comments="broken again", actor="agent-1")
    assert outcome.work_order_id == again
    assert _order(db, order_id, "state")[0] == "closed"
    assert any(f"open work order {again} for this fault carries it on" in n for n in _timeline(db, order_id))
    assert any(f"work order {order_id} (closed) did not hold" in n for n in _timeline(db, again))


def test_a_finished_order_is_not_reopened_by_a_bare_desk_move(db, fleet):
    order_id = _corrective(db)
    _resolve(db, order_id, via=(S.READY_FOR_DISPATCH, S.RESOLVED, S.VERIFIED, S.CLOSED))
    with pytest.raises(Conflict, match="follow-up"):
        desk.move(db, order_id, S.READY_FOR_DISPATCH, actor="dispatcher-1", supervisor=False)
    with pytest.raises(Conflict, match="only a resolved, verified or closed order"):
        desk.reopen(db, _corrective(db, "TP-0002"), actor="agent-1", reason="x")


def test_solved_leaves_the_order_as_it_is(db, fleet):
    order_id = _corrective(db)
    follow_up_id = _scheduled(db, order_id)
    outcome = record(db, follow_up_id, solved=True, satisfaction=5, comments="all good", actor="agent-1")
    assert outcome.reopened is None and _order(db, order_id, "state")[0] == "resolved"


def test_not_solved_reopens_a_resolved_request(db, fleet):
    request_id = open_request(db, POLICY, customer_id="CUST-1", channel=Channel.EMAIL, subject="Invoice wrong",
                              actor="agent-1")
    move(db, request_id, RequestState.RESOLVED, actor="agent-1")
    schedule(db, POLICY)
    [(follow_up_id, _, _)] = _follow_ups(db, "request_id", request_id)
    assert record(db, follow_up_id, solved=False, satisfaction=2, comments=None, actor="agent-2").reopened == "request"
    assert db.execute("SELECT state FROM requests WHERE id = %s", (request_id,)).fetchone()[0] == "open"
    last = db.execute("SELECT actor, from_state, to_state FROM request_events WHERE request_id = %s ORDER BY id DESC "
                      "LIMIT 1", (request_id,)).fetchone()
    assert last == ("agent-2", "resolved", "open")


def test_an_answer_is_recorded_once_and_checked(db, fleet):
    follow_up_id = _scheduled(db, _corrective(db))
    with pytest.raises(InvalidInput, match="satisfaction"):
        record(db, follow_up_id, solved=True, satisfaction=6, comments=None, actor="agent-1")
    with pytest.raises(InvalidInput, match="channel"):
        record(db, follow_up_id, solved=True, satisfaction=5, comments=None, actor="agent-1", channel="fax")
    with pytest.raises(NotFound):
        record(db, 987_654, solved=True, satisfaction=5, comments=None, actor="agent-1")
    record(db, follow_up_id, solved=True, satisfaction=4, comments=None, actor="agent-1")
    with pytest.raises(Conflict, match="answered already"):
        record(db, follow_up_id, solved=False, satisfaction=1, comments=None, actor="survey",
               channel=FollowUpChannel.SURVEY)


def test_two_agents_answering_at_once_record_one_answer(database_url, db, fleet):
    follow_up_id = _scheduled(db, _corrective(db))
    outcomes = []

    def answer(conn):
        try:
            record(conn, follow_up_id, solved=False, satisfaction=2, comments=None, actor="agent")
            outcomes.append("recorded")
        except Conflict:
            outcomes.append("refused")

    in_parallel(database_url, answer, workers=4)
    assert outcomes.count("recorded") == 1
    assert db.execute("SELECT count(*) FROM work_order_events WHERE to_state = 'ready_for_dispatch' AND actor = 'agent'"
                      ).fetchone()[0] == 1


# --- over HTTP ---

def test_the_agents_queue_holds_due_follow_ups_and_records_the_answer(db, fleet, api, client_for):
    order_id = _corrective(db)
    follow_up_id = _scheduled(db, order_id)
    agent, viewer = client_for("agent"), client_for("viewer")
    assert agent.get("/follow-ups").json()["count"] == 0          # due in three days
    later = (db.execute("SELECT due_at FROM follow_ups").fetchone()[0] + timedelta(minutes=1)).isoformat()
    queue = agent.get("/follow-ups", params={"due": later}).json()
    assert queue["count"] == 1 and queue["data"][0]["id"] == follow_up_id
    assert queue["data"][0]["contact_phone"] and queue["data"][0]["about"] == "work_order"
    assert viewer.get("/follow-ups", params={"due": later}).json()["data"][0]["contact_phone"] is None
    assert viewer.post(f"/follow-ups/{follow_up_id}", json={"solved": True}).status_code == 403
    bad = agent.post(f"/follow-ups/{follow_up_id}", json={"solved": True, "satisfaction": 9})
    assert bad.status_code == 422 and "satisfaction" in bad.json()["detail"]
    answered = agent.post(f"/follow-ups/{follow_up_id}", json={"solved": False, "satisfaction": 2, "comments": "hot"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["reopened"] == "work_order" and answered.json()["carried_by_work_order_id"] == order_id
    again = agent.post(f"/follow-ups/{follow_up_id}", json={"solved": True})
    assert again.status_code == 409 and "answered already" in again.json()["detail"]
    assert agent.get("/follow-ups", params={"due": later}).json()["count"] == 0
    assert agent.get("/follow-ups/987654").status_code == 404


def test_the_survey_link_works_once_without_a_login(db, fleet, anonymous):
    order_id = _corrective(db)
    follow_up_id = _scheduled(db, order_id)
    token = db.execute("SELECT survey_token FROM follow_ups WHERE id = %s", (follow_up_id,)).fetchone()[0]
    page = anonymous.get(f"/survey/{token}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'name="solved"' in page.text and "Fan stopped" in page.text
    assert "script" not in page.text and page.headers["content-security-policy"]
    bad = anonymous.post(f"/survey/{token}", data={"solved": "maybe"})
    assert bad.status_code == 422 and "solved" in bad.text
    sent = anonymous.post(f"/survey/{token}", data={"solved": "no", "satisfaction": "2", "comments": "still hot"})
    assert sent.status_code == 200 and "Thank you" in sent.text
    assert db.execute("SELECT channel, solved, satisfaction, comments, recorded_by FROM follow_ups WHERE id = %s",
                      (follow_up_id,)).fetchone() == ("survey", False, 2, "still hot", "survey")
    assert _order(db, order_id, "state")[0] == "ready_for_dispatch"
    assert anonymous.get(f"/survey/{token}").status_code == 409
    assert anonymous.post(f"/survey/{token}", data={"solved": "yes"}).status_code == 409
    assert anonymous.get("/survey/not-a-token").status_code == 404
    assert anonymous.post("/survey/not-a-token", data={"solved": "yes"}).status_code == 404
