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
                  "customer_id": None,
                  "groups": ["office", "contacts", "dispatch", "desk", "supervise", "stores", "manage"]}


@pytest.mark.parametrize("role, groups", [("supervisor", ["office", "contacts", "dispatch", "desk", "supervise",
                                                         "stores"]),
                                          ("dispatcher", ["office", "contacts", "dispatch", "desk"]),
                                          ("agent", ["office", "contacts", "desk"]), ("viewer", ["office"]),
                                          ("parts_keeper", ["office", "stores"]), ("manager", ["office", "manage"]),
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
    assert vera.get("/customers/CUST-1/changes").status_code == 403
    api.patch("/users/vera", json={"role": "supervisor"})
    assert vera.get("/customers/CUST-1/changes").status_code == 404  # let in: there is no such customer


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


# Who may keep whom out (docs/roles.md): failures are counted per source, so a guesser locks
# out only itself, and a client that has logged in before (it holds a device cookie) gets
# through while new clients are held (OWASP, "Slow down online guessing attacks with device
# cookies"; Authentication Cheat Sheet, lock per account and source).
ATTACKER, OFFICE, ELSEWHERE = ("203.0.113.66", 40000), ("198.51.100.7", 40000), ("192.0.2.10", 40000)


def login(client, name="admin", password=PASSWORD):
    return client.post("/auth/token", data={"username": name, "password": password})


def guess(client, name="admin", times=None, settings=None):
    for _ in range(times or settings.login_max_failures):
        assert login(client, name, "a wrong guess").status_code == 401


@pytest.fixture
def from_address(app, api):
    from fastapi.testclient import TestClient

    return lambda address: TestClient(app, client=address)


def test_guessing_every_window_from_one_address_does_not_keep_admin_out(from_address, settings, db):
    attacker, admin = from_address(ATTACKER), from_address(OFFICE)
    for window in range(3):  # the attacker comes back each time the window has passed
        guess(attacker, settings=settings)
        assert login(attacker).status_code == 429
        assert login(admin).status_code == 200
        db.execute("UPDATE login_failures SET at = at - interval '16 minutes'")


def test_a_client_that_has_logged_in_before_gets_through_while_every_new_client_is_locked_out(
        app, settings, db, api):
    from fastapi.testclient import TestClient

    settings = settings.model_copy(update={"login_max_failures_per_name": 2 * settings.login_max_failures})
    app.state.settings = settings
    # The admin's own browser, at the same address the guesses come from (one office, one NAT).
    known = TestClient(app, client=ATTACKER)
    assert login(known).status_code == 200 and known.cookies.get("pilecare_device")
    for address in (ATTACKER, ELSEWHERE):  # many addresses together reach the name-wide limit
        guess(TestClient(app, client=address), settings=settings)
    refused = login(TestClient(app, client=OFFICE))
    assert refused.status_code == 429 and "clients that have not logged in as it before" in refused.json()["detail"]
    assert login(known).status_code == 200
    # Unknown names are held alike, so the answer tells nothing about which accounts exist.
    for address in (ATTACKER, ELSEWHERE):
        guess(TestClient(app, client=address), name="nobody", settings=settings)
    assert login(TestClient(app, client=OFFICE), "nobody").status_code == 429


def test_a_device_cookie_counts_only_for_its_own_user_and_its_own_failures(from_address, settings, api):
    known = from_address(OFFICE)
    assert login(known).status_code == 200
    guess(known, settings=settings)  # a device that guesses is locked itself ...
    locked = login(known)
    assert locked.status_code == 429 and "from this device" in locked.json()["detail"]
    assert login(from_address(ELSEWHERE)).status_code == 200  # ... and nobody else
    # Vera's cookie is no pass for admin: from her browser, admin is a new client of that address.
    api.post("/users", json={"id": "vera", "full_name": "Vera", "role": "viewer", "password": PASSWORD})
    vera = from_address(ATTACKER)
    assert login(vera, "vera").status_code == 200
    guess(from_address(ATTACKER), settings=settings)
    assert login(vera).status_code == 429


def test_a_device_cookie_is_no_bearer_token_and_a_forged_one_is_no_device(from_address, app, settings):
    known = from_address(OFFICE)
    assert login(known).status_code == 200
    device = known.cookies.get("pilecare_device")
    assert device
    assert from_address(ELSEWHERE).get("/auth/me", headers={"Authorization": f"Bearer {device}"}).status_code == 401
    forged = jwt.encode({"sub": "admin", "device": "d", "aud": "pilecare:device",
                         "exp": datetime.now(timezone.utc) + timedelta(days=1)}, "another key" * 5, algorithm="HS256")
    attacker = from_address(ATTACKER)
    guess(attacker, settings=settings)
    attacker.cookies.set("pilecare_device", forged)
    assert login(attacker).status_code == 429


def test_an_admin_unlocks_a_locked_account_and_the_lock_and_the_unlock_are_recorded(api, from_address, settings):
    api.post("/users", json={"id": "vera", "full_name": "Vera", "role": "viewer", "password": PASSWORD})
    vera = from_address(ATTACKER)
    guess(vera, "vera", settings=settings)
    assert login(vera, "vera").status_code == 429
    unlocked = api.post("/users/vera/unlock")
    assert unlocked.status_code == 200 and unlocked.json() == {"failures_cleared": settings.login_max_failures}
    assert login(vera, "vera").status_code == 200
    events = api.get("/users/vera/events").json()
    assert [(e["actor"], list(e["change"])) for e in events] == [
        ("admin", ["created"]), ("login-throttle", ["locked"]), ("admin", ["unlocked"])]
    assert events[1]["change"]["locked"]["address"] == ATTACKER[0]
    assert events[1]["change"]["locked"]["scope"] == "address"
    assert api.post("/users/nobody/unlock").status_code == 404


def test_only_an_admin_unlocks(client_for):
    assert client_for("supervisor").post("/users/admin/unlock").status_code == 403


def test_resetting_a_password_lifts_the_lock_so_it_works_at_once(api, from_address, settings):
    api.post("/users", json={"id": "vera", "full_name": "Vera", "role": "viewer", "password": PASSWORD})
    vera = from_address(ATTACKER)
    guess(vera, "vera", settings=settings)
    assert api.patch("/users/vera", json={"password": "a new long password"}).status_code == 200
    assert login(vera, "vera", "a new long password").status_code == 200
    reset = api.get("/users/vera/events").json()[-1]
    assert reset["actor"] == "admin" and reset["change"] == {
        "password": "changed", "unlocked": {"failures_cleared": settings.login_max_failures}}


def test_on_the_server_the_command_line_lets_a_locked_out_only_admin_back_in(settings, db, from_address, tmp_path):
    locked_out = from_address(ATTACKER)
    guess(locked_out, settings=settings)
    env = {"PATH": "/usr/bin:/bin", "PILECARE_DATABASE_URL": settings.database_url, "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pilecare.cli", "users", "unlock", "admin"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"unlocked admin ({settings.login_max_failures} recent failed logins forgotten)" in done.stdout
    assert login(locked_out).status_code == 200
    guess(locked_out, settings=settings)
    done = subprocess.run([sys.executable, "-m", "pilecare.cli", "users", "password", "admin"],
                          env=env | {"PILECARE_PASSWORD": "a fresh admin password"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert login(locked_out, password="a fresh admin password").status_code == 200
    assert [(actor.startswith("cli:"), list(change)) for actor, change in db.execute(
        "SELECT actor, change FROM user_events WHERE user_id = 'admin' AND actor <> 'login-throttle' ORDER BY id")
    ] == [(False, ["created"]), (True, ["unlocked"]), (True, ["password", "unlocked"])]
    missing = subprocess.run([sys.executable, "-m", "pilecare.cli", "users", "unlock", "nobody"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "does not exist" in missing.stderr
