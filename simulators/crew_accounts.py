"""The demo crew's accounts (issue 12, item 3): each simulated engineer logs in as
themselves, like a person with the phone app.

`ensure_accounts` gives every active engineer without a login an engineer-role account
`crew-<engineer id>` (the engineer a person plays through the `engineer` account of
`pilecare run` is left to them), plus `demo-fleet` (viewer: the simulated fleet reads the
event stream, simulators/repairs.py) and `demo-supervisor` (verifies safety repairs), with
random passwords kept in `<data dir>/crew-accounts` (mode 0600, "user role engineer
password" per line, engineer "-" for none).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

FLEET_USER = "demo-fleet"
SUPERVISOR_USER = "demo-supervisor"
CREW_PREFIX = "crew-"
ACCOUNTS_FILE = "crew-accounts"


@dataclass(frozen=True)
class CrewAccount:
    user: str
    role: str
    engineer_id: str | None
    password: str


def read_accounts(path: Path) -> list[CrewAccount]:
    """The accounts in a crew-accounts file; [] if there is none."""
    if not path.exists():
        return []
    accounts = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            user, role, engineer, password = line.split()
            accounts.append(CrewAccount(user, role, None if engineer == "-" else engineer, password))
    return accounts


def ensure_accounts(conn, path: Path, *, actor: str = "pilecare run") -> list[CrewAccount]:
    """The crew's accounts, created where missing (see the module's docstring); an account
    whose password is not in `path` (the file was removed) gets a new one. Returns them."""
    from api import accounts as users

    known = {a.user: a for a in read_accounts(path)}
    wanted = [(FLEET_USER, users.Role.VIEWER, None, "Demo fleet (simulated piles)"),
              (SUPERVISOR_USER, users.Role.SUPERVISOR, None, "Demo supervisor")]
    for engineer_id, name in conn.execute(
            "SELECT id, name FROM engineers WHERE active AND (user_id IS NULL OR user_id LIKE %s) ORDER BY id",
            (CREW_PREFIX + "%",)).fetchall():
        wanted.append((CREW_PREFIX + engineer_id.lower(), users.Role.ENGINEER, engineer_id, f"{name} (demo crew)"))
    result = []
    for user, role, engineer_id, full_name in wanted:
        exists = conn.execute("SELECT 1 FROM users WHERE id = %s", (user,)).fetchone() is not None
        if exists and user in known:
            result.append(known[user])
            continue
        password = secrets.token_urlsafe(12)
        if exists:
            users.update(conn, user, actor=actor, password=password)
        else:
            users.create(conn, user, role=role, full_name=full_name, password=password, actor=actor,
                         engineer_id=engineer_id)
        result.append(CrewAccount(user, role.value, engineer_id, password))
    path.write_text("# the demo crew's accounts (simulators/crew_accounts.py): user role engineer password\n"
                    + "".join(f"{a.user} {a.role} {a.engineer_id or '-'} {a.password}\n" for a in result))
    path.chmod(0o600)
    return result
