"""`pilecare bench dispatch`: the dispatch solver on a country-sized synthetic day.

A seeded instance — sites clustered around towns across Germany, eight service regions,
engineers with mixed skills, certifications, shifts, loads and vans, work orders of every
fault category — goes through the same solver core the database pass uses
(matching.build + matching.solve_problem), timed from plain data to offers (building the
cost matrix included). The greedy baseline (most urgent first, nearest qualified engineer
with room) runs on the same input.

Fairness: the solver serves as many orders as possible, greedy may serve fewer, and more
orders mean more driving. So besides the totals the JSON reports km per order and
`same_orders_travel_km`: the solver re-run on exactly the orders greedy served, which is
like for like. The last line of output is JSON.
"""
from __future__ import annotations

import json
import time

import numpy as np

from maintenance.dispatch import matching
from maintenance.dispatch.matching import EngineerIn, OrderIn
from maintenance.dispatch.travel import Haversine

# (lat, lon, weight): the larger German towns; sites and homes cluster around them.
TOWNS = [
    (52.52, 13.40, 10), (53.55, 9.99, 7), (48.14, 11.58, 7), (50.94, 6.96, 6), (50.11, 8.68, 5),
    (48.78, 9.18, 5), (51.23, 6.78, 4), (51.51, 7.47, 4), (51.46, 7.01, 4), (51.34, 12.37, 4),
    (53.08, 8.80, 3), (51.05, 13.74, 3), (52.37, 9.73, 3), (49.45, 11.08, 3), (51.43, 6.76, 2),
    (51.48, 7.22, 2), (51.26, 7.15, 2), (52.02, 8.53, 2), (50.73, 7.10, 2), (51.96, 7.63, 2),
    (49.49, 8.47, 2), (49.01, 8.40, 2), (50.08, 8.24, 2), (53.87, 10.69, 1), (54.32, 10.12, 1),
    (54.09, 12.14, 1), (52.13, 11.63, 1), (50.98, 11.03, 1), (50.83, 12.92, 1), (49.79, 9.95, 1),
    (48.40, 9.99, 1), (47.99, 7.85, 1), (49.24, 6.99, 1), (52.27, 10.52, 1), (51.31, 9.48, 1),
    (48.37, 10.90, 1), (49.01, 12.10, 1), (50.36, 7.59, 1), (52.40, 13.06, 1), (49.87, 8.65, 1),
]
LAT_CUTS, LON_CUTS = (50.0, 52.0, 53.3), (10.5,)   # 4 × 2 = eight service regions
CATEGORIES = ["electrical", "power_module", "cooling", "thermal", "connector", "controller", "insulation", "grid",
              "metering", "connectivity", "other"]
CATEGORY_P = [0.10, 0.12, 0.12, 0.08, 0.18, 0.12, 0.04, 0.04, 0.08, 0.08, 0.04]
MAKERS, CERTIFIED = ["Pilecare", "Voltix", "Ampera", "Nordlade"], ["Voltix", "Ampera"]


def region_of(lat: float, lon: float) -> str:
    return f"R{int(np.searchsorted(LAT_CUTS, lat))}{int(np.searchsorted(LON_CUTS, lon))}"


def _near_town(rng: np.random.Generator, n: int, spread_deg: float) -> np.ndarray:
    weights = np.array([t[2] for t in TOWNS], dtype=float)
    towns = rng.choice(len(TOWNS), size=n, p=weights / weights.sum())
    centres = np.array([(t[0], t[1]) for t in TOWNS])[towns]
    return centres + rng.normal(0, spread_deg, size=(n, 2)) * np.array([1.0, 1.5])


