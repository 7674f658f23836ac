"""Per-device credentials for MQTT and OCPP, and service accounts on the broker.

A pile gets one live password per protocol (`Protocol.MQTT`: broker username = pile id;
`Protocol.OCPP`: HTTP Basic user = charge point id = pile id, OCPP security profiles 1
and 2). Passwords are random, shown once when issued, and kept only as a hash in
Mosquitto's password-file format, `$7$<iterations>$<salt b64>$<hash b64>` (PBKDF2-SHA512,
what `mosquitto_passwd` writes since 2.0), so the broker's password file is rendered from
the database (gateway/broker_auth.py) and the OCPP gateway checks the same hash.

Why PBKDF2 with Mosquitto's iteration count rather than argon2 (used for people's
passwords): these are 192-bit random secrets, not guessable words, so a slow hash adds no
protection while a reconnect storm of thousands of chargers would cost seconds of CPU each
(OCPP 1.6 Security Whitepaper, 16–40 character AuthorizationKey; Mosquitto's format).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import psycopg
from psycopg.rows import tuple_row

from pilecare.errors import NotFound

ITERATIONS = 101  # mosquitto_passwd's default for $7$
_SALT_BYTES = 12
_HASH_BYTES = 64


class Protocol(str, Enum):
    """What a device credential opens."""

    MQTT = "mqtt"
    OCPP = "ocpp"


def new_password() -> str:
    """A random password: 32 URL-safe characters (192 bits), within OCPP's 16–40."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """Mosquitto's `$7$` hash of `password` (PBKDF2-HMAC-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _HASH_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_matches(password: str, password_hash: str) -> bool:
    """True when `password` hashes to `password_hash` ($7$ format); False for any malformed hash."""
    try:
        _, kind, iterations, salt, digest = password_hash.split("$")
        if kind != "7":
            return False
        salt_bytes, want = base64.b64decode(salt), base64.b64decode(digest)
        got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt_bytes, int(iterations), len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


@dataclass(frozen=True)
class IssuedCredential:
    """A credential just issued: the password is only ever here, never stored."""

    pile_id: str
    protocol: Protocol
    username: str
    password: str
    issued_at: datetime


def issue(conn: psycopg.Connection, pile_id: str, protocol: Protocol, *, issued_by: str) -> IssuedCredential:
    """Issue a new credential, revoking the live one if any (rotation), in one transaction.

    Raises NotFound when the pile is not registered. Two concurrent rotations both succeed in
    turn (the pile's row is locked); the later one's password is the live one.
    """
    with conn.transaction():
        cur = conn.cursor(row_factory=tuple_row)  # whatever rows the caller's connection makes (the API's: dicts)
        if cur.execute("SELECT 1 FROM piles WHERE id = %s FOR UPDATE", (pile_id,)).fetchone() is None:
            raise NotFound(f"pile {pile_id!r} does not exist")
        conn.execute(
            "UPDATE device_credentials SET revoked_at = now(), revoked_by = %s "
            "WHERE pile_id = %s AND protocol = %s AND revoked_at IS NULL",
            (issued_by, pile_id, protocol.value),
        )
        password = new_password()
        issued_at = cur.execute(
            "INSERT INTO device_credentials (pile_id, protocol, password_hash, issued_by) "
            "VALUES (%s, %s, %s, %s) RETURNING issued_at",
            (pile_id, protocol.value, hash_password(password), issued_by),
        ).fetchone()[0]
    return IssuedCredential(pile_id, protocol, pile_id, password, issued_at)


def revoke(conn: psycopg.Connection, pile_id: str, protocol: Protocol, *, revoked_by: str) -> bool:
    """Revoke the pile's live credential for `protocol`; False when it had none."""
    with conn.transaction():
        return conn.execute(
            "UPDATE device_credentials SET revoked_at = now(), revoked_by = %s "
            "WHERE pile_id = %s AND protocol = %s AND revoked_at IS NULL",
            (revoked_by, pile_id, protocol.value),
        ).rowcount > 0


def verify(conn: psycopg.Connection, pile_id: str, protocol: Protocol, password: str) -> bool:
    """True when `password` is the pile's live credential for `protocol`.

    Unknown piles, revoked credentials and wrong passwords all answer False: a caller
    refusing a handshake must not tell which it was.
    """
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT password_hash FROM device_credentials WHERE pile_id = %s AND protocol = %s AND revoked_at IS NULL",
        (pile_id, protocol.value),
    ).fetchone()
    return row is not None and password_matches(password, row[0])
