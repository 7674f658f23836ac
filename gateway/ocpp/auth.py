"""Who may open an OCPP connection: HTTP Basic at the WebSocket handshake.

OCPP security profiles 1 and 2 (OCPP 1.6 Security Whitepaper §2.1–2.2, OCPP 2.0.1 part 2
A00.FR.2xx/3xx): the charger sends `Authorization: Basic base64(<charge point id>:<password>)`
on the upgrade request; the user name must be the charge point id of the URL path. The
password is the pile's live OCPP credential (gateway/credentials.py, issued through
POST /piles/{id}/credentials/ocpp). Anything else is answered with HTTP 401 and no WebSocket.
Profile 2 is the same check over TLS (the server's ssl context); the check itself is alike.
"""
from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote, urlsplit

from psycopg_pool import AsyncConnectionPool

from gateway.credentials import Protocol, password_matches
from pilecare.domain import PILE_ID_PATTERN

PATH_PREFIX = "/ocpp/"
_PILE_ID = re.compile(PILE_ID_PATTERN)


def charge_point_id(path: str) -> str | None:
    """The charge point id of a request path `/ocpp/{charge_point_id}` (percent-decoded),
    or None when the path is not of that form or the id is not a valid pile id."""
    parts = urlsplit(path)
    if not parts.path.startswith(PATH_PREFIX):
        return None
    candidate = unquote(parts.path[len(PATH_PREFIX):])
    return candidate if _PILE_ID.match(candidate) else None


def basic_password(authorization: str | None, user: str) -> str | None:
    """The password of an `Authorization: Basic …` header whose user name is `user`, else None.

    The password is everything after the first colon (it may hold colons itself; the user
    name, a pile id, cannot)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, sep, password = decoded.partition(":")
    return password if sep and name == user else None


async def live_hashes(pool: AsyncConnectionPool, pile_ids: list[str]) -> list[str | None]:
    """The live OCPP password hash of each pile (None: unknown pile, or none live), in one
    query for a whole batch of handshakes (gateway/ocpp/batch.py). The same rows as
    gateway.credentials.verify reads, asynchronously."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT pile_id, password_hash FROM device_credentials "
            "WHERE pile_id = ANY(%s) AND protocol = %s AND revoked_at IS NULL",
            (pile_ids, Protocol.OCPP.value),
        )
        found = dict(await cur.fetchall())
    return [found.get(pile_id) for pile_id in pile_ids]


def accepts(password_hash: str | None, password: str) -> bool:
    """Whether `password` opens a pile whose live hash is `password_hash`. Unknown piles,
    revoked credentials and wrong passwords all answer False: a refused handshake must not
    tell which it was."""
    return password_hash is not None and password_matches(password, password_hash)
