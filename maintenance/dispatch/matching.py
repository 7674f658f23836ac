"""Matching ready work orders to engineers, as plain data: the dispatch configuration, the
hard constraints, the cost of each pair and its breakdown, the solver (scipy's
linear_sum_assignment over one column per free engineer slot) and the greedy baseline.
No database here: maintenance/dispatch/offers.py feeds it from PostgreSQL, and
`pilecare bench dispatch` feeds it a synthetic instance.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy.optimize import linear_sum_assignment

from maintenance.dispatch.travel import DEFAULT as DEFAULT_TRAVEL
from maintenance.dispatch.travel import Travel
from pilecare.errors import InvalidInput

# Far above any sum of real costs, so the solver first serves as many orders as it can.
_INFEASIBLE = 1e9


# ---------------------------------------------------------------------------------------
# Configuration

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Weights(_Strict):
    """What one unit of each term is worth, in minutes of driving."""

    travel_min: float = Field(default=1.0, ge=0)
    sla: float = Field(default=10.0, ge=0, description="Per hour the response clock has run into the horizon.")
    priority: float = Field(default=240.0, ge=0, description="Per priority step above 5.")
    workload: float = Field(default=15.0, ge=0, description="Per job the engineer holds.")
    parts_on_van: float = Field(default=30.0, ge=0, description="Bonus when the van carries the category's parts.")


class DispatchConfig(_Strict):
    accept_timeout_s: int = Field(default=900, ge=10, le=7 * 86_400)
    max_offers: int = Field(default=3, ge=1, le=50)
    require_region: bool = True
    pile_kind_skill: bool = True
    position_max_age_h: float = Field(default=8, gt=0)
    sla_horizon_h: float = Field(default=24, gt=0)
    # Planned (non-corrective) jobs an engineer may hold among their live ones, offered or
    # accepted: planned work never fills an engineer's capacity, so urgent repairs find room.
    max_planned_jobs: int = Field(default=1, ge=0, le=50)
    category_skills: dict[str, list[str]] = Field(default_factory=dict)
    certified_manufacturers: list[str] = Field(default_factory=list)
    weights: Weights = Weights()

    def needed_skills(self, pile_kind: str | None, manufacturer: str | None, category: str | None) -> list[str]:
        need = []
        if self.pile_kind_skill and pile_kind:
            need.append(pile_kind)
        need += self.category_skills.get(category or "", [])
        if manufacturer and manufacturer in self.certified_manufacturers:
            need.append(f"mfr:{manufacturer}")
        return sorted(set(need))


def parse(text: str) -> DispatchConfig:
    try:
        return DispatchConfig.model_validate(yaml.safe_load(text) or {})
    except (yaml.YAMLError, ValidationError) as error:
        raise InvalidInput(f"invalid dispatch configuration: {error}") from error


def load(path: str | None = None) -> DispatchConfig:
    if path:
        return parse(Path(path).read_text())
    return _default()


@lru_cache(maxsize=1)
def _default() -> DispatchConfig:
    return parse(resources.files("maintenance.dispatch").joinpath("dispatch.default.yaml").read_text())


# ---------------------------------------------------------------------------------------
# The solver core: plain data in, offers out

@dataclass(frozen=True)
class OrderIn:
    id: int
    lat: float
    lon: float
    region: str
    pile_kind: str | None = None          # 'AC' | 'DC'
    manufacturer: str | None = None
    category: str | None = None
    priority: int = 3
    slack_h: float | None = None          # hours left on the clock that runs (negative: overdue)
    parts: frozenset[str] = frozenset()   # parts the fault category usually needs
    excluded: frozenset[str] = frozenset()  # engineers who declined it or let it time out
    planned: bool = False                 # preventive, inspection or installation: capped per engineer


@dataclass(frozen=True)
class EngineerIn:
    id: str
    lat: float
    lon: float
    skills: frozenset[str]
    regions: frozenset[str]
    on_shift: bool = True
    max_jobs: int = 3
    live_jobs: int = 0
    live_planned: int = 0                 # of live_jobs, how many are planned work
    van_parts: frozenset[str] = frozenset()
    from_position: bool = False           # lat/lon is a fresh reported position, not home

    @property
    def capacity(self) -> int:
        return max(0, self.max_jobs - self.live_jobs)

    def planned_capacity(self, max_planned_jobs: int) -> int:
        """New planned jobs this engineer may still take: within both limits."""
        return min(self.capacity, max(0, max_planned_jobs - self.live_planned))


@dataclass
class Offer:
    order_id: int
    engineer_id: str
    score: dict = field(default_factory=dict)

    @property
    def travel_km(self) -> float:
        return self.score["travel"]["km"]


@dataclass
class Problem:
    """The matrices both solvers read: rows are orders, columns engineers."""

    orders: list[OrderIn]
    engineers: list[EngineerIn]
    config: DispatchConfig
    needs: list[list[str]]
    skills_ok: np.ndarray
    region_ok: np.ndarray
    refused: np.ndarray
    km: np.ndarray
    minutes: np.ndarray
    parts_share: np.ndarray
    parts_on_van: np.ndarray    # how many of the order's parts the van carries
    travel_cost: np.ndarray
    parts_bonus: np.ndarray
    priority_cost: np.ndarray   # per order
    sla_cost: np.ndarray        # per order

    @property
    def qualified(self) -> np.ndarray:
        """Skills and region fit and they have not refused it: time and load aside."""
        return self.skills_ok & self.region_ok & ~self.refused

    @property
    def planned(self) -> np.ndarray:
        """Per order: planned work, which only an engineer with planned room may take."""
        return np.array([o.planned for o in self.orders], dtype=bool)

    def planned_room(self) -> np.ndarray:
        """Per engineer: how many more planned jobs they may take."""
        return np.array([e.planned_capacity(self.config.max_planned_jobs) for e in self.engineers], dtype=int)

    @property
    def feasible(self) -> np.ndarray:
        on_shift = np.array([e.on_shift for e in self.engineers], dtype=bool)
        free = np.array([e.capacity > 0 for e in self.engineers], dtype=bool)
        room_ok = ~self.planned[:, None] | (self.planned_room() > 0)[None, :]
        return self.qualified & on_shift[None, :] & free[None, :] & room_ok

    def pair_cost(self, i: int, j: int, slot: int) -> float:
        return float(self.travel_cost[i, j] - self.parts_bonus[i, j] + self.priority_cost[i] + self.sla_cost[i]
                     + self.config.weights.workload * (self.engineers[j].live_jobs + slot))


def build(orders: list[OrderIn], engineers: list[EngineerIn], config: DispatchConfig,
          travel: Travel | None = None) -> Problem:
    travel = travel or DEFAULT_TRAVEL
    w = config.weights
    n, m = len(orders), len(engineers)
    needs = [config.needed_skills(o.pile_kind, o.manufacturer, o.category) for o in orders]

    vocab = {s: k for k, s in enumerate(sorted({s for need in needs for s in need}))}
    need_m = np.zeros((n, len(vocab)), dtype=np.int32)
    for i, need in enumerate(needs):
        need_m[i, [vocab[s] for s in need]] = 1
    lacks = np.ones((m, len(vocab)), dtype=np.int32)
    for j, e in enumerate(engineers):
        lacks[j, [vocab[s] for s in e.skills if s in vocab]] = 0
    skills_ok = (need_m @ lacks.T) == 0

    if config.require_region:
        regions = {r: k for k, r in enumerate(sorted({o.region for o in orders}))}
        covers = np.zeros((m, len(regions)), dtype=bool)
        for j, e in enumerate(engineers):
            covers[j, [regions[r] for r in e.regions if r in regions]] = True
        region_ok = covers[:, [regions[o.region] for o in orders]].T if n else np.zeros((0, m), dtype=bool)
    else:
        region_ok = np.ones((n, m), dtype=bool)

    column = {e.id: j for j, e in enumerate(engineers)}
    refused = np.zeros((n, m), dtype=bool)
    for i, o in enumerate(orders):
        for eid in o.excluded:
            if eid in column:
                refused[i, column[eid]] = True

    parts = {p: k for k, p in enumerate(sorted({p for o in orders for p in o.parts}))}
    wanted = np.zeros((n, len(parts)), dtype=np.int32)
    for i, o in enumerate(orders):
        wanted[i, [parts[p] for p in o.parts]] = 1
    carried = np.zeros((m, len(parts)), dtype=np.int32)
    for j, e in enumerate(engineers):
        carried[j, [parts[p] for p in e.van_parts if p in parts]] = 1
    on_van = wanted @ carried.T
    parts_share = on_van / np.maximum(wanted.sum(axis=1), 1)[:, None]

    order_pts = np.array([(o.lat, o.lon) for o in orders], dtype=float).reshape(-1, 2)
    eng_pts = np.array([(e.lat, e.lon) for e in engineers], dtype=float).reshape(-1, 2)
    km = travel.km_matrix(order_pts, eng_pts) if n and m else np.zeros((n, m))
    minutes = travel.minutes_matrix(order_pts, eng_pts) if n and m else np.zeros((n, m))

    priority = np.array([o.priority for o in orders], dtype=float)
    horizon = config.sla_horizon_h
    slack = np.array([horizon if o.slack_h is None else o.slack_h for o in orders], dtype=float)
    return Problem(
        orders=orders, engineers=engineers, config=config, needs=needs, skills_ok=skills_ok, region_ok=region_ok,
        refused=refused, km=km, minutes=minutes, parts_share=parts_share, parts_on_van=on_van,
        travel_cost=w.travel_min * minutes, parts_bonus=w.parts_on_van * parts_share,
        priority_cost=-w.priority * (5 - priority), sla_cost=-w.sla * np.clip(horizon - slack, 0, horizon))


def explain(p: Problem, i: int, j: int, slot: int, solver: str) -> dict:
    """The score breakdown of one pair: each term, the travel, and the constraints checked."""
    o, e, w = p.orders[i], p.engineers[j], p.config.weights
    terms = {"travel": p.travel_cost[i, j], "sla": p.sla_cost[i], "priority": p.priority_cost[i],
             "workload": w.workload * (e.live_jobs + slot), "parts": -p.parts_bonus[i, j]}
    on_van = sorted(o.parts & e.van_parts)
    return {
        "solver": solver,
        "total": round(p.pair_cost(i, j, slot), 2),
        "terms": {k: round(float(v), 2) for k, v in terms.items()},
        "travel": {"km": round(float(p.km[i, j]), 2), "minutes": round(float(p.minutes[i, j]), 1),
                   "from": "position" if e.from_position else "home"},
        "priority": o.priority,
        "sla_slack_h": None if o.slack_h is None else round(o.slack_h, 2),
        "jobs": {"live": e.live_jobs, "max": e.max_jobs, "with_this": e.live_jobs + slot + 1},
        "parts": {"needed": sorted(o.parts), "on_van": on_van},
        "checked": {
            "skills": {"needed": p.needs[i], "missing": sorted(set(p.needs[i]) - e.skills),
                       "ok": bool(p.skills_ok[i, j])},
            "region": {"site": o.region, "ok": bool(p.region_ok[i, j]), "required": p.config.require_region},
            "on_shift": e.on_shift,
            "capacity": {"free": e.capacity, "ok": e.capacity > 0},
            "planned": {"planned": o.planned, "live": e.live_planned, "max": p.config.max_planned_jobs,
                        "ok": not o.planned or e.planned_capacity(p.config.max_planned_jobs) > 0},
            "not_refused": not bool(p.refused[i, j]),
        },
        "qualified_engineers": int(p.feasible[i].sum()),
    }


def violations(score: dict) -> list[str]:
    """The hard constraints a pair breaks, from its breakdown."""
    c = score["checked"]
    out = []
    if not c["skills"]["ok"]:
        out.append("skills: missing " + ", ".join(c["skills"]["missing"]))
    if c["region"]["required"] and not c["region"]["ok"]:
        out.append(f"region: does not cover {c['region']['site']}")
    if not c["on_shift"]:
        out.append("on_shift: not on shift")
    if not c["capacity"]["ok"]:
        out.append(f"capacity: already holds {score['jobs']['live']} of {score['jobs']['max']} jobs")
    # .get: scores recorded before the planned-work limit have no such entry.
    planned = c.get("planned", {"ok": True})
    if not planned["ok"]:
        out.append(f"planned: already holds {planned['live']} of {planned['max']} planned jobs")
    if not c["not_refused"]:
        out.append("refused: declined or let this order time out before")
    return out


def solve_problem(p: Problem) -> list[Offer]:
    feasible = p.feasible
    rows = np.flatnonzero(feasible.any(axis=1))
    cols = np.flatnonzero(feasible.any(axis=0))
    if not len(rows):
        return []
    # One column per free slot: an engineer's k-th new job costs k more workload units,
    # which spreads the work over engineers instead of filling the nearest van first.
    # Planned orders may only take an engineer's first `room` slots: since a slot's cost
    # does not depend on which order fills it, that caps planned work per engineer at its
    # room without making any assignment dearer.
    slot_eng, slot_k = [], []
    for j in cols:
        for k in range(min(p.engineers[j].capacity, int(feasible[rows, j].sum()))):
            slot_eng.append(j)
            slot_k.append(k)
    slot_eng, slot_k = np.array(slot_eng), np.array(slot_k)
    w = p.config.weights
    live = np.array([p.engineers[j].live_jobs for j in slot_eng], dtype=float)
    sub = np.ix_(rows, slot_eng)
    cost = (p.travel_cost[sub] - p.parts_bonus[sub] + (p.priority_cost[rows] + p.sla_cost[rows])[:, None]
            + (w.workload * (live + slot_k))[None, :])
    room = p.planned_room()
    ok = feasible[sub] & ~(p.planned[rows][:, None] & (slot_k >= room[slot_eng])[None, :])
    cost = np.where(ok, cost, _INFEASIBLE)
    r, c = linear_sum_assignment(cost)
    return [Offer(p.orders[rows[a]].id, p.engineers[slot_eng[b]].id,
                  explain(p, rows[a], slot_eng[b], int(slot_k[b]), "linear_sum_assignment"))
            for a, b in zip(r, c) if ok[a, b]]


def solve(orders: list[OrderIn], engineers: list[EngineerIn], config: DispatchConfig,
          travel: Travel | None = None) -> list[Offer]:
    """The cheapest offers serving as many orders as the engineers can take."""
    return solve_problem(build(orders, engineers, config, travel))


def greedy_problem(p: Problem) -> list[Offer]:
    feasible = p.feasible
    left = np.array([e.capacity for e in p.engineers])
    planned_left = p.planned_room()
    taken = np.zeros(len(p.engineers), dtype=int)
    urgency = sorted(range(len(p.orders)), key=lambda i: (p.orders[i].priority,
                                                          p.orders[i].slack_h if p.orders[i].slack_h is not None
                                                          else float("inf"), p.orders[i].id))
    offers = []
    for i in urgency:
        planned = p.orders[i].planned
        candidates = np.flatnonzero(feasible[i] & (left > 0) & ((planned_left > 0) | (not planned)))
        if not len(candidates):
            continue
        j = int(candidates[np.argmin(p.km[i, candidates])])
        offers.append(Offer(p.orders[i].id, p.engineers[j].id, explain(p, i, j, int(taken[j]), "greedy")))
        left[j] -= 1
        planned_left[j] -= planned
        taken[j] += 1
    return offers


def greedy(orders: list[OrderIn], engineers: list[EngineerIn], config: DispatchConfig,
           travel: Travel | None = None) -> list[Offer]:
    """The baseline: most urgent order first, each to the nearest qualified engineer with room."""
    return greedy_problem(build(orders, engineers, config, travel))


