"""The gateway's few reads and writes in PostgreSQL (all asyncio, through one pool).

Everything a gateway process must share with the others is here, not in memory: which
connection speaks for a charger (`ocpp_connections`, migration 0045/0048) and the OCPP 1.6
transaction ids it hands out (`ocpp_transactions`). Several processes behind a load balancer
are safe because each change is one statement that decides by itself.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

REPLACED_CHANNEL = "ocpp_connection_replaced"


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await conn.execute("SET TIME ZONE 'UTC'")


def open_pool(url: str, *, max_size: int) -> AsyncConnectionPool:
    """An asyncio pool (autocommit) for `url`; open it with `await pool.open()`."""
    return AsyncConnectionPool(url, min_size=1, max_size=max_size, kwargs={"autocommit": True},
                               configure=_configure, name="pilecare-ocpp", open=False)


@dataclass(frozen=True)
class Registration:
    """What a BootNotification's answer needs from the registry."""

    commissioned: bool          # piles.commissioned_on set and not in the future (UTC)
    reporting_interval_s: int   # the pile model's: pilecare's liveness counts three of them


async def registrations(pool: AsyncConnectionPool, pile_ids: list[str]) -> list[Registration | None]:
    """Each pile's registration (None: not registered), in one query for a batch of
    BootNotifications (gateway/ocpp/batch.py). Decides Accepted or Pending (1.6 §4.2,
    2.0.1 B02) and the heartbeat interval."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT p.id, p.commissioned_on IS NOT NULL AND p.commissioned_on <= (now() AT TIME ZONE 'UTC')::date, "
            "m.reporting_interval_s FROM piles p JOIN pile_models m ON m.id = p.model_id WHERE p.id = ANY(%s)",
            (pile_ids,))
        found = {pile_id: Registration(bool(commissioned), interval) for pile_id, commissioned, interval
                 in await cur.fetchall()}
    return [found.get(pile_id) for pile_id in pile_ids]


async def transaction_id(pool: AsyncConnectionPool, pile_id: str, connector_id: int, id_tag: str,
                         meter_start_wh: int, started_at: datetime) -> int:
    """The OCPP 1.6 transactionId for a StartTransaction (1.6 §6.46): a new one, or the one
    already given to the same start replayed (a charger that lost the answer, libocpp #907)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO ocpp_transactions (pile_id, connector_id, id_tag, meter_start_wh, started_at) "
            "VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (pile_id, connector_id, started_at, id_tag, meter_start_wh) "
            "DO UPDATE SET pile_id = EXCLUDED.pile_id RETURNING id",  # a no-op update so RETURNING has the row
            (pile_id, connector_id, id_tag, meter_start_wh, started_at))
        return (await cur.fetchone())[0]


async def claim_many(pool: AsyncConnectionPool, gateway: str, claims: list[tuple[str, str, str]]) -> list[None]:
    """Make each `(pile_id, connection_id, ocpp_version)` its charger's current connection,
    replacing any other (the trigger of migration 0048 tells the process holding a replaced
    one), in one statement for a whole batch (gateway/ocpp/batch.py). Of two claims for one
    charger in a batch the later wins: it is the newer connection."""
    latest = {pile_id: (pile_id, connection_id, version) for pile_id, connection_id, version in claims}
    piles, connections, versions = (list(column) for column in zip(*latest.values()))
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO ocpp_connections (pile_id, connection_id, gateway, ocpp_version) "
            "SELECT c.pile_id, c.connection_id, %s, c.version "
            "FROM unnest(%s::text[], %s::uuid[], %s::text[]) AS c (pile_id, connection_id, version) "
            "ON CONFLICT (pile_id) DO UPDATE SET connection_id = EXCLUDED.connection_id, gateway = EXCLUDED.gateway, "
            "ocpp_version = EXCLUDED.ocpp_version, connected_at = now()",
            (gateway, piles, connections, versions))
    return [None] * len(claims)


async def release(pool: AsyncConnectionPool, pile_id: str, connection_id: str) -> bool:
    """Forget the charger's connection if it is still `connection_id`; True when it was
    (then, and only then, the charger has gone offline)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM ocpp_connections WHERE pile_id = %s AND connection_id = %s", (pile_id, connection_id))
        return cur.rowcount > 0


async def is_connected(pool: AsyncConnectionPool, pile_id: str) -> bool:
    """Whether any connection speaks for the charger now."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM ocpp_connections WHERE pile_id = %s", (pile_id,))
        return await cur.fetchone() is not None


async def current_of(pool: AsyncConnectionPool, connection_ids: list[str]) -> set[str]:
    """Which of `connection_ids` are still their charger's current connection."""
    if not connection_ids:
        return set()
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT connection_id::text FROM ocpp_connections WHERE connection_id = ANY(%s::uuid[])", (connection_ids,))
        return {row[0] for row in await cur.fetchall()}


async def listen_replaced(url: str, on_replaced: Callable[[str, str], Awaitable[None]],
                          on_listening: Callable[[], Awaitable[None]], *, retry_s: float = 2.0) -> None:
    """Call `on_replaced(pile_id, connection_id)` for every connection replaced anywhere, until
    cancelled. `on_listening()` is called each time the LISTEN is in place (at start and after
    a lost database connection is re-opened), so the caller can catch up on notices it may
    have missed meanwhile."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(f"LISTEN {REPLACED_CHANNEL}")
                await on_listening()
                async for notice in conn.notifies():
                    data = json.loads(notice.payload)
                    await on_replaced(data["pile_id"], str(data["connection_id"]))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("listening for replaced OCPP connections failed; again in %s s", retry_s)
            await asyncio.sleep(retry_s)
