"""User accounts in PostgreSQL: create, change, check a password. Every change is recorded
in user_events with who made it and when.

Passwords are hashed with Argon2 through pwdlib; nothing here ever returns a hash.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import psycopg
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


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters")


def _record(conn: psycopg.Connection, user_id: str, actor: str, change: dict) -> None:
    conn.execute("INSERT INTO user_events (user_id, actor, change) VALUES (%s, %s, %s)",
                 (user_id, actor, json.dumps(change)))


def create(conn: psycopg.Connection, user_id: str, *, role: Role, full_name: str, password: str, actor: str,
           email: str | None = None, engineer_id: str | None = None) -> User:
    _check_password(password)
    with conn.transaction():
        inserted = conn.execute(
            "INSERT INTO users (id, full_name, role, password_hash, email, created_by) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            (user_id, full_name, role.value, _hasher.hash(password), email, actor)).fetchone()
        if inserted is None:
            raise Conflict(f"user {user_id!r} exists")
        if engineer_id is not None:
            _link_engineer(conn, user_id, engineer_id)
        _record(conn, user_id, actor, {"created": {"role": role.value, "full_name": full_name,
                                                   "engineer_id": engineer_id}})
    return User(user_id, role, full_name, engineer_id)


def _link_engineer(conn: psycopg.Connection, user_id: str, engineer_id: str) -> None:
    # A login is one engineer: linking it elsewhere moves the link.
    conn.execute("UPDATE engineers SET user_id = NULL WHERE user_id = %s AND id <> %s", (user_id, engineer_id))
    linked = conn.execute("UPDATE engineers SET user_id = %s WHERE id = %s AND (user_id IS NULL OR user_id = %s) "
                          "RETURNING id", (user_id, engineer_id, user_id)).fetchone()
    if linked is None:
        raise InvalidInput(f"engineer {engineer_id!r} does not exist or has another account")


def update(conn: psycopg.Connection, user_id: str, *, actor: str, role: Role | None = None,
           full_name: str | None = None, email: str | None = None, active: bool | None = None,
           password: str | None = None, engineer_id: str | None = None) -> User:
    changes = {k: v for k, v in (("role", role.value if role else None), ("full_name", full_name),
                                 ("email", email), ("active", active)) if v is not None}
    with conn.transaction():
        if conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user_id,)).fetchone() is None:
            raise NotFound(f"user {user_id!r} does not exist")
        for column, value in changes.items():
            conn.execute(f"UPDATE users SET {column} = %s WHERE id = %s", (value, user_id))
        if password is not None:
            _check_password(password)
            conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (_hasher.hash(password), user_id))
            changes["password"] = "changed"
        if engineer_id is not None:
            _link_engineer(conn, user_id, engineer_id)
            changes["engineer_id"] = engineer_id
        if changes:
            _record(conn, user_id, actor, changes)
    return get(conn, user_id)


def get(conn: psycopg.Connection, user_id: str, *, active_only: bool = False) -> User:
    row = conn.execute(
        "SELECT u.id, u.role, u.full_name, e.id AS engineer_id FROM users u LEFT JOIN engineers e ON e.user_id = u.id "
        "WHERE u.id = %s AND (u.active OR NOT %s)", (user_id, active_only)).fetchone()
    if row is None:
        raise NotFound(f"user {user_id!r} does not exist")
    row = tuple(row.values()) if isinstance(row, dict) else row
    return User(row[0], Role(row[1]), row[2], row[3])


def check_throttle(conn: psycopg.Connection, user_id: str, *, max_failures: int, window_minutes: int) -> None:
    """Refuse (429) a user name with too many recent failed logins, known or not alike."""
    row = conn.execute(
        "SELECT count(*) AS n, min(at) + make_interval(mins => %s) - now() AS wait FROM login_failures "
        "WHERE user_id = %s AND at > now() - make_interval(mins => %s)",
        (window_minutes, user_id, window_minutes)).fetchone()
    count, wait = (row["n"], row["wait"]) if isinstance(row, dict) else row
    if count >= max_failures:
        seconds = max(1, int(wait.total_seconds()))
        raise TooManyRequests(f"too many failed logins for this user name; try again in {-(-seconds // 60)} min",
                              retry_after_s=seconds)


def record_failure(conn: psycopg.Connection, user_id: str, address: str | None, *, window_minutes: int) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM login_failures WHERE at < now() - make_interval(mins => %s)", (window_minutes,))
        conn.execute("INSERT INTO login_failures (user_id, address) VALUES (%s, %s)", (user_id, address))


def clear_failures(conn: psycopg.Connection, user_id: str) -> None:
    conn.execute("DELETE FROM login_failures WHERE user_id = %s", (user_id,))


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
