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
