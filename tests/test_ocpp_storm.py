"""A gateway restart is absorbed (issue 15, item 5): when `pilecare ocpp` is killed -9 in
the middle of a stream, every charger reconnects at once to the new process, delivers
what it queued while it was offline (and the CALL that was in flight, again, with a new
message id), and every message is stored exactly once.

The chargers are the benchmark's load generator (simulators/bench/ocpp_load.py), run in
this process; the gateway is a real `pilecare ocpp` process; ingest runs in a thread.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from simulators.bench.ocpp import GatewayProcess, seed_chargers, stored_rows
from simulators.bench.ocpp_load import Action, Fleet
from tests.devices import wait_for

CHARGERS = 300
RATE = 150.0  # CALLs/s across the fleet: each charger every 2 s


@pytest.fixture
def chargers(db):
    return seed_chargers(db, CHARGERS)


@pytest.fixture
def gateway(settings, tmp_path):
    process = GatewayProcess(settings, tmp_path / "gateway.log")
    process.start()
    yield process
    process.stop()


def run_with_a_restart(gateway: GatewayProcess, chargers, *, kill_after_s: float, down_s: float, run_s: float):
    """Boot the fleet, stream, kill -9 the gateway after `kill_after_s`, start a new one
    `down_s` later, stream until `run_s`; then deliver what is queued. (stats, restarted_at)."""
    fleet = Fleet(gateway.url, chargers, rate=RATE, call_timeout_s=10.0, reconnect_s=0.5)
    restarted = {}

    async def restart(at: float) -> None:
        await asyncio.sleep(at - time.monotonic())
        await asyncio.to_thread(gateway.kill)
        await asyncio.sleep(down_s)
        restarted["at"] = time.monotonic()
        await asyncio.to_thread(gateway.start)

    async def scenario():
        await fleet.connect_all()
        assert fleet.stats.connected == len(chargers), "the fleet did not boot before the storm"
        start = time.monotonic()
        stats, _ = await asyncio.gather(fleet.run(start, start + run_s, drain_s=30.0), restart(start + kill_after_s))
        await fleet.close()
        return stats

    return asyncio.run(scenario()), restarted["at"]


def test_after_a_gateway_restart_every_charger_reconnects_and_each_queued_message_is_stored_once(
        gateway, chargers, ingest, db):
    stats, restarted = run_with_a_restart(gateway, chargers, kill_after_s=4.0, down_s=3.0, run_s=12.0)

    reconnected = [t for t in stats.reconnected_at if t >= restarted]
    assert len(reconnected) == CHARGERS, "every charger reconnected to the new gateway"
    assert stats.held == CHARGERS and stats.queued_left == 0, "all connected at the end with nothing left queued"
    assert stats.errors == 0 and stats.timeouts == 0
    assert stats.dropped > 0, "the outage was long enough for chargers to be offline at a due time"

    for action in (Action.METER, Action.STATUS):
        answered = stats.stored_expected[action.value]
        wait_for(lambda: stored_rows(db, action)[1] == answered, timeout=60,
                 message=f"every {action.value} answered is stored")
        rows, distinct = stored_rows(db, action)
        assert rows == distinct == answered, f"each {action.value} stored exactly once"