def instance(work_orders: int, engineers: int, seed: int = 1) -> tuple[list[OrderIn], list[EngineerIn]]:
    rng = np.random.default_rng(seed)
    parts = {c: frozenset(f"{c[:4].upper()}-{k}" for k in range(rng.integers(1, 3))) for c in CATEGORIES}
    all_parts = sorted(set().union(*parts.values()))
    region_names = sorted({region_of(la, lo) for la in (49, 51, 52.5, 54) for lo in (8, 12)})

    homes = _near_town(rng, engineers, 0.25)
    crew = []
    for j, (lat, lon) in enumerate(homes):
        home = region_of(lat, lon)
        regions = {home} | ({str(rng.choice(region_names))} if rng.random() < 0.35 else set())
        skills = {s for s, p in (("AC", 0.92), ("DC", 0.65), ("HV", 0.45)) if rng.random() < p}
        skills |= {f"mfr:{m}" for m in CERTIFIED if rng.random() < 0.35}
        max_jobs = int(rng.integers(3, 6))
        crew.append(EngineerIn(
            id=f"E{j:04d}", lat=float(lat), lon=float(lon), skills=frozenset(skills), regions=frozenset(regions),
            on_shift=bool(rng.random() < 0.85), max_jobs=max_jobs, live_jobs=int(rng.integers(0, 3)),
            van_parts=frozenset(str(p) for p in rng.choice(all_parts, size=int(rng.integers(2, 10)), replace=False))))

    sites = _near_town(rng, work_orders, 0.2)
    orders = []
    for i, (lat, lon) in enumerate(sites):
        category = str(rng.choice(CATEGORIES, p=CATEGORY_P))
        refused = frozenset(f"E{int(k):04d}" for k in rng.integers(0, engineers, size=2)) \
            if rng.random() < 0.05 else frozenset()
        orders.append(OrderIn(
            id=i + 1, lat=float(lat), lon=float(lon), region=region_of(lat, lon),
            pile_kind="DC" if rng.random() < 0.45 else "AC", manufacturer=str(rng.choice(MAKERS)), category=category,
            priority=int(rng.choice([1, 2, 3, 4, 5], p=[0.08, 0.25, 0.4, 0.2, 0.07])),
            slack_h=float(rng.uniform(-4, 48)), parts=parts[category], excluded=refused))
    return orders, crew


def _km(offers) -> float:
    return round(sum(o.travel_km for o in offers), 1)


def _by_priority(offers) -> dict[str, int]:
    return {str(p): sum(1 for o in offers if o.score["priority"] == p) for p in range(1, 6)}


def run(work_orders: int = 2000, engineers: int = 200, seed: int = 1) -> dict:
    orders, crew = instance(work_orders, engineers, seed)
    config = matching.load().model_copy(update={"certified_manufacturers": CERTIFIED})
    travel = Haversine()

    started = time.perf_counter()
    problem = matching.build(orders, crew, config, travel)
    solved = matching.solve_problem(problem)
    solve_s = time.perf_counter() - started

    started = time.perf_counter()
    baseline = matching.greedy_problem(matching.build(orders, crew, config, travel))
    greedy_s = time.perf_counter() - started

    served = {o.order_id for o in baseline}
    same = matching.solve([o for o in orders if o.id in served], crew, config, travel)

    feasible = problem.feasible
    result = {
        "work_orders": work_orders, "engineers": engineers, "seed": seed,
        "slots": int(sum(e.capacity for e in crew if e.on_shift)),
        "orders_with_a_qualified_engineer": int(feasible.any(axis=1).sum()),
        "solve_s": round(solve_s, 3), "greedy_s": round(greedy_s, 3),
        "assigned": len(solved), "greedy_assigned": len(baseline),
        "travel_km": _km(solved), "greedy_travel_km": _km(baseline),
        "km_per_order": round(_km(solved) / max(len(solved), 1), 2),
        "greedy_km_per_order": round(_km(baseline) / max(len(baseline), 1), 2),
        "same_orders_assigned": len(same), "same_orders_travel_km": _km(same),
        "served_by_priority": _by_priority(solved), "greedy_served_by_priority": _by_priority(baseline),
        "ready_by_priority": {str(p): sum(1 for o in orders if o.priority == p) for p in range(1, 6)},
        "solver": "scipy.optimize.linear_sum_assignment",
    }
    result["like_for_like"] = ("same number of orders" if result["assigned"] == result["greedy_assigned"] else
                               "the solver serves more orders; compare km_per_order and same_orders_travel_km")
    return result


def main(args) -> None:
    r = run(getattr(args, "work_orders", 2000), getattr(args, "engineers", 200), getattr(args, "seed", 1) or 1)
    print(f"instance: {r['work_orders']} ready orders, {r['engineers']} engineers, {r['slots']} free slots on shift, "
          f"{r['orders_with_a_qualified_engineer']} orders with a qualified engineer")
    print(f"solver  : {r['assigned']} offers, {r['travel_km']:.0f} km ({r['km_per_order']:.1f} km/order), "
          f"by priority {r['served_by_priority']}, {r['solve_s']:.3f} s incl. cost matrix")
    print(f"greedy  : {r['greedy_assigned']} offers, {r['greedy_travel_km']:.0f} km "
          f"({r['greedy_km_per_order']:.1f} km/order), by priority {r['greedy_served_by_priority']}, "
          f"{r['greedy_s']:.3f} s")
    print(f"like for like (greedy's {r['greedy_assigned']} orders): solver {r['same_orders_travel_km']:.0f} km "
          f"for {r['same_orders_assigned']} offers vs greedy {r['greedy_travel_km']:.0f} km")
    print(json.dumps(r))
