"""An engineer's day of preventive work is ordered by OR-Tools to drive least: never longer
than the order given, every site visited once, orders at one site sharing the stop."""
from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timezone

from maintenance.dispatch import roster
from maintenance.planning.day_routes import _loop_km, best_order, plan_route
from maintenance.dispatch.travel import Haversine

DAY = date(2025, 6, 2)
HOME = (52.52, 13.40)
TRAVEL = Haversine()


def scattered(seed: int, n: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(HOME[0] + rng.uniform(-0.5, 0.5), HOME[1] + rng.uniform(-0.8, 0.8)) for _ in range(n)]


def day_of_pm(db, points, engineer_id="eva", day=DAY):
    """One site per point, each with a preventive order for `day` held by the engineer, given
    in a zig-zag order; the first site gets a second order."""
    roster.create(db, engineer_id, name="Eva", home_lat=HOME[0], home_lon=HOME[1], skills=["AC", "DC"])
    orders, tag = [], "" if engineer_id == "eva" else f"{engineer_id}-"
    for k, (lat, lon) in enumerate(points):
        db.execute("INSERT INTO sites (id, customer_id, name, region, lat, lon) VALUES (%s, 'CUST-1', %s, 'north', "
                   "%s, %s)", (f"{tag}S-{k}", f"Site {k}", lat, lon))
        db.execute("INSERT INTO piles (id, serial, model_id, site_id) VALUES (%s, %s, 'T-AC22', %s)",
                   (f"{tag}P-{k}", f"SN-{tag}P-{k}", f"{tag}S-{k}"))
        for n in range(2 if k == 0 else 1):
            orders.append(db.execute(
                "INSERT INTO work_orders (kind, pile_id, site_id, title, created_by, due_at, engineer_id) "
                "VALUES ('preventive', %s, %s, 'Annual PM', 'planner', %s, %s) RETURNING id",
                (f"{tag}P-{k}", f"{tag}S-{k}",
                 datetime(day.year, day.month, day.day, 9, tzinfo=timezone.utc), engineer_id)).fetchone()[0])
    return orders


def test_the_route_is_never_longer_than_the_given_order_and_visits_every_site_once(db, fleet):
    points = scattered(7, 9)
    orders = day_of_pm(db, points)

    route = plan_route(db, "eva", DAY, time_limit_s=0.3)

    assert sorted(s.site_id for s in route.stops) == sorted(f"S-{k}" for k in range(9))
    assert [s.seq for s in route.stops] == list(range(1, 10))
    assert sorted(o for s in route.stops for o in s.order_ids) == sorted(orders)
    assert next(s for s in route.stops if s.site_id == "S-0").order_ids == orders[:2]
    assert route.km <= route.given_km
    assert route.km < 0.8 * route.given_km   # random points in a given order zig-zag a lot
    assert route.km == round(_loop_km(TRAVEL, HOME, [(s.lat, s.lon) for s in route.stops], range(9)), 3)


def test_orders_of_other_days_engineers_or_kinds_are_not_on_the_route(db, fleet):
    day_of_pm(db, scattered(3, 2))
    day_of_pm(db, scattered(4, 2), engineer_id="emil", day=date(2025, 6, 3))
    db.execute("UPDATE work_orders SET state = 'closed' WHERE site_id = 'S-1' AND engineer_id = 'eva'")
    route = plan_route(db, "eva", DAY)
    assert [s.site_id for s in route.stops] == ["S-0"]
    assert plan_route(db, "eva", date(2025, 6, 3)).stops == []


def test_ortools_finds_the_shortest_round_trip_on_small_days():
    for seed in range(3):
        points = scattered(seed, 7)
        order = best_order(TRAVEL, HOME, points, time_limit_s=0.3)
        optimum = min(_loop_km(TRAVEL, HOME, points, p) for p in itertools.permutations(range(7)))
        assert sorted(order) == list(range(7))
        assert _loop_km(TRAVEL, HOME, points, order) <= optimum + 1e-6
