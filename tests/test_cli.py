"""Issue 12, item 7: the commands a newcomer types next to `./run.sh` find its instance without
configuration, and fail in one line, not a traceback, when there is nothing to talk to."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def pilecare(*args: str, cwd, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pilecare.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def bare_env(tmp_path):
    """The environment of a fresh shell in a project directory: no PILECARE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PILECARE_")}
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PILECARE_PASSWORD"] = "correct horse battery staple"
    return env


def test_a_command_finds_the_database_of_the_running_instance(db, database_url, tmp_path, bare_env):
    (tmp_path / ".pilecare").mkdir()
    # What `pilecare run` writes while it runs; this test process stands in for it (pid alive).
    (tmp_path / ".pilecare" / "instance.json").write_text(json.dumps(
        {"database_url": database_url, "mqtt_url": "mqtt://127.0.0.1:1883", "api_url": "http://127.0.0.1:8000",
         "pid": os.getpid()}))
    done = pilecare("users", "create", "nina", "--role", "viewer", cwd=tmp_path, env=bare_env)
    assert done.returncode == 0, done.stderr
    assert db.execute("SELECT role FROM users WHERE id = 'nina'").fetchone() == ("viewer",)


def test_without_a_database_a_command_says_what_to_do_in_one_line(tmp_path, bare_env):
    (tmp_path / ".pilecare").mkdir()
    # A file left by a run that was killed: its pid is gone, so it is not believed.
    (tmp_path / ".pilecare" / "instance.json").write_text(json.dumps(
        {"database_url": "postgresql://x@127.0.0.1:1/x", "pid": 2 ** 22 + 12345}))
    done = pilecare("users", "create", "nina", "--role", "viewer", cwd=tmp_path, env=bare_env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("pilecare users: no database: set PILECARE_DATABASE_URL")


def test_an_unreachable_database_is_one_line_too(tmp_path, bare_env):
    done = pilecare("migrate", cwd=tmp_path, env=bare_env | {"PILECARE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "pilecare migrate: cannot reach the database" in done.stderr


def test_a_fresh_demo_has_one_account_per_role_and_an_engineer_on_shift(db, tmp_path):
    from datetime import datetime, timedelta, timezone

    from api import accounts
    from maintenance.dispatch import roster
    from pilecare.run import first_accounts

    now = datetime.now(timezone.utc)
    for eid, shift in (("E-OFF", None), ("E-ON", (now - timedelta(hours=1), now + timedelta(hours=7)))):
        roster.create(db, eid, name=eid, home_lat=52.5, home_lon=13.4, skills=("AC",), regions=("north",))
        if shift:
            roster.add_shift(db, eid, *shift)
    db.execute("INSERT INTO customers (id, name) VALUES ('CUST-B', 'Second'), ('CUST-A', 'First')")
    banner = first_accounts(db, tmp_path)
    lines = [line.split() for line in (tmp_path / "accounts").read_text().splitlines()]
    assert sorted(role for role, _, _ in lines) == sorted(r.value for r in accounts.Role)
    assert oct((tmp_path / "accounts").stat().st_mode & 0o777) == "0o600"
    for role, user, password in lines:
        assert accounts.authenticate(db, user, password).role.value == role
    assert db.execute("SELECT e.id FROM engineers e JOIN users u ON u.id = e.user_id WHERE u.role = 'engineer'").fetchone() == ("E-ON",)
    assert db.execute("SELECT customer_id FROM users WHERE role = 'customer'").fetchall() == [("CUST-A",)]
    assert "one account per role" in banner and first_accounts(db, tmp_path) == banner  # once


def test_the_demo_runs_the_shipped_policy_with_a_shorter_verification_and_vans_at_its_speed(tmp_path):
    from types import SimpleNamespace

    from maintenance import policy as policies
    from pilecare.run import DEMO_POLICY, _demo_policy

    line = _demo_policy(SimpleNamespace(policy_file=None), tmp_path, 5, 30)
    demo, shipped = policies.load(str(tmp_path / DEMO_POLICY)), policies.load(None)
    assert (demo.verify_s, shipped.verify_s) == (300, 1800)
    # The demo's vans drive at the simulation's speed, so its arrival check allows for that.
    assert (demo.arrival_max_speed_kmh, shipped.arrival_max_speed_kmh) == (4500, 150)
    assert demo == shipped.model_copy(update={"verify_s": 300, "arrival_max_speed_kmh": 4500})
    assert "verification after 5 min healthy (shipped: 30 min" in line
    # An operator's own policy file is used as it is.
    assert _demo_policy(SimpleNamespace(policy_file="/etc/pilecare/policy.yaml"), tmp_path, 5, 30).startswith(
        "/etc/pilecare/policy.yaml")
