"""How far and how long between two places, behind a small interface so that a routing
engine (OSRM, Valhalla, a vendor's matrix API) can replace the estimate later.

The default is the great-circle distance stretched by a road factor and driven at an
average speed: good enough to rank engineers against each other, which is all dispatch
and route planning need from it. Points are (lat, lon) in degrees.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from pilecare.geo import Point, great_circle_km_matrix


class Travel(Protocol):
    def km(self, a: Point, b: Point) -> float: ...

    def minutes(self, a: Point, b: Point) -> float: ...

    def km_matrix(self, points_a: Sequence[Point] | np.ndarray, points_b: Sequence[Point] | np.ndarray) -> np.ndarray:
        """Distances from every point of `points_a` (rows) to every point of `points_b` (columns)."""
        ...

    def minutes_matrix(self, points_a, points_b) -> np.ndarray: ...


@dataclass(frozen=True)
class Haversine:
    """Straight line × road_factor, at speed_kmh.

    1.3 is the usual detour index of road networks between towns; 45 km/h mixes town and
    country roads for a service van.
    """

    road_factor: float = 1.3
    speed_kmh: float = 45.0

    def km(self, a: Point, b: Point) -> float:
        return float(self.km_matrix([a], [b])[0, 0])

    def minutes(self, a: Point, b: Point) -> float:
        return self.km(a, b) / self.speed_kmh * 60.0

    def km_matrix(self, points_a, points_b) -> np.ndarray:
        return great_circle_km_matrix(points_a, points_b) * self.road_factor

    def minutes_matrix(self, points_a, points_b) -> np.ndarray:
        return self.km_matrix(points_a, points_b) / self.speed_kmh * 60.0


DEFAULT = Haversine()
