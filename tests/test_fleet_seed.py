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


def test_a_fresh_demo_starts_mostly_compliant_with_a_small_realistic_backlog(db):
    # Issue 12, item 3: without a history the planner opened 186 orders for 200 piles, due as
    # far back as the piles' commissioning, and PM compliance read 0 %.
    from datetime import datetime, timedelta, timezone

    from maintenance.kpi import pm_compliance
    from maintenance.planning import planner
    from simulators.pm_history import seed_pm_history

    now = datetime.now(timezone.utc)
    seed_fleet(db, piles=200, seed=1)
    summary = seed_pm_history(db, seed=1, now=now)
    seeded, overdue = (int(w) for w in summary.replace("(", " ").split() if w.isdigit())
    assert seeded >= 150 and 0 < overdue <= 0.15 * seeded, summary
    created = planner.plan(db, now).created
    assert len(created) <= 0.3 * 200, len(created)  # the backlog and what comes due within the lead time
    oldest = db.execute("SELECT min(due_at) FROM work_orders WHERE kind = 'preventive' AND state <> 'closed'").fetchone()[0]
    assert oldest > now - timedelta(days=366)  # nothing due back in the piles' first years
    [year] = pm_compliance.compliance(db, [(now - timedelta(days=365), now)], now=now)
    assert year.rate is not None and year.rate >= 0.8, year
