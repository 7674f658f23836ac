"""Acceptance: a simulated fleet of 200 piles reporting for 20 s through the real broker,
ingest and database; every published message is stored exactly once, visible through
the API, and the latest state matches each pile's last message."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from simulators.fleetgen import load_fleet, seed_fleet
from simulators.runner import Simulation
from tests.devices import wait_for

PILES = 200
SECONDS = 20


def test_a_simulated_fleet_is_stored_exactly_once_and_visible_through_the_api(settings, db, ingest, api):
    seed_fleet(db, piles=PILES, seed=7)
    specs = load_fleet(db)
    assert len(specs) == PILES
    simulation = Simulation(settings, specs, mode="per-pile", interval=2.0, speed=30.0, seed=7)
    simulation.start()
    try:
        time.sleep(SECONDS)
    finally:
        simulation.stop()
    published = simulation.published
    assert published >= PILES * (SECONDS / 2) * 0.8, f"the fleet published only {published} messages"

    wait_for(lambda: db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0").fetchone()[0] >= published,
             timeout=30, message="every published message stored")
    stored = dict(db.execute(
        "SELECT pile_id, count(*) FROM telemetry WHERE connector_id = 0 GROUP BY pile_id").fetchall())
    assert stored == {p: n for p, n in simulation.published_by_pile.items() if n}
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0

    now = datetime.now(timezone.utc)
    stats = api.get("/ingest/stats").json()
    assert stats["stored"] >= published and stats["duplicates"] == 0 and stats["dead_lettered"] == 0
    assert stats["sequence_gaps"] == 0
    listing = api.get("/piles", params={"limit": 1000}).json()
    assert listing["count"] == PILES
    for pile_id in list(simulation.last_payload_by_pile)[:25]:
        last = simulation.last_payload_by_pile[pile_id]
        pile = api.get(f"/piles/{pile_id}").json()
        connectors = {c["connector_id"]: c for c in pile["connectors"]}
        for reading in last["connectors"]:
            state = connectors[reading["id"]]
            assert state["seq"] == last["seq"]
            assert state["status"] == reading["status"]
            assert state["error_code"] == reading["error_code"]
            if reading.get("energy_kwh") is not None:
                assert abs(state["energy_kwh"] - reading["energy_kwh"]) < 1e-6
        rows = api.get(f"/piles/{pile_id}/telemetry", params={
            "from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat(),
            "limit": 100000}).json()
        assert len({(r["seq"]) for r in rows["data"]}) == simulation.published_by_pile[pile_id]
