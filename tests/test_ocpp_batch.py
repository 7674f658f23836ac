"""Batching a reconnect storm's database calls (gateway/ocpp/batch.py, store.claim_many)."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.ocpp import store
from gateway.ocpp.batch import Batcher


def test_calls_made_while_a_batch_runs_go_together_in_the_next_and_each_gets_its_own_result():
    runs: list[list[int]] = []

    async def square(items: list[int]) -> list[int]:
        runs.append(items)
        await asyncio.sleep(0.01)  # a statement in flight while more calls arrive
        return [i * i for i in items]

    async def storm() -> tuple[int, list[int]]:
        batcher = Batcher(square, max_size=50, concurrency=1)
        alone = await batcher(7)
        return alone, await asyncio.gather(*(batcher(i) for i in range(120)))

    alone, results = asyncio.run(storm())
    assert alone == 49 and results == [i * i for i in range(120)]
    assert [len(r) for r in runs] == [1, 50, 50, 20]  # a lone call goes at once, by itself


def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_still_runs():
    async def fussy(items: list[int]) -> list[int]:
        await asyncio.sleep(0)
        if 3 in items:
            raise ValueError("three")
        return items

    async def calls():
        batcher = Batcher(fussy, max_size=2, concurrency=1)
        return await asyncio.gather(*(batcher(i) for i in range(6)), return_exceptions=True)

    outcomes = asyncio.run(calls())
    assert outcomes[0] == 0 and outcomes[5] == 5
    assert [type(o) for o in outcomes[1:5]].count(ValueError) == 2  # 3 and its batch-mate


def test_of_two_claims_for_one_charger_in_a_batch_the_later_is_its_connection(database_url, db, fleet):
    first, second, other = (str(uuid.uuid4()) for _ in range(3))

    async def claim():
        pool = store.open_pool(database_url, max_size=2)
        await pool.open()
        try:
            await store.claim_many(pool, "ocpp-a", [("TP-0001", first, "1.6"), ("TP-0002", other, "2.0.1"),
                                                    ("TP-0001", second, "2.0.1")])
        finally:
            await pool.close()

    asyncio.run(claim())

    assert db.execute("SELECT pile_id, connection_id::text, ocpp_version FROM ocpp_connections ORDER BY pile_id"
                      ).fetchall() == [("TP-0001", second, "2.0.1"), ("TP-0002", other, "2.0.1")]


@pytest.mark.parametrize("size", [1, 7])
def test_a_batch_of_handshakes_reads_every_live_hash_in_one_query(database_url, db, fleet, size):
    from gateway.credentials import Protocol, issue, revoke
    from gateway.ocpp.auth import accepts, live_hashes

    issued = {p: issue(db, p, Protocol.OCPP, issued_by="test").password for p in fleet[:size]}
    revoke(db, fleet[0], Protocol.OCPP, revoked_by="test")

    async def lookup():
        pool = store.open_pool(database_url, max_size=1)
        await pool.open()
        try:
            return await live_hashes(pool, [*fleet[:size], "NOPE"])
        finally:
            await pool.close()

    hashes = asyncio.run(lookup())
    assert [accepts(h, issued.get(p, "x")) for h, p in zip(hashes, [*fleet[:size], "NOPE"])] == [
        False, *([True] * (size - 1)), False]
