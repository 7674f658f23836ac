"""The demo crew's accounts (issue 12, item 3): each simulated engineer logs in as
themselves, like a person with the phone app.

`ensure_accounts` gives every active engineer without a login an engineer-role account
`crew-<engineer id>` (the engineer a person plays through the `engineer` account of
`pilecare run` is left to them), plus `demo-fleet` (viewer: the simulated fleet reads the
event stream, simulators/repairs.py) and `demo-supervisor` (verifies safety repairs), and for the busy service
desk (issue 13, simulators/desk_crowd.py) `demo-agent-1` and `demo-agent-2` (agents), a
portal login `demo-customer-<n>` for each of the first three customers, and for the stores
and the books (issue 14) `demo-keeper` (parts keeper: simulators/parts_keeper.py) and
`demo-manager` (manager: costs, budgets, reports; a login to look with), with random
passwords kept in `<data dir>/crew-accounts` (mode 0600, "user role link password" per
line: the link is the engineer's id for an engineer, the customer's for a customer, "-"
for none).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

FLEET_USER = "demo-fleet"
SUPERVISOR_USER = "demo-supervisor"
AGENT_USERS = ("demo-agent-1", "demo-agent-2")
KEEPER_USER = "demo-keeper"
MANAGER_USER = "demo-manager"
CUSTOMER_PREFIX = "demo-customer-"
CREW_PREFIX = "crew-"
ACCOUNTS_FILE = "crew-accounts"


@dataclass(frozen=True)
class CrewAccount:
    user: str
    role: str
    engineer_id: str | None
    password: str
    customer_id: str | None = None


def read_accounts(path: Path) -> list[CrewAccount]:
    """The accounts in a crew-accounts file; [] if there is none."""
    if not path.exists():
        return []
    accounts = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            user, role, link, password = line.split()
            link = None if link == "-" else link
            accounts.append(CrewAccount(user, role, link if role == "engineer" else None, password,
                                        link if role == "customer" else None))
    return accounts


def ensure_accounts(conn, path: Path, *, actor: str = "pilecare run") -> list[CrewAccount]:
    """The crew's accounts, created where missing (see the module's docstring); an account
    whose password is not in `path` (the file was removed) gets a new one. Returns them."""
    from api import accounts as users

    known = {a.user: a for a in read_accounts(path)}
    wanted = [(FLEET_USER, users.Role.VIEWER, None, "Demo fleet (simulated piles)"),
              (SUPERVISOR_USER, users.Role.SUPERVISOR, None, "Demo supervisor")]
    wanted += [(user, users.Role.AGENT, None, f"Demo agent {i}") for i, user in enumerate(AGENT_USERS, start=1)]
    wanted += [(KEEPER_USER, users.Role.PARTS_KEEPER, None, "Demo parts keeper"),
               (MANAGER_USER, users.Role.MANAGER, None, "Demo service manager")]
    for engineer_id, name in conn.execute(
            "SELECT id, name FROM engineers WHERE active AND (user_id IS NULL OR user_id LIKE %s) ORDER BY id",
            (CREW_PREFIX + "%",)).fetchall():
        wanted.append((CREW_PREFIX + engineer_id.lower(), users.Role.ENGINEER, engineer_id, f"{name} (demo crew)"))
    for i, (customer_id, name) in enumerate(conn.execute("SELECT id, name FROM customers ORDER BY id LIMIT 3")
                                            .fetchall(), start=1):
        wanted.append((f"{CUSTOMER_PREFIX}{i}", users.Role.CUSTOMER, customer_id, f"{name} (demo portal)"))
    result = []
    for user, role, link, full_name in wanted:
        engineer_id = link if role is users.Role.ENGINEER else None
        customer_id = link if role is users.Role.CUSTOMER else None
        exists = conn.execute("SELECT 1 FROM users WHERE id = %s", (user,)).fetchone() is not None
        if exists and user in known:
            result.append(known[user])
            continue
        password = secrets.token_urlsafe(12)
        if exists:
            users.update(conn, user, actor=actor, password=password)
        else:
            users.create(conn, user, role=role, full_name=full_name, password=password, actor=actor,
                         engineer_id=engineer_id, customer_id=customer_id)
        result.append(CrewAccount(user, role.value, engineer_id, password, customer_id))
    path.write_text("# the demo crew's accounts (simulators/crew_accounts.py): user role link password\n"
                    + "".join(f"{a.user} {a.role} {a.engineer_id or a.customer_id or '-'} {a.password}\n"
                              for a in result))
    path.chmod(0o600)
    return result
