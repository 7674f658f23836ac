"""A phone working offline sends its queued actions again when it is not sure they landed:
with an Idempotency-Key, each engineer action is applied once and every repeat answers the
first answer (issue 12, item 1; api/idempotency.py, docs/field-api.md)."""
from __future__ import annotations

import threading

import pytest

from tests.conftest import _login
from tests.fieldjob import accepted_order, drive_to_site, timeline_notes
from tests.factories import set_stock

PART = {"part_id": "FAN-120", "quantity": 1, "location_id": "VAN-E1"}


@pytest.fixture
def job(db, fleet):
    return accepted_order(db, fleet[1])


@pytest.fixture
def eva(client_for, job):
    return client_for("engineer", "eva", engineer_id="E1")


def stock(db):
    return db.execute("SELECT quantity FROM stock WHERE location_id = 'VAN-E1'").fetchone()[0]


def test_a_repeated_parts_call_answers_the_same_body_and_takes_stock_and_writes_the_timeline_once(db, job, eva):
    drive_to_site(eva, job)
    first = eva.post(f"/field/work-orders/{job}/parts", json=PART, headers={"Idempotency-Key": "queue-1"})
    again = eva.post(f"/field/work-orders/{job}/parts", json=PART, headers={"Idempotency-Key": "queue-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert stock(db) == 1
    assert timeline_notes(db, job, "used 1 × FAN-120%") == ["used 1 × FAN-120 from VAN-E1"]


def test_a_repeated_state_change_answers_200_again_instead_of_a_conflict(db, job, eva):
    eta = {"eta": "2099-01-01T10:00:00+01:00"}
    first = eva.post(f"/field/work-orders/{job}/en-route", json=eta, headers={"Idempotency-Key": "go"})
    again = eva.post(f"/field/work-orders/{job}/en-route", json=eta, headers={"Idempotency-Key": "go"})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert db.execute("SELECT count(*) FROM work_order_events WHERE work_order_id = %s AND to_state = 'en_route' "
                      "AND from_state = 'accepted'", (job,)).fetchone() == (1,)
    # Without a key, the same call is a new action, refused since the order moved on.
    assert eva.post(f"/field/work-orders/{job}/en-route", json=eta).status_code == 409


def test_the_same_body_with_its_keys_in_another_order_is_the_same_request(db, job, eva):
    drive_to_site(eva, job)
    eva.post(f"/field/work-orders/{job}/parts", json=PART, headers={"Idempotency-Key": "k"})
    again = eva.post(f"/field/work-orders/{job}/parts", json=dict(reversed(PART.items())),
                     headers={"Idempotency-Key": "k"})
    assert again.headers.get("Idempotent-Replayed") == "true" and stock(db) == 1


def test_the_same_key_with_another_body_or_path_is_refused_naming_the_header(db, job, eva):
    drive_to_site(eva, job)
    assert eva.post(f"/field/work-orders/{job}/parts", json=PART, headers={"Idempotency-Key": "k"}).status_code == 201
    other_body = eva.post(f"/field/work-orders/{job}/parts", json=PART | {"quantity": 2},
                          headers={"Idempotency-Key": "k"})
    other_path = eva.post(f"/field/work-orders/{job}/test", json={"passed": True, "notes": "ok"},
                          headers={"Idempotency-Key": "k"})
    for refused in (other_body, other_path):
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("Idempotency-Key: 'k' was used for another request "
                                                   f"(POST /field/work-orders/{job}/parts")
    assert stock(db) == 1
    assert db.execute("SELECT test_passed FROM service_reports WHERE work_order_id = %s", (job,)).fetchone() == (None,)


def test_a_refused_action_is_refused_the_same_way_when_repeated_even_after_the_order_moved_on(db, job, eva):
    drive_to_site(eva, job)
    too_many = PART | {"quantity": 5}
    refused = eva.post(f"/field/work-orders/{job}/parts", json=too_many, headers={"Idempotency-Key": "five"})
    assert refused.status_code == 409 and "VAN-E1 holds 2 of FAN-120" in refused.json()["detail"]
    set_stock(db, "VAN-E1", "FAN-120", 10)
    again = eva.post(f"/field/work-orders/{job}/parts", json=too_many, headers={"Idempotency-Key": "five"})
    assert (again.status_code, again.json()) == (409, refused.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stock(db) == 10


def test_a_refused_action_leaves_nothing_behind_but_its_kept_answer(db, job, eva):
    drive_to_site(eva, job)
    incomplete = eva.post(f"/field/work-orders/{job}/complete", json={"fault_cause": "fan"},
                          headers={"Idempotency-Key": "done?"})
    assert incomplete.status_code == 422
    # The report's fault cause was written inside the refused action: rolled back with it.
    assert db.execute("SELECT fault_cause FROM service_reports WHERE work_order_id = %s", (job,)).fetchone() in (
        None, (None,))
    assert db.execute("SELECT status_code FROM idempotency_keys WHERE key = 'done?'").fetchone() == (422,)


def test_concurrent_requests_with_the_same_key_apply_once_and_all_get_the_first_answer(app, db, job, eva):
    drive_to_site(eva, job)
    phones = [_login(type(eva)(app), "eva") for _ in range(6)]
    barrier = threading.Barrier(len(phones))
    answers = []

    def send(phone):
        barrier.wait()
        answers.append(phone.post(f"/field/work-orders/{job}/test", json={"passed": True, "notes": "30 min charge OK"},
                                  headers={"Idempotency-Key": "race"}))

    threads = [threading.Thread(target=send, args=(p,)) for p in phones]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [a.status_code for a in answers] == [200] * 6
    assert len({a.content for a in answers}) == 1
    assert sorted(a.headers.get("Idempotent-Replayed", "applied") for a in answers) == ["applied"] + ["true"] * 5
    # The on-site test has no request id of its own: only the key keeps it to one entry.
    assert timeline_notes(db, job, "on-site test passed%") == ["on-site test passed: 30 min charge OK"]


def test_another_users_same_key_is_their_own(db, fleet, job, eva, client_for):
    emils_job = accepted_order(db, fleet[2], "E2")
    emil = client_for("engineer", "emil", engineer_id="E2")
    eta = {"eta": "2099-01-01T10:00:00+01:00"}
    assert eva.post(f"/field/work-orders/{job}/en-route", json=eta, headers={"Idempotency-Key": "1"}).status_code == 200
    his = emil.post(f"/field/work-orders/{emils_job}/en-route", json=eta, headers={"Idempotency-Key": "1"})
    assert his.status_code == 200 and "Idempotent-Replayed" not in his.headers
    assert his.json()["id"] == emils_job and his.json()["state"] == "en_route"
    # Emil's key "2" on Eva's order is his own request: refused, since he does not hold it.
    eva.post(f"/field/work-orders/{job}/arrive", json={"lat": 52.521, "lon": 13.4}, headers={"Idempotency-Key": "2"})
    assert emil.post(f"/field/work-orders/{job}/arrive", json={"lat": 52.521, "lon": 13.4},
                     headers={"Idempotency-Key": "2"}).status_code == 404


def test_the_body_request_id_of_parts_still_works_and_must_agree_with_the_header(db, job, eva):
    drive_to_site(eva, job)
    assert eva.post(f"/field/work-orders/{job}/parts", json=PART | {"request_id": "r-1"}).status_code == 201
    assert eva.post(f"/field/work-orders/{job}/parts", json=PART | {"request_id": "r-1"}).status_code == 201
    assert stock(db) == 1
    mismatch = eva.post(f"/field/work-orders/{job}/parts", json=PART | {"request_id": "r-2"},
                        headers={"Idempotency-Key": "r-3"})
    assert mismatch.status_code == 422 and "request_id differ" in mismatch.json()["detail"]


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_a_key_of_no_or_too_many_characters_is_refused_naming_the_header(db, job, eva, key):
    answer = eva.post(f"/field/work-orders/{job}/accept", headers={"Idempotency-Key": key})
    assert answer.status_code == 422 and answer.json()["detail"].lower().startswith("idempotency-key:")


def test_a_key_older_than_seven_days_counts_as_unused(db, job, eva):
    eta = {"eta": "2099-01-01T10:00:00+01:00"}
    assert eva.post(f"/field/work-orders/{job}/en-route", json=eta, headers={"Idempotency-Key": "old"}).status_code == 200
    db.execute("UPDATE idempotency_keys SET created_at = now() - interval '8 days'")
    again = eva.post(f"/field/work-orders/{job}/en-route", json=eta, headers={"Idempotency-Key": "old"})
    assert again.status_code == 409 and "Idempotent-Replayed" not in again.headers
    assert db.execute("SELECT count(*), min(status_code) FROM idempotency_keys").fetchone() == (1, 409)


def test_a_server_error_is_never_kept_so_a_retry_is_applied(db, job, eva, monkeypatch):
    from maintenance import fieldwork

    real = fieldwork.start_travel

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(fieldwork, "start_travel", broken)
    eta = {"eta": "2099-01-01T10:00:00+01:00"}
    with pytest.raises(RuntimeError):
        eva.post(f"/field/work-orders/{job}/en-route", json=eta, headers={"Idempotency-Key": "fire"})
    assert db.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (0,)
    monkeypatch.setattr(fieldwork, "start_travel", real)
    assert eva.post(f"/field/work-orders/{job}/en-route", json=eta, headers={"Idempotency-Key": "fire"}).status_code == 200


def test_a_body_nested_too_deep_to_parse_is_refused_as_a_bad_body_with_or_without_a_key(job, eva):
    deep = b'{"eta": ' * 100_000
    for headers in ({"Idempotency-Key": "deep"}, {}):
        answer = eva.post(f"/field/work-orders/{job}/en-route", content=deep,
                          headers=headers | {"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
