"""User accounts in PostgreSQL: create, change, check a password, slow down guessing, lift
a lock. Every change is recorded in user_events with who made it and when.

Passwords are hashed with Argon2 through pwdlib; nothing here ever returns a hash.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg
from psycopg.rows import tuple_row
from pwdlib import PasswordHash

from pilecare.domain import Role
from pilecare.errors import Conflict, InvalidInput, NotFound, TooManyRequests

_hasher = PasswordHash.recommended()
# Verified against when the user name is unknown, so both failures take the same time
# and a caller cannot probe which accounts exist.
_DUMMY_HASH = _hasher.hash("not a password anyone has")

MIN_PASSWORD = 10


@dataclass(frozen=True)
class User:
    id: str
    role: Role
    full_name: str
    engineer_id: str | None = None   # set for engineers: the engineers row they are
    customer_id: str | None = None   # set for customers (the portal): the customer they belong to


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters")


def _record(conn: psycopg.Connection, user_id: str, actor: str, change: dict) -> None:
    conn.execute("INSERT INTO user_events (user_id, actor, change) VALUES (%s, %s, %s)",
                 (user_id, actor, json.dumps(change)))


def create(conn: psycopg.Connection, user_id: str, *, role: Role, full_name: str, password: str, actor: str,
           email: str | None = None, engineer_id: str | None = None, customer_id: str | None = None) -> User:
    """A new account. A `customer` account (the portal) needs `customer_id`, the customer it
    belongs to, and no other role takes one. Raises InvalidInput naming the field, Conflict
    for a taken user id."""
    _check_password(password)
    _check_customer(conn, role, customer_id)
    with conn.transaction():
        inserted = conn.execute(
            "INSERT INTO users (id, full_name, role, password_hash, email, created_by, customer_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
            (user_id, full_name, role.value, _hasher.hash(password), email, actor, customer_id)).fetchone()
        if inserted is None:
            raise Conflict(f"user {user_id!r} exists")
        if engineer_id is not None:
            _link_engineer(conn, user_id, engineer_id)
        created = {"role": role.value, "full_name": full_name, "engineer_id": engineer_id}
        if customer_id is not None:
            created["customer_id"] = customer_id
        _record(conn, user_id, actor, {"created": created})
    return User(user_id, role, full_name, engineer_id, customer_id)


def _check_customer(conn: psycopg.Connection, role: Role, customer_id: str | None) -> None:
    # A portal login shows one customer's objects: without its customer it would show
    # nothing (or, worse, everything), and a staff account tied to a customer means nothing.
    if role is Role.CUSTOMER and customer_id is None:
        raise InvalidInput("customer_id: required for a customer account (the customer it belongs to)")
    if role is not Role.CUSTOMER and customer_id is not None:
        raise InvalidInput(f"customer_id: only a customer account belongs to a customer, not a {role.value}")
    if customer_id is not None and conn.execute("SELECT 1 FROM customers WHERE id = %s",
                                                (customer_id,)).fetchone() is None:
        raise InvalidInput(f"customer_id: customer {customer_id!r} does not exist")


def _link_engineer(conn: psycopg.Connection, user_id: str, engineer_id: str) -> None:
    # A login is one engineer: linking it elsewhere moves the link.
    conn.execute("UPDATE engineers SET user_id = NULL WHERE user_id = %s AND id <> %s", (user_id, engineer_id))
    linked = conn.execute("UPDATE engineers SET user_id = %s WHERE id = %s AND (user_id IS NULL OR user_id = %s) "
                          "RETURNING id", (user_id, engineer_id, user_id)).fetchone()
    if linked is None:
        raise InvalidInput(f"engineer {engineer_id!r} does not exist or has another account")


def update(conn: psycopg.Connection, user_id: str, *, actor: str, role: Role | None = None,
           full_name: str | None = None, email: str | None = None, active: bool | None = None,
           password: str | None = None, engineer_id: str | None = None, customer_id: str | None = None) -> User:
    """Change an account; None leaves a field as it is. A role away from `customer` drops the
    account's customer; a role to `customer` needs `customer_id` unless it has one. Raises
    NotFound for an unknown account, InvalidInput naming the field."""
    changes = {k: v for k, v in (("role", role.value if role else None), ("full_name", full_name),
                                 ("email", email), ("active", active)) if v is not None}
    with conn.transaction():
        row = conn.cursor(row_factory=tuple_row).execute(
            "SELECT role, customer_id FROM users WHERE id = %s FOR UPDATE", (user_id,)).fetchone()
        if row is None:
            raise NotFound(f"user {user_id!r} does not exist")
        new_role = role or Role(row[0])
        new_customer = customer_id or (row[1] if new_role is Role.CUSTOMER else None)
        _check_customer(conn, new_role, new_customer)
        if new_customer != row[1]:
            changes["customer_id"] = new_customer
        if changes:
            # One statement: the role and the customer must change together (users_customer_check).
            conn.execute(f"UPDATE users SET {', '.join(f'{column} = %s' for column in changes)} WHERE id = %s",
                         (*changes.values(), user_id))
        if password is not None:
            _check_password(password)
            conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (_hasher.hash(password), user_id))
            changes["password"] = "changed"
            # A reset password is meant to be used at once: the locks earned guessing the old
            # one no longer protect anything.
            if cleared := _forget_failures(conn, user_id):
                changes["unlocked"] = {"failures_cleared": cleared}
        if engineer_id is not None:
            _link_engineer(conn, user_id, engineer_id)
            changes["engineer_id"] = engineer_id
        if changes:
            _record(conn, user_id, actor, changes)
    return get(conn, user_id)


def get(conn: psycopg.Connection, user_id: str, *, active_only: bool = False) -> User:
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT u.id, u.role, u.full_name, e.id AS engineer_id, u.customer_id FROM users u "
        "LEFT JOIN engineers e ON e.user_id = u.id WHERE u.id = %s AND (u.active OR NOT %s)",
        (user_id, active_only)).fetchone()
    if row is None:
        raise NotFound(f"user {user_id!r} does not exist")
    return User(row[0], Role(row[1]), row[2], row[3], row[4])


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed within `window_minutes` (PILECARE_LOGIN_*): `per_source` per user
    name and source (device cookie, else address), `per_name` per user name over every client
    without a device cookie."""
    per_source: int
    per_name: int
    window_minutes: int


