"""An engineer's day of planned work (R-PM, R-INSPECT): the preventive and inspection
orders they hold for that day, one stop per site, in the order that drives least, from
their home base and back. OR-Tools' routing solver orders the stops.

The day of an order is its PM visit's planned date, else the date it is due.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import psycopg
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from maintenance.dispatch import DEFAULT_TRAVEL
from maintenance.dispatch import Travel
from maintenance.orders import PLANNED_KINDS
from pilecare.errors import NotFound


@dataclass
class Stop:
    site_id: str
    site_name: str
    address: str | None
    lat: float
    lon: float
    order_ids: list[int] = field(default_factory=list)
    seq: int = 0                  # 1 = first stop of the day


@dataclass
class Route:
    engineer_id: str
    day: date
    home: tuple[float, float]
    stops: list[Stop]
    km: float                     # home → stops → home, as planned
    given_km: float               # the same stops in the order the orders were given (by id)
    solver: str                   # "ortools" | "given" (nothing to improve) | "none"


def _loop_km(travel: Travel, home, points, order) -> float:
    path = [home] + [points[i] for i in order] + [home]
    return sum(travel.km(a, b) for a, b in zip(path, path[1:]))


def best_order(travel: Travel, home: tuple[float, float], points: list[tuple[float, float]], *,
               time_limit_s: float = 1.0) -> list[int]:
    """The visiting order of `points` (indices) from home and back with the least driving."""
    n = len(points)
    if n <= 2:
        return list(range(n))
    nodes = [home] + list(points)
    # Metres as integers: the routing solver wants integral arc costs.
    metres = (travel.km_matrix(nodes, nodes) * 1000).round().astype(int).tolist()
    manager = pywrapcp.RoutingIndexManager(len(nodes), 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    arc = routing.RegisterTransitCallback(lambda a, b: metres[manager.IndexToNode(a)][manager.IndexToNode(b)])
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    # Guided local search improves until the limit; a day's route has a handful of stops,
    # so a fraction of a second usually reaches the optimum.
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return list(range(n))
    order, index = [], routing.Start(0)
    while not routing.IsEnd(index := solution.Value(routing.NextVar(index))):
        order.append(manager.IndexToNode(index) - 1)
    return order


def plan_route(conn: psycopg.Connection, engineer_id: str, day: date, travel: Travel | None = None, *,
               time_limit_s: float = 1.0) -> Route:
    travel = travel or DEFAULT_TRAVEL
    row = conn.execute("SELECT home_lat, home_lon FROM engineers WHERE id = %s", (engineer_id,)).fetchone()
    if row is None:
        raise NotFound(f"engineer {engineer_id} does not exist")
    home = (row[0], row[1])
    stops: dict[str, Stop] = {}
    for order_id, site_id, name, address, lat, lon in conn.execute(
            "SELECT o.id, s.id, s.name, s.address, s.lat, s.lon FROM work_orders o "
            "JOIN piles p ON p.id = o.pile_id JOIN sites s ON s.id = coalesce(o.site_id, p.site_id) "
            "LEFT JOIN pm_visits v ON v.id = o.visit_id "
            "WHERE o.engineer_id = %s AND o.kind = ANY(%s) AND o.state NOT IN ('closed', 'cancelled', 'resolved', "
            "'verified') AND coalesce(v.planned_for, (o.due_at AT TIME ZONE 'UTC')::date) = %s ORDER BY o.id",
            (engineer_id, list(PLANNED_KINDS), day)).fetchall():
        stops.setdefault(site_id, Stop(site_id, name, address, lat, lon)).order_ids.append(order_id)
    given = list(stops.values())
    points = [(s.lat, s.lon) for s in given]
    if not given:
        return Route(engineer_id, day, home, [], 0.0, 0.0, "none")
    order = best_order(travel, home, points, time_limit_s=time_limit_s)
    given_km = _loop_km(travel, home, points, range(len(given)))
    km = _loop_km(travel, home, points, order)
    solver = "ortools"
    if km > given_km:  # integral metres may round the solver into a longer float route
        order, km, solver = list(range(len(given))), given_km, "given"
    for seq, i in enumerate(order, start=1):
        given[i].seq = seq
    return Route(engineer_id, day, home, [given[i] for i in order], round(km, 3), round(given_km, 3), solver)
