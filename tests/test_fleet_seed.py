"""`pilecare fleet seed` creates the same realistic fleet for the same seed, once."""
from __future__ import annotations

import time

from simulators.fleetgen import load_fleet, seed_fleet


def snapshot(db):
    return db.execute("SELECT id, serial, model_id, site_id, warranty_end FROM piles ORDER BY id").fetchall()


def test_seeding_is_deterministic_and_idempotent(db):
    seed_fleet(db, piles=60, seed=42)
    first = snapshot(db)
    seed_fleet(db, piles=60, seed=42)
    assert snapshot(db) == first and len(first) == 60
    kinds = {s.kind for s in load_fleet(db)}
    assert kinds == {"AC", "DC"}
    tiers = {r[0] for r in db.execute("SELECT DISTINCT tier FROM customers")}
    assert tiers == {"platinum", "gold", "standard"}
    assert db.execute("SELECT count(*) FROM piles WHERE warranty_end < current_date").fetchone()[0] > 0


def test_seeding_5000_piles_takes_seconds(db):
    start = time.monotonic()
    summary = seed_fleet(db, piles=5000, seed=1)
    elapsed = time.monotonic() - start
    assert db.execute("SELECT count(*) FROM piles").fetchone()[0] == 5000
    assert elapsed < 20, f"seeding 5,000 piles took {elapsed:.1f}s ({summary})"
