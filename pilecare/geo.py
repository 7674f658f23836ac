"""Great-circle distance on the mean Earth sphere: the one definition that dispatch's travel
estimates and the field flow's arrival check both use. Points are (lat, lon) in degrees.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

# IUGG mean Earth radius R1; the sphere errs by at most ~0.5 % against WGS 84, far below
# what a road detour adds.
EARTH_RADIUS_KM = 6371.0088

Point = tuple[float, float]


def great_circle_km_matrix(points_a: Sequence[Point] | np.ndarray, points_b: Sequence[Point] | np.ndarray) -> np.ndarray:
    """Haversine distances in km from every point of `points_a` (rows) to every point of
    `points_b` (columns); shape (len(a), len(b))."""
    a = np.radians(np.asarray(points_a, dtype=float).reshape(-1, 2))
    b = np.radians(np.asarray(points_b, dtype=float).reshape(-1, 2))
    lat1, lon1 = a[:, 0:1], a[:, 1:2]
    lat2, lon2 = b[:, 0][None, :], b[:, 1][None, :]
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def great_circle_m(a: Point, b: Point) -> float:
    """Haversine distance in metres between two points."""
    return float(great_circle_km_matrix([a], [b])[0, 0]) * 1000.0


def great_circle_km_pairs(points_a: Sequence[Point] | np.ndarray, points_b: Sequence[Point] | np.ndarray) -> np.ndarray:
    """Haversine distances in km from each point of `points_a` to the point of `points_b` at
    the same position (equal lengths); shape (len(a),). For many trips at once (job costs)
    without the (len(a), len(b)) matrix."""
    a = np.radians(np.asarray(points_a, dtype=float).reshape(-1, 2))
    b = np.radians(np.asarray(points_b, dtype=float).reshape(-1, 2))
    h = (np.sin((b[:, 0] - a[:, 0]) / 2) ** 2
         + np.cos(a[:, 0]) * np.cos(b[:, 0]) * np.sin((b[:, 1] - a[:, 1]) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