@dataclass(frozen=True)
class LoginClient:
    """Where a login attempt comes from: its address, and the id of the device cookie it
    carried if that cookie is valid and was issued to the user name it tries."""
    address: str | None
    device: str | None = None


# (limit, which failures count, what the refusal says, what the lock covers). A client with a
# device cookie answers only for its own failures: OWASP's "Slow down online guessing attacks
# with device cookies". Any other client is held per address (OWASP Authentication Cheat
# Sheet: lock per account and source) and, with all the others, per name.
def _scopes(client: LoginClient, limits: LoginLimits) -> list[tuple[int, str, str, str]]:
    if client.device is not None:
        return [(limits.per_source, "device = %(device)s", "from this device", "device")]
    return [(limits.per_source, "device IS NULL AND address IS NOT DISTINCT FROM %(address)s", "from this address",
             "address"),
            (limits.per_name, "device IS NULL",
             "from clients that have not logged in as it before (one that has still can)", "new clients")]


def _count(conn: psycopg.Connection, user_id: str, client: LoginClient, limits: LoginLimits, limit: int,
           where: str) -> tuple[int, int]:
    """Recent failures in one scope, and the seconds until they drop below `limit`."""
    count, wait = conn.cursor(row_factory=tuple_row).execute(
        "SELECT count(*), (array_agg(at ORDER BY at))[greatest(count(*) - %(limit)s + 1, 1)::int] "
        "                 + make_interval(mins => %(window)s) - now() "
        f"FROM login_failures WHERE user_id = %(user)s AND at > now() - make_interval(mins => %(window)s) AND {where}",
        {"user": user_id, "limit": limit, "window": limits.window_minutes, "address": client.address,
         "device": client.device}).fetchone()
    return count, max(1, int(wait.total_seconds())) if wait is not None else 0


