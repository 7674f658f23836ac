"""The demo crew `pilecare run` seeds can serve the demo fleet: in every region someone
qualified is on shift, and a ready order there is offered to an engineer of that region."""
from __future__ import annotations

from maintenance.dispatch import offers as dispatch
from maintenance.orders.lifecycle import WorkOrderState as S
from maintenance.orders.lifecycle import open_corrective, transition
from simulators.crew import seed_crew
from simulators.fleetgen import REGIONS, seed_fleet


def test_the_seeded_crew_covers_every_region_and_takes_its_orders(db):
    seed_fleet(db, piles=60, seed=1)
    assert "18 engineers" in seed_crew(db, seed=1)
    assert "none added" in seed_crew(db, seed=1)  # idempotent
    on_shift = dict(db.execute(
        "SELECT r, count(DISTINCT e.id) FROM engineers e CROSS JOIN unnest(e.regions) r JOIN engineer_shifts s "
        "ON s.engineer_id = e.id AND now() BETWEEN s.starts_at AND s.ends_at GROUP BY r").fetchall())
    assert set(on_shift) == {r[0] for r in REGIONS}

    # One AC order per region (every engineer holds the AC skill).
    orders = {}
    for region, pile in db.execute(
            "SELECT DISTINCT ON (s.region) s.region, p.id FROM piles p JOIN sites s ON s.id = p.site_id "
            "JOIN pile_models m ON m.id = p.model_id WHERE m.kind = 'AC' ORDER BY s.region, p.id").fetchall():
        order_id, _ = open_corrective(db, pile, "cooling", title="Fan", priority=2, actor="test", severity="major")
        transition(db, order_id, S.READY_FOR_DISPATCH, actor="test")
        orders[order_id] = region
    dispatch.assign(db)
    offered = db.execute("SELECT a.work_order_id, e.regions FROM assignments a JOIN engineers e "
                         "ON e.id = a.engineer_id WHERE a.state = 'offered'").fetchall()
    assert len(offered) == len(orders) == len(REGIONS)
    assert all(orders[order_id] in regions for order_id, regions in offered)


def test_the_seeded_crew_covers_every_skill_a_fault_needs_around_the_clock(db):
    # Issue 12, item 3: a ground fault at night (HV) must find a qualified engineer on shift.
    from datetime import datetime, time, timedelta, timezone

    from maintenance.dispatch.matching import load

    seed_crew(db, seed=1)
    config = load()
    needs = {tuple(config.needed_skills(kind, None, category))
             for kind in ("AC", "DC") for category in [None, *config.category_skills]}
    tomorrow = datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=1), time(0), tzinfo=timezone.utc)
    gaps = []
    for hour in range(24):
        at = tomorrow + timedelta(hours=hour, minutes=30)
        on_shift = db.execute(
            "SELECT e.skills, e.regions FROM engineers e JOIN engineer_shifts s ON s.engineer_id = e.id "
            "WHERE %s BETWEEN s.starts_at AND s.ends_at", (at,)).fetchall()
        for region, *_ in REGIONS:
            for need in needs:
                if not any(region in regions and set(need) <= set(skills) for skills, regions in on_shift):
                    gaps.append((f"{at:%H:%M}", region, need))
    assert ("HV",) in {tuple(s for s in n if s == "HV") for n in needs}  # the check covers high-voltage work
    assert gaps == []
