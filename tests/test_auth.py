"""Logging in and staying out: bearer tokens from the password flow, expiry, deactivation,
answers that never tell whether an account or a record exists, and accounts managed by
admins with every change recorded."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from api import accounts
from tests.conftest import PASSWORD

PUBLIC = {"/", "/health", "/auth/token", "/auth/logout"}  # "/" leads to the login


def test_every_endpoint_but_health_and_login_answers_401_without_a_token(app, anonymous):
    checked = 0
    for template, operations in app.openapi()["paths"].items():
        if template in PUBLIC:
            continue
        path = re.sub(r"\{[^}]+\}", "1", template)  # any value: auth comes first
        for method in operations:
            response = anonymous.request(method.upper(), path)
            assert response.status_code == 401, (method, template, response.status_code)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"] == "unauthorized"
            checked += 1
    assert checked > 50


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(anonymous, db):
    wrong = anonymous.post("/auth/token", data={"username": "admin", "password": "not the password"})
    unknown = anonymous.post("/auth/token", data={"username": "nobody", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "unauthorized", "detail": "wrong user name or password"}


def test_a_token_names_its_user_and_role(api):
    me = api.get("/auth/me").json()
    assert me == {"id": "admin", "role": "admin", "full_name": "Ada Admin", "engineer_id": None,
                  "groups": ["office", "contacts", "dispatch", "desk", "supervise"]}


@pytest.mark.parametrize("role, groups", [("supervisor", ["office", "contacts", "dispatch", "desk", "supervise"]),
                                          ("dispatcher", ["office", "contacts", "dispatch", "desk"]),
                                          ("agent", ["office", "contacts", "desk"]), ("viewer", ["office"]),
                                          ("engineer", [])])
def test_an_account_learns_its_role_sets_from_the_one_definition(client_for, role, groups):
    assert client_for(role).get("/auth/me").json()["groups"] == groups


def test_a_forged_or_expired_token_is_refused_with_a_reason(anonymous, settings):
    now = datetime.now(timezone.utc)
    forged = jwt.encode({"sub": "admin", "exp": now + timedelta(hours=1)}, "another key entirely, long enough" * 2,
                        algorithm="HS256")
    expired = jwt.encode({"sub": "admin", "exp": now - timedelta(seconds=1)}, settings.secret_key, algorithm="HS256")
    for token, reason in ((forged, "not valid"), (expired, "expired"), ("garbage", "not valid")):
        response = anonymous.get("/piles", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401 and reason in response.json()["detail"]


def test_a_deactivated_account_is_locked_out_at_once_even_with_a_live_token(api, client_for):
    viewer = client_for("viewer", "vera")
    assert viewer.get("/piles").status_code == 200
    assert api.patch("/users/vera", json={"active": False}).status_code == 200
    response = viewer.get("/piles")
    assert response.status_code == 401 and "no longer active" in response.json()["detail"]
    assert viewer.post("/auth/token", data={"username": "vera", "password": PASSWORD}).status_code == 401


def test_a_role_change_applies_to_the_next_request(api, client_for):
    vera = client_for("viewer", "vera")
    assert vera.get("/customers").status_code == 403
    api.patch("/users/vera", json={"role": "agent"})
    assert vera.get("/customers").status_code == 200


def test_admins_manage_accounts_and_every_change_is_recorded(api, client_for):
    created = api.post("/users", json={"id": "sam", "full_name": "Sam Supervisor", "role": "supervisor",
                                       "password": "a long enough password", "email": "sam@example.com"})
    assert created.status_code == 201 and created.json()["created_by"] == "admin"
    assert "password" not in created.text and "hash" not in created.text
    assert api.post("/users", json={"id": "sam", "full_name": "x", "role": "viewer",
                                    "password": "a long enough password"}).status_code == 409
    short = api.post("/users", json={"id": "kim", "full_name": "Kim", "role": "viewer", "password": "short"})
    assert short.status_code == 422 and "password" in short.json()["detail"]
    api.patch("/users/sam", json={"password": "another long password"})
    api.patch("/users/sam", json={"active": False})
    events = api.get("/users/sam/events").json()
    assert [(e["actor"], list(e["change"])) for e in events] == [
        ("admin", ["created"]), ("admin", ["password"]), ("admin", ["active"])]
    assert client_for("supervisor").get("/users").status_code == 403


def test_an_engineer_account_is_linked_to_its_engineer_record(api, db):
    db.execute("INSERT INTO engineers (id, name, home_lat, home_lon) VALUES ('E7', 'Eli', 52.5, 13.4)")
    created = api.post("/users", json={"id": "eli", "full_name": "Eli", "role": "engineer",
                                       "password": "a long enough password", "engineer_id": "E7"})
    assert created.status_code == 201 and created.json()["engineer_id"] == "E7"
    taken = api.post("/users", json={"id": "eli2", "full_name": "Eli", "role": "engineer",
                                     "password": "a long enough password", "engineer_id": "E7"})
    assert taken.status_code == 422 and "another account" in taken.json()["detail"]


def test_passwords_are_stored_only_as_argon2_hashes(api, db):
    stored = db.execute("SELECT password_hash FROM users WHERE id = 'admin'").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.authenticate(db, "admin", PASSWORD).role is accounts.Role.ADMIN
    assert accounts.authenticate(db, "admin", PASSWORD + "x") is None


def test_the_command_line_bootstraps_the_first_admin(settings, db, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PILECARE_DATABASE_URL": settings.database_url,
           "PILECARE_PASSWORD": "the first admin's password", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pilecare.cli", "users", "create", "root-admin", "--role", "admin",
                           "--name", "Root Admin"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "created root-admin (admin)" in done.stdout
    assert accounts.authenticate(db, "root-admin", "the first admin's password").role is accounts.Role.ADMIN
    again = subprocess.run([sys.executable, "-m", "pilecare.cli", "users", "create", "root-admin", "--role", "admin"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "exists" in again.stderr


def test_repeated_wrong_passwords_lock_the_user_name_for_a_while_whether_or_not_it_exists(anonymous, app, db):
    limit = app.state.settings.login_max_failures
    for name in ("admin", "nobody"):
        for _ in range(limit):
            assert anonymous.post("/auth/token", data={"username": name, "password": "guess"}).status_code == 401
        locked = anonymous.post("/auth/token", data={"username": name, "password": PASSWORD})
        assert locked.status_code == 429 and "too many failed logins" in locked.json()["detail"]
        assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    # Another account is not affected, and the window passing lifts the lock.
    accounts.create(db, "vera", role=accounts.Role.VIEWER, full_name="Vera", password=PASSWORD, actor="test")
    assert anonymous.post("/auth/token", data={"username": "vera", "password": PASSWORD}).status_code == 200
    db.execute("UPDATE login_failures SET at = at - interval '16 minutes' WHERE user_id = 'admin'")
    assert anonymous.post("/auth/token", data={"username": "admin", "password": PASSWORD}).status_code == 200


def test_a_successful_login_forgets_earlier_failures(anonymous, app):
    for _ in range(app.state.settings.login_max_failures - 1):
        anonymous.post("/auth/token", data={"username": "admin", "password": "guess"})
    assert anonymous.post("/auth/token", data={"username": "admin", "password": PASSWORD}).status_code == 200
    assert anonymous.post("/auth/token", data={"username": "admin", "password": "guess"}).status_code == 401
    assert anonymous.post("/auth/token", data={"username": "admin", "password": PASSWORD}).status_code == 200


def test_parallel_guesses_cannot_get_past_the_failed_login_limit(app, api, db):
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    limit = app.state.settings.login_max_failures

    def guess(_):
        return TestClient(app).post("/auth/token", data={"username": "admin", "password": "guess"}).status_code

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(guess, range(4 * limit)))
    assert answers.count(401) == limit and answers.count(429) == 3 * limit


def test_an_engineer_login_is_linked_only_by_an_admin_and_an_unlinked_one_sees_nothing(api, client_for, db):
    db.execute("INSERT INTO engineers (id, name, home_lat, home_lon) VALUES ('E1', 'Eva', 52.5, 13.4), "
               "('E2', 'Emil', 52.5, 13.4)")
    dispatcher = client_for("dispatcher", "dora")
    changed = dispatcher.patch("/engineers/E2", json={"user_id": "dora"})
    assert changed.status_code == 422 or db.execute("SELECT user_id FROM engineers WHERE id = 'E2'").fetchone() == (
        None,)
    assert dispatcher.get("/field/work-orders").status_code == 403
    unlinked = client_for("engineer", "ivo")
    for path in ("/work-orders", "/work-orders/1/report", "/piles", "/field/work-orders"):
        response = unlinked.get(path)
        assert response.status_code == 403 and "not linked" in response.json()["detail"], path
    assert unlinked.get("/auth/me").json()["engineer_id"] is None
    # An admin links it, and moving the link later is a recorded change, not an error.
    assert api.patch("/users/ivo", json={"engineer_id": "E1"}).status_code == 200
    moved = api.patch("/users/ivo", json={"engineer_id": "E2"})
    assert moved.status_code == 200 and moved.json()["engineer_id"] == "E2"
    assert db.execute("SELECT id FROM engineers WHERE user_id = 'ivo'").fetchall() == [("E2",)]
    assert unlinked.get("/field/work-orders").status_code == 200