def check_throttle(conn: psycopg.Connection, user_id: str, client: LoginClient, limits: LoginLimits) -> None:
    """Refuse a login attempt whose scope has too many recent failures: TooManyRequests (429)
    with the seconds to wait. Known and unknown user names alike, so a refusal tells nothing
    about which accounts exist."""
    for limit, where, said, _ in _scopes(client, limits):
        count, wait = _count(conn, user_id, client, limits, limit, where)
        if count >= limit:
            raise TooManyRequests(f"too many failed logins for this user name {said}; try again in "
                                  f"{-(-wait // 60)} min", retry_after_s=wait)


def record_failure(conn: psycopg.Connection, user_id: str, client: LoginClient, limits: LoginLimits) -> None:
    """Count a failed login; when it locks a scope of an existing account, record that in
    user_events (actor `login-throttle`, with the address it came from)."""
    with conn.transaction():
        conn.execute("DELETE FROM login_failures WHERE at < now() - make_interval(mins => %s)",
                     (limits.window_minutes,))
        conn.execute("INSERT INTO login_failures (user_id, address, device) VALUES (%s, %s, %s)",
                     (user_id, client.address, client.device))
        for limit, where, _, scope in _scopes(client, limits):
            count, wait = _count(conn, user_id, client, limits, limit, where)
            if count == limit:  # this failure is the one that locks it
                change = {"locked": {"scope": scope, "address": client.address, "failures": count,
                                     "for_s": wait}}
                conn.execute("INSERT INTO user_events (user_id, actor, change) SELECT %s, 'login-throttle', %s "
                             "WHERE EXISTS (SELECT 1 FROM users WHERE id = %s)",
                             (user_id, json.dumps(change), user_id))


def clear_failures(conn: psycopg.Connection, user_id: str, client: LoginClient) -> None:
    """Forget the failures of the client that has just logged in (only its own: a success
    elsewhere must not hand a guesser a fresh allowance)."""
    conn.execute("DELETE FROM login_failures WHERE user_id = %s AND "
                 "(device = %s OR (device IS NULL AND address IS NOT DISTINCT FROM %s))",
                 (user_id, client.device, client.address))


def unlock(conn: psycopg.Connection, user_id: str, *, actor: str) -> int:
    """Lift every failed-login lock on an account (all sources); return the failures forgotten.

    Raises NotFound for an unknown account. Recorded in user_events.
    """
    with conn.transaction():
        if conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user_id,)).fetchone() is None:
            raise NotFound(f"user {user_id!r} does not exist")
        cleared = _forget_failures(conn, user_id)
        _record(conn, user_id, actor, {"unlocked": {"failures_cleared": cleared}})
    return cleared


def _forget_failures(conn: psycopg.Connection, user_id: str) -> int:
    return conn.execute("DELETE FROM login_failures WHERE user_id = %s", (user_id,)).rowcount


def authenticate(conn: psycopg.Connection, user_id: str, password: str) -> User | None:
    """The active user with this password, or None (unknown, inactive or wrong: one answer)."""
    row = conn.execute("SELECT password_hash FROM users WHERE id = %s AND active", (user_id,)).fetchone()
    stored = (row["password_hash"] if isinstance(row, dict) else row[0]) if row else _DUMMY_HASH
    ok, new_hash = _hasher.verify_and_update(password, stored)
    if row is None or not ok:
        return None
    if new_hash is not None:  # parameters were raised since this hash was made
        conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (new_hash, user_id))
    return get(conn, user_id)
